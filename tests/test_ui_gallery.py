"""The gallery tab on a real Gallery in a temporary EASEL_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication

from app.library.gallery import Gallery
from app.ui.gallery_model import ItemRole
from app.ui.gallery_view import GalleryWidget, reveal_command


def _params(prompt: str, seed: int, sampler: str = "Euler a", steps: int = 20) -> str:
    return (
        f"{prompt}\nNegative prompt: blurry, lowres\n"
        f"Steps: {steps}, Sampler: {sampler}, CFG scale: 7, Seed: {seed}, Size: 64x64, "
        'Model: tiny-sd, Lora hashes: "foo: 123"'
    )


@pytest.fixture
def gallery() -> Iterator[Gallery]:
    with Gallery() as g:
        colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
        prompts = ["a red lighthouse at dusk", "a green forest", "a blue lighthouse in fog"]
        for i, (colour, prompt) in enumerate(zip(colours, prompts, strict=True)):
            g.add(Image.new("RGB", (64, 64), colour), _params(prompt, 100 + i), seed=100 + i)
        yield g


@pytest.fixture
def widget(qtbot, gallery: Gallery) -> Iterator[GalleryWidget]:
    w = GalleryWidget(gallery)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    with qtbot.waitSignal(w.reconciled, timeout=5000):
        pass
    yield w
    w.shutdown()


def _prompts(w: GalleryWidget) -> list[str]:
    return [w.model.index(r).data(ItemRole).prompt for r in range(w.model.rowCount())]


def test_grid_newest_first_and_thumbnails_arrive(qtbot, widget: GalleryWidget) -> None:
    assert _prompts(widget) == [
        "a blue lighthouse in fog",
        "a green forest",
        "a red lighthouse at dusk",
    ]
    assert widget.count_label.text() == "3 pictures"
    ids = [widget.model.item(r).id for r in range(3)]
    qtbot.waitUntil(lambda: all(widget.loader.cached(i) is not None for i in ids), timeout=5000)
    pixmap = widget.model.index(0).data(Qt.ItemDataRole.DecorationRole)
    colour = pixmap.toImage().pixelColor(pixmap.width() // 2, pixmap.height() // 2)
    assert colour.blue() > 150 and colour.red() < 90


def test_search_filters_after_debounce(qtbot, widget: GalleryWidget) -> None:
    widget.search.setText("lighthouse")
    qtbot.waitUntil(lambda: widget.model.rowCount() == 2, timeout=2000)
    assert widget.count_label.text() == "2 matching"
    widget.search.setText("forest")
    qtbot.waitUntil(lambda: _prompts(widget) == ["a green forest"], timeout=2000)
    widget.search.clear()
    qtbot.waitUntil(lambda: widget.model.rowCount() == 3, timeout=2000)


def test_detail_pane_shows_all_parameters(qtbot, widget: GalleryWidget) -> None:
    widget.select_row(1)
    assert widget.detail.prompt.toPlainText() == "a green forest"
    assert widget.detail.negative.toPlainText() == "blurry, lowres"
    rows = dict(widget.detail.parameter_rows())
    assert rows["Seed"] == "101" and rows["Sampler"] == "Euler a"
    assert rows["Lora hashes"] == "foo: 123"  # unknown keys are shown too
    assert widget.detail.path.text().endswith(".png")
    qtbot.waitUntil(lambda: not widget.detail.image_view.image().isNull(), timeout=5000)


def test_restore_emits_the_request(qtbot, widget: GalleryWidget) -> None:
    widget.select_row(2)
    with qtbot.waitSignal(widget.restoreRequested, timeout=1000) as blocker:
        widget.restore_action.trigger()
    request = blocker.args[0]
    assert request.prompt == "a red lighthouse at dusk"
    assert (request.seed, request.sampler, request.steps) == (100, "Euler a", 20)
    assert request.negative_prompt == "blurry, lowres"


def test_send_to_canvas_emits_path(qtbot, widget: GalleryWidget) -> None:
    widget.select_row(0)
    with qtbot.waitSignal(widget.sendToCanvasRequested, timeout=1000) as blocker:
        widget.canvas_action.trigger()
    assert Path(blocker.args[0]) == widget.selected_item().path


def test_delete_asks_then_removes_file_and_row(qtbot, widget: GalleryWidget, gallery) -> None:
    widget.select_row(0)
    item = widget.selected_item()
    widget.confirm_delete = lambda _parent, _names, _trash: False
    widget.delete_action.trigger()
    assert item.path.exists() and widget.model.rowCount() == 3
    asked = []
    widget.confirm_delete = lambda _parent, names, trash: asked.append((names, trash)) or True
    widget.delete_action.trigger()
    assert asked == [([item.path.name], True)]
    assert not item.path.exists()
    assert widget.model.rowCount() == 2 and gallery.count() == 2
    assert widget.count_label.text() == "2 pictures"
    assert widget.selected_item() is not None  # the next one is selected


def test_drop_imports_a_png_from_elsewhere(qtbot, widget: GalleryWidget, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.png"
    from app.library.pngio import encode_png

    outside.write_bytes(
        encode_png(Image.new("RGB", (32, 32), "yellow"), _params("a yellow sun", 7))
    )
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(outside))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    widget.handle_drop(event)
    assert widget.model.rowCount() == 4
    assert widget.selected_item().prompt == "a yellow sun"
    assert widget.selected_item().seed == 7
    assert outside.exists()  # copied, not moved


def test_add_paths_prepends_new_results(qtbot, widget: GalleryWidget, gallery) -> None:
    item = gallery.add(Image.new("RGB", (64, 64), "white"), _params("a white cat", 9), seed=9)
    widget.add_paths([str(item.path)])
    assert _prompts(widget)[0] == "a white cat"
    assert widget.model.rowCount() == 4 and widget.count_label.text() == "4 pictures"


def test_copy_puts_image_on_clipboard(qtbot, widget: GalleryWidget) -> None:
    widget.select_row(0)
    widget.copy_action.trigger()
    image = QGuiApplication.clipboard().image()
    assert not image.isNull() and image.size().width() == 64


def test_reconcile_at_start_picks_up_new_files(qtbot, gallery: Gallery) -> None:
    from app.library.pngio import encode_png

    (gallery.root / "99999-5.png").write_bytes(
        encode_png(Image.new("RGB", (16, 16), "black"), _params("dropped in by hand", 5))
    )
    w = GalleryWidget(gallery)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.reconciled, timeout=5000):
        pass
    assert w.model.rowCount() == 4
    w.shutdown()


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("darwin", ["open", "-R", "/p/x.png"]),
        ("win32", ["explorer", "/select,", str(Path("/p/x.png"))]),
        ("linux", None),
    ],
)
def test_reveal_command_per_platform(platform: str, expected: list[str] | None) -> None:
    command = reveal_command(Path("/p/x.png"), platform)
    if expected is not None and platform == "darwin":
        expected = ["open", "-R", str(Path("/p/x.png"))]
    assert command == expected
