"""Model catalog and downloads, against a local stand-in Hub running the real client code."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import Cancelled, DownloadError
from app.models import catalog
from app.models.download import (
    OFFLINE_MESSAGE,
    DownloadProgress,
    download_model,
    family_config_dir,
    fetch_family_configs,
    installed_snapshot,
    is_installed,
)
from app.models.hubcache import repo_folder
from tests.hubserver import HubRepo, HubServer, random_bytes, running_hub

ROOT = Path(__file__).resolve().parents[1]
BIG = "unet/diffusion_pytorch_model.fp16.safetensors"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    with running_hub(monkeypatch, tmp_path / "hf") as server:
        yield server


def small_repo(repo_id: str = "org/small", big_size: int = 1_500_000) -> HubRepo:
    return HubRepo.from_files(
        repo_id,
        {
            "model_index.json": b'{"_class_name": "StableDiffusionPipeline"}',
            "unet/config.json": b'{"sample_size": 8}',
            BIG: random_bytes(big_size, seed=1),
            "vae/diffusion_pytorch_model.fp16.safetensors": random_bytes(40_000, seed=2),
        },
    )


def pipeline_layout(repo_id: str, *, sdxl: bool = False) -> HubRepo:
    """A twin of a real diffusers repo's layout (tiny bytes): fp32 and fp16 copies, .bin and
    .ckpt duplicates, safety checker weights, ONNX folders, README."""
    files: dict[str, bytes] = {
        "README.md": b"# card",
        "model_index.json": b'{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}',
        "v1-5-pruned-emaonly.safetensors": random_bytes(3000, 10),
        "v1-5-pruned-emaonly.ckpt": random_bytes(3000, 11),
        "scheduler/scheduler_config.json": b"{}",
        "feature_extractor/preprocessor_config.json": b"{}",
        "safety_checker/config.json": b"{}",
        "safety_checker/model.safetensors": random_bytes(2000, 12),
        "safety_checker/model.fp16.safetensors": random_bytes(1000, 13),
        "safety_checker/pytorch_model.bin": random_bytes(2000, 14),
        "vae_decoder/config.json": b"{}",
        "vae_decoder/model.onnx": random_bytes(1000, 15),
    }
    encoders = ["text_encoder", "text_encoder_2"] if sdxl else ["text_encoder"]
    for i, enc in enumerate(encoders):
        files[f"{enc}/config.json"] = b"{}"
        files[f"{enc}/model.safetensors"] = random_bytes(2000, 20 + i)
        files[f"{enc}/model.fp16.safetensors"] = random_bytes(1000, 30 + i)
        files[f"{enc}/pytorch_model.bin"] = random_bytes(2000, 40 + i)
    for tok in ["tokenizer", "tokenizer_2"] if sdxl else ["tokenizer"]:
        for name in ("vocab.json", "tokenizer_config.json", "special_tokens_map.json"):
            files[f"{tok}/{name}"] = b"{}"
        files[f"{tok}/merges.txt"] = b"#version: 0.2\n"
    for comp in ("unet", "vae"):
        files[f"{comp}/config.json"] = b"{}"
        files[f"{comp}/diffusion_pytorch_model.safetensors"] = random_bytes(4000, 50)
        files[f"{comp}/diffusion_pytorch_model.fp16.safetensors"] = random_bytes(2000, 51)
        files[f"{comp}/diffusion_pytorch_model.bin"] = random_bytes(4000, 52)
        files[f"{comp}/diffusion_pytorch_model.non_ema.safetensors"] = random_bytes(4000, 53)
    return HubRepo.from_files(repo_id, files)


def files_in(snapshot: Path) -> set[str]:
    return {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()}


def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    return f"http://127.0.0.1:{port}"


def blobs_dir(repo_id: str) -> Path:
    return repo_folder(repo_id) / "blobs"


# -- catalog --------------------------------------------------------------------------------


def test_catalog_lists_the_expected_models_with_sd15_default() -> None:
    entries = catalog.load_catalog()
    ids = {e.repo_id for e in entries}
    assert {
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "stable-diffusion-v1-5/stable-diffusion-inpainting",
        "CompVis/stable-diffusion-v1-4",
        "stabilityai/stable-diffusion-2-1",
        "stabilityai/stable-diffusion-xl-base-1.0",
        "stabilityai/sd-turbo",
        "stabilityai/sdxl-turbo",
        "latent-consistency/lcm-lora-sdv1-5",
        "madebyollin/taesd",
        "madebyollin/taesdxl",
    } <= ids
    default = catalog.default_entry()
    assert default.repo_id == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert [e.id for e in entries if e.default] == [default.id]
    assert catalog.get("sd15") is catalog.get(default.repo_id)
    for e in entries:
        assert e.size_bytes > 0 and e.licence and e.allow_patterns
        assert not any(p.endswith((".bin", ".ckpt")) for p in e.allow_patterns)
        assert not any("safety_checker" in p for p in e.allow_patterns)
        if e.kind == "checkpoint":
            assert e.recommended is not None and e.variant == "fp16"
    with pytest.raises(KeyError):
        catalog.get("nope")


def test_catalog_is_found_inside_a_frozen_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "catalog.json").write_bytes(catalog.catalog_path().read_bytes())
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert catalog.catalog_path() == tmp_path / "resources" / "catalog.json"
    assert catalog.load_catalog(catalog.catalog_path())[0].default


def test_catalog_patterns_fetch_fp16_weights_and_configs_only(hub: HubServer) -> None:
    entry = catalog.get("sdxl")
    hub.add_repo(pipeline_layout(entry.repo_id, sdxl=True))
    got = files_in(download_model(entry))
    weights = {p for p in got if p.endswith(".safetensors")}
    assert weights == {
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
        "text_encoder/model.fp16.safetensors",
        "text_encoder_2/model.fp16.safetensors",
    }
    assert {"model_index.json", "tokenizer_2/merges.txt", "scheduler/scheduler_config.json"} <= got
    assert not any(p.startswith(("safety_checker", "vae_decoder")) for p in got)
    assert not any(p.endswith((".bin", ".ckpt", ".onnx", ".md")) for p in got)


def test_a_weight_file_missing_from_the_repo_is_an_error_not_a_half_install(
    hub: HubServer,
) -> None:
    hub.add_repo(small_repo())
    with pytest.raises(DownloadError, match="no longer has unet/model.safetensors"):
        download_model("org/small", allow_patterns=["*.json", "unet/model.safetensors"])
    assert hub.resolve_requests("GET") == []


# -- downloads ------------------------------------------------------------------------------


def test_full_download_of_a_tiny_diffusers_model(hub: HubServer, tiny_model_dir: Path) -> None:
    hub.add_repo(HubRepo.from_folder("org/tiny-sd", tiny_model_dir))
    events: list[DownloadProgress] = []
    snapshot = download_model("org/tiny-sd", on_progress=events.append)

    source = {
        p.relative_to(tiny_model_dir).as_posix() for p in tiny_model_dir.rglob("*") if p.is_file()
    }
    assert files_in(snapshot) == source
    for rel in source:
        assert (snapshot / rel).read_bytes() == (tiny_model_dir / rel).read_bytes()
    assert (snapshot / "unet/diffusion_pytorch_model.safetensors").is_symlink()  # HF cache layout
    assert is_installed("org/tiny-sd") and installed_snapshot("org/tiny-sd") == snapshot
    assert events[-1].done_bytes == events[-1].total_bytes > 5_000_000
    assert not list(blobs_dir("org/tiny-sd").glob("*.incomplete"))
    assert hub.unknown == []

    # The standard cache: huggingface_hub itself finds it offline.
    from huggingface_hub import snapshot_download

    found = snapshot_download(
        "org/tiny-sd", local_files_only=True, cache_dir=os.environ["HF_HUB_CACHE"]
    )
    assert Path(found) == snapshot


def test_progress_advances_during_one_large_file(hub: HubServer) -> None:
    hub.add_repo(small_repo())
    hub.slow_delay = 0.02
    events: list[DownloadProgress] = []
    download_model("org/small", on_progress=events.append)
    inside = [e for e in events if e.current_file == BIG and 0 < e.done_bytes < e.total_bytes]
    assert len({e.done_bytes for e in inside}) >= 3
    assert all(b.done_bytes >= a.done_bytes for a, b in zip(events, events[1:], strict=False))
    assert any(e.speed_bps > 0 and e.eta_s is not None for e in inside)


def test_dropped_connection_is_resumed_with_range(hub: HubServer) -> None:
    repo = hub.add_repo(small_repo())
    hub.drop_after[BIG] = 300_000
    snapshot = download_model("org/small")
    gets = hub.resolve_requests("GET", BIG)
    assert [g.range for g in gets] == [None, "bytes=300000-"]
    assert gets[1].status == 206
    assert (snapshot / BIG).read_bytes() == repo.files[BIG].data
    assert is_installed("org/small")


def test_server_ignoring_range_still_gives_the_right_file(hub: HubServer) -> None:
    repo = hub.add_repo(small_repo())
    hub.drop_after[BIG] = 300_000
    hub.ignore_range = True
    snapshot = download_model("org/small")
    gets = hub.resolve_requests("GET", BIG)
    assert gets[1].range == "bytes=300000-" and gets[1].status == 200
    assert (snapshot / BIG).read_bytes() == repo.files[BIG].data
    assert is_installed("org/small")


def test_wrong_bytes_of_the_right_size_are_caught_and_deleted(hub: HubServer) -> None:
    repo = hub.add_repo(small_repo())
    hub.corrupt.add(BIG)
    with pytest.raises(DownloadError, match=r"corrupted in transit \(checksum mismatch\).*deleted"):
        download_model("org/small")
    blobs = blobs_dir("org/small")
    assert not (blobs / repo.files[BIG].sha256).exists()
    assert not list(blobs.glob("*.incomplete"))
    assert not is_installed("org/small")

    hub.corrupt.clear()  # the next try is clean
    assert (download_model("org/small") / BIG).read_bytes() == repo.files[BIG].data


def test_corrupted_blob_already_in_the_cache_is_deleted(hub: HubServer) -> None:
    hub.add_repo(small_repo())
    snapshot = download_model("org/small")
    blob = (snapshot / BIG).resolve()
    data = bytearray(blob.read_bytes())
    data[1000] ^= 0xFF  # bit rot, same size
    blob.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_model("org/small")
    assert not blob.exists() and not os.path.lexists(snapshot / BIG)
    assert not is_installed("org/small")
    download_model("org/small")
    assert is_installed("org/small")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda h: ("org/missing", "main"), "org/missing was not found on the Hugging Face Hub"),
        (lambda h: ("org/small", "no-such-branch"), "'no-such-branch' of org/small does not exist"),
        (
            lambda h: h.fail_with(404, "EntryNotFound", where="resolve") or ("org/small", "main"),
            "A file of org/small is missing on the Hugging Face Hub",
        ),
        (
            lambda h: setattr(h.repos["org/small"], "gated", True) or ("org/small", "main"),
            "needs you to accept its licence on huggingface.co and log in",
        ),
        (
            lambda h: h.fail_with(429, retry_after=7) or ("org/small", "main"),
            "rate-limiting downloads; try again after 7 seconds (Retry-After)",
        ),
        (
            lambda h: h.fail_with(500, where="resolve") or ("org/small", "main"),
            "server error (HTTP 500)",
        ),
    ],
    ids=["404-repo", "404-revision", "404-entry", "401-gated", "429", "500"],
)
def test_hub_errors_each_have_their_own_sentence(hub: HubServer, setup, message: str) -> None:
    hub.add_repo(small_repo())
    repo_id, revision = setup(hub)
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_model(repo_id, revision=revision)
    assert message in str(info.value)
    assert time.monotonic() - start < 5  # no long retry loops
    assert not is_installed(repo_id)


def test_offline_fails_fast_and_installed_models_still_work(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_repo(small_repo())
    hub.add_repo(small_repo("org/other"))
    snapshot = download_model("org/small")

    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_model("org/other", endpoint=closed_port())
    assert str(info.value) == OFFLINE_MESSAGE
    assert time.monotonic() - start < 10
    # Asking for what is installed while offline answers from the cache.
    assert download_model("org/small", endpoint=closed_port()) == snapshot
    assert installed_snapshot("org/small") == snapshot

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.clear_log()
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_model("org/other")
    assert str(info.value) == OFFLINE_MESSAGE
    assert time.monotonic() - start < 10
    assert hub.requests == []  # HF_HUB_OFFLINE means no request at all
    assert installed_snapshot("org/small") == snapshot and is_installed("org/small")
    assert not is_installed("org/other")


def test_model_from_another_tool_is_reused_without_downloading(hub: HubServer) -> None:
    from huggingface_hub import snapshot_download

    hub.add_repo(small_repo())
    theirs = snapshot_download("org/small", cache_dir=os.environ["HF_HUB_CACHE"], endpoint=hub.url)
    assert not is_installed("org/small")  # not verified by Easel yet
    hub.clear_log()
    ours = download_model("org/small")
    assert ours == Path(theirs)
    assert hub.resolve_requests("GET") == []
    assert hub.unknown == []  # every request huggingface_hub made is one the stand-in knows
    assert is_installed("org/small")
    blobs = [p for p in blobs_dir("org/small").iterdir() if not p.name.endswith(".incomplete")]
    assert len(blobs) == 4  # one copy of each file


def test_cancel_then_resume_with_range(hub: HubServer) -> None:
    repo = hub.add_repo(small_repo(big_size=2_000_000))
    hub.slow_delay = 0.01
    cancel = threading.Event()

    def on_progress(p: DownloadProgress) -> None:
        if p.current_file == BIG and p.done_bytes > 400_000:
            cancel.set()

    with pytest.raises(Cancelled):
        download_model("org/small", on_progress=on_progress, cancel=cancel)
    partial = blobs_dir("org/small") / f"{repo.files[BIG].sha256}.incomplete"
    kept = partial.stat().st_size
    assert 0 < kept < 2_000_000
    assert not is_installed("org/small")

    hub.slow_delay = 0
    snapshot = download_model("org/small")
    assert hub.resolve_requests("GET", BIG)[-1].range == f"bytes={kept}-"
    assert (snapshot / BIG).read_bytes() == repo.files[BIG].data
    assert is_installed("org/small")


def test_killed_process_leaves_a_partial_that_the_next_run_resumes(hub: HubServer) -> None:
    repo = hub.add_repo(small_repo(big_size=3_000_000))
    hub.slow_delay = 0.03
    partial = blobs_dir("org/small") / f"{repo.files[BIG].sha256}.incomplete"
    code = "from app.models.download import download_model; download_model('org/small')"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 30
        while not (partial.exists() and partial.stat().st_size > 200_000):
            assert proc.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    assert not is_installed("org/small")
    kept = partial.stat().st_size

    hub.slow_delay = 0
    snapshot = download_model("org/small")
    ranges = [g.range for g in hub.resolve_requests("GET", BIG)]
    assert ranges[-1] is not None and int(ranges[-1][6:-1]) >= kept - 1  # resumed, not restarted
    assert (snapshot / BIG).read_bytes() == repo.files[BIG].data
    assert is_installed("org/small")


def test_not_enough_disk_space_is_reported_before_downloading(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    hub.add_repo(small_repo())
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=100_000))
    pattern = r"not enough disk space for this model: 1\.5 MB needed, 0\.1 MB free"
    with pytest.raises(DownloadError, match=pattern):
        download_model("org/small")
    assert hub.resolve_requests("GET") == []


def test_family_configs_are_fetched_without_weights(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = catalog.family_config_sources()
    for name, src in sources.items():
        hub.add_repo(pipeline_layout(src.repo_id, sdxl=name == "sdxl"))
    assert family_config_dir("sd1") is None

    fetched = fetch_family_configs()
    assert set(fetched) == {"sd1", "sd2", "sdxl"}
    for family in ("sd1", "sd2", "sd2-v", "sdxl"):
        folder = family_config_dir(family)
        assert folder is not None and folder == fetched[{"sd2-v": "sd2"}.get(family, family)]
        got = files_in(folder)
        assert {"model_index.json", "unet/config.json", "tokenizer/vocab.json"} <= got
        assert not any(p.endswith((".safetensors", ".bin", ".ckpt", ".onnx")) for p in got)
        assert not any(p.startswith("safety_checker") for p in got)
    assert "tokenizer_2/merges.txt" in files_in(family_config_dir("sdxl"))
    # Same repo as the SD 1.5 model, but configs only: the model itself is not installed.
    assert not is_installed(catalog.get("sd15"))

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert family_config_dir("sd1") == fetched["sd1"]


def test_hubserver_runs_standalone_for_manual_and_ui_runs(tmp_path: Path, hub: HubServer) -> None:
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(random_bytes(70_000, 3))
    cmd = [sys.executable, "-m", "tests.hubserver", str(folder), "org/standalone"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)  # never hang on a dead server
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("HF_ENDPOINT=http://127.0.0.1:")
        snapshot = download_model("org/standalone", endpoint=line.strip().split("=", 1)[1])
        assert files_in(snapshot) == {
            "model_index.json",
            "unet/diffusion_pytorch_model.safetensors",
        }
    finally:
        proc.terminate()
        proc.wait(10)
