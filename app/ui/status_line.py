"""The status bar's one line of state, and notes that never outlive the state they cover.

QStatusBar shows a temporary message (``showMessage``) *over* its widgets; a note from the
Models tab ("the computer seems to be offline") would hide "Generating…" until it timed out.
``StatusLabel`` clears any such note whenever the state changes, so the newest state shows.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

NOTE_MS = 8000  # how long a note (an import done, a default set) stays over the state


class StatusLabel(QLabel):
    def __init__(self, bar: QStatusBar, text: str = "") -> None:
        super().__init__(text)
        self._bar = bar

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self._bar.clearMessage()  # the next state begins: an old note goes
        super().setText(text)


def show_note(bar: QStatusBar, text: str) -> None:
    """A short-lived note over the state line (cleared early by the next state)."""
    bar.showMessage(text, NOTE_MS)
