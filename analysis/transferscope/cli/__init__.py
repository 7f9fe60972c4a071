"""Command line: ``transferscope COMMAND ...``.

Every module in this package that defines ``register(subparsers)`` adds one or more commands;
each registers a ``func(args) -> int`` with ``parser.set_defaults(func=...)``. The modules only
parse arguments and call library functions (thin edges). Exit status: 0 done, 2 bad input or
usage (one line on stderr, no traceback), 1 a fault of the program.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from transferscope.errors import InputError


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every command found in this package.

    Returns
    -------
    argparse.ArgumentParser
        The top-level parser; ``args.func(args)`` runs the chosen command.
    """
    parser = _Parser(
        prog="transferscope",
        description="Meta-analysis of pretraining versus downstream results.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        Exit status: 0 done, 2 bad input or usage, 1 a fault of the program.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        status = args.func(args)
    except SystemExit as exc:  # argparse usage errors and --help
        return int(exc.code) if isinstance(exc.code, int) else 2
    except InputError as exc:
        sys.stderr.write(f"transferscope: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("transferscope: interrupted\n")
        return 130
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
