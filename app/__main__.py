"""Entry point: ``python -m app`` opens the window; subcommands run headless."""

from __future__ import annotations

import argparse
import sys

from app import __version__


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one sentence on stderr, not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message}; see '{self.prog} --help'.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="easel",
        description="Easel: a desktop app for Stable Diffusion. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"Easel {__version__}")
    parser.add_argument(
        "--selftest",
        action="store_true",
        help="generate one image with a tiny built-in model to check this installation",
    )
    # For packaging checks (make package-test): open the main window, start the engine, quit.
    parser.add_argument("--smoke-window", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from app.cli import add_generate_parser
    from app.cli_models import add_models_parser
    from app.cli_serve import add_serve_parser

    add_generate_parser(sub)
    add_models_parser(sub)
    add_serve_parser(sub)
    from app.cli_prompt import add_prompt_parser

    add_prompt_parser(sub)
    from app.cli_upscale import add_upscale_parser

    add_upscale_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith(("-psn", "--model")):  # macOS passes -psn_... to apps
        from app.ui.main import run_app

        return run_app([] if argv and argv[0].startswith("-psn") else argv)
    from app.cli_checks import join_negative_values

    parser = build_parser()
    args = parser.parse_args(join_negative_values(parser, argv))
    if args.selftest or args.smoke_window:
        from app import selftest

        return selftest.run_selftest() if args.selftest else selftest.run_smoke_window()
    if args.command == "generate":
        from app.cli import run_generate

        return run_generate(args)
    if args.command == "models":
        from app.cli_models import run_models

        return run_models(args)
    if args.command == "upscale":
        from app.cli_upscale import run_upscale

        return run_upscale(args)
    if args.command == "serve":
        from app.cli_serve import run_serve

        return run_serve(args)
    if args.command == "prompt":
        from app.cli_prompt import run_prompt

        return run_prompt(args)
    build_parser().print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
