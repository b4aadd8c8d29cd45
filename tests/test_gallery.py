"""The gallery store and the PNG layer under it, on real files and a real SQLite index."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import struct
import sys
import threading
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from app.errors import LibraryError
from app.library import gallery as gallery_module
from app.library import paths, pngio
from app.library.gallery import Gallery
from app.library.infotext import parse_infotext

PARAMS = (
    "a lighthouse in a storm, dramatic\n"
    "Negative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 64x64, "
    "Model: dreamy-v2, Version: Easel 0.1.0"
)


def _image(color: tuple[int, int, int] = (200, 30, 30), size: int = 64) -> Image.Image:
    return Image.new("RGB", (size, size), color)


def _params(prompt: str, seed: int = 1, negative: str = "", model: str = "base") -> str:
    neg = f"\nNegative prompt: {negative}" if negative else ""
    return f"{prompt}{neg}\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: {seed}, Model: {model}"


@pytest.fixture
def gallery(tmp_path: Path):
    g = Gallery(tmp_path / "pics", tmp_path / "data" / "index.sqlite3", tmp_path / "thumbs")
    yield g
    g.close()


def _reopen(g: Gallery) -> Gallery:
    g.close()
    return Gallery(g.root, g.index_path, g.thumbnail_dir)


# --- paths -------------------------------------------------------------------------------


def test_easel_home_puts_everything_under_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EASEL_HOME", str(tmp_path / "home"))
    assert paths.config_dir() == tmp_path / "home" / "config"
    assert paths.gallery_index_path() == tmp_path / "home" / "data" / "gallery.sqlite3"
    assert paths.default_gallery_dir() == tmp_path / "home" / "Pictures" / "Easel"
    assert paths.thumbnail_dir().is_dir()
    assert paths.thumbnail_dir().is_relative_to(paths.cache_dir())


# --- pngio -------------------------------------------------------------------------------


def test_write_png_uses_text_for_latin1_and_itxt_otherwise(tmp_path: Path) -> None:
    latin = pngio.write_png(_image(), tmp_path / "a.png", "café au lait")
    other = pngio.write_png(_image(), tmp_path / "b.png", "猫 cat")
    assert b"tEXtparameters\x00caf\xe9" in latin.read_bytes()
    assert b"iTXtparameters" in other.read_bytes()
    assert pngio.read_parameters(latin) == "café au lait"
    assert pngio.read_parameters(other) == "猫 cat"
    with Image.open(other) as im:  # other tools (Pillow here) read the same chunk
        assert im.info["parameters"] == "猫 cat"
    assert pngio.read_parameters(pngio.write_png(_image(), tmp_path / "c.png", None)) is None


def test_text_after_image_data_is_found(tmp_path: Path) -> None:
    # Some writers put their chunk after IDAT, where Pillow looks only after decoding.
    data = pngio.encode_png(_image(), None)
    iend = data.rindex(b"IEND") - 4
    body = b"parameters\x00late chunk"
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body))
    path = tmp_path / "late.png"
    path.write_bytes(data[:iend] + chunk + data[iend:])
    assert pngio.read_parameters(path) == "late chunk"
    assert pngio.read_png_header(path)[:2] == (64, 64)


def test_jpeg_exif_user_comment_is_read(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + PARAMS.encode("utf-16-be")
    path = tmp_path / "a1111.jpg"
    _image().save(path, format="JPEG", exif=exif)
    assert pngio.read_parameters(path) == PARAMS


def _png_with_texts(path: Path, texts: dict[str, str]) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    _image(size=96).save(path, pnginfo=info)
    return path


def test_invokeai_metadata_is_converted(tmp_path: Path) -> None:
    meta = {
        "positive_prompt": "a teapot",
        "negative_prompt": "ugly",
        "seed": 99,
        "steps": 30,
        "cfg_scale": 6.5,
        "width": 768,
        "height": 512,
        "scheduler": "dpmpp_2m_k",
        "model": {"name": "juggernaut", "base": "sdxl"},
        "app_version": "5.0.0",
    }
    path = _png_with_texts(tmp_path / "invoke.png", {"invokeai_metadata": json.dumps(meta)})
    info = parse_infotext(pngio.read_parameters(path) or "")
    assert (info.prompt, info.negative_prompt) == ("a teapot", "ugly")
    assert info.params["Sampler"] == "DPM++ 2M"
    assert info.params["Schedule type"] == "Karras"
    assert info.params["Seed"] == "99"
    assert info.params["CFG scale"] == "6.5"
    assert info.params["Size"] == "768x512"
    assert info.params["Model"] == "juggernaut"


def test_comfyui_prompt_graph_is_converted(tmp_path: Path) -> None:
    graph = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd/v1-5.safetensors"}},
        "10": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1]}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a robot, oil painting", "clip": ["10", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": ["12", 0], "clip": ["10", 1]}},
        "12": {"class_type": "PrimitiveNode", "inputs": {"value": "text, watermark"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 640, "batch_size": 1}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 156680208700286, "steps": 20, "cfg": 8, "sampler_name": "euler_ancestral",
                "scheduler": "karras", "denoise": 1, "model": ["10", 0], "positive": ["6", 0],
                "negative": ["7", 0], "latent_image": ["5", 0],
            },
        },
    }  # fmt: skip
    path = _png_with_texts(tmp_path / "comfy.png", {"prompt": json.dumps(graph)})
    info = parse_infotext(pngio.read_parameters(path) or "")
    assert info.prompt == "a robot, oil painting"
    assert info.negative_prompt == "text, watermark"
    assert info.params["Seed"] == "156680208700286"
    assert info.params["Steps"] == "20"
    assert info.params["CFG scale"] == "8"
    assert info.params["Sampler"] == "Euler a"
    assert info.params["Schedule type"] == "Karras"
    assert info.params["Size"] == "512x640"
    assert info.params["Model"] == "v1-5"


def test_fooocus_json_parameters_are_converted(tmp_path: Path) -> None:
    meta = {
        "Prompt": "a knight",
        "Negative Prompt": "",
        "Steps": 30,
        "Sampler": "dpmpp_2m_sde_gpu",
        "Scheduler": "karras",
        "Seed": "42",
        "Guidance Scale": 4,
        "Resolution": "(1152, 896)",
        "Base Model": "juggernautXL_v8Rundiffusion.safetensors",
        "Version": "Fooocus v2.5.5",
    }
    texts = {"parameters": json.dumps(meta), "fooocus_scheme": "fooocus"}
    info = parse_infotext(pngio.read_parameters(_png_with_texts(tmp_path / "f.png", texts)) or "")
    assert info.prompt == "a knight"
    assert info.params["Sampler"] == "DPM++ 2M SDE"
    assert info.params["Schedule type"] == "Karras"
    assert (info.params["Seed"], info.params["Size"]) == ("42", "1152x896")
    assert info.params["Model"] == "juggernautXL_v8Rundiffusion"
    assert info.params["Version"] == "Fooocus v2.5.5"


def test_foreign_junk_gives_none(tmp_path: Path) -> None:
    path = _png_with_texts(tmp_path / "j.png", {"prompt": "{not json", "Software": "x"})
    assert pngio.read_parameters(path) is None


def test_unique_path_counts_on_from_the_highest(tmp_path: Path) -> None:
    assert pngio.unique_path(tmp_path, "77") == tmp_path / "00000-77.png"
    (tmp_path / "00041-5.png").write_bytes(b"")
    (tmp_path / "00007-1.png").write_bytes(b"")
    assert pngio.unique_path(tmp_path, "1234567") == tmp_path / "00042-1234567.png"
    assert pngio.unique_path(tmp_path, "5", start=41) == tmp_path / "00042-5.png"
    assert pngio.unique_path(tmp_path, 'a/b:c"') == tmp_path / "00042-a_b_c_.png"


def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "out" / "x.png"
    pngio.write_png(_image((1, 2, 3)), target, "old")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pngio.os, "fsync", disk_full)
    with pytest.raises(LibraryError, match="disk .* is full"):
        pngio.write_png(_image(), target, "new")
    assert os.listdir(target.parent) == ["x.png"]  # no temp file left
    assert pngio.read_parameters(target) == "old"  # the old file is intact


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions"
)
def test_unwritable_dir_is_a_library_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(LibraryError, match="not allowed to write"):
            pngio.write_png(_image(), locked / "x.png", "p")
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o700)


def test_gallery_add_into_a_file_path_is_a_library_error(tmp_path: Path) -> None:
    # Works as root too: the "folder" is a file, so nothing can be created in it.
    g = Gallery(tmp_path / "pics", tmp_path / "i.sqlite3", tmp_path / "t")
    try:
        shutil.rmtree(g.root)
        g.root.write_bytes(b"not a folder")
        with pytest.raises(LibraryError):
            g.add(_image(), PARAMS)
        assert g.count() == 0
    finally:
        g.close()


# --- gallery -----------------------------------------------------------------------------


def test_add_writes_png_with_parameters_and_row(gallery: Gallery) -> None:
    item = gallery.add(_image(), PARAMS, seed=1234)
    assert item.path.parent == gallery.root
    assert item.path.name == "00000-1234.png"
    assert pngio.read_parameters(item.path) == PARAMS
    with Image.open(item.path) as im:
        assert im.size == (64, 64)
    assert item.prompt == "a lighthouse in a storm, dramatic"
    assert item.negative_prompt == "blurry"
    assert item.params["Sampler"] == "Euler a"
    assert (item.width, item.height, item.seed, item.model) == (64, 64, 1234, "dreamy-v2")
    assert gallery.get(item.id) == item
    second = gallery.add(_image(), PARAMS)
    assert second.path.name == "00001.png"
    assert second.seed == 1234  # from the parameters when not given
    assert not [p for p in gallery.root.iterdir() if p.name.startswith(".")]


def test_newest_first_and_paging(gallery: Gallery) -> None:
    ids = [gallery.add(_image(), _params(f"picture {i}", seed=i)).id for i in range(5)]
    assert [it.id for it in gallery.items()] == ids[::-1]
    assert [it.id for it in gallery.items(limit=2, offset=1)] == [ids[3], ids[2]]
    assert gallery.count() == 5


def test_search_words_anded_case_insensitive(gallery: Gallery) -> None:
    a = gallery.add(_image(), _params("A Red Fox in the snow", negative="blurry", model="alpha"))
    b = gallery.add(_image(), _params("a red car at night", model="beta"))
    c = gallery.add(_image(), _params("blue fox, 東京の夜", negative="lowres", model="beta"))
    assert {i.id for i in gallery.items("fox")} == {a.id, c.id}
    assert [i.id for i in gallery.items("RED fox")] == [a.id]
    assert [i.id for i in gallery.items("blurry")] == [a.id]  # negative prompt
    assert {i.id for i in gallery.items("beta")} == {b.id, c.id}  # model
    assert [i.id for i in gallery.items("ca")] == [b.id]  # short word: LIKE path
    assert [i.id for i in gallery.items("東京")] == [c.id]
    assert gallery.items("fox zebra") == []
    assert gallery.count("fox") == 2
    assert gallery.count('"quoted" 100%') == 0  # query syntax characters are literal


def test_search_without_fts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(gallery_module, "USE_FTS5", False)
    with Gallery(tmp_path / "p", tmp_path / "i.sqlite3", tmp_path / "t") as g:
        assert g.fts is False
        a = g.add(_image(), _params("Golden Retriever"))
        g.add(_image(), _params("tabby cat"))
        assert [i.id for i in g.items("retriever golden")] == [a.id]
        assert g.count("cat") == 1


def test_delete_removes_file_and_row(gallery: Gallery) -> None:
    keep = gallery.add(_image(), _params("keep"))
    gone = gallery.add(_image(), _params("gone"))
    thumb = gallery.thumbnail(gone)
    gallery.delete(gone.id)
    assert not gone.path.exists()
    assert not thumb.exists()
    assert gallery.get(gone.id) is None
    assert [i.id for i in gallery.items()] == [keep.id]
    assert gallery.count("gone") == 0
    # A file already gone still removes the row.
    keep.path.unlink()
    gallery.delete(keep.id)
    assert gallery.count() == 0


def test_reconcile_picks_up_new_files_and_drops_vanished(gallery: Gallery, tmp_path: Path) -> None:
    first = gallery.add(_image(), _params("first"))
    second = gallery.add(_image(), _params("second"))
    assert gallery.reconcile() == (0, 0)
    outside = pngio.write_png(_image(), tmp_path / "elsewhere.png", _params("copied in", seed=5))
    shutil.copy2(outside, gallery.root / "copied.png")
    (gallery.root / "notes.txt").write_text("ignored")
    second.path.unlink()
    assert gallery.reconcile() == (1, 1)
    assert gallery.get(second.id) is None
    found = gallery.items("copied")
    assert len(found) == 1
    assert (found[0].seed, found[0].path.name) == (5, "copied.png")
    assert gallery.get(first.id) is not None
    assert gallery.reconcile() == (0, 0)


def test_reconcile_rebuilds_a_lost_index(gallery: Gallery) -> None:
    for i in range(3):
        gallery.add(_image(), _params(f"image {i}", seed=i))
    gallery.close()
    gallery.index_path.write_bytes(b"this is not a database" * 100)
    with Gallery(gallery.root, gallery.index_path, gallery.thumbnail_dir) as g:
        assert g.count() == 0
        assert g.reconcile() == (3, 0)
        assert [i.prompt for i in g.items()] == ["image 2", "image 1", "image 0"]
    assert list(gallery.index_path.parent.glob("*.corrupt-*"))


def test_index_persists_across_reopen(gallery: Gallery) -> None:
    item = gallery.add(_image(), PARAMS, seed=1234)
    reopened = _reopen(gallery)
    try:
        assert reopened.get(item.id) == item
        assert reopened.reconcile() == (0, 0)
        assert reopened.items("lighthouse")[0].id == item.id
        nxt = reopened.add(_image(), PARAMS, seed=9)
        assert nxt.path.name == "00001-9.png"
    finally:
        reopened.close()


def test_import_png_with_a1111_parameters(gallery: Gallery, tmp_path: Path) -> None:
    src = pngio.write_png(_image((9, 9, 9)), tmp_path / "downloads" / "cool.png", PARAMS)
    item = gallery.import_file(src)
    assert item.path.parent == gallery.root
    assert item.path.name == "00000-1234.png"
    assert item.path.read_bytes() == src.read_bytes()  # byte for byte
    assert item.prompt == "a lighthouse in a storm, dramatic"
    assert src.exists()  # a copy, not a move
    # Importing the same content again returns the existing item.
    assert gallery.import_file(src) == item
    copy = tmp_path / "copy-of-cool.png"
    shutil.copy(src, copy)
    assert gallery.import_file(copy).id == item.id
    assert gallery.count() == 1


def test_duplicate_of_a_reconciled_file_is_found(gallery: Gallery, tmp_path: Path) -> None:
    src = pngio.write_png(_image(), tmp_path / "x.png", _params("already here"))
    shutil.copy(src, gallery.root / "x.png")
    assert gallery.reconcile() == (1, 0)  # indexed without a hash
    assert gallery.import_file(src).path.name == "x.png"
    assert gallery.count() == 1


def test_import_jpeg_converts_to_png_with_parameters(gallery: Gallery, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + PARAMS.encode("utf-16-be")
    src = tmp_path / "photo.jpg"
    _image(size=80).save(src, format="JPEG", exif=exif)
    item = gallery.import_file(src)
    assert item.path.suffix == ".png"
    assert pngio.read_parameters(item.path) == PARAMS
    assert (item.width, item.height, item.seed) == (80, 80, 1234)
    assert gallery.import_file(src).id == item.id  # duplicate by the source's hash
    plain = tmp_path / "plain.webp"
    _image((0, 90, 0)).save(plain, format="WEBP")
    no_meta = gallery.import_file(plain)
    assert (no_meta.prompt, no_meta.parameters, no_meta.path.name) == ("", "", "00001-plain.png")


def test_import_rejects_non_images(gallery: Gallery, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("hello")
    with pytest.raises(LibraryError, match="PNG, JPEG or WebP"):
        gallery.import_file(bad)
    with pytest.raises(LibraryError, match="does not exist"):
        gallery.import_file(tmp_path / "missing.png")


def test_thumbnail_is_made_once_and_cached(gallery: Gallery) -> None:
    item = gallery.add(_image(size=512), PARAMS)
    thumb = gallery.thumbnail(item, size=128)
    assert thumb.is_relative_to(gallery.thumbnail_dir)
    with Image.open(thumb) as im:
        assert max(im.size) == 128
        assert im.format == "JPEG"
    stamp = thumb.stat().st_mtime_ns
    assert gallery.thumbnail(item, size=128) == thumb
    assert thumb.stat().st_mtime_ns == stamp
    rgba = gallery.add(Image.new("RGBA", (64, 64), (0, 0, 0, 0)), PARAMS)
    assert gallery.thumbnail(rgba).suffix == ".png"  # transparency kept


def test_safe_from_two_threads(gallery: Gallery) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(4):
                gallery.add(_image(), _params(f"thread {n} image {i}", seed=n * 10 + i))
                gallery.items("thread")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert gallery.count("thread") == 8
    assert len({i.path for i in gallery.items()}) == 8


def test_unusable_index_location_is_a_library_error(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the index folder should be")
    with pytest.raises(LibraryError, match="Could not create the folder"):
        Gallery(tmp_path / "pics", tmp_path / "data" / "index.sqlite3", tmp_path / "t")
    (tmp_path / "dir.sqlite3").mkdir()  # the index path is a folder: SQLite cannot open it
    with pytest.raises(LibraryError, match="Could not open the gallery index"):
        Gallery(tmp_path / "pics", tmp_path / "dir.sqlite3", tmp_path / "t")


def test_index_uses_wal(gallery: Gallery) -> None:
    conn = sqlite3.connect(gallery.index_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


@pytest.mark.skipif(sys.platform != "linux", reason="checks the XDG trash layout")
def test_delete_moves_the_file_to_the_trash(gallery: Gallery) -> None:
    item = gallery.add(_image(), _params("to the trash"))
    data = item.path.read_bytes()
    gallery.delete(item.id)
    assert not item.path.exists()
    # conftest points XDG_DATA_HOME at a temp folder on the same disk as the gallery.
    trash_files = (Path(os.environ["XDG_DATA_HOME"]) / "Trash" / "files").glob("*.png")
    trashed = [p for p in trash_files if p.read_bytes() == data]
    assert trashed, "the deleted picture is not in the trash"
