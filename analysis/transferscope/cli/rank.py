"""``transferscope rank``: rank methods by their dependence on pretraining, from the store."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from transferscope.cli._output import (
    add_columns_argument,
    add_db_argument,
    add_engine_arguments,
    add_filter_arguments,
    add_format_argument,
    add_names_argument,
    emit,
    filters_from,
    lock_options,
    opened_engine,
    resamples_value,
    say,
    seed_value,
)
from transferscope.errors import InputError

#: Dependence metrics (kept here so that ``--help`` does not import the analysis).
METRICS = ("gain", "slope", "retention")
TAU2_METHODS = ("DL", "REML", "PM", "FE")
_MEANING = {
    "gain": "gain over training from scratch",
    "slope": "slope of logit(downstream) on logit(upstream) across checkpoints",
    "retention": "share of the best checkpoint's gain kept by the others",
}
#: Columns of the table printed by default (after the context and the entity); --columns adds.
_TABLE = [
    "rank", "rank_low", "rank_high", "estimate", "ci_low", "ci_high", "p_best", "n_tasks",
    "pool_model", "status",
]  # fmt: skip


def register(sub: Any) -> None:
    p = sub.add_parser(
        "rank",
        help="rank methods by dependence on pretraining, pooled across tasks",
        description=(
            "Rank methods (or another column, --entity) by their dependence on pretraining, "
            "pooled across tasks (tasks of one suite, such as MMLU's subjects, by a three-level "
            "model with cluster-robust errors); most dependent first, rank from 1. By default "
            "methods are compared within each downstream metric, a method at several numbers "
            "of shots being one entity per number (linear_probe@10, linear_probe@full)."
        ),
    )
    p.add_argument(
        "--metric",
        choices=("auto", *METRICS),
        default="auto",
        help="dependence metric (auto: gain when every run has a scratch baseline, else slope)",
    )
    p.add_argument(
        "--entity", default="method", metavar="COL", help="column to rank (default: method)"
    )
    add_filter_arguments(p)
    p.add_argument(
        "--downstream-metric", default=None, metavar="NAME", help="only this downstream metric"
    )
    add_names_argument(
        p,
        "--by",
        metavar="COL",
        help="rank within these columns or hparams keys, replacing the default grouping",
    )
    p.add_argument(
        "--order",
        choices=("most", "least"),
        default="most",
        help="most (default) or least dependent on pretraining first",
    )
    add_names_argument(
        p,
        "--suite",
        metavar="PATTERN=NAME",
        help="declare a suite of tasks (shell pattern on task names), e.g. 'my_eval_*=my_eval'",
    )
    p.add_argument(
        "--no-suites", action="store_true", help="pool every task as independent (no suites)"
    )
    p.add_argument(
        "--no-robust",
        action="store_true",
        help="model-based instead of cluster-robust (CR2) errors for the three-level model",
    )
    p.add_argument(
        "--tau2-method",
        choices=TAU2_METHODS,
        default="DL",
        help="tau^2 estimator of tasks pooled without suites (the three-level model is REML)",
    )
    p.add_argument("--ci-level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument(
        "--bootstrap",
        type=resamples_value,
        default=1000,
        metavar="B",
        help="draws for p_best and the rank intervals (0: none)",
    )
    p.add_argument("--seed", type=seed_value, default=0, metavar="S", help="seed of the draws")
    add_engine_arguments(p)
    add_format_argument(p)
    add_columns_argument(p, _TABLE)
    add_db_argument(p)
    p.set_defaults(func=_run)


def _suites(args: argparse.Namespace) -> Any:
    if args.no_suites:
        if args.suite:
            raise InputError("--suite and --no-suites exclude each other")
        return None
    if not args.suite:
        return "auto"
    declared: dict[str, str] = {}
    for item in args.suite:
        pattern, sep, name = item.partition("=")
        if not sep or not pattern or not name:
            raise InputError(f"--suite {item!r}: expected PATTERN=NAME, e.g. 'my_eval_*=my_eval'")
        declared[pattern] = name
    return declared


def _nothing(metric: str, table: Any) -> str:
    """One line: why no entity has a value, and which metric works without what is missing."""
    statuses = table["status"].value_counts()
    if metric in ("gain", "retention") and "no_baseline" in statuses.index:
        return (
            f"rank --metric {metric}: no runs without pretraining (pretrained = false) match, "
            "so there is no scratch baseline to measure a gain against; --metric slope needs none"
        )
    if metric == "slope" and statuses.index.isin(["too_few_checkpoints", "narrow_ladder"]).all():
        return (
            "rank --metric slope: no entity has three checkpoints with upstream scores spread "
            "along the ladder (no upstream scores, or too few); --metric gain needs none, only "
            "runs without pretraining"
        )
    reason = str(table["message"].dropna().iloc[0]) if table["message"].notna().any() else ""
    return f"rank --metric {metric}: no entity has a value ({reason})"


def _run(args: argparse.Namespace) -> int:
    # imported here so that `transferscope --help` does not load the store and statsmodels
    from transferscope.dependence.metrics import MORE_DEPENDENT, default_metric
    from transferscope.dependence.ranking import rank_methods
    from transferscope.engine import resolve_engine
    from transferscope.store import open_store

    suites = _suites(args)
    filters: dict[str, Any] = filters_from(args)
    with open_store(args.db, read_only=True, **lock_options(args)) as store:
        runs = store.runs(**filters)
    if runs.empty:
        raise InputError("no runs match; ingest runs first or loosen --task/--method/--source")
    metric, reason = args.metric, ""
    if metric == "auto":
        metric, reason = default_metric(runs)
    engine = resolve_engine(args.engine, args.jobs, scheduler=args.scheduler)
    with opened_engine(engine):
        table = rank_methods(
            runs,
            metric,
            by=args.by,
            entity=args.entity,
            order=args.order,
            suites=suites,
            robust=not args.no_robust,
            method=args.tau2_method,
            ci_level=args.ci_level,
            bootstrap=args.bootstrap,
            seed=args.seed,
            downstream_metric=args.downstream_metric,
            engine=engine,
            n_jobs=args.jobs,
        )
    if not table["estimate"].notna().any():
        raise InputError(_nothing(metric, table))
    if args.format != "table":
        emit(table, args.format, columns=args.columns)
        return 0
    out = sys.stdout
    direction = MORE_DEPENDENT[metric]
    first = "most" if args.order == "most" else "least"
    out.write(
        f"{metric} ({_MEANING[metric]}): {direction} = more dependent on pretraining; "
        f"{first} dependent first; rank from 1\n"
    )
    if reason:
        say(f"metric chosen: {metric} ({reason}; --metric to choose)", out)
    context = list(table.columns[: list(table.columns).index("rank") - 1])
    entity = table.columns[len(context)]
    emit(table, "table", out, columns=args.columns, default=[*context, entity, *_TABLE])
    notes = table[table["message"].fillna("").astype(str) != ""]
    for row in notes.itertuples(index=False):
        where = ", ".join(str(getattr(row, c)) for c in context)
        say(f"note ({where}; {getattr(row, entity)}): {row.message}", out)  # names escaped
    return 0
