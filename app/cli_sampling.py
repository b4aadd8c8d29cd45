"""`generate`'s webui sampling options: --schedule, --subseed, --subseed-strength."""

from __future__ import annotations

import argparse
from typing import Any

from app.samplers import DEFAULT_SCHEDULE, SCHEDULES


def add_sampling_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--schedule",
        default=DEFAULT_SCHEDULE,
        metavar="NAME",
        help=(
            f"the webui's Schedule type: one of {', '.join(SCHEDULES)} "
            "(default: Automatic, the sampler's own)"
        ),
    )
    p.add_argument(
        "--subseed",
        type=int,
        default=-1,
        metavar="N",
        help="variation seed; -1 picks a random one when --subseed-strength > 0 (default: -1)",
    )
    p.add_argument(
        "--subseed-strength",
        type=float,
        default=0.0,
        metavar="X",
        help="variation strength 0-1: 0 the seed's picture, 1 the variation seed's (default: 0)",
    )


def sampling_request_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields these options set (validate() checks them)."""
    return {
        "schedule": getattr(args, "schedule", DEFAULT_SCHEDULE),
        "subseed": getattr(args, "subseed", -1),
        "subseed_strength": getattr(args, "subseed_strength", 0.0),
    }
