"""The questions that keep work from being lost by one keypress or click.

- Queueing more than ``ASK_ABOVE_IMAGES`` images at once asks first.
- Closing the window while jobs are pending asks (and says whether they are kept).
- Esc cancels only when the prompt, the preview or the queue has focus, never while a menu
  or a popup is open (there Esc only closes the popup).
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

ASK_ABOVE_IMAGES = 50  # more images than this in one click asks first


def ask(parent: QWidget | None, text: str, go: str, stay: str, detail: str = "") -> bool:
    """A two-button question; True when the user chose ``go``. ``stay`` is the default."""
    box = QMessageBox(parent)
    box.setWindowTitle("Easel")
    box.setIcon(QMessageBox.Icon.Question)
    box.setText(text)
    if detail:
        box.setInformativeText(detail)
    yes = box.addButton(go, QMessageBox.ButtonRole.AcceptRole)
    no = box.addButton(stay, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(no)
    box.setEscapeButton(no)
    box.exec()
    return box.clickedButton() is yes


def many_images_question(images: int, jobs: int) -> str:
    return (
        f"Queue {images} images ({jobs} job{'s' if jobs != 1 else ''})? "
        "That may take a long time; you can cancel them from the queue."
    )


def confirm_many_images(parent: QWidget | None, images: int, jobs: int) -> bool:
    if images <= ASK_ABOVE_IMAGES:
        return True
    return ask(parent, many_images_question(images, jobs), f"Queue {images} images", "Cancel")


def close_question(pending: int, kept: bool) -> tuple[str, str]:
    what = f"{pending} job{'s are' if pending != 1 else ' is'} not finished."
    if kept:
        return what + " Quit anyway?", (
            "They are saved: Easel offers to resume them the next time it starts."
        )
    return what + " Quit anyway?", "They will be lost."


def confirm_close(parent: QWidget | None, pending: int, kept: bool) -> bool:
    if pending <= 0:
        return True
    text, detail = close_question(pending, kept)
    return ask(parent, text, "Quit", "Keep working", detail)


def esc_may_cancel(targets: Iterable[QWidget]) -> bool:
    """Whether Esc should cancel: a target (or a widget inside it) has the focus and no
    menu or popup is open."""
    if QApplication.activePopupWidget() is not None:
        return False
    modal = QApplication.activeModalWidget()
    focus = QApplication.focusWidget()
    if focus is None or (modal is not None and not modal.isAncestorOf(focus)):
        return False
    return any(focus is t or t.isAncestorOf(focus) for t in targets)
