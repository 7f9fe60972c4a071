"""``transferscope effective``: effective transfer, its consistency across tasks and its drivers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from transferscope.cli._output import (
    add_db_argument,
    add_filter_arguments,
    add_format_argument,
    add_names_argument,
    emit,
    filters_from,
    lock_options,
    resamples_value,
    seed_value,
)
from transferscope.errors import InputError

#: The tables one run computes (``--table``), in the order of the API's result.
TABLES = (
    "residuals", "baselines", "levels", "consistency", "pairs", "drivers", "tests",
    "nonmonotone",
)  # fmt: skip


def _reference(items: list[str] | None) -> dict[str, list[Any]]:
    """Parse ``COL=VALUE[,VALUE...]`` items into a reference filter."""
    out: dict[str, list[Any]] = {}
    for item in items or []:
        column, sep, values = item.partition("=")
        if not sep or not column or not values:
            raise InputError(f"--baseline expects COLUMN=VALUE[,VALUE...], got {item!r}")
        parsed: list[Any] = []
        for text in values.split(","):
            parsed.append(int(text) if text.lstrip("-").isdigit() else text)
        out.setdefault(column, []).extend(parsed)
    return out


def register(sub: Any) -> None:
    p = sub.add_parser(
        "effective",
        help="effective transfer: residuals from a baseline, consistency, drivers",
        description=(
            "Fit a baseline per group (default: the probit line on the transformed axes for an "
            "accuracy as upstream score, loss_exp for a loss; fitted to the reference models "
            "of --baseline, by default all) and report every model's residual from it with an "
            "interval, its efficiency relative to the frontier, the consistency of residuals "
            "across tasks (ICC, pairwise Spearman), the moderators that change the relation "
            "(mixed model with model and task random effects, likelihood-ratio tests) and "
            "groups whose best models transfer worse (non-monotone). Prints one of the tables "
            f"({', '.join(TABLES)}); the per-model rows are kept in the store's table "
            "effective_transfer with the baseline fits they refer to."
        ),
    )
    add_filter_arguments(p)
    add_names_argument(
        p,
        "--by",
        metavar="COLUMN",
        help="grouping columns (default: task method shots downstream_metric)",
    )
    p.add_argument("--family", default=None, metavar="NAME", help="baseline family")
    p.add_argument(
        "--loss-space",
        choices=("score", "transformed"),
        default=None,
        help="where the baseline's loss is taken (default: transformed for logit and probit)",
    )
    p.add_argument(
        "--baseline",
        action="append",
        metavar="COL=VALUE",
        help="reference models of the baseline, e.g. pretrain_data=in1k or method=standard "
        "(repeatable; VALUE may list several, comma-separated)",
    )
    p.add_argument(
        "--baseline-frontier",
        default="all",
        metavar="NAME",
        help="estimator of the baseline (default all: least squares on the reference models)",
    )
    p.add_argument(
        "--frontier",
        default="stochastic",
        metavar="NAME",
        help="frontier of the efficiency: stochastic, hull, pareto or none (default stochastic)",
    )
    p.add_argument("--frontier-family", default=None, metavar="NAME", help="its family")
    add_names_argument(
        p,
        "--moderator",
        metavar="NAME",
        help="columns or hparams keys tested as drivers ('none' for none; default "
        "pretrain_data, params, pretrain_steps and the hparams key tokens where they vary)",
    )
    p.add_argument(
        "--max-driver-contexts",
        type=int,
        default=None,
        metavar="N",
        help="test the moderators only in the N contexts with the most residuals (default: all)",
    )
    p.add_argument("--entity", default="model", metavar="COL", help="column naming the model")
    p.add_argument("--across", default="task", metavar="COL", help="column of the tasks")
    p.add_argument(
        "--hparams",
        choices=("best", "all"),
        default="best",
        help="a model's best configuration, or every configuration as its own unit",
    )
    p.add_argument("--min-models", type=int, default=3, metavar="N", help="models per level")
    p.add_argument("--top", type=float, default=0.25, metavar="SHARE", help="top share tested")
    p.add_argument("--alpha", type=float, default=0.05, metavar="A", help="non-monotone level")
    p.add_argument("--ci-level", type=float, default=0.95, metavar="LEVEL", help="interval level")
    p.add_argument(
        "--bootstrap", type=resamples_value, default=1000, metavar="B", help="baseline resamples"
    )
    p.add_argument("--seed", type=seed_value, default=0, metavar="S", help="seed of the resamples")
    p.add_argument("--table", choices=TABLES, default="residuals", help="which table to print")
    p.add_argument(
        "--export-baseline",
        default=None,
        metavar="FILE",
        help="also write the baselines (coefficients, models, checksum of the points) as JSON",
    )
    add_db_argument(p)
    add_format_argument(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # imported here so that `transferscope --help` does not load the statistics libraries
    from transferscope.frontier.baseline import write_baselines
    from transferscope.store import open_store
    from transferscope.transfer import effective_store

    filters = filters_from(args)
    moderators = args.moderator
    if moderators is not None and [m.lower() for m in moderators] == ["none"]:
        moderators = []
    frontier = None if str(args.frontier).lower() == "none" else args.frontier
    with open_store(args.db, create=False, **lock_options(args)) as store:
        result = effective_store(
            store,
            args.family,
            filters=filters,
            by=args.by,
            entity=args.entity,
            across=args.across,
            hparams=args.hparams,
            reference=_reference(args.baseline),
            loss_space=args.loss_space,
            baseline_frontier=args.baseline_frontier,
            frontier=frontier,
            frontier_family=args.frontier_family,
            moderators=moderators,
            max_driver_contexts=args.max_driver_contexts,
            min_models=args.min_models,
            top=args.top,
            alpha=args.alpha,
            ci_level=args.ci_level,
            bootstrap=args.bootstrap,
            seed=args.seed,
            progress=sys.stderr.isatty(),
        )
    if args.export_baseline is not None:
        write_baselines(result.fitted, args.export_baseline)
    frame = result.table(args.table)
    if args.table == "residuals":
        frame = frame.drop(columns=["unit_key"], errors="ignore")
    emit(frame, args.format)
    return 0
