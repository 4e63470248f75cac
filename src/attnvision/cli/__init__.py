"""The ``attnvision`` command: one parser, one module per command group, errors as one line.

Each command module adds its sub-commands with an ``add(sub)`` function:
:mod:`~attnvision.cli.train` (``list``, ``train``, ``evaluate``, ``bench``, ``compare``),
:mod:`~attnvision.cli.saliency` (``saliency maps|evaluate|predict``),
:mod:`~attnvision.cli.sod` (``sod evaluate``) and :mod:`~attnvision.cli.visualize`. A
command parses its options, calls one library function and prints
(:mod:`~attnvision.cli.output`). User errors (``ValueError``, ``TypeError``,
``FileNotFoundError`` and the other ``OSError`` about a path, :class:`UserError`) print
one line on stderr, ``attnvision <command>: error: ...``, and exit with code 2; results
are written atomically, so a failed run never damages what an earlier run wrote.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .output import EXIT_USER_ERROR, UserError, error_line

__all__ = ["EXIT_USER_ERROR", "UserError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (``attnvision --help`` shows it)."""
    from attnvision import __version__

    from . import saliency, sod, train, visualize

    parser = _Parser(
        prog="attnvision",
        description="Visual attention for CNNs: train, compare, evaluate and look at attention.",
    )
    parser.add_argument("--version", action="version", version=f"attnvision {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (train, sod, saliency, visualize):
        module.add(sub)
    return parser


def _with_trailing_overrides(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse; ``key=value`` overrides may also come after options
    (``train cfg.yaml --resume a.b=1``)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        if isinstance(getattr(args, "items", None), list) and all(
            "=" in e and not e.startswith("-") for e in extra
        ):
            args.items.extend(extra)
        else:
            parser.error("unrecognized arguments: " + " ".join(extra))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for user errors)."""
    parser = build_parser()
    args = _with_trailing_overrides(parser, argv)
    if getattr(args, "func", None) is None:  # no command: the help, as a usage error
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR
    prog = getattr(args, "prog", f"attnvision {args.command}")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (UserError, ValueError, TypeError, OSError) as exc:
        if isinstance(exc, OSError) and not _is_path_error(exc):
            raise
        print(error_line(prog, exc), file=sys.stderr)
        return EXIT_USER_ERROR
    except RuntimeError as exc:
        from attnvision.engine.distributed import DistributedError

        if not isinstance(exc, DistributedError):
            raise
        # a failed peer under torchrun: one clear line, exit 1 (not a user error)
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1


def _is_path_error(exc: OSError) -> bool:
    """An ``OSError`` about a path the user gave (missing, a folder, no permission, ...)."""
    return isinstance(
        exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
    ) or (exc.filename is not None)
