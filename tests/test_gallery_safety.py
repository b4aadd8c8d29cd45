"""Gallery store: file modes, full disks, damaged indexes, favourites, filters, bulk actions.

Real PNG files and a real SQLite index in a temporary folder; the only thing patched is the
OS boundary that reports a full disk (os.fsync), which cannot be produced without root.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from app.errors import LibraryError
from app.library import atomic, pngio
from app.library.gallery import Gallery, UnsavedError
from app.library.gallery_export import export_items
from app.library.gallery_favourites import SIDECAR_NAME
from app.library.gallery_query import GalleryFilter


def _params(prompt: str, seed: int, model: str = "tiny-sd") -> str:
    return f"{prompt}\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: {seed}, Size: 8x8, Model: {model}"


def _open(tmp_path: Path) -> Gallery:
    return Gallery(tmp_path / "pics", tmp_path / "index" / "gallery.sqlite3", tmp_path / "thumbs")


@pytest.fixture
def gallery(tmp_path: Path) -> Iterator[Gallery]:
    g = _open(tmp_path)
    yield g
    g.close()


def _fill(g: Gallery, n: int, model: str = "tiny-sd", prompt: str = "a cat") -> list[int]:
    ids = []
    for i in range(n):
        image = Image.new("RGB", (8 + i, 8), (i * 20 % 256, 10, 10))
        ids.append(g.add(image, _params(f"{prompt} {i}", 1000 + i, model), seed=1000 + i).id)
    return ids


def _disk_full(_fd: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


# --- file modes ---------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_saved_png_has_the_mode_a_new_file_gets(gallery: Gallery, mask: int) -> None:
    old = os.umask(mask)
    try:
        assert atomic.current_umask() == mask
        item = gallery.add(Image.new("RGB", (8, 8)), _params("p", 1), seed=1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(item.path.stat().st_mode) == 0o666 & ~mask  # 0644 under umask 022


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_exported_and_sidecar_files_are_group_readable(gallery: Gallery, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        ids = _fill(gallery, 2)
        gallery.set_favourite(ids[:1])
        out = tmp_path / "out"
        out.mkdir()
        written, errors = export_items([gallery.get(i) for i in ids], out)  # type: ignore[misc]
    finally:
        os.umask(old)
    assert errors == []
    for path in [*written, gallery.root / SIDECAR_NAME]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


# --- a full disk --------------------------------------------------------------------------


def test_full_disk_keeps_the_batch_in_memory_and_retry_saves_it(
    gallery: Gallery, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(gallery, 1)
    before = sorted(p.name for p in gallery.root.iterdir())
    monkeypatch.setattr(os, "fsync", _disk_full)
    images = [Image.new("RGB", (8, 8), (i, i, i)) for i in (50, 60, 70)]
    with pytest.raises(UnsavedError) as info:
        gallery.add_many(images, [_params("dog", s) for s in (1, 2, 3)], [1, 2, 3])
    message = str(info.value)
    assert message.startswith("3 pictures could not be saved because the disk holding")
    assert "is full; free some space, then press Retry save" in message
    assert "Traceback" not in message and message.count(".") <= 2 + str(gallery.root).count(".")
    assert gallery.unsaved_count == 3
    assert sorted(p.name for p in gallery.root.iterdir()) == before  # nothing half-written
    assert gallery.count() == 1

    with pytest.raises(UnsavedError):  # still full: still kept
        gallery.retry_unsaved()
    assert gallery.unsaved_count == 3

    monkeypatch.undo()  # space freed
    saved = gallery.retry_unsaved()
    assert gallery.unsaved_count == 0
    assert [item.seed for item in saved] == [1, 2, 3]
    assert gallery.count() == 4
    for item, image in zip(saved, images, strict=True):
        with Image.open(item.path) as png:
            assert png.getpixel((0, 0)) == image.getpixel((0, 0))
            assert "Seed: " in png.text["parameters"]


def test_single_unsaved_picture_sentence(gallery: Gallery, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "fsync", _disk_full)
    with pytest.raises(UnsavedError, match=r"^The picture could not be saved .* \(it is kept"):
        gallery.add_many([Image.new("RGB", (8, 8))], [_params("p", 1)], [1])
    assert gallery.unsaved_count == 1


def test_add_alone_keeps_nothing_and_says_what_to_do(gallery: Gallery, monkeypatch) -> None:
    # The CLI's path: no window, no Retry save, so the sentence says to save again.
    monkeypatch.setattr(os, "fsync", _disk_full)
    with pytest.raises(LibraryError, match="is full; free some space and save the image again.$"):
        gallery.add(Image.new("RGB", (8, 8)), _params("p", 1), seed=1)
    assert gallery.unsaved_count == 0 and gallery.count() == 0


# --- damaged or lost index ----------------------------------------------------------------


def test_deleted_index_is_rebuilt_with_a_notice(tmp_path: Path) -> None:
    with _open(tmp_path) as g:
        _fill(g, 3)
        index = g.index_path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    with _open(tmp_path) as g:
        assert g.count() == 0
        g.reconcile()
        assert g.count() == 3
        assert g.notice == "The gallery index was missing and has been rebuilt from 3 pictures."
        assert {i.prompt for i in g.items()} == {"a cat 0", "a cat 1", "a cat 2"}


def test_corrupt_index_is_set_aside_and_rebuilt(tmp_path: Path) -> None:
    with _open(tmp_path) as g:
        ids = _fill(g, 42)
        g.set_favourite(ids[:2])
        index = g.index_path
    size = index.stat().st_size
    with open(index, "r+b") as f:  # trash the pages after the header: opens, then fails
        f.seek(4096)
        f.write(os.urandom(size - 4096))
    with _open(tmp_path) as g:
        g.reconcile()
        assert g.notice == "The gallery index was damaged and has been rebuilt from 42 pictures."
        assert g.count() == 42
        assert g.count(GalleryFilter(favourites=True)) == 2  # the stars survived
        g.reconcile()
        assert g.notice.endswith("42 pictures.")  # said once; a later reconcile keeps quiet
    assert any(p.name.startswith("gallery.sqlite3.corrupt-") for p in index.parent.iterdir())


def test_garbage_index_file_is_rebuilt(tmp_path: Path) -> None:
    with _open(tmp_path) as g:
        _fill(g, 2)
        index = g.index_path
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    index.write_bytes(b"this is not a database" * 100)
    with _open(tmp_path) as g:
        g.reconcile()
        assert g.notice == "The gallery index was damaged and has been rebuilt from 2 pictures."


def test_a_fresh_empty_gallery_has_no_notice(gallery: Gallery) -> None:
    gallery.reconcile()
    assert gallery.notice == ""


# --- favourites ---------------------------------------------------------------------------


def test_favourites_are_in_the_index_and_the_sidecar(gallery: Gallery) -> None:
    ids = _fill(gallery, 4)
    gallery.set_favourite([ids[1], ids[3]])
    assert [i.favourite for i in gallery.items(GalleryFilter(sort="oldest"))] == [
        False,
        True,
        False,
        True,
    ]
    names = json.loads((gallery.root / SIDECAR_NAME).read_text())["favourites"]
    assert names == sorted([gallery.get(ids[1]).path.name, gallery.get(ids[3]).path.name])  # type: ignore[union-attr]
    gallery.set_favourite([ids[1]], False)
    assert [i.id for i in gallery.items(GalleryFilter(favourites=True))] == [ids[3]]
    assert gallery.reconcile() == (0, 0)  # the sidecar is not a picture


def test_favourites_survive_an_index_rebuild(tmp_path: Path) -> None:
    with _open(tmp_path) as g:
        ids = _fill(g, 3)
        g.set_favourite([ids[0]])
        starred = g.get(ids[0]).path.name  # type: ignore[union-attr]
        index = g.index_path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    with _open(tmp_path) as g:
        g.reconcile()
        assert [i.path.name for i in g.items(GalleryFilter(favourites=True))] == [starred]


# --- filters and sorts --------------------------------------------------------------------


def test_filters_combine_with_search(gallery: Gallery) -> None:
    cats = _fill(gallery, 3, model="tiny-sd", prompt="a cat")
    dogs = _fill(gallery, 2, model="other-model", prompt="a dog")
    gallery.set_favourite([cats[0], dogs[1]])
    assert gallery.models() == [("other-model", 2), ("tiny-sd", 3)]
    assert gallery.count(GalleryFilter(model="tiny-sd")) == 3
    assert gallery.count(GalleryFilter(query="dog", model="tiny-sd")) == 0
    assert [i.id for i in gallery.items(GalleryFilter(query="a", favourites=True))] == [
        dogs[1],
        cats[0],
    ]
    assert [i.id for i in gallery.items(GalleryFilter(model="tiny-sd", sort="oldest"))] == cats
    # Date range: move two pictures back a week, through the row's creation time.
    week_ago = time.time() - 7 * 86400
    with gallery._conn:
        gallery._conn.execute(
            "UPDATE images SET created = ? WHERE id IN (?, ?)", (week_ago, cats[0], cats[1])
        )
    since = time.time() - 86400
    assert gallery.count(GalleryFilter(since=since)) == 3
    assert {i.id for i in gallery.items(GalleryFilter(until=since))} == {cats[0], cats[1]}
    assert gallery.count(GalleryFilter(query="cat", since=since)) == 1


def test_sorts(gallery: Gallery) -> None:
    ids = _fill(gallery, 3)  # widths 8, 9, 10
    assert [i.id for i in gallery.items(GalleryFilter(sort="newest"))] == ids[::-1]
    assert [i.id for i in gallery.items(GalleryFilter(sort="oldest"))] == ids
    assert [i.id for i in gallery.items(GalleryFilter(sort="largest"))] == ids[::-1]
    assert [i.prompt for i in gallery.items(GalleryFilter(sort="prompt"))] == [
        "a cat 0",
        "a cat 1",
        "a cat 2",
    ]


# --- bulk delete and export ---------------------------------------------------------------


def test_delete_many_moves_files_to_the_trash(gallery: Gallery) -> None:
    ids = _fill(gallery, 5)
    paths = [gallery.get(i).path for i in ids]  # type: ignore[union-attr]
    assert gallery.uses_trash
    deleted, errors = gallery.delete_many(ids[:3])
    assert (deleted, errors) == (3, [])
    assert [p.exists() for p in paths] == [False, False, False, True, True]
    assert gallery.count() == 2
    trash = Path(os.environ["XDG_DATA_HOME"]) / "Trash" / "files"
    assert {p.name for p in paths[:3]} <= {p.name for p in trash.iterdir()}


def test_export_copies_byte_for_byte_without_overwriting(gallery: Gallery, tmp_path: Path) -> None:
    ids = _fill(gallery, 2)
    items = [gallery.get(i) for i in ids]
    out = tmp_path / "export"
    out.mkdir()
    (out / items[0].path.name).write_bytes(b"someone else's file")  # type: ignore[union-attr]
    written, errors = export_items(items, out)  # type: ignore[arg-type]
    assert errors == []
    assert written[0].name == items[0].path.stem + " (2).png"  # type: ignore[union-attr]
    for src, dst in zip(items, written, strict=True):
        assert dst.read_bytes() == src.path.read_bytes()  # type: ignore[union-attr]
        assert pngio.read_parameters(dst) == src.parameters  # type: ignore[union-attr]
    assert (out / items[0].path.name).read_bytes() == b"someone else's file"  # type: ignore[union-attr]


# --- temp files left by a dead writer ----------------------------------------------------


def test_stale_temp_files_are_cleared_but_live_ones_kept(gallery: Gallery) -> None:
    dead = gallery.root / ".00001-5.999999999.abc_123.tmp"  # no such pid
    live = gallery.root / f".00002-5.{os.getpid()}.def456.tmp"
    dead.write_bytes(b"\x89PNG half")
    live.write_bytes(b"\x89PNG half")
    gallery.reconcile()
    assert not dead.exists()
    assert live.exists()
