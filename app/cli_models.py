"""``python -m app models list | download ID | import PATH | remove ID | default ID``."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import TYPE_CHECKING

from app.cli_checks import models_table
from app.errors import Cancelled, EaselError, InvalidRequest, ModelLoadError
from app.models.kinds import FILTERS

if TYPE_CHECKING:
    from app.models.download import DownloadProgress


def add_models_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "models",
        help="list, download, import and remove models",
        description="Manage models: the catalog, downloads, imported files and your own folders.",
    )
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="installed and available models, sizes and disk use")
    ls.add_argument("--installed", action="store_true", help="only what is on this computer")
    ls.add_argument(
        "--kind",
        metavar="K",
        help="only one kind: " + ", ".join(FILTERS),
    )
    dl = msub.add_parser("download", help="download a catalog model (resumable, verified)")
    dl.add_argument("id", help="catalog id (e.g. sd15) or Hugging Face repo id")
    imp = msub.add_parser(
        "import",
        help="import a .safetensors/.ckpt file, or add a diffusers folder or model library folder",
    )
    imp.add_argument("path")
    rm = msub.add_parser("remove", help="delete a downloaded/imported model, or forget a folder")
    rm.add_argument("id")
    df = msub.add_parser("default", help="make a model the default")
    df.add_argument("id")
    return p


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def _progress(p: DownloadProgress) -> None:
    width = 30
    frac = p.done_bytes / p.total_bytes if p.total_bytes else 0.0
    bar = "#" * int(width * frac) + "." * (width - int(width * frac))
    eta = f"{p.eta_s:.0f}s left" if p.eta_s is not None else ""
    sys.stderr.write(
        f"\r[{bar}] {_gb(p.done_bytes)}/{_gb(p.total_bytes)} {p.speed_bps / 1e6:.1f} MB/s {eta}   "
    )
    sys.stderr.flush()


def run_models(args: argparse.Namespace) -> int:
    from app.models import registry as models

    try:
        cmd = args.models_command
        if cmd == "list":
            items = models.list_models(kind=args.kind)
            if args.installed:
                items = [m for m in items if m.installed]
            for line in models_table(items):
                print(line)
            print(
                f"Disk used by Easel's models: {_gb(models.disk_usage(items))} "
                f"(in {models.models_dir()} and the Hugging Face cache)",
                file=sys.stderr,
            )
            return 0
        if cmd == "download":
            from app.models import catalog, download

            try:
                entry = catalog.get(args.id)
            except KeyError:
                print(
                    f"error: No model {args.id!r} in the catalog; run 'models list'.",
                    file=sys.stderr,
                )
                return 2
            cancel = threading.Event()
            path = download.download_model(entry, on_progress=_progress, cancel=cancel)
            sys.stderr.write("\n")
            try:
                download.fetch_family_configs(cancel=cancel)
            except EaselError as exc:
                print(
                    f"warning: model configs for offline imports not fetched: {exc}",
                    file=sys.stderr,
                )
            print(path)
            return 0
        if cmd == "import":
            m = models.import_path(args.path, on_step=lambda s: print(s, file=sys.stderr))
            print(f"{m.id}\t{m.kind}\t{m.family or '-'}\t{m.path}")
            return 0
        if cmd == "remove":
            print(models.remove(args.id))
            return 0
        if cmd == "default":
            print(models.set_default(args.id).id)
            return 0
    except Cancelled as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\nStopped; the download continues from where it stopped next time.", file=sys.stderr)
        return 130
    except (InvalidRequest, ModelLoadError) as exc:  # unknown ids, bad files, bad --kind
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except EaselError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    return 2
