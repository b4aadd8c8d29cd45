"""The queue written down: jobs survive a restart and go when they are over."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from app.library.jobstore import JobStore
from app.request import GenerationRequest


def test_jobs_round_trip_with_pictures_and_go_when_removed(tmp_path: Path) -> None:
    init = Image.new("RGB", (64, 64), (200, 40, 40))
    mask = Image.new("L", (64, 64), 255)
    req = GenerationRequest(
        "a fox", mode="inpaint", steps=3, init_image=init, mask=mask, outpaint=(8, 0, 0, 0)
    )
    with JobStore(tmp_path / "q.sqlite3") as store:
        a = store.add(req, "/models/tiny", "canvas")
        b = store.add(GenerationRequest("a cat"), None)
        assert len(list(store.image_dir.glob("*.png"))) == 2
    with JobStore(tmp_path / "q.sqlite3") as store:  # a restart
        pending = store.pending()
        assert [j.id for j in pending] == [a, b]
        back = pending[0].request
        assert back.prompt == "a fox" and back.mode == "inpaint" and back.steps == 3
        assert back.outpaint == (8, 0, 0, 0)
        assert back.init_image.tobytes() == init.tobytes()  # type: ignore[union-attr]
        assert back.mask.mode == "L"  # type: ignore[union-attr]
        assert pending[0].model_path == "/models/tiny" and pending[0].tag == "canvas"
        store.remove(a)
        assert [j.id for j in store.pending()] == [b]
        assert list(store.image_dir.glob("*.png")) == []
        store.clear()
        assert store.count() == 0


def test_a_corrupt_queue_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    with JobStore(path) as store:
        assert store.pending() == []
    assert list(tmp_path.glob("q.sqlite3.corrupt-*"))


def test_controlnet_units_and_hires_survive_with_their_images(tmp_path) -> None:
    from PIL import Image

    from app.library.jobstore import JobStore
    from app.request import ControlUnit, GenerationRequest

    drawing = Image.new("RGB", (32, 32), (10, 200, 30))
    req = GenerationRequest(
        "a tree",
        controlnets=(ControlUnit("cn-a", drawing, "scribble", 0.7), ControlUnit("cn-b", "x.png")),
        hires=True,
        hires_resize=(128, 96),
    )
    with JobStore(tmp_path / "jobs.sqlite") as store:
        store.add(req)
    with JobStore(tmp_path / "jobs.sqlite") as store:
        (job,) = store.pending()
        back = job.request
        assert back.hires and back.hires_resize == (128, 96)
        a, b = back.controlnets
        assert (a.model, a.preprocessor, a.weight) == ("cn-a", "scribble", 0.7)
        assert a.image.getpixel((0, 0)) == (10, 200, 30)
        assert b.image == "x.png"
        store.remove(job.id)
        assert not list((tmp_path).rglob("*.png"))  # the stored control image went with it
