"""``transferscope export``: write the store's runs for other tools (Every Eval Ever, Parquet)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from transferscope.cli._output import FILTERS, add_db_argument, add_names_argument
from transferscope.errors import InputError

FORMATS = ("every-eval-ever", "parquet")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``export`` command."""
    p = sub.add_parser(
        "export",
        help="write the store's runs as Every Eval Ever records or a Parquet file",
        description=(
            "every-eval-ever: one record per source and model (schema 0.2.2) under "
            "OUT/{source}/{developer}/{model}/{uuid}.json, every canonical column kept, so "
            "that `transferscope ingest OUT --format every-eval-ever` gives the runs back. "
            "parquet: every run in one file OUT."
        ),
    )
    p.add_argument("--format", dest="fmt", choices=FORMATS, required=True, help="what to write")
    p.add_argument("--out", type=Path, required=True, metavar="PATH", help="folder or file")
    for name, metavar in FILTERS[:2]:  # source, task
        add_names_argument(
            p,
            f"--{name}",
            metavar=metavar,
            help=f"only these {name}s (--{name} A B, or --{name} A --{name} B)",
        )
    add_db_argument(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from transferscope.store import open_store

    filters: dict[str, Any] = {}
    if args.source:
        filters["source"] = list(args.source)
    if args.task:
        filters["task"] = list(args.task)
    with open_store(args.db, read_only=True) as store:
        if args.fmt == "parquet":
            if filters:
                raise InputError("--source, --task: not with --format parquet (it writes all)")
            print(f"wrote {store.export(args.out)}")
            return 0
        from transferscope.ingest.formats.every_eval_ever import write_every_eval_ever

        written = write_every_eval_ever(store, args.out, filters=filters)
    print(f"wrote {len(written)} Every Eval Ever records to {args.out}")
    return 0
