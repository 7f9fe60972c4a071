"""``transferscope report``: write the HTML report, Markdown summary and chart files of a store."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from transferscope.cli._output import (
    add_db_argument,
    add_filter_arguments,
    filters_from,
    lock_options,
    say,
    seed_value,
)
from transferscope.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write an HTML report (opens offline), a Markdown summary and PNG/SVG charts",
        description=(
            "Show the frontier fits of the store (the most recent current fit of each group, as "
            "`fit` made it; groups without one are fitted with the default options, or with "
            "the fit options given, which then apply to every group), rank the methods, and "
            "write DIR/index.html (self-contained), DIR/summary.md and DIR/charts/*.png|svg."
        ),
    )
    p.add_argument("--out", default="reports/latest", metavar="DIR", help="output folder")
    add_filter_arguments(p)
    p.add_argument(
        "--family",
        default=None,
        metavar="F",
        help="saturating family to fit and draw (default: the engine's, or loss_exp for a "
        "source whose upstream score is a loss), or 'all' for every one",
    )
    p.add_argument(
        "--max-group-charts",
        type=int,
        default=None,
        metavar="N",
        help="representative frontier charts on the front page (default 12; every group has "
        "its chart on its source's page)",
    )
    p.add_argument(
        "--rank-metric",
        choices=("auto", "gain", "slope", "retention"),
        default="auto",
        help=(
            "dependence metric the methods are ranked on (auto: per source, the gain where "
            "every pretrained run has a scratch baseline, else the slope)"
        ),
    )
    p.add_argument(
        "--seed",
        type=seed_value,
        default=None,
        metavar="S",
        help="seed of every bootstrap (default: the stored fits' seed; 0 for the ranking)",
    )
    from transferscope.cli.fit import add_fit_options

    add_fit_options(p, exclude=("family", "seed"))
    p.add_argument(
        "--no-images", action="store_true", help="skip the PNG/SVG files (the page is complete)"
    )
    add_db_argument(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # imported here so that `transferscope --help` stays fast
    from transferscope.report.build import DEFAULT_MAX_GROUP_CHARTS, build_report
    from transferscope.store import open_store

    n_charts = DEFAULT_MAX_GROUP_CHARTS if args.max_group_charts is None else args.max_group_charts
    if n_charts < 0:
        raise InputError(f"--max-group-charts must be >= 0, not {n_charts}")
    from transferscope.frontier.settings import options_from

    fit_options = {k: v for k, v in options_from(vars(args)).items() if k not in ("family", "seed")}
    # a read lock while the report is made (other commands may read meanwhile); the fits it
    # computes are written in short transactions
    with open_store(args.db, hold_lock=False, create=False, **lock_options(args)) as store:
        result = build_report(
            store,
            args.out,
            sources=filters_from(args).get("source"),
            tasks=filters_from(args).get("task"),
            methods=filters_from(args).get("method"),
            family=args.family,
            fit_options=fit_options,
            max_group_charts=n_charts,
            rank_metric=args.rank_metric,
            seed=args.seed,
            image_formats=() if args.no_images else ("png", "svg"),
            progress=sys.stderr.isatty(),
        )
    say(f"report: {result.index_html.resolve()}")
    say(f"summary: {result.summary_md.resolve()}")
    say(
        f"{result.n_runs} runs, {result.n_groups} groups ({result.n_groups_ok} fitted, "
        f"{result.n_fitted_now} fitted now), {len(result.charts)} chart files, "
        f"{result.seconds:.1f} s"
    )
    return 0
