r"""Shared pieces of the commands: common options, filters and tabular output.

Options that take names (``--task``, ``--method``, ``--source``, ``--by``, ``--columns``)
accept several values after one flag and repeated flags alike: ``--task a b`` and
``--task a --task b`` mean the same in every command. Tables printed for a person fit the
terminal: each command chooses the columns worth reading (``--columns`` adds or picks others,
``--columns all`` shows every one), long texts are cut with an ellipsis, missing shots read
``full`` (the full training set) and 0 shots ``zero-shot``, and a few long column names have
shorter headers (:data:`SHORT_HEADERS`; ``--columns`` takes either). ``--format json`` and
``csv`` carry every column, under their own names, with values as stored.

Text that came from a user's files (model and task names, sources, paths, messages) reaches the
terminal only through :func:`safe_text`, which escapes control characters: a name holding an
escape sequence (``ESC [ 2 J`` clears the screen, others retitle the window or hide text) is
shown as ``\x1b[2J``, never interpreted, as the HTML report already escapes it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import pandas as pd

from transferscope.errors import InputError
from transferscope.records import json_safe
from transferscope.rng import check_resamples, check_seed

FORMATS = ("table", "json", "csv")
#: Shorter headers of long column names in tables (``--columns`` takes either name).
SHORT_HEADERS = {
    "downstream_metric": "metric",
    "upstream_metric": "up_metric",
    "n_points": "n",
    "plateau_ci_low": "ci_low",
    "plateau_ci_high": "ci_high",
    "saturation_point": "saturates_at",
    "upstream_max": "best_upstream",
    "upstream_min": "worst_upstream",
    "diff_from_best": "behind",
    "bootstrap_failed_share": "failed_share",
}
#: Width of a table when the output is not a terminal.
DEFAULT_WIDTH = 120
#: Columns that name things: never cut (a cut name could read as another), even past the width.
WHOLE_COLUMNS = frozenset(
    {"source", "task", "method", "model", "entity", "downstream_metric", "upstream_metric",
     "upstream_task", "family", "frontier", "status", "name"}
)  # fmt: skip
#: Narrowest a cut text column gets.
MIN_TEXT_WIDTH = 16
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


def add_names_argument(
    parser: argparse.ArgumentParser | Any, flag: str, *, metavar: str, help: str
) -> None:
    """Add an option of names: several after one flag, or the flag repeated (they add up).

    Parameters
    ----------
    parser : argparse.ArgumentParser or argument group
        Where to add it.
    flag : str
        E.g. ``"--task"``.
    metavar : str
        Placeholder in the help.
    help : str
        Help text.
    """
    parser.add_argument(flag, action="extend", nargs="+", default=None, metavar=metavar, help=help)


#: The filters every command that reads runs offers, in this order.
FILTERS = (("source", "SOURCE"), ("task", "TASK"), ("method", "METHOD"))


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--source``, ``--task`` and ``--method`` (each: several values, or repeated).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    """
    for name, metavar in FILTERS:
        add_names_argument(
            parser,
            f"--{name}",
            metavar=metavar,
            help=f"only these {name}s (--{name} A B, or --{name} A --{name} B)",
        )


def filters_from(args: argparse.Namespace) -> dict[str, list[str]]:
    """Return the filters given on the command line (as for ``Store.runs``).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of a command that called :func:`add_filter_arguments`.

    Returns
    -------
    dict of str to list of str
        Column to the values asked for (only the options given).
    """
    return {
        name: list(dict.fromkeys(getattr(args, name)))
        for name, _ in FILTERS
        if getattr(args, name, None)
    }


def add_columns_argument(parser: argparse.ArgumentParser, default: Sequence[str]) -> None:
    """Add ``--columns``: which columns a table shows.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    default : sequence of str
        The columns shown without the option (named in the help).
    """
    add_names_argument(
        parser,
        "--columns",
        metavar="COL",
        help=(
            "columns to show: names (added to the default ones when they start with +), or "
            f"'all' (default: {' '.join(default)})"
        ),
    )


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


def choose_columns(
    frame: pd.DataFrame, asked: Sequence[str] | None, default: Sequence[str] | None
) -> list[str]:
    """Choose the columns to show: the default ones, those asked for, or all.

    Parameters
    ----------
    frame : pandas.DataFrame
        The output.
    asked : sequence of str, optional
        ``--columns``: ``["all"]``; names (replacing the default); or names starting with
        ``+`` (added to the default).
    default : sequence of str, optional
        The command's choice (all columns when None).

    Returns
    -------
    list of str
        Column names in order.

    Raises
    ------
    InputError
        For a column the output does not have.
    """
    present = [str(c) for c in frame.columns]
    base = [c for c in (default or present) if c in present]
    if not asked:
        return base
    if list(asked) == ["all"]:
        return present
    long = {short: name for name, short in SHORT_HEADERS.items()}
    added = [long.get(a[1:], a[1:]) for a in asked if a.startswith("+")]
    chosen = [long.get(a, a) for a in asked if not a.startswith("+")]
    unknown = [c for c in [*added, *chosen] if c not in present]
    if unknown:
        raise InputError(
            f"--columns: unknown column(s) {unknown}; this output has {', '.join(present)}"
        )
    out = chosen if chosen else base
    return list(dict.fromkeys([*out, *added]))


def _cell(column: str, value: Any) -> str:
    if column == "shots":
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return "full"
        return "zero-shot" if int(value) == 0 else str(int(value))
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)  # one line per row: safe_text shows a newline as \x0a


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def format_table(frame: pd.DataFrame, width: int) -> str:
    """Render a frame as aligned text no wider than ``width`` (long texts are cut).

    Free texts (messages, titles) are cut to fit; names (:data:`WHOLE_COLUMNS`) never are, so
    a table of long names may pass ``width``.

    Parameters
    ----------
    frame : pandas.DataFrame
        What to print (every column is shown).
    width : int
        Characters per line at most (the cut stops at :data:`MIN_TEXT_WIDTH` per column).

    Returns
    -------
    str
        The table, one line per row, newline-terminated.
    """
    columns = [str(c) for c in frame.columns]
    headers = [safe_text(SHORT_HEADERS.get(c, c)) for c in columns]
    cells = [[safe_text(_cell(c, v)) for c, v in zip(columns, row, strict=True)]
             for row in frame.itertuples(index=False, name=None)]  # fmt: skip
    numeric = [
        pd.api.types.is_numeric_dtype(frame[c].dtype) and c != "shots" for c in frame.columns
    ]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    floor = [max(MIN_TEXT_WIDTH, len(h)) for h in headers]
    # shrink the widest text columns until the line fits
    while sum(widths) + 2 * (len(widths) - 1) > width:
        texts = [
            i
            for i, w in enumerate(widths)
            if not numeric[i] and columns[i] not in WHOLE_COLUMNS and w > floor[i]
        ]
        if not texts:
            break
        widest = max(texts, key=lambda i: widths[i])
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        widths[widest] = max(floor[widest], widths[widest] - excess)

    def line(values: Sequence[str]) -> str:
        parts = []
        for i, v in enumerate(values):
            v = _cut(v, widths[i])
            parts.append(v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]))
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)]) + "\n"


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


def _table_width(terminal: bool) -> int:
    """$COLUMNS when set, else the terminal's width, else :data:`DEFAULT_WIDTH` (pipes, files)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns if terminal else DEFAULT_WIDTH


def emit(
    frame: pd.DataFrame,
    fmt: str,
    stream: IO[str] | None = None,
    *,
    columns: Sequence[str] | None = None,
    default: Sequence[str] | None = None,
) -> None:
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
    columns : sequence of str, optional
        ``--columns`` as given (see :func:`choose_columns`); JSON and CSV keep every column
        unless it is given.
    default : sequence of str, optional
        The columns a table shows without ``--columns`` (all when None).
    """
    out = sys.stdout if stream is None else stream
    if fmt == "json":  # JSON escapes control characters itself (\u001b)
        chosen = choose_columns(frame, columns, None)
        json.dump(records(frame[chosen]), out, indent=None, allow_nan=False)
        out.write("\n")
    elif fmt == "csv":  # exact text for files and pipes; escaped when a person reads it
        terminal = getattr(out, "isatty", lambda: False)()
        part = frame[choose_columns(frame, columns, None)]
        (_escaped(part) if terminal else part).to_csv(out, index=False)
    elif fmt == "table":
        if frame.empty:
            out.write("(no rows)\n")
            return
        chosen = choose_columns(frame, columns, default)
        terminal = bool(getattr(out, "isatty", lambda: False)())
        out.write(format_table(frame[chosen], _table_width(terminal)))
        hidden = len(frame.columns) - len(chosen)
        if hidden > 0 and terminal:
            out.write(f"({hidden} more columns: --columns all, or --columns +NAME)\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
