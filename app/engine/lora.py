"""LoRAs on the loaded model, through diffusers/PEFT: loaded once, switched per job.

``<lora:NAME:WEIGHT>`` in a prompt (``app.prompts.extra_networks``) becomes a PEFT adapter on
the base pipeline's UNet and text encoders (``load_lora_weights(..., adapter_name=...)``).
The mode pipelines are built from the base with ``from_pipe`` and share those modules, so an
adapter applies to txt2img, img2img and inpainting alike; the base model is never reloaded.

Per job: the files are found and checked first (unknown name, wrong family, LyCORIS, broken
or unsafe file: one sentence, before any step runs), then the adapters not yet on the model
are loaded (cached by file path + size + mtime, so the same LoRAs as last time cost nothing),
the job's adapters are activated with their weights (``set_adapters``), and adapters unused
for a while are deleted so memory stays bounded. A job without LoRAs disables them.
"""

from __future__ import annotations

import logging
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from app.errors import InvalidRequest, ModelLoadError
from app.models import networks as files
from app.prompts.extra_networks import LoraTag, parse_prompt_networks
from app.request import GenerationRequest

log = logging.getLogger(__name__)

# Adapters kept on the model while unused, most recent first: switching back to one of these
# LoRAs costs nothing; older ones are deleted.
KEEP_UNUSED = 4


@dataclass
class _Adapter:
    name: str  # the PEFT adapter name ("easel_lora_3")
    file: files.NetworkFile
    hash: str
    components: tuple[str, ...]  # which of unet / text_encoder / text_encoder_2 it touches


class LoraManager:
    """The LoRA adapters on one base pipeline. ``loads`` counts files actually loaded."""

    def __init__(self) -> None:
        self._pipe: weakref.ref[Any] | None = None
        self._adapters: OrderedDict[tuple[str, int, int], _Adapter] = OrderedDict()
        self._active: tuple[tuple[str, float, float], ...] = ()
        self._counter = 0
        self.loads = 0
        # Fusing merges the active adapters into the UNet's weights, so a step costs what it
        # costs without LoRAs; the original weights are kept (on the CPU) and put back
        # bit for bit when the LoRAs change, as the webui does, never subtracted again.
        self.fuse = True
        self._fused: tuple[tuple[str, float, float], ...] = ()
        self._backup: dict[int, tuple[Any, Any]] = {}  # id(base layer) -> (layer, weight copy)
        # Counts the runs that changed the model's LoRA state (adapters, weights, fused):
        # the engine drops compiled graphs that hold the weights frozen (app/engine/compile.py).
        self.changes = 0

    def _state(self) -> tuple[Any, ...]:
        return (tuple(self.adapter_names), self._active, self._fused)

    def _bind(self, pipe: Any) -> None:
        if self._pipe is None or self._pipe() is not pipe:
            # Another model: its modules hold none of our adapters.
            self._pipe = weakref.ref(pipe)
            self._adapters.clear()
            self._active = ()
            self._fused = ()
            self._backup.clear()

    def apply(self, pipe: Any, tags: tuple[LoraTag, ...]) -> dict[str, str]:
        """Make ``tags`` the LoRAs of the next run on ``pipe``; the infotext's ``Lora hashes``."""
        self._bind(pipe)
        before = self._state()
        try:
            return self._apply(pipe, tags)
        finally:
            if self._state() != before:
                self.changes += 1

    def _apply(self, pipe: Any, tags: tuple[LoraTag, ...]) -> dict[str, str]:
        if not tags:
            self._deactivate(pipe)
            return {}
        xl = getattr(pipe, "text_encoder_2", None) is not None
        context = _context_dim(pipe)
        wanted: OrderedDict[tuple[str, int, int], tuple[files.NetworkFile, float, float]]
        wanted = OrderedDict()
        mentioned: dict[str, tuple[str, int, int]] = {}
        # Everything is found and checked before anything is loaded: one bad tag fails the
        # job up front, not after the first LoRA has gone onto the model.
        for tag in tags:
            file = files.resolve("lora", tag.name)
            if file.key not in self._adapters:
                files.check_lora_fits(file, files.lora_facts(file), xl, context)
            _, te, unet = wanted.get(file.key, (file, 0.0, 0.0))
            # The same LoRA twice adds up, as two webui networks of one file would.
            wanted[file.key] = (file, te + tag.te_weight, unet + tag.unet_weight)
            mentioned.setdefault(tag.name, file.key)
        for key, (file, _, _) in wanted.items():
            if key not in self._adapters:
                self._adapters[key] = self._load(pipe, file)
            self._adapters.move_to_end(key, last=False)
        active = tuple(
            (self._adapters[k].name, te, unet) for k, (_, te, unet) in wanted.items() if te or unet
        )
        self._evict(pipe, set(wanted))
        self._activate(pipe, active)
        hashes = []
        for name, key in mentioned.items():
            alias = name.replace(":", "").replace(",", "")
            if self._adapters[key].hash:
                hashes.append(f"{alias}: {self._adapters[key].hash}")
        return {"Lora hashes": ", ".join(hashes)} if hashes else {}

    # -- adapters --------------------------------------------------------------------------
    def _load(self, pipe: Any, file: files.NetworkFile) -> _Adapter:
        from app.models.hashes import network_hash

        self._counter += 1
        name = f"easel_lora_{self._counter}"
        metadata: dict[str, str] = {}
        try:
            with warnings.catch_warnings():
                # peft warns on every adapter after the first ("multiple adapters"): that is the plan.
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                if file.is_pickle:
                    from app.models.safeload import load_pickle_state_dict

                    state, _ = load_pickle_state_dict(file.path)
                    pipe.load_lora_weights(state, adapter_name=name)
                else:
                    from app.models.safeload import read_safetensors_header

                    metadata = read_safetensors_header(file.path)[1]
                    pipe.load_lora_weights(
                        str(file.path.parent), weight_name=file.path.name, adapter_name=name
                    )
        except ModelLoadError:
            raise
        except (ValueError, KeyError, RuntimeError, OSError, TypeError, AttributeError) as exc:
            _delete(pipe, [name])
            text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            raise ModelLoadError(
                f"The LoRA {file.name} could not be applied to this model "
                f"({type(exc).__name__}{': ' + text if text else ''}); it is damaged or made "
                "for another model."
            ) from exc
        components = tuple(c for c, names in _adapters_by_component(pipe).items() if name in names)
        if not components:
            raise ModelLoadError(
                f"The LoRA {file.name} has no weights that fit this model's layers; it is made "
                "for another kind of model."
            )
        self.loads += 1
        log.info("loaded LoRA %s (%s) as %s", file.name, file.path, name)
        return _Adapter(name, file, network_hash(file.path, metadata), components)

    def _activate(self, pipe: Any, active: tuple[tuple[str, float, float], ...]) -> None:
        if active and active == self._fused:
            return  # the same LoRAs and weights as the last job: already in the weights
        self._unfuse(pipe)
        if not active:
            self._deactivate(pipe)
            return
        by_name = {a.name: a for a in self._adapters.values()}
        weights = []
        for name, te, unet in active:
            comps = by_name[name].components
            weights.append({c: (unet if c == "unet" else te) for c in comps})
        pipe.enable_lora()
        pipe.set_adapters([name for name, _, _ in active], weights)
        self._active = active
        if self.fuse:
            self._fuse(pipe, active)

    def _deactivate(self, pipe: Any) -> None:
        self._unfuse(pipe)
        if self._active:
            pipe.disable_lora()
            self._active = ()

    def _fuse(self, pipe: Any, active: tuple[tuple[str, float, float], ...]) -> None:
        from peft.tuners.tuners_utils import BaseTunerLayer

        for module in pipe.unet.modules():
            if isinstance(module, BaseTunerLayer):
                base: Any = module.get_base_layer()
                if id(base) not in self._backup:
                    self._backup[id(base)] = (base, base.weight.detach().to("cpu", copy=True))
        pipe.fuse_lora(components=["unet"], adapter_names=[name for name, _, _ in active])
        self._fused = active

    def _unfuse(self, pipe: Any) -> None:
        if not self._fused:
            return
        import torch

        pipe.unfuse_lora(components=["unet"])
        with torch.no_grad():
            for base, weight in self._backup.values():
                base.weight.copy_(weight)
        self._fused = ()

    def _evict(self, pipe: Any, keep: set[tuple[str, int, int]]) -> None:
        unused = [k for k in self._adapters if k not in keep]
        old = unused[KEEP_UNUSED:]
        if old:
            self._unfuse(pipe)  # a merged adapter must leave the weights before it goes
            _delete(pipe, [self._adapters[k].name for k in old])
            for k in old:
                del self._adapters[k]

    @property
    def adapter_names(self) -> list[str]:
        return [a.name for a in self._adapters.values()]


def apply_networks(
    loras: LoraManager, embeddings: Any, pipe: Any, req: GenerationRequest
) -> tuple[GenerationRequest, dict[str, str]]:
    """The request as the pipeline must see it (``<lora:...>`` tags gone, embedding names
    swapped for their tokens) after putting its LoRAs and embeddings on ``pipe``, and the
    infotext keys that record them (``Lora hashes``, ``TI hashes``). Raises a typed error,
    before any step runs, for a tag or file that can't be used."""
    parsed = parse_prompt_networks(req.prompt)
    if parsed.other:
        tag = parsed.other[0]
        raise InvalidRequest(
            f"Easel cannot use <{tag.kind}:...> networks yet ({tag.text}); remove the tag "
            "from the prompt."
        )
    extra = loras.apply(pipe, parsed.loras)
    prompt, negative, ti = embeddings.apply(pipe, parsed.prompt, req.negative_prompt)
    return req.replace(prompt=prompt, negative_prompt=negative), {**extra, **ti}


def _adapters_by_component(pipe: Any) -> dict[str, list[str]]:
    try:
        return dict(pipe.get_list_adapters())
    except (ValueError, AttributeError):
        return {}


def _delete(pipe: Any, names: list[str]) -> None:
    present = {n for names_ in _adapters_by_component(pipe).values() for n in names_}
    gone = [n for n in names if n in present]
    if gone:
        pipe.delete_adapters(gone)


def _context_dim(pipe: Any) -> int:
    dim = pipe.unet.config.cross_attention_dim
    return int(dim[0] if isinstance(dim, list | tuple) else dim)
