"""The gallery tab's multi-select, bulk delete and export, stars, filters, the full-size
viewer and Retry save: pytest-qt offscreen on a real Gallery (real PNGs, real SQLite)."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.library.gallery import Gallery, UnsavedError
from app.library.gallery_query import GalleryFilter
from app.ui.gallery_actions import delete_question
from app.ui.gallery_model import PAGE_SIZE
from app.ui.gallery_view import GalleryWidget


def _params(prompt: str, seed: int, model: str) -> str:
    return f"{prompt}\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: {seed}, Size: 64x48, Model: {model}"


@pytest.fixture
def gallery() -> Iterator[Gallery]:
    with Gallery() as g:
        for i in range(14):
            model = "tiny-sd" if i % 2 == 0 else "dreamy-v2"
            prompt = f"{'a cat' if i < 7 else 'a dog'} number {i}"
            colour = (i * 17 % 256, 90, 200 - i * 10)
            g.add(Image.new("RGB", (64, 48), colour), _params(prompt, i, model), seed=i)
        yield g


@pytest.fixture
def widget(qtbot, gallery: Gallery) -> Iterator[GalleryWidget]:
    w = GalleryWidget(gallery)
    qtbot.addWidget(w)
    w.resize(1300, 800)
    w.show()
    with qtbot.waitSignal(w.reconciled, timeout=5000):
        pass
    yield w
    w.shutdown()


def _click(w: GalleryWidget, row: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    rect = w.view.visualRect(w.model.index(row))
    QTest.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def _select_rows(w: GalleryWidget, rows: list[int]) -> None:
    _click(w, rows[0])
    for row in rows[1:]:
        _click(w, row, Qt.KeyboardModifier.ControlModifier)


# --- multi-select ---------------------------------------------------------------------


def test_ctrl_and_shift_click_select_many(qtbot, widget: GalleryWidget) -> None:
    _click(widget, 1)
    _click(widget, 4, Qt.KeyboardModifier.ShiftModifier)  # 1..4
    _click(widget, 8, Qt.KeyboardModifier.ControlModifier)  # and 8
    assert [widget.model.row_of(i.id) for i in widget.selected_items()] == [1, 2, 3, 4, 8]
    assert widget.count_label.text() == "14 pictures  ·  5 selected"
    assert widget.delete_action.text() == "Delete 5…" and widget.export_action.text() == "Export 5…"
    _click(widget, 8, Qt.KeyboardModifier.ControlModifier)  # Ctrl-click again: out
    assert len(widget.selected_items()) == 4


def test_ctrl_a_selects_every_matching_picture_not_only_loaded_rows(qtbot, gallery) -> None:
    for i in range(PAGE_SIZE + 10 - gallery.count()):
        gallery.add(Image.new("RGB", (8, 8)), _params("filler", 100 + i, "tiny-sd"), seed=100 + i)
    w = GalleryWidget(gallery)
    qtbot.addWidget(w)
    w.show()
    assert w.model.rowCount() == PAGE_SIZE  # one page loaded
    w.view.setFocus()
    QTest.keyClick(w.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert len(w.selected_items()) == PAGE_SIZE + 10
    assert w.count_label.text() == f"{PAGE_SIZE + 10} pictures  ·  {PAGE_SIZE + 10} selected"
    w.shutdown()


def test_bulk_delete_asks_with_the_count_then_trashes(
    qtbot, widget: GalleryWidget, gallery
) -> None:
    rows = list(range(12))
    _select_rows(widget, rows)
    paths = [item.path for item in widget.selected_items()]
    asked: list[tuple[str, str]] = []

    def answer(_parent, names, uses_trash, yes=False):
        asked.append(delete_question(names, uses_trash))
        return yes

    widget.confirm_delete = answer
    widget.delete_action.trigger()
    assert asked == [
        (
            "Delete pictures",
            "Delete 12 pictures? They are moved to the trash, where you can restore them.",
        )
    ]
    assert all(p.exists() for p in paths) and gallery.count() == 14  # "Cancel" kept them
    widget.confirm_delete = lambda p, n, t: answer(p, n, t, yes=True)
    widget.delete_action.trigger()
    assert not any(p.exists() for p in paths)
    assert gallery.count() == 2 and widget.model.rowCount() == 2
    assert widget.message.text() == "Deleted 12 pictures."
    trash = Path(os.environ["XDG_DATA_HOME"]) / "Trash" / "files"
    assert {p.name for p in paths} <= {p.name for p in trash.iterdir()}


def test_single_delete_question_names_the_file() -> None:
    title, text = delete_question(["00003-3.png"], False)
    assert title == "Delete picture"
    assert (
        text
        == "Delete 00003-3.png? It is deleted for good: this system has no trash Easel can use."
    )


def test_bulk_export_copies_the_selection_with_metadata(qtbot, widget, tmp_path: Path) -> None:
    _select_rows(widget, [0, 2, 5])
    items = widget.selected_items()
    out = tmp_path / "chosen"
    out.mkdir()
    widget.choose_folder = lambda _parent, count: out if count == 3 else None
    widget.export_action.trigger()
    assert sorted(p.name for p in out.iterdir()) == sorted(i.path.name for i in items)
    for item in items:
        exported = out / item.path.name
        assert exported.read_bytes() == item.path.read_bytes()
        with Image.open(exported) as png:
            assert png.text["parameters"] == item.parameters
    assert widget.message.text() == f"Exported 3 pictures to {out}."


# --- favourites -------------------------------------------------------------------------


def test_star_toggle_and_favourites_filter(qtbot, widget: GalleryWidget, gallery) -> None:
    _select_rows(widget, [0, 3])
    widget.view.setFocus()
    QTest.keyClick(widget.view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    starred = {i.id for i in gallery.items(GalleryFilter(favourites=True))}
    assert starred == {widget.model.item(0).id, widget.model.item(3).id}
    assert widget.star_button.text() == "★ Favourite" and widget.model.item(0).favourite
    widget.filters.favourites.setChecked(True)
    assert widget.model.rowCount() == 2 and widget.count_label.text() == "2 matching"
    _click(widget, 0)
    widget.star_button.click()  # unstar from the detail pane: it leaves the starred view
    assert widget.model.rowCount() == 1 and gallery.count(GalleryFilter(favourites=True)) == 1


# --- filters ----------------------------------------------------------------------------


def test_model_date_and_sort_filters_combine_with_search(
    qtbot, widget: GalleryWidget, gallery
) -> None:
    combo = widget.filters.model
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "All models",
        "dreamy-v2",
        "tiny-sd",
    ]
    assert combo.itemData(2, Qt.ItemDataRole.ToolTipRole) == "7 pictures"
    combo.setCurrentIndex(combo.findData("tiny-sd"))
    assert widget.model.rowCount() == 7
    widget.search.setText("dog")
    qtbot.waitUntil(lambda: widget.model.rowCount() == 3, timeout=2000)  # 8, 10, 12
    assert {i.model for i in widget.model._items} == {"tiny-sd"}
    widget.filters.sort.setCurrentIndex(widget.filters.sort.findData("oldest"))
    assert [widget.model.item(r).seed for r in range(3)] == [8, 10, 12]

    # Two pictures made a fortnight ago: "Last 7 days" leaves them out, a custom range finds them.
    old = time.time() - 14 * 86400
    with gallery._conn:
        gallery._conn.execute("UPDATE images SET created = ? WHERE seed IN (8, 10)", (old,))
    dates = widget.filters.dates
    dates.setCurrentIndex(dates.findText("Last 7 days"))
    assert [widget.model.item(r).seed for r in range(widget.model.rowCount())] == [12]
    dates.setCurrentIndex(dates.findText("Custom range…"))
    assert widget.filters.date_from.isVisible()
    day = widget.filters.date_from.date().currentDate().addDays(-14)
    widget.filters.date_from.setDate(day.addDays(-1))
    widget.filters.date_to.setDate(day.addDays(1))
    assert [widget.model.item(r).seed for r in range(widget.model.rowCount())] == [8, 10]
    assert widget.count_label.text() == "2 matching"


# --- the full-size viewer ---------------------------------------------------------------


def test_viewer_opens_on_double_click_moves_with_arrows_and_closes_on_esc(qtbot, widget) -> None:
    rect = widget.view.visualRect(widget.model.index(2))
    # A real double-click: press, release, then the double-click event on the same cell.
    _click(widget, 2)
    QTest.mouseDClick(widget.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    viewer = widget.viewer
    assert viewer is not None and viewer.isVisible()
    qtbot.waitExposed(viewer)
    assert viewer.row == 2 and viewer.position.text() == "3 of 14"
    assert viewer.item().id == widget.model.item(2).id
    QTest.keyClick(viewer, Qt.Key.Key_Right)
    QTest.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.row == 4 and widget.selected_item().id == widget.model.item(4).id
    QTest.keyClick(viewer, Qt.Key.Key_Left)
    assert viewer.row == 3
    QTest.keyClick(viewer, Qt.Key.Key_Escape)
    assert not viewer.isVisible() and widget.viewer is None
    assert widget.selected_item().id == widget.model.item(3).id  # the grid follows


def test_viewer_fit_and_actual_size(qtbot, widget: GalleryWidget, gallery) -> None:
    big = gallery.add(Image.new("RGB", (2400, 1600), (10, 120, 30)), _params("big", 99, "x"), 99)
    widget.add_paths([str(big.path)])
    widget.select_row(0)
    viewer = widget.open_viewer()
    assert viewer is not None and viewer.item().id == big.id
    assert viewer.is_fit() and viewer.fit_button.isChecked()
    QTest.keyClick(viewer, Qt.Key.Key_1)
    assert not viewer.is_fit() and viewer.actual_button.isChecked()
    assert viewer.actual_label.pixmap().size().toTuple() == (2400, 1600)  # one to one
    assert viewer.scroll_area.horizontalScrollBar().maximum() > 0  # larger than the window: scrolls
    QTest.keyClick(viewer, Qt.Key.Key_F)
    assert viewer.is_fit()
    QTest.keyClick(viewer, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert gallery.get(big.id).favourite and viewer.star_button.text() == "★"
    QTest.keyClick(viewer, Qt.Key.Key_Left)  # first row: stays
    assert viewer.row == 0
    viewer.close()


def test_enter_opens_the_viewer(qtbot, widget: GalleryWidget) -> None:
    widget.select_row(5)
    widget.view.setFocus()
    QTest.keyClick(widget.view, Qt.Key.Key_Return)
    assert widget.viewer is not None and widget.viewer.row == 5
    widget.viewer.close()


# --- a full disk, and a rebuilt index ---------------------------------------------------


def test_retry_save_after_a_full_disk(qtbot, widget: GalleryWidget, gallery, monkeypatch) -> None:
    def disk_full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(UnsavedError):
        gallery.add_many(
            [Image.new("RGB", (64, 48), "white")], [_params("kept in memory", 77, "x")], [77]
        )
    assert widget.check_unsaved() and widget.retry_button.isVisible()
    widget.retry_button.click()  # still full
    assert widget.retry_button.isVisible()
    assert "could not be saved because the disk holding" in widget.message.text()
    monkeypatch.undo()
    widget.retry_button.click()
    assert not widget.retry_button.isVisible()
    assert widget.message.text() == "Saved 1 picture."
    assert widget.model.item(0).prompt == "kept in memory" and gallery.count() == 15


def test_rebuilt_index_is_announced(qtbot, gallery: Gallery) -> None:
    root, index = gallery.root, gallery.index_path
    gallery.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    with Gallery(root, index) as g:
        w = GalleryWidget(g)
        qtbot.addWidget(w)
        w.show()
        with qtbot.waitSignal(w.notice, timeout=5000) as said:
            pass
        text = "The gallery index was missing and has been rebuilt from 14 pictures."
        assert said.args == [text]
        assert w.message.text() == text and w.model.rowCount() == 14
        w.shutdown()


def test_viewer_position_counts_all_matches(qtbot, widget: GalleryWidget) -> None:
    widget.search.setText("cat")
    qtbot.waitUntil(lambda: widget.model.rowCount() == 7, timeout=2000)
    viewer = widget.open_viewer(6)
    assert viewer is not None and viewer.position.text() == "7 of 7"
    assert not viewer.next_button.isEnabled()
    QTest.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.row == 6
    viewer.close()


def test_the_window_fits_1024x640_with_the_gallery(qtbot) -> None:
    """Narrow laptops: the gallery's detail pane and filter bar scroll sideways instead of
    forcing the window wider than 1024 px."""
    from app.ui.main_window import MainWindow

    w = MainWindow(model_path=None)
    qtbot.addWidget(w)
    hint = w.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 640, hint
    w.close()


def _select_many(widget: GalleryWidget, gallery: Gallery) -> int:
    """Enough pictures for a background delete, all selected with Ctrl+A; how many."""
    from app.ui.gallery_bulk import IN_BACKGROUND_FROM

    for i in range(IN_BACKGROUND_FROM + 10):
        gallery.add(Image.new("RGB", (8, 8)), _params("filler", 500 + i, "tiny-sd"), seed=500 + i)
    widget.refresh()
    widget.view.setFocus()
    QTest.keyClick(widget.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    widget.confirm_delete = lambda p, n, t: True
    return gallery.count()


def test_a_big_delete_runs_off_the_ui_thread_with_progress(qtbot, widget, gallery) -> None:
    total = _select_many(widget, gallery)
    paths = [item.path for item in widget.selected_items()]
    assert len(paths) == total
    threads: list[str] = []
    real = gallery.delete_many

    def spy(ids, **kw):
        import threading

        threads.append(threading.current_thread().name)
        return real(ids, **kw)

    gallery.delete_many = spy  # type: ignore[method-assign]
    widget.delete_action.trigger()
    assert widget.delete_dialog is not None and widget.delete_dialog.maximum() == total
    qtbot.waitUntil(lambda: widget.delete_thread is None, timeout=10000)
    assert threads == ["easel-gallery-delete"]
    assert gallery.count() == 0 and widget.model.rowCount() == 0
    assert not any(p.exists() for p in paths)
    assert widget.message.text() == f"Deleted {total} pictures."


def test_stop_keeps_the_rest_with_their_rows(qtbot, widget, gallery) -> None:
    import threading

    total = _select_many(widget, gallery)
    gate = threading.Event()
    real = gallery.delete_many

    def one_chunk_then_wait(ids, on_progress=None, cancel=None, chunk=100):
        def progress(done: int, n: int) -> None:
            on_progress(done, n)
            gate.wait(10)  # until the test has pressed Stop

        return real(ids, on_progress=progress, cancel=cancel, chunk=10)

    gallery.delete_many = one_chunk_then_wait  # type: ignore[method-assign]
    widget.delete_action.trigger()
    dialog = widget.delete_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.value() == 10, timeout=10000)
    from PySide6.QtWidgets import QPushButton

    stop = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Stop")
    stop.click()
    gate.set()
    qtbot.waitUntil(lambda: widget.delete_thread is None, timeout=10000)
    assert gallery.count() == total - 10 and widget.model.rowCount() == total - 10
    left = [i.path for i in gallery.items(limit=total)]
    assert len(left) == total - 10 and all(p.exists() for p in left)
    assert widget.message.text() == f"Stopped: deleted 10 of {total} pictures; the rest are kept."
