"""torch.compile for the UNet and the VAE decoder: faster steps after a one-time warm-up.

Optional (Settings' "Compile the model", the CLI's ``--compile``). The networks' ``forward``
is swapped for a wrapper that calls ``torch.compile`` (inductor, ``dynamic=False``), so the
pipelines built with ``from_pipe`` share it. Compiling is lazy: the first job at a size pays
the warm-up (measured on this project's CPU at 512 px, bf16: the UNet 79 s, the VAE decoder
21 s; then a CFG step 1.30 s instead of 1.65 s eager, 0.84x OpenVINO's, bench/cpu_backends.py),
and each new picture size or batch compiles again, once. Inductor keeps its kernels in a disk
cache, so the same model and size compile faster in the next session.

On the CPU inductor's freezing folds the weights into the compiled graph as constants (that is
most of the gain: prepacked oneDNN weights). A change to the weights in place (a LoRA fused
in, a precision cast, weights paged from disk) would then be invisible to the graph, so every
such change calls ``CompiledPipeline.restore`` and the next job compiles afresh (embeddings
go into the text encoder, which is not compiled). The frozen graphs hold their own prepacked
copy of the weights, so a model whose weights are paged from disk is not compiled.

Where compiling can't work (the installed app, no C++ compiler, an inductor error at the first
call) the networks run eager and the job says so in one sentence.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from app.engine.device import DeviceInfo

log = logging.getLogger(__name__)

# Which networks are compiled, and how the notes name them.
TARGETS = (("unet", "the UNet"), ("vae.decoder", "the VAE decoder"))
BACKEND: Any = "inductor"  # what dynamo hands the captured graphs to


def find_cpp_compiler() -> str | None:
    """The C++ compiler inductor would use on the CPU (``$CXX``, g++, clang++, MSVC's cl), or
    None: without one every compile fails, after a long trace, at its first kernel."""
    try:
        from torch._inductor import cpp_builder

        return str(cpp_builder.get_cpp_compiler())
    except Exception:  # noqa: BLE001 - InvalidCxxCompiler, or a broken toolchain probe
        return None


def compile_problem(device: DeviceInfo) -> str | None:
    """Why torch.compile can't run here, in one sentence; None when it can."""
    if getattr(sys, "frozen", False):
        return "torch.compile is not available in the installed app; running without it."
    if device.kind == "mps":
        return "torch.compile does not support Apple GPUs yet; running without it."
    if device.cpu_offload:
        return "torch.compile does not work with CPU offload (small GPUs); running without it."
    if device.kind == "cpu" and find_cpp_compiler() is None:
        return "torch.compile is not available here (no C++ compiler found); running without it."
    if device.kind == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            return (
                "torch.compile is not available here (Triton is not installed); running without it."
            )
    return None


def _signature(value: Any) -> Any:
    """What makes a call compile again with ``dynamic=False``: tensor shapes and dtypes."""
    if isinstance(value, torch.Tensor):
        return (tuple(value.shape), value.dtype)
    if isinstance(value, dict):
        return tuple((k, _signature(v)) for k, v in sorted(value.items()))
    if isinstance(value, list | tuple):
        return tuple(_signature(v) for v in value)
    return value if value is None or isinstance(value, bool | int | str) else type(value).__name__


@dataclass
class _Warmup:
    label: str
    first: float  # seconds of the first call at a signature: compile + one run
    normal: float | None = None  # the next call at that signature, when there was one

    @property
    def seconds(self) -> float:
        return max(0.0, self.first - (self.normal or 0.0))


class _CompiledForward:
    """A network's ``forward`` replaced: the compiled one, the eager one when it can't."""

    def __init__(self, owner: CompiledPipeline, module: Any, label: str, config: dict) -> None:
        self.owner = owner
        self.module = module
        self.label = label
        self.config = config
        self.eager = type(module).forward.__get__(module)
        self.compiled = torch.compile(self.eager, backend=BACKEND, dynamic=False)
        self.timings: dict[Any, _Warmup] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.owner.failed or self.owner.bypass:
            return self.eager(*args, **kwargs)
        key = _signature((args, kwargs))
        started = time.perf_counter()
        try:
            import torch._inductor.config as inductor

            # Patched around the call, not passed as torch.compile's options: dynamo reads
            # ``freezing`` while it traces (the parameters become static inputs, guarded by
            # identity), and options reach inductor only after that.
            with inductor.patch(self.config):
                out = self.compiled(*args, **kwargs)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any inductor error: the job goes on eager
            self.owner.fail(self.label, exc)
            return self.eager(*args, **kwargs)
        seconds = time.perf_counter() - started
        seen = self.timings.get(key)
        if seen is None:
            self.timings[key] = seen = _Warmup(self.label, seconds)
            self.owner.fresh.append(seen)
        elif seen.normal is None:
            seen.normal = seconds
        return out


@dataclass
class CompiledPipeline:
    """The compiled networks of one pipeline; ``notes()`` says what the warm-up cost."""

    wrappers: list[_CompiledForward] = field(default_factory=list)
    failed: str = ""  # the sentence, once compiling failed: every network runs eager after
    bypass: bool = False  # eager for now (``eager()``), e.g. an fp32 re-decode
    fresh: list[_Warmup] = field(default_factory=list)  # compiles not yet reported
    reported_failure: bool = False

    def fail(self, label: str, exc: BaseException) -> None:
        log.warning("torch.compile failed on %s; running eager", label, exc_info=exc)
        cause = getattr(exc, "inner_exception", None) or exc  # dynamo's BackendCompilerFailed
        text = str(cause).strip().splitlines()[0][:120] if str(cause).strip() else ""
        self.failed = (
            f"torch.compile failed on {label} ({type(cause).__name__}"
            f"{': ' + text if text else ''}); running without it."
        )
        self.restore()

    @contextlib.contextmanager
    def eager(self) -> Iterator[None]:
        """Run the networks eager inside the block (a call at another dtype would compile)."""
        bypass, self.bypass = self.bypass, True
        try:
            yield
        finally:
            self.bypass = bypass

    def notes(self) -> list[str]:
        """The warm-ups since the last call, as one sentence (and a failure, once)."""
        out: list[str] = []
        done = [w for w in self.fresh if not self.failed]
        self.fresh = []
        if done:
            by_label: dict[str, float] = {}
            for w in done:
                by_label[w.label] = by_label.get(w.label, 0.0) + w.seconds
            parts = [f"{label} in {seconds:.0f} s" for label, seconds in by_label.items()]
            out.append(
                f"Compiled {' and '.join(parts)} (once per model and picture size; a new size "
                "or batch compiles again)."
            )
        if self.failed and not self.reported_failure:
            self.reported_failure = True
            out.append(self.failed)
        return out

    def restore(self) -> None:
        """Put the eager ``forward`` back and drop every compiled graph (and the weights
        frozen into them)."""
        for w in self.wrappers:
            if w.module.__dict__.get("forward") is w:
                del w.module.forward
        if self.wrappers:
            self.wrappers = []
            torch.compiler.reset()


def _network(pipe: Any, path: str) -> Any:
    module = pipe
    for part in path.split("."):
        module = getattr(module, part, None)
    return module


def compile_pipeline(pipe: Any, device: DeviceInfo) -> CompiledPipeline:
    """Compile ``pipe``'s UNet forward and VAE decoder lazily (at their first call); the
    caller checks ``compile_problem`` first."""
    # Freezing (CPU): weights become constants the compiler folds and prepacks; it needs no
    # autograd, which the engine's inference_mode gives.
    config = {"freezing": True} if device.kind == "cpu" else {}
    result = CompiledPipeline()
    for path, label in TARGETS:
        module = _network(pipe, path)
        if module is None:
            continue
        wrapper = _CompiledForward(result, module, label, config)
        module.forward = wrapper
        result.wrappers.append(wrapper)
    return result
