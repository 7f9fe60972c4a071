"""``transferscope demo``: simulate a checkpoint ladder, ingest, fit, rank and report it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from transferscope.cli._output import resamples_value, say, seed_value
from transferscope.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="simulate a checkpoint ladder and write its report (no download needed)",
        description=(
            "Simulate a checkpoint ladder (diagonal linear networks), ingest it into a fresh "
            "store DIR/demo.duckdb, fit the frontiers, rank the methods and write the report "
            "to DIR/index.html."
        ),
    )
    p.add_argument("--out", default="reports/demo", metavar="DIR", help="output folder")
    p.add_argument("--checkpoints", type=int, default=6, metavar="N", help="checkpoints")
    p.add_argument("--tasks", type=int, default=4, metavar="N", help="downstream tasks")
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="seeds per run")
    p.add_argument("--dim", type=int, default=100, metavar="D", help="input dimension")
    p.add_argument(
        "--seed", type=seed_value, default=0, metavar="S", help="seed of everything random"
    )
    p.add_argument(
        "--bootstrap",
        type=resamples_value,
        default=None,
        metavar="B",
        help="bootstrap resamples of the plateau intervals (default: the frontier engine's)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from transferscope.report.demo import run_demo

    for name in ("checkpoints", "tasks", "seeds"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name} must be >= 1, not {getattr(args, name)}")
    result = run_demo(
        args.out,
        checkpoints=args.checkpoints,
        tasks=args.tasks,
        seeds=args.seeds,
        dim=args.dim,
        seed=args.seed,
        fit_bootstrap=args.bootstrap,
        progress=sys.stderr.isatty(),
    )
    rep = result.report
    say(
        f"simulated {result.n_runs} runs ({result.seconds_simulate:.1f} s); "
        f"{rep.n_groups} frontier groups, {rep.n_groups_ok} fitted; "
        f"{rep.n_methods_ranked} methods ranked; report in {result.seconds_report:.1f} s"
    )
    say(f"store: {result.db_path.resolve()}")
    say(f"report: {rep.index_html.resolve()}")
    return 0
