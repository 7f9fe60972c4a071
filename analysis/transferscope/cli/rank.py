"""``transferscope rank``: rank methods by their dependence on pretraining, from the store."""

from __future__ import annotations

import argparse
from typing import Any

from transferscope.cli._output import (
    add_columns_argument,
    add_db_argument,
    add_filter_arguments,
    add_format_argument,
    add_names_argument,
    emit,
    filters_from,
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
    add_filter_arguments(p)
    p.add_argument(
        "--downstream-metric", default=None, metavar="NAME", help="only this downstream metric"
    )
    add_names_argument(p, "--by", metavar="COL", help="rank within these columns")
    p.add_argument("--pool", choices=POOL_METHODS, default="DL", help="tau^2 estimator")
    p.add_argument(
        "--bootstrap", type=int, default=1000, metavar="B", help="task resamples for p_best"
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the bootstrap")
    add_format_argument(p)
    add_columns_argument(p, TABLE_COLUMNS)
    add_db_argument(p)
    p.set_defaults(func=_run)


#: Columns of the table printed by default (after the context and the entity).
TABLE_COLUMNS = (
    "rank", "estimate", "ci_low", "ci_high", "diff_from_best", "se", "p_best", "n_tasks",
    "status",
)  # fmt: skip


def _run(args: argparse.Namespace) -> int:
    # imported here so that `transferscope --help` does not load the store and statsmodels
    from transferscope.dependence.ranking import rank_methods
    from transferscope.store import open_store

    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, not {args.bootstrap}")
    filters: dict[str, Any] = filters_from(args)
    with open_store(args.db, read_only=True) as store:
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
    cols = list(table.columns)
    keys = cols[: cols.index(args.entity) + 1] if args.entity in cols else []
    emit(table, args.format, columns=args.columns, default=[*keys, *TABLE_COLUMNS])
    return 0
