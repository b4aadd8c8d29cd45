"""Prompt and negative prompt: multi-line editors; Ctrl+Enter generates (the window's shortcut)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget


class PromptEdit(QPlainTextEdit):
    """A plain-text editor where Ctrl+Enter submits instead of adding a line."""

    submitted = Signal()

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class PromptPanel(QWidget):
    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompt = PromptEdit("Describe the picture: a lighthouse at dusk, oil painting…")
        self.prompt.setObjectName("promptEdit")
        self.prompt.setMinimumHeight(96)
        self.negative = PromptEdit("What to avoid: blurry, low quality, text…")
        self.negative.setObjectName("negativeEdit")
        self.negative.setMinimumHeight(56)
        self.negative.setMaximumHeight(96)
        for edit in (self.prompt, self.negative):
            edit.submitted.connect(self.submitted)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        for text, edit, stretch in (
            ("Prompt", self.prompt, 3),
            ("Negative prompt", self.negative, 1),
        ):
            label = QLabel(text)
            label.setObjectName("sectionLabel")
            label.setBuddy(edit)
            layout.addWidget(label)
            layout.addWidget(edit, stretch)

    def prompt_text(self) -> str:
        return self.prompt.toPlainText()

    def negative_text(self) -> str:
        return self.negative.toPlainText()

    def insert_text(self, text: str) -> None:
        """Put ``text`` (a LoRA tag, an embedding's name) into the prompt at the cursor, with
        a space or a comma between it and the words around it."""
        cursor = self.prompt.textCursor()
        if cursor.position() == 0 and self.prompt.toPlainText():
            cursor.movePosition(cursor.MoveOperation.End)  # no place chosen: at the end
        before = self.prompt.toPlainText()[: cursor.position()]
        sep = "" if not before or before.endswith((" ", "\n", ",")) else " "
        if not text.startswith("<") and before.rstrip() and not before.rstrip().endswith(","):
            sep = ", "
        cursor.insertText(sep + text)
        self.prompt.setTextCursor(cursor)
        self.prompt.setFocus()

    def set_texts(self, prompt: str, negative: str) -> None:
        self.prompt.setPlainText(prompt)
        self.negative.setPlainText(negative)
