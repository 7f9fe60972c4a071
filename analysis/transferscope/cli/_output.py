r"""Shared pieces of the commands: ``--db``, ``--wait``, ``--format``, and safe output.

Text that came from a user's files (model and task names, sources, paths, messages) reaches the
terminal only through :func:`safe_text`, which escapes control characters: a name holding an
escape sequence (``ESC [ 2 J`` clears the screen, others retitle the window or hide text) is
shown as ``\x1b[2J``, never interpreted, as the HTML report already escapes it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import Iterator
from typing import IO, Any

import pandas as pd

from transferscope.errors import InputError
from transferscope.records import json_safe
from transferscope.rng import check_resamples, check_seed

FORMATS = ("table", "json", "csv")
#: Seconds a command waits, by default, for a store that another process has locked.
DEFAULT_WAIT = 30.0

# C0 and C1 controls, DEL, the line and paragraph separators, and the bidirectional controls
# that can reorder what a terminal shows (Trojan Source)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: object) -> str:
    r"""Escape the characters a terminal would interpret (control, separator and bidi characters).

    Parameters
    ----------
    text : object
        Anything; it is shown as ``str(text)``.

    Returns
    -------
    str
        The text on one line, with e.g. ESC as ``\x1b``, a newline as ``\x0a`` and U+202E as
        ``\u202e``; printable text (any script) is unchanged.
    """
    return _UNSAFE.sub(_escape, str(text))


def say(message: object, stream: IO[str] | None = None) -> None:
    """Print one line of text made safe for the terminal (stdout by default).

    Parameters
    ----------
    message : object
        The line.
    stream : text stream, optional
        Where to write; ``sys.stdout`` when omitted.
    """
    out = sys.stdout if stream is None else stream
    out.write(safe_text(message) + "\n")


def notice(message: str) -> None:
    """Tell the user on stderr what the command is waiting for (one line).

    Parameters
    ----------
    message : str
        What happens, e.g. that the store is locked and for how long the command waits.
    """
    say(f"transferscope: {message}", sys.stderr)
    sys.stderr.flush()


def _non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError(f"expected 0 to 86400 seconds, got {text}")
    return value


def seed_value(text: str) -> int:
    """Parse ``--seed``: a non-negative integer (the rule of :func:`transferscope.rng.check_seed`).

    Parameters
    ----------
    text : str
        The argument.

    Returns
    -------
    int
        The seed.
    """
    try:
        return check_seed(int(text))
    except (ValueError, InputError):
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None


def resamples_value(text: str) -> int:
    """Parse ``--bootstrap``: 0 to :data:`transferscope.rng.MAX_RESAMPLES` resamples.

    Parameters
    ----------
    text : str
        The argument.

    Returns
    -------
    int
        The number of resamples.
    """
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    try:
        return check_resamples(number, "the number of resamples")
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--db PATH`` (default: ``$TRANSFERSCOPE_DB``, else ``data/transferscope.duckdb``).

    Also adds ``--wait SECONDS``: how long to wait for a store locked by another process.
    """
    parser.add_argument(
        "--db",
        default=None,
        metavar="DB",
        help="DuckDB store (default: $TRANSFERSCOPE_DB, else data/transferscope.duckdb)",
    )
    parser.add_argument(
        "--wait",
        type=_non_negative_seconds,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"wait for a store locked by another process (default {DEFAULT_WAIT:g} s)",
    )


def lock_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`transferscope.store.open_store` for waiting on a lock.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments with ``wait``.

    Returns
    -------
    dict
        ``wait`` (seconds) and ``on_wait`` (:func:`notice`).
    """
    return {"wait": float(getattr(args, "wait", 0.0)), "on_wait": notice}


def add_engine_arguments(parser: argparse.ArgumentParser, *, jobs: bool = True) -> None:
    """Add ``--engine local|dask``, ``--scheduler ADDRESS`` and (with ``jobs``) ``--jobs N``."""
    group = parser.add_argument_group("where the groups run")
    group.add_argument(
        "--engine",
        choices=("local", "dask"),
        default=None,
        help="local: this process or --jobs processes (default); dask: a Dask cluster, local "
        "with --jobs workers unless --scheduler names a running one",
    )
    group.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of a running Dask scheduler, e.g. tcp://host:8786 (implies --engine dask)",
    )
    if jobs:
        group.add_argument(
            "--jobs",
            type=int,
            default=1,
            metavar="N",
            help="local worker processes, or local Dask workers (-1: all cores)",
        )


@contextlib.contextmanager
def opened_engine(engine: Any) -> Iterator[Any]:
    """Keep a Dask engine's cluster open for the whole command (a no-op for local ones)."""
    if isinstance(engine, contextlib.AbstractContextManager):
        with engine:
            yield engine
    else:
        yield engine


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--format table|json|csv`` (default ``table``)."""
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Turn a DataFrame into JSON-safe records: NaN and missing values become ``None``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any tidy frame.

    Returns
    -------
    list of dict
        One dict per row, with plain Python values.
    """
    columns = [str(c) for c in frame.columns]
    return [
        {c: json_safe(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _escaped(frame: pd.DataFrame) -> pd.DataFrame:
    """Pass the frame's text cells and column names through :func:`safe_text`."""
    out = frame.copy()
    out.columns = pd.Index([safe_text(c) for c in frame.columns], dtype=object)
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if column.dtype == object or isinstance(column.dtype, pd.StringDtype):
            mapped = column.map(lambda v: safe_text(v) if isinstance(v, str) else v)
            out.isetitem(position, mapped.astype(column.dtype).array)
    return out


def emit(frame: pd.DataFrame, fmt: str, stream: IO[str] | None = None) -> None:
    """Write ``frame`` to ``stream`` (stdout by default) as a table, JSON records or CSV.

    Parameters
    ----------
    frame : pandas.DataFrame
        What to print.
    fmt : {"table", "json", "csv"}
        ``json`` is an array of records, one per row, with missing values as ``null``. Text in
        a table (and in CSV written to a terminal) is escaped by :func:`safe_text`.
    stream : text stream, optional
        Where to write; ``sys.stdout`` when omitted.
    """
    out = sys.stdout if stream is None else stream
    if fmt == "json":  # JSON escapes control characters itself (\u001b)
        json.dump(records(frame), out, indent=None, allow_nan=False)
        out.write("\n")
    elif fmt == "csv":  # exact text for files and pipes; escaped when a person reads it
        terminal = getattr(out, "isatty", lambda: False)()
        (_escaped(frame) if terminal else frame).to_csv(out, index=False)
    elif fmt == "table":
        if frame.empty:
            out.write("(no rows)\n")
        else:
            with pd.option_context(
                "display.max_rows", None, "display.max_columns", None, "display.width", 200
            ):
                text = _escaped(frame).to_string(index=False, float_format=lambda x: f"{x:.4g}")
                out.write(text)
                out.write("\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
