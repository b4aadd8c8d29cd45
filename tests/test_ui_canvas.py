"""The canvas: painting, erasing, undo, masks, outpaint, zoom, paste and drop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent, QGuiApplication, QImage
from PySide6.QtTest import QTest

from app.ui.canvas import CanvasWidget
from app.ui.canvas_tools import Tool, infer_mode, tool_icon
from app.ui.imageio import pil_to_qimage, qimage_to_pil

RED = QColor(255, 0, 0)


def _picture(w: int = 96, h: int = 64) -> QImage:
    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.fill(QColor(30, 90, 160))
    return image


@pytest.fixture
def canvas(qtbot) -> Iterator[CanvasWidget]:
    w = CanvasWidget()
    qtbot.addWidget(w)
    w.resize(900, 600)
    w.show()
    qtbot.waitExposed(w)
    w.load_image(_picture())
    yield w


def _pixel(image: QImage, x: int, y: int) -> tuple[int, int, int]:
    c = image.pixelColor(x, y)
    return (c.red(), c.green(), c.blue())


def test_mouse_stroke_paints_pixels(qtbot, canvas: CanvasWidget) -> None:
    canvas.set_colour(RED)
    canvas.set_brush_size(6)
    view = canvas.view
    start = canvas.view.to_widget(QPointF(10, 32)).toPoint()
    end = canvas.view.to_widget(QPointF(80, 32)).toPoint()
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(view, end)  # one far jump: the line between must be painted too
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    image = canvas.current_image()
    for x in (10, 45, 79):
        assert _pixel(image, x, 32) == (255, 0, 0)
    assert _pixel(image, 45, 5) == (30, 90, 160)
    assert canvas.doc.undo_stack.count() == 2  # open + stroke


def test_eraser_restores_the_picture(canvas: CanvasWidget) -> None:
    doc = canvas.doc
    doc.stroke(Tool.BRUSH, [QPointF(20, 20), QPointF(60, 20)], 10, RED)
    assert _pixel(canvas.current_image(), 40, 20) == (255, 0, 0)
    doc.stroke(Tool.ERASER, [QPointF(10, 20), QPointF(70, 20)], 20, RED)
    assert _pixel(canvas.current_image(), 40, 20) == (30, 90, 160)


def test_undo_and_redo(qtbot, canvas: CanvasWidget) -> None:
    canvas.doc.stroke(Tool.BRUSH, [QPointF(20, 20), QPointF(60, 40)], 8, RED)
    painted = canvas.current_image()
    canvas.view.setFocus()
    QTest.keyClick(canvas.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _pixel(canvas.current_image(), 40, 30) == (30, 90, 160)
    QTest.keyClick(
        canvas.view,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert canvas.current_image() == painted
    canvas.undo_action.trigger()
    QTest.keyClick(canvas.view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert canvas.current_image() == painted


def test_mask_paints_white_where_painted_and_generates_inpaint(qtbot, canvas: CanvasWidget) -> None:
    assert canvas.current_mask() is None
    canvas.doc.stroke(Tool.MASK, [QPointF(20, 30), QPointF(50, 30)], 12, RED)
    mask = canvas.current_mask()
    assert mask is not None and mask.size() == canvas.current_image().size()
    assert mask.pixelColor(35, 30).value() == 255
    assert mask.pixelColor(80, 5).value() == 0
    assert _pixel(canvas.current_image(), 35, 30) == (30, 90, 160)  # the picture is untouched
    with qtbot.waitSignal(canvas.generateRequested, timeout=1000) as blocker:
        canvas.generate_button.click()
    payload = blocker.args[0]
    assert payload["mode"] == "inpaint"
    assert payload["mask"].mode == "L" and payload["mask"].size == (96, 64)
    assert payload["mask"].getpixel((35, 30)) == 255 and payload["mask"].getpixel((80, 5)) == 0
    assert payload["init_image"].mode == "RGB" and payload["outpaint"] == (0, 0, 0, 0)
    assert 0.01 <= payload["strength"] <= 1.0


def test_clear_and_invert_mask_are_undoable(canvas: CanvasWidget) -> None:
    doc = canvas.doc
    doc.stroke(Tool.MASK, [QPointF(10, 10)], 8, RED)
    doc.invert_mask()
    mask = canvas.current_mask()
    assert mask.pixelColor(10, 10).value() == 0 and mask.pixelColor(80, 50).value() == 255
    doc.clear_mask()
    assert canvas.current_mask() is None
    doc.undo_stack.undo()
    assert canvas.current_mask() is not None


def test_extend_means_outpaint_with_the_original_size(qtbot, canvas: CanvasWidget) -> None:
    canvas.doc.stroke(Tool.BRUSH, [QPointF(20, 20)], 8, RED)
    canvas.extend_canvas(0, 0, 64, 0)
    assert canvas.extension() == (0, 0, 64, 0)
    assert canvas.doc.size().width() == 96 + 64
    with qtbot.waitSignal(canvas.generateRequested, timeout=1000) as blocker:
        canvas.generate()
    payload = blocker.args[0]
    assert payload["mode"] == "outpaint" and payload["outpaint"] == (0, 0, 64, 0)
    assert payload["init_image"].size == (96, 64) and payload["mask"] is None
    assert payload["init_image"].getpixel((20, 20)) == (255, 0, 0)  # paint flattened on
    canvas.doc.undo_stack.undo()
    assert canvas.extension() == (0, 0, 0, 0)


def test_extend_rounds_to_multiples_of_eight(canvas: CanvasWidget) -> None:
    canvas.extend_canvas(5, 0, 0, 17)
    assert canvas.extension() == (8, 0, 0, 24)


def test_explicit_mode_without_mask_says_what_to_do(qtbot, canvas: CanvasWidget) -> None:
    canvas.mode_combo.setCurrentIndex(canvas.mode_combo.findData("inpaint"))
    with qtbot.assertNotEmitted(canvas.generateRequested):
        canvas.generate()
    assert "mask" in canvas.message.text()


def test_img2img_by_default(qtbot, canvas: CanvasWidget) -> None:
    with qtbot.waitSignal(canvas.generateRequested, timeout=1000) as blocker:
        canvas.generate()
    assert blocker.args[0]["mode"] == "img2img" and blocker.args[0]["mask"] is None


def test_zoom_changes_scale(qtbot, canvas: CanvasWidget) -> None:
    before = canvas.view.zoom()
    canvas.zoom_in_action.trigger()
    assert canvas.view.zoom() == pytest.approx(before * 1.25)
    canvas.view.setFocus()
    QTest.keyClick(canvas.view, Qt.Key.Key_Minus)
    assert canvas.view.zoom() == pytest.approx(before)
    canvas.view.set_zoom(3.0)
    assert "300%" in canvas.status.text()


def test_paste_from_clipboard_loads_an_image(qtbot, canvas: CanvasWidget) -> None:
    QGuiApplication.clipboard().setImage(_picture(40, 24))
    canvas.view.setFocus()
    QTest.keyClick(canvas.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert canvas.current_image().size().width() == 40
    canvas.doc.undo_stack.undo()  # loading over work can be undone
    assert canvas.current_image().size().width() == 96


def test_drop_loads_an_image(qtbot, canvas: CanvasWidget, tmp_path: Path) -> None:
    path = tmp_path / "dropped.png"
    _picture(32, 48).save(str(path))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    canvas.dropEvent(event)
    assert canvas.current_image().size().height() == 48


def test_load_image_from_path_and_bad_path(canvas: CanvasWidget, tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    _picture(16, 16).save(str(path))
    assert canvas.load_image(str(path))
    assert not canvas.load_image(str(tmp_path / "missing.png"))
    assert "could not be read" in canvas.message.text()


def test_pan_with_middle_mouse_moves_the_view(qtbot, canvas: CanvasWidget) -> None:
    view = canvas.view
    origin = view.to_widget(QPointF(0, 0))
    QTest.mousePress(view, Qt.MouseButton.MiddleButton, pos=QPoint(100, 100))
    QTest.mouseMove(view, QPoint(140, 120))
    QTest.mouseRelease(view, Qt.MouseButton.MiddleButton, pos=QPoint(140, 120))
    assert view.to_widget(QPointF(0, 0)) == origin + QPointF(40, 20)


def test_new_blank_and_helpers() -> None:
    assert infer_mode(False, (0, 0, 0, 0)) == "img2img"
    assert infer_mode(True, (0, 0, 0, 0)) == "inpaint"
    assert infer_mode(True, (0, 8, 0, 0)) == "outpaint"
    assert not tool_icon("brush").isNull()
    from PIL import Image

    rgba = Image.new("RGBA", (4, 3), (10, 20, 30, 255))
    assert qimage_to_pil(pil_to_qimage(rgba), "RGB").getpixel((1, 1)) == (10, 20, 30)
