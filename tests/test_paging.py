"""Weights paged from disk (a CPU short of RAM) and the cgroup limit the memory plan reads."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from app.engine import memory, paging
from app.engine.cgroup import cgroup_memory
from app.engine.device import DeviceInfo
from app.engine.engine import Engine
from tests.lora_helpers import fresh_pipe, max_diff, request


def _anon_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon")


def test_a_paged_unet_computes_the_same_and_stays_channels_last(
    tiny_components: dict[str, Any], tmp_path: Path
) -> None:
    unet = copy.deepcopy(tiny_components["unet"]).to(memory_format=torch.channels_last)
    x, c = torch.randn(2, 4, 8, 8), torch.randn(2, 77, 32)
    weights = {k: v.clone() for k, v in unet.state_dict().items()}
    with torch.no_grad():
        before = unet(x, 10, encoder_hidden_states=c).sample
        paging.page_module(unet, tmp_path / "unet.safetensors")
        after = unet(x, 10, encoder_hidden_states=c).sample
    # the same weights, bit for bit (BLAS may pick other kernels for the mapped, less aligned
    # memory: float noise only)
    assert torch.allclose(before, after, atol=1e-5, rtol=0)
    assert unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.equal(weights[k], v) for k, v in unet.state_dict().items())
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_paged_weights_leave_anonymous_memory_and_writes_stay_private(tmp_path: Path) -> None:
    net = torch.nn.Sequential(*[torch.nn.Linear(2048, 2048, bias=False) for _ in range(8)])
    net.requires_grad_(False)  # 8 x 16 MB
    x = torch.randn(1, 2048)
    expected = net(x)
    held = _anon_mb()
    paged = paging.page_module(net, tmp_path / "net.safetensors")
    assert paged == 8 * 2048 * 2048 * 4
    assert held - _anon_mb() >= 100  # the 128 MB now live in the page cache, not the heap
    assert torch.allclose(net(x), expected, atol=1e-5, rtol=0)
    assert held - _anon_mb() >= 100  # running it reads the pages; it copies nothing
    net[0].weight.add_(1.0)  # a LoRA fused in place: the module changes, the file does not
    on_disk = load_file(str(tmp_path / "net.safetensors"))["0.weight"]
    assert torch.equal(on_disk + 1.0, net[0].weight)


def test_a_cpu_short_of_ram_pages_its_weights_and_the_picture_is_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    req = request("a castle", width=64, height=64, seed=5)
    roomy = Engine(DeviceInfo(kind="cpu", dtype="float32", name="CPU"))
    roomy.load_pipeline(fresh_pipe(), "tiny-sd")
    expected = roomy.generate(req)
    pipe = fresh_pipe()
    fits = int(memory.estimate_peak(pipe, req, (), [memory.PAGED]).total / memory.HEADROOM) + 1
    engine = Engine(DeviceInfo(kind="cpu", dtype="float32", name="CPU", total_memory=fits))
    engine.load_pipeline(pipe, "tiny-sd")
    assert memory.plan(engine.device, pipe, req)[0] == [memory.PAGED]
    result = engine.generate(req)
    assert result.notes == (
        f"Used weights paged from disk to fit 64x64 in {fits * 0.9 / 2**20:.0f} MB.",
    )
    assert max_diff(result.images[0], expected.images[0]) <= 1
    folders = list(paging.paging_root().iterdir())
    assert len(folders) == 1
    assert {p.name for p in folders[0].iterdir()} == {
        "unet.safetensors",
        "text_encoder.safetensors",
        "vae.safetensors",
    }
    # paged once per model: the next job fits as it is and writes nothing
    again = engine.generate(req)
    assert again.notes == () and list(paging.paging_root().iterdir()) == folders
    assert np.array_equal(np.asarray(again.images[0]), np.asarray(result.images[0]))
    engine.unload()
    assert list(paging.paging_root().iterdir()) == []  # one model's pages at most, none left


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_cgroup_v2_limit_counts_page_cache_as_free(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "fs",
        {
            "cgroup.controllers": "cpu memory",
            "app.slice/memory.max": "max",
            "app.slice/easel/memory.max": str(8 * 2**30),
            "app.slice/easel/memory.current": str(3 * 2**30),
            "app.slice/easel/memory.stat": f"anon {2 * 2**30}\nfile {2**30}\n",
        },
    )
    proc = _tree(tmp_path / "proc", {"cgroup": "0::/app.slice/easel\n"}) / "cgroup"
    mem = cgroup_memory(root, proc)
    assert mem is not None and mem.limit == 8 * 2**30 and mem.available == 6 * 2**30


def test_cgroup_v1_takes_the_smallest_limit_and_none_means_none(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "fs",
        {
            "memory/memory.limit_in_bytes": str(2**63 - 4096),  # v1's "unlimited"
            "memory/docker/memory.limit_in_bytes": str(4 * 2**30),
            "memory/docker/box/memory.limit_in_bytes": str(16 * 2**30),
            "memory/docker/box/memory.usage_in_bytes": str(2**30),
            "memory/docker/box/memory.stat": f"cache 100\ntotal_cache {2**29}\n",
        },
    )
    proc = _tree(tmp_path / "proc", {"cgroup": "5:memory:/docker/box\n1:cpu:/\n"}) / "cgroup"
    mem = cgroup_memory(root, proc)
    assert mem is not None and mem.limit == 4 * 2**30 and mem.used == 2**29
    bare = _tree(tmp_path / "bare", {"memory/memory.limit_in_bytes": str(2**63 - 4096)})
    assert cgroup_memory(bare, proc) is None


def test_the_memory_plan_sees_the_cgroup_not_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.engine import cgroup

    pipe = fresh_pipe()
    cpu = DeviceInfo(kind="cpu", dtype="float32", name="CPU")
    monkeypatch.setattr(cgroup, "cgroup_memory", lambda: cgroup.CgroupMemory(2**30, 2**29))
    held = sum(memory._module_bytes(getattr(pipe, n)) for n in ("unet", "vae", "text_encoder"))
    assert memory.available_bytes(cpu, pipe) == int((2**29 + held) * memory.HEADROOM)


def test_loading_on_a_cpu_short_of_ram_pages_the_unet_before_the_rest(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    req = request("a castle", width=64, height=64, seed=5)
    cpu = DeviceInfo(kind="cpu", dtype="float32", name="CPU")
    plain = Engine(cpu)
    plain.load(tiny_model_dir)
    expected = plain.generate(req)
    assert not getattr(plain._pipes["base"].unet, "easel_paged", False)  # RAM is plenty here
    on_disk = paging.weights_on_disk(tiny_model_dir, None)
    assert on_disk > 0
    monkeypatch.setattr(memory, "ram_free", lambda: int(on_disk / paging.LOAD_SHARE) - 1)
    engine = Engine(cpu)
    engine.load(tiny_model_dir)
    base = engine._pipes["base"]
    assert base.unet.easel_paged and not getattr(base.vae, "easel_paged", False)
    (folder,) = paging.paging_root().iterdir()
    assert [p.name for p in folder.iterdir()] == ["unet.safetensors"]
    result = engine.generate(req)
    assert max_diff(result.images[0], expected.images[0]) <= 1
    assert any(n.startswith("Loaded the UNet paged from disk") for n in result.notes)
    assert not any(n.startswith("Loaded") for n in engine.generate(req).notes)  # once per load
    engine.load(tiny_model_dir)  # loading again replaces the pages, never adds to them
    assert len(list(paging.paging_root().iterdir())) == 1
    engine.unload()
    assert list(paging.paging_root().iterdir()) == []
