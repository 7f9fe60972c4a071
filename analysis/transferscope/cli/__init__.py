"""Command line: ``transferscope COMMAND ...``.

Every module in this package whose name does not start with ``_`` defines
``register(subparsers)``, which adds the command of the module's own name and sets
``func(args) -> int`` with ``parser.set_defaults(func=...)``. The modules only parse arguments and
call library functions (thin edges). Only the module of the command being run is imported, so
``transferscope runs`` does not pay for the statistics libraries that ``fit`` needs; the
overview (``transferscope --help``) reads each command's one-line summary from its module's
docstring without importing it.

Exit status: 0 done, 2 bad input or usage (one line on stderr, no traceback), 1 a fault of the
program.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Sequence

from transferscope._version import __version__
from transferscope.errors import InputError


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        from transferscope.cli._output import safe_text

        # argparse repeats what was typed (e.g. unrecognized arguments): escaped, on one line
        sys.stderr.write(f"{self.prog}: {safe_text(message)}\n")
        raise SystemExit(2)


def commands() -> list[str]:
    """List the command names: the public modules of this package.

    Returns
    -------
    list of str
        Sorted command names, e.g. ``["demo", "fit", "ingest", ...]``.
    """
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def summary(name: str) -> str:
    """Return a command's one-line summary: its module docstring's first line, without importing.

    Parameters
    ----------
    name : str
        Command name.

    Returns
    -------
    str
        The summary, e.g. ``fit saturating frontiers per group of the store's runs``.
    """
    spec = importlib.util.find_spec(f"{__name__}.{name}")
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as handle:
        doc = ast.get_docstring(ast.parse(handle.read())) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return first.split(": ", 1)[-1].rstrip(".")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the parser with the commands found in this package.

    Parameters
    ----------
    only : str, optional
        Import and register just this command (the one about to run); when omitted or when it
        names none, every command is listed with its summary and none is imported.

    Returns
    -------
    argparse.ArgumentParser
        The top-level parser; ``args.func(args)`` runs the chosen command.
    """
    parser = _Parser(
        prog="transferscope",
        description="Meta-analysis of pretraining versus downstream results.",
    )
    parser.add_argument("--version", action="version", version=f"transferscope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    names = commands()
    if only in names:
        importlib.import_module(f"{__name__}.{only}").register(sub)
    else:
        for name in names:
            sub.add_parser(name, help=summary(name))
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """Return the first argument that is not an option: the command, if any."""
    return next((a for a in argv if not a.startswith("-")), None)


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
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=_command_of(args_list))
    try:
        args = parser.parse_args(args_list)
        status = args.func(args)
    except SystemExit as exc:  # argparse usage errors and --help
        return int(exc.code) if isinstance(exc.code, int) else 2
    except InputError as exc:
        from transferscope.cli._output import safe_text

        # one line, whatever the file names and values in it hold
        sys.stderr.write(f"transferscope: error: {safe_text(exc)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("transferscope: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (``transferscope runs | head``): stop quietly, as Unix tools do.
        _silence_stdout()
        return 0
    return int(status or 0)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (e.g. captured in tests)
        pass
    finally:
        os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
