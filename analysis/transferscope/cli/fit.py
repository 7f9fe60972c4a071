"""``transferscope fit``: fit saturating frontiers per group of the store's runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from transferscope.cli._output import add_db_argument, add_format_argument, emit
from transferscope.config import default_db_path
from transferscope.errors import InputError, StoreError
from transferscope.frontier.estimators import FRONTIERS
from transferscope.frontier.families import FAMILIES
from transferscope.frontier.fit import DEFAULT_BY
from transferscope.frontier.group import DEFAULT_FRONTIER
from transferscope.frontier.persist import fit_store
from transferscope.schema import RUN_COLUMNS
from transferscope.store import open_store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``fit`` command."""
    p = sub.add_parser(
        "fit",
        help="fit saturating frontiers of downstream on upstream score per group",
        description=(
            "Fit a saturating family to the frontier of every group of runs (default: task x "
            "method x shots) and print one row per group: the group keys, family, frontier, "
            "status, message, n_points, n_frontier, param_<name> and param_<name>_se, plateau, "
            "plateau_ci_low, plateau_ci_high, ci_level, saturation_point, aicc, rmse, "
            "backtest_mae, bootstrap_failed_share, n_bootstrap, selected, upstream_min, "
            "upstream_max, fingerprint, reused. Fits are kept in the store and reused while "
            "the runs and options are unchanged."
        ),
    )
    p.add_argument("--task", action="append", metavar="T", help="only this task (repeatable)")
    p.add_argument("--method", action="append", metavar="M", help="only this method (repeatable)")
    p.add_argument("--source", action="append", metavar="S", help="only this source (repeatable)")
    p.add_argument(
        "--by",
        nargs="+",
        default=list(DEFAULT_BY),
        metavar="COLUMN",
        help="grouping columns (default: task method shots)",
    )
    p.add_argument(
        "--family",
        default="abnar",
        choices=[*FAMILIES, "auto"],
        help="saturating family, or auto (smallest backtest error; default abnar)",
    )
    p.add_argument(
        "--side-by-side",
        action="store_true",
        help="with --family auto: print every family, 'selected' marks the choice",
    )
    p.add_argument(
        "--frontier",
        default=DEFAULT_FRONTIER,
        choices=FRONTIERS,
        help=f"frontier estimator (default {DEFAULT_FRONTIER})",
    )
    p.add_argument(
        "--bootstrap", type=int, default=1000, metavar="B", help="resamples (default 1000)"
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default 0)")
    p.add_argument(
        "--ci-level", type=float, default=0.95, metavar="L", help="interval level (0.95)"
    )
    p.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="worker processes (-1: all cores)"
    )
    p.add_argument("--refit", action="store_true", help="ignore stored fits and fit again")
    add_db_argument(p)
    add_format_argument(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    unknown = [c for c in args.by if c not in RUN_COLUMNS]
    if unknown:
        raise InputError(f"--by: unknown column(s) {unknown}; expected run columns")
    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    path = args.db if args.db is not None else default_db_path()
    if str(path) != ":memory:" and not Path(path).exists():
        raise StoreError(
            "no store here yet; ingest a table first (transferscope ingest PATH)", file=str(path)
        )
    filters = {
        column: values
        for column, values in (
            ("task", args.task),
            ("method", args.method),
            ("source", args.source),
        )
        if values
    }
    with open_store(path) as store:
        frame = fit_store(
            store,
            by=args.by,
            family=args.family,
            frontier=args.frontier,
            bootstrap=args.bootstrap,
            ci_level=args.ci_level,
            seed=args.seed,
            side_by_side=args.side_by_side,
            refit=args.refit,
            n_jobs=args.jobs,
            progress=sys.stderr.isatty(),
            **filters,
        )
    emit(frame, args.format)
    return 0
