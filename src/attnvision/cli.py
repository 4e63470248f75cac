"""The ``attnvision`` command: parses arguments, calls the library, prints.

Every sub-command is added by one ``_add_*`` function below. User errors
(``ValueError``, ``TypeError``, ``FileNotFoundError``, ``UserError``) print one line on
stderr and exit with code 2; results are written atomically, so a failed run never
damages what an earlier run wrote.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem with what the user asked for (bad path, bad option, bad file)."""


def _cmd_list(args: argparse.Namespace) -> int:
    from attnvision.layers import list_attention
    from attnvision.models import list_models

    if args.what in ("all", "models"):
        print("models:", ", ".join(list_models()))
    if args.what in ("all", "attention", "blocks"):
        print("attention:", ", ".join(list_attention()))
    return 0


def _add_list(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the registered models and attention blocks")
    p.add_argument(
        "what", nargs="?", default="all", choices=["all", "models", "attention", "blocks"]
    )
    p.set_defaults(func=_cmd_list)


# Each entry adds one sub-command (or a group of them) to the parser.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_list]


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (``attnvision --help`` shows it)."""
    parser = argparse.ArgumentParser(
        prog="attnvision",
        description="Visual attention for CNNs: train, compare, evaluate and look at attention.",
    )
    from attnvision import __version__

    parser.add_argument("--version", action="version", version=f"attnvision {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for user errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("attnvision: interrupted", file=sys.stderr)
        return 130
    except (
        UserError,
        ValueError,
        TypeError,
        FileNotFoundError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
    ) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if (
            isinstance(
                exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
            )
            and exc.filename
            and str(exc.filename) not in message
        ):
            message = f"{message}: {exc.filename}"
        print(f"attnvision {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
