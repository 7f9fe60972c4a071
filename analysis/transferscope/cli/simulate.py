"""``transferscope simulate``: write a simulated checkpoint ladder as CSV or Parquet.

``--model dln`` (the default) simulates diagonal linear networks (with ``--theory``: their exact
``D -> infinity`` expected scores, :func:`transferscope.dln.theory_ladder`); ``--model digits-mlp``
runs the worked example of real networks on scikit-learn's digits
(:mod:`transferscope.examples.digits`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transferscope.cli._output import say, seed_value
from transferscope.errors import InputError
from transferscope.paths import check_output_file

if TYPE_CHECKING:
    import pandas as pd

_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a checkpoint ladder (diagonal linear networks) into a CSV or Parquet file",
        description=(
            "Pretrain diagonal linear networks on a sparse teacher with more and more samples, "
            "fine-tune each checkpoint on tasks of different overlap with several initialization "
            "settings (methods) and seeds, train from scratch as the baseline, and write the runs "
            "in the canonical schema (scores: 1 - normalized generalization error, clipped to "
            "[0, 1]). The file ingests as it is with `transferscope ingest FILE`."
        ),
    )
    p.add_argument("--out", required=True, metavar="FILE", help="output file: .csv or .parquet")
    p.add_argument(
        "--model",
        choices=("dln", "digits-mlp"),
        default="dln",
        help=(
            "dln: diagonal linear networks (default); digits-mlp: small MLPs pretrained on "
            "scikit-learn's digits 0-4 and fine-tuned on 5-9 (full_ft, linear_probe, top_layer, "
            "scratch), with the knowledge each fine-tuning keeps"
        ),
    )
    p.add_argument("--checkpoints", type=int, default=6, metavar="N", help="checkpoints (6)")
    p.add_argument("--tasks", type=int, default=4, metavar="N", help="downstream tasks (4)")
    p.add_argument(
        "--seeds", type=int, default=None, metavar="N", help="seeds per run (3; digits-mlp: 5)"
    )
    p.add_argument("--dim", type=int, default=100, metavar="D", help="input dimension (100)")
    p.add_argument(
        "--shots",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="fine-tuning sample counts (default: D/5 and D/2)",
    )
    p.add_argument(
        "--rho-pt", type=float, default=0.2, metavar="RHO", help="pretraining teacher density"
    )
    p.add_argument(
        "--seed", type=seed_value, default=0, metavar="S", help="seed of everything random"
    )
    p.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="worker processes (digits-mlp; -1: all)"
    )
    p.add_argument(
        "--theory",
        action="store_true",
        help=(
            "dln only: write the D -> infinity expected scores from the state-evolution theory "
            "instead of sampling (one row per checkpoint, task, method and shots; seed null; "
            "downstream_stderr: predicted spread of one run at --dim; --seeds and --seed unused)"
        ),
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from transferscope.dln import simulate_ladder

    out = Path(args.out)
    kind = _SUFFIXES.get(out.suffix.lower())
    if kind is None:
        raise InputError("expected a .csv or .parquet file name", file=str(out))
    if args.model == "digits-mlp":
        if args.theory:
            raise InputError("--theory applies to --model dln only")
        return _run_digits(args, out, kind)
    if args.seeds is None:
        args.seeds = 3
    for name in ("checkpoints", "tasks", "seeds"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name} must be >= 1, not {getattr(args, name)}")
    if args.dim < 10:
        raise InputError(f"--dim must be >= 10, not {args.dim}")
    if not 0 < args.rho_pt <= 1:
        raise InputError(f"--rho-pt must lie in (0, 1], not {args.rho_pt}")
    if args.shots is not None and any(n < 1 for n in args.shots):
        raise InputError("--shots must be >= 1")
    check_output_file(out)  # before the simulation: a bad place fails at once
    # bad settings (e.g. a task that needs more dimensions than D offers) raise InputError;
    # any other exception is a fault of the program and surfaces as one
    if args.theory:
        runs = _theory(args)
    else:
        runs = simulate_ladder(
            checkpoints=args.checkpoints,
            tasks=args.tasks,
            seeds=args.seeds,
            dim=args.dim,
            shots=args.shots,
            rho_pt=args.rho_pt,
            seed=args.seed,
        )
    _write(runs, out, kind)
    say(f"wrote {len(runs)} runs to {out}")
    return 0


def _theory(args: argparse.Namespace) -> Any:
    """Compute the ladder of ``--theory``: expected scores from the state evolution."""
    from transferscope.dln import theory_ladder

    return theory_ladder(
        checkpoints=args.checkpoints,
        tasks=args.tasks,
        dim=args.dim,
        shots=args.shots,
        rho_pt=args.rho_pt,
    )


def _run_digits(args: argparse.Namespace, out: Path, kind: str) -> int:
    import sys

    from transferscope.examples.digits import DigitsConfig, digits_ladder

    seeds = 5 if args.seeds is None else args.seeds
    if args.checkpoints < 1 or seeds < 1:
        raise InputError("--checkpoints and --seeds must be >= 1")
    if args.jobs == 0 or args.jobs < -1:
        raise InputError(f"--jobs must be >= 1 or -1, not {args.jobs}")
    check_output_file(out)  # before the ladder is trained: a bad place fails at once
    budgets = tuple(20 * 2**k for k in range(args.checkpoints))
    shots = args.shots[0] if args.shots else DigitsConfig.shots
    config = DigitsConfig(budgets=budgets, shots=shots)
    result = digits_ladder(
        config=config,
        seeds=seeds,
        seed=args.seed,
        n_jobs=args.jobs,
        progress=sys.stderr.isatty(),
    )
    runs = result.runs
    _write(runs, out, kind)
    failed = f"; {result.n_failed} cells failed" if result.n_failed else ""
    say(f"wrote {len(runs)} runs to {out} ({result.seconds:.1f} s{failed})")
    for row in result.cells[result.cells["status"] == "failed"].itertuples(index=False):
        say(f"failed: {row.model} / {row.method} / seed {row.seed}: {row.message}")
    return 0


def _write(runs: pd.DataFrame, out: Path, kind: str) -> None:
    try:
        if kind == "csv":
            runs.to_csv(out, index=False)
        else:
            runs.to_parquet(out, index=False)
    except OSError as exc:  # e.g. the disk filled up while writing
        raise InputError(f"cannot write the file ({exc.strerror or exc})", file=str(out)) from None
