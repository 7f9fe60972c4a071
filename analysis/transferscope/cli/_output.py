"""Shared pieces of the commands: common options, filters and tabular output.

Options that take names (``--task``, ``--method``, ``--source``, ``--by``, ``--columns``)
accept several values after one flag and repeated flags alike: ``--task a b`` and
``--task a --task b`` mean the same in every command. Tables printed for a person fit the
terminal: each command chooses the columns worth reading (``--columns`` adds or picks others,
``--columns all`` shows every one), long texts are cut with an ellipsis, missing shots read
``full`` (the full training set) and 0 shots ``zero-shot``, and a few long column names have
shorter headers (:data:`SHORT_HEADERS`; ``--columns`` takes either). ``--format json`` and
``csv`` carry every column, under their own names, with values as stored.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import pandas as pd

from transferscope.errors import InputError
from transferscope.records import json_safe

FORMATS = ("table", "json", "csv")
#: Shorter headers of long column names in tables (``--columns`` takes either name).
SHORT_HEADERS = {
    "downstream_metric": "metric",
    "upstream_metric": "up_metric",
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
#: Narrowest a cut text column gets.
MIN_TEXT_WIDTH = 16


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--db PATH`` (default: ``$TRANSFERSCOPE_DB``, else ``data/transferscope.duckdb``)."""
    parser.add_argument(
        "--db",
        default=None,
        metavar="DB",
        help="DuckDB store (default: $TRANSFERSCOPE_DB, else data/transferscope.duckdb)",
    )


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
    return " ".join(str(value).split())  # one line per row


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def format_table(frame: pd.DataFrame, width: int) -> str:
    """Render a frame as aligned text no wider than ``width`` (long texts are cut).

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
    headers = [SHORT_HEADERS.get(c, c) for c in columns]
    cells = [[_cell(c, v) for c, v in zip(columns, row, strict=True)]
             for row in frame.itertuples(index=False, name=None)]  # fmt: skip
    numeric = [
        pd.api.types.is_numeric_dtype(frame[c].dtype) and c != "shots" for c in frame.columns
    ]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    floor = [max(MIN_TEXT_WIDTH, len(h)) for h in headers]
    # shrink the widest text columns until the line fits
    while sum(widths) + 2 * (len(widths) - 1) > width:
        texts = [i for i, w in enumerate(widths) if not numeric[i] and w > floor[i]]
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
        ``json`` is an array of records, one per row, with missing values as ``null``.
    stream : text stream, optional
        Where to write; ``sys.stdout`` when omitted.
    columns : sequence of str, optional
        ``--columns`` as given (see :func:`choose_columns`); JSON and CSV keep every column
        unless it is given.
    default : sequence of str, optional
        The columns a table shows without ``--columns`` (all when None).
    """
    out = sys.stdout if stream is None else stream
    if fmt == "json":
        chosen = choose_columns(frame, columns, None)
        json.dump(records(frame[chosen]), out, indent=None, allow_nan=False)
        out.write("\n")
    elif fmt == "csv":
        frame[choose_columns(frame, columns, None)].to_csv(out, index=False)
    elif fmt == "table":
        if frame.empty:
            out.write("(no rows)\n")
            return
        chosen = choose_columns(frame, columns, default)
        width = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
        out.write(format_table(frame[chosen], width))
        hidden = len(frame.columns) - len(chosen)
        if hidden > 0 and out.isatty():
            out.write(f"({hidden} more columns: --columns all, or --columns +NAME)\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
