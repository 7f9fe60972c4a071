"""Shared pieces of the commands: the ``--db`` and ``--format`` options and tabular output."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

import pandas as pd

from transferscope.records import json_safe

FORMATS = ("table", "json", "csv")


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


def emit(frame: pd.DataFrame, fmt: str, stream: IO[str] | None = None) -> None:
    """Write ``frame`` to ``stream`` (stdout by default) as a table, JSON records or CSV.

    Parameters
    ----------
    frame : pandas.DataFrame
        What to print.
    fmt : {"table", "json", "csv"}
        ``json`` is an array of records, one per row, with missing values as ``null``.
    stream : text stream, optional
        Where to write; ``sys.stdout`` when omitted.
    """
    out = sys.stdout if stream is None else stream
    if fmt == "json":
        json.dump(records(frame), out, indent=None, allow_nan=False)
        out.write("\n")
    elif fmt == "csv":
        frame.to_csv(out, index=False)
    elif fmt == "table":
        if frame.empty:
            out.write("(no rows)\n")
        else:
            with pd.option_context(
                "display.max_rows", None, "display.max_columns", None, "display.width", 200
            ):
                out.write(frame.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
                out.write("\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
