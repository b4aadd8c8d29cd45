"""The generate command's ControlNet options.

``--control MODEL:IMAGE[:WEIGHT[:START:END]]`` adds a unit (repeatable, in order);
``--control-pre NAME`` and ``--control-mode MODE`` apply to the unit named just before them.
"""

from __future__ import annotations

import argparse
from typing import Any

from app.errors import InvalidRequest
from app.request import CONTROL_MODES, PREPROCESSORS, ControlUnit


def parse_control(text: str) -> ControlUnit:
    """``MODEL:IMAGE[:WEIGHT[:START:END]]``; the image path may itself hold colons (C:\\...)."""
    parts = text.split(":")
    numbers: list[float] = []
    while len(parts) > 2 and len(numbers) < 3:
        try:
            numbers.insert(0, float(parts[-1]))
        except ValueError:
            break
        parts.pop()
    if len(parts) < 2 or not parts[0] or not parts[1] or len(numbers) == 2:
        raise InvalidRequest(
            f"--control {text!r} is not MODEL:IMAGE[:WEIGHT[:START:END]]; "
            "for example --control control_v11p_sd15_canny:edges.png:0.8."
        )
    unit = ControlUnit(model=parts[0], image=":".join(parts[1:]))
    if numbers:
        unit = unit.replace(weight=numbers[0])
    if len(numbers) == 3:
        unit = unit.replace(guidance_start=numbers[1], guidance_end=numbers[2])
    return unit


class _ControlAction(argparse.Action):
    def __call__(self, parser: Any, ns: argparse.Namespace, value: Any, opt: Any = None) -> None:
        units = list(getattr(ns, "controls", None) or [])
        if self.dest == "controls":
            units.append(value)
        else:
            if not units:
                parser.error(f"{opt} must follow the --control it applies to")
            field = "preprocessor" if self.dest == "control_pre" else "control_mode"
            units[-1] = units[-1].replace(**{field: value})
        ns.controls = units


def add_control_arguments(p: argparse.ArgumentParser) -> None:
    p.set_defaults(controls=[])
    p.add_argument(
        "--control",
        dest="controls",
        action=_ControlAction,
        type=_unit,
        metavar="MODEL:IMAGE[:WEIGHT[:START:END]]",
        help="add a ControlNet unit (repeatable): a ControlNet model id, name or path, its "
        "control image, weight 0-2 (default 1), guidance start and end 0-1 (default 0:1)",
    )
    p.add_argument(
        "--control-pre",
        dest="control_pre",
        action=_ControlAction,
        choices=PREPROCESSORS,
        metavar="NAME",
        help="preprocessor of the --control unit just before it: "
        + ", ".join(PREPROCESSORS)
        + " (default none: the image is a ready-made control image)",
    )
    p.add_argument(
        "--control-mode",
        dest="control_mode",
        action=_ControlAction,
        choices=CONTROL_MODES,
        metavar="MODE",
        help="control mode of the --control unit just before it: " + " | ".join(CONTROL_MODES),
    )


def _unit(text: str) -> ControlUnit:
    try:
        return parse_control(text)
    except InvalidRequest as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
