"""``transferscope runs``: how many runs the store holds, per source, task, method and shots."""

from __future__ import annotations

import argparse

from transferscope.cli._output import add_db_argument, add_format_argument, emit, lock_options
from transferscope.store import open_store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``runs`` command."""
    p = sub.add_parser(
        "runs",
        help="count runs per source, task, method and shots",
        description=(
            "Columns: source, task, method, shots (empty = full data), n_runs, n_models "
            "(distinct models), n_pretrained (runs with pretraining)."
        ),
    )
    for flag, what in (("source", "source"), ("task", "task"), ("method", "method")):
        p.add_argument(
            f"--{flag}",
            action="append",
            metavar=flag.upper(),
            help=f"only this {what} (repeatable)",
        )
    add_db_argument(p)
    add_format_argument(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    filters = {
        column: values
        for column, values in (
            ("source", args.source),
            ("task", args.task),
            ("method", args.method),
        )
        if values
    }
    with open_store(args.db, read_only=True, **lock_options(args)) as store:
        frame = store.run_counts(**filters)
    emit(frame, args.format)
    return 0
