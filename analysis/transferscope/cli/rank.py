"""``transferscope rank``: rank methods by their dependence on pretraining, from the store."""

from __future__ import annotations

import argparse
from typing import Any

from transferscope.cli._output import (
    add_db_argument,
    add_format_argument,
    emit,
    lock_options,
    resamples_value,
    seed_value,
)
from transferscope.dependence.metrics import METRICS
from transferscope.errors import InputError
from transferscope.stats.meta import POOL_METHODS


def register(sub: Any) -> None:
    p = sub.add_parser(
        "rank",
        help="rank methods by dependence on pretraining, pooled across tasks",
        description=(
            "Rank methods (or another column, --entity) by their dependence on pretraining, "
            "pooled across tasks by random-effects meta-analysis; best first, rank from 0."
        ),
    )
    p.add_argument("--metric", choices=METRICS, default="gain", help="dependence metric")
    p.add_argument(
        "--entity", default="method", metavar="COL", help="column to rank (default: method)"
    )
    p.add_argument("--task", nargs="+", default=None, metavar="TASK", help="only these tasks")
    p.add_argument("--method", nargs="+", default=None, metavar="METHOD", help="only these methods")
    p.add_argument("--source", nargs="+", default=None, metavar="SOURCE", help="only these sources")
    p.add_argument(
        "--downstream-metric", default=None, metavar="NAME", help="only this downstream metric"
    )
    p.add_argument("--by", nargs="+", default=None, metavar="COL", help="rank within these columns")
    p.add_argument("--pool", choices=POOL_METHODS, default="DL", help="tau^2 estimator")
    p.add_argument(
        "--bootstrap",
        type=resamples_value,
        default=1000,
        metavar="B",
        help="task resamples for p_best",
    )
    p.add_argument("--seed", type=seed_value, default=0, metavar="S", help="seed of the bootstrap")
    add_format_argument(p)
    add_db_argument(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # imported here so that `transferscope --help` does not load the store and statsmodels
    from transferscope.dependence.ranking import rank_methods
    from transferscope.store import open_store

    filters: dict[str, Any] = {}
    if args.task:
        filters["task"] = list(args.task)
    if args.method:
        filters["method"] = list(args.method)
    if args.source:
        filters["source"] = list(args.source)
    with open_store(args.db, read_only=True, **lock_options(args)) as store:
        runs = store.runs(**filters)
    if runs.empty:
        raise InputError("no runs match; ingest runs first or loosen --task/--method/--source")
    table = rank_methods(
        runs,
        metric=args.metric,
        pool=args.pool,
        bootstrap=args.bootstrap,
        seed=args.seed,
        entity=args.entity,
        by=args.by,
        downstream_metric=args.downstream_metric,
    )
    emit(table, args.format)
    return 0
