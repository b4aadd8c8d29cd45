"""Answer a real modal dialog from a test: click one of its buttons once it is open."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox


class Answer:
    """Clicks the button labelled ``label`` in the next message box; keeps its text."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.text = ""
        self.buttons: list[str] = []
        self.asked = False
        self._try(50)

    def _try(self, attempts: int) -> None:
        box = QApplication.activeModalWidget()
        button = None
        if isinstance(box, QMessageBox):
            button = next((b for b in box.buttons() if b.text() == self.label), None)
        if box is not None and button is not None:
            self.asked = True
            self.text = box.text()
            self.buttons = [b.text() for b in box.buttons()]
            button.click()
        elif attempts:
            # The box opens inside the call that follows; look again once its loop runs.
            QTimer.singleShot(10, lambda: self._try(attempts - 1))
