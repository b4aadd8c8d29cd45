"""Prompt and negative prompt: multi-line editors; Ctrl+Enter generates (the window's shortcut)."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QVBoxLayout, QWidget


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


def count_text(tokens: int, chunks: int) -> str:
    """The webui's counter: "43/75", and "98/150 · 2 chunks" past one chunk."""
    limit = 75 * max(1, chunks)
    return f"{tokens}/{limit}" if chunks <= 1 else f"{tokens}/{limit} · {chunks} chunks"


class PromptPanel(QWidget):
    submitted = Signal()
    tokenizerReady = Signal(object)  # emitted from the loading thread; handled on the UI thread

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

        self._tokenizer: Any = None
        self._tokenizer_dir = ""
        self.prompt_count = QLabel("")
        self.prompt_count.setObjectName("promptCount")
        self.negative_count = QLabel("")
        self.negative_count.setObjectName("negativeCount")
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(120)
        self._count_timer.timeout.connect(self.update_counts)
        self.tokenizerReady.connect(self._tokenizer_loaded)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        for text, edit, count, stretch in (
            ("Prompt", self.prompt, self.prompt_count, 3),
            ("Negative prompt", self.negative, self.negative_count, 1),
        ):
            label = QLabel(text)
            label.setObjectName("sectionLabel")
            label.setBuddy(edit)
            count.setToolTip("Tokens as CLIP reads them; every 75 make one more chunk")
            count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            head = QHBoxLayout()
            head.setContentsMargins(0, 0, 0, 0)
            head.addWidget(label)
            head.addStretch(1)
            head.addWidget(count)
            layout.addLayout(head)
            layout.addWidget(edit, stretch)
            edit.textChanged.connect(self._count_timer.start)

    # -- token count: the tokenizers library (no torch), loaded off the UI thread ------------
    def set_model_dir(self, path: str) -> None:
        """Count with this model folder's tokenizer from now on (loaded in the background)."""
        if path == self._tokenizer_dir:
            return
        self._tokenizer_dir = path

        def load() -> None:
            try:
                from app.prompts.light_tokenizer import load_clip_tokenizer

                tok = load_clip_tokenizer(path) if path else None
            except Exception:  # noqa: BLE001 - a count is a nicety; no tokenizer, no count
                tok = None
            self.tokenizerReady.emit((path, tok))

        threading.Thread(target=load, name="prompt-tokenizer", daemon=True).start()

    def _tokenizer_loaded(self, loaded: tuple[str, Any]) -> None:
        path, tok = loaded
        if path == self._tokenizer_dir:
            self._tokenizer = tok
            self.update_counts()

    def update_counts(self) -> None:
        from app.prompts.chunks import token_count

        for edit, label in ((self.prompt, self.prompt_count), (self.negative, self.negative_count)):
            if self._tokenizer is None:
                label.setText("")
                continue
            label.setText(count_text(*token_count(self._tokenizer, edit.toPlainText())))

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
