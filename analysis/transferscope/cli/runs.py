"""``transferscope runs``: count the store's runs per source, task, method, shots and metric."""

from __future__ import annotations

import argparse

from transferscope.cli._output import (
    add_columns_argument,
    add_db_argument,
    add_filter_arguments,
    add_format_argument,
    add_names_argument,
    emit,
    filters_from,
    lock_options,
)
from transferscope.store import open_store

#: Default grouping of the counts.
BY = ("source", "task", "method", "shots", "downstream_metric")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``runs`` command."""
    p = sub.add_parser(
        "runs",
        help="count runs per source, task, method, shots and downstream metric",
        description=(
            "Columns: source, task, method, shots (full = the full training set, zero-shot = "
            "no examples), downstream_metric (the metric the scores are in: groups that mix "
            "metrics cannot be fitted together), n_runs, n_models (distinct models), "
            "n_pretrained (runs with pretraining). --by chooses other run columns."
        ),
    )
    add_filter_arguments(p)
    add_names_argument(p, "--by", metavar="COLUMN", help=f"count per (default: {' '.join(BY)})")
    add_db_argument(p)
    add_format_argument(p)
    add_columns_argument(p, ("all",))
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    by = list(dict.fromkeys(args.by or BY))
    with open_store(args.db, read_only=True, **lock_options(args)) as store:
        frame = store.run_counts(by, **filters_from(args))
    emit(frame, args.format, columns=args.columns)
    return 0
