"""Benchmark of the theory curves (transferscope.dln.theory) against the simulator, and their speed.

Subcommands:

``agreement``  Simulates fine-tuning with the implicit-bias solver (the exact limit of gradient
               flow, as ``generalization_curves`` does: a least-squares checkpoint from
               ``n_pretrain = 4 D`` samples with noise 0.1, fine-tuning noise 0.1, rho_PT = 0.1) at
               dimension ``--dim`` with ``--seeds`` replicates for the four regimes on the tasks
               equal (the pretraining dimensions), subset and disjoint at alpha_FT = 0.1, 0.3,
               0.5, 0.7, 0.9 (options change each), and prints the table of simulated mean,
               standard error over replicates, theory, z = (mean - theory) / se, and whether
               |z| <= 2. Each replicate draws its own teachers and data (seed ``--seed-base + r``)
               and is appended to ``--cache`` (CSV) as soon as it is done; a run resumes where
               the cache stops, and ``--from-cache`` only prints the table.
``speed``      Times a theory curve of 30 alphas per method and task on one core (target <= 1 s),
               and the whole default grid.
``findings``   Which regime the theory predicts best per task (the paper's three findings).
``stderr``     Compares the predicted standard deviation of one run at D (``gen_error_sd``, a
               conservative approximation) with the measured one, from an ``agreement`` cache.

Timings are wall-clock on whatever machine runs this; on a shared machine they are noisy. Run with
``OMP_NUM_THREADS=1`` for one core. Usage:
``python benchmarks/dln_theory.py agreement --dim 1000 --seeds 20 --cache c1000.csv``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transferscope.dln import (
    REGIME_SETTINGS,
    SCRATCH,
    InitSetting,
    default_tasks,
    finetuning_teacher,
    normalized_error,
    pretraining_teacher,
    sample_regression,
    summarize_curves,
    theory_curves,
)
from transferscope.dln.methods import finetune, finetune_scratch, pretrain

RHO_PT = 0.1
NOISE = 0.1
ALL_TASKS = {t.name: t for t in default_tasks(RHO_PT, 4)}
TASKS = [ALL_TASKS[n] for n in ("equal", "subset", "disjoint")]
ALPHAS = (0.1, 0.3, 0.5, 0.7, 0.9)
CLAIMS = {"equal": "II", "subset": "IV", "disjoint": "I"}


def _replicate(
    dim: int,
    alphas: tuple[float, ...],
    settings: list[InitSetting],
    tasks: list,
    seed: int,
    scratch: bool,
) -> pd.DataFrame:
    """One replicate: teachers, a least-squares checkpoint, then every task, alpha and method."""
    rng = np.random.default_rng(seed)
    bpt = pretraining_teacher(dim, RHO_PT, rng)
    xp, yp = sample_regression(bpt, 4 * dim, rng, noise=NOISE)
    ckpt = pretrain(xp, yp, [4 * dim], [s.c_pt for s in settings])
    rows = []
    for task in tasks:
        bft = finetuning_teacher(bpt, task, rng)
        xf, yf = sample_regression(bft, round(max(alphas) * dim), rng, noise=NOISE)
        for a in alphas:
            n = round(a * dim)
            beta, conv = finetune(ckpt, settings, xf[:n], yf[:n])
            errors = normalized_error(beta, bft)[0]
            for s, e, c in zip(settings, errors, conv[0], strict=True):
                rows.append((s.name, s.regime().regime, task.name, a, float(e), bool(c)))
            if scratch:
                sb, sc = finetune_scratch(SCRATCH, xf[:n], yf[:n], rng)
                e = float(normalized_error(sb, bft))
                rows.append(("scratch", "scratch", task.name, a, e, sc))
    cols = ["method", "regime", "task", "alpha_ft", "gen_error", "converged"]
    return pd.DataFrame(rows, columns=cols).assign(seed=seed, dim=dim)


def simulate(args: argparse.Namespace) -> pd.DataFrame:
    """Simulate the replicates the cache does not hold yet, appending each when it is done."""
    cache = Path(args.cache) if args.cache else None
    done = pd.read_csv(cache) if cache is not None and cache.exists() else pd.DataFrame()
    have = set(done["seed"]) if len(done) else set()
    settings = [REGIME_SETTINGS[r] for r in args.regimes.split(",")]
    tasks = [ALL_TASKS[n] for n in args.tasks.split(",")]
    alphas = tuple(float(a) for a in args.alphas.split(","))
    parts = [done] if len(done) else []
    for r in range(args.seeds):
        seed = args.seed_base + r
        if seed in have:
            continue
        t0 = time.perf_counter()
        part = _replicate(args.dim, alphas, settings, tasks, seed, args.scratch)
        if cache is not None:
            part.to_csv(cache, mode="a", header=not cache.exists(), index=False)
        parts.append(part)
        print(f"D = {args.dim}, replicate {r}: {time.perf_counter() - t0:.0f} s", flush=True)
    return pd.concat(parts, ignore_index=True)


def agreement_table(curves: pd.DataFrame, dim: int) -> pd.DataFrame:
    """Join the simulated means (per method, task, alpha) with the theory."""
    summary = summarize_curves(curves)
    alphas = sorted(summary["alpha_ft"].unique())
    methods = [s for s in REGIME_SETTINGS.values() if s.name in set(curves["method"])]
    tasks = [ALL_TASKS[n] for n in dict.fromkeys(curves["task"])]
    theory = theory_curves(
        methods,
        alphas=alphas,
        tasks=tasks,
        rho_pt=RHO_PT,
        pt_noise=NOISE,
        ft_noise=NOISE,
        scratch=SCRATCH if "scratch" in set(curves["method"]) else None,
        dim=dim,
    )
    table = summary.merge(
        theory[["method", "task", "alpha_ft", "gen_error", "gen_error_sd", "status"]].rename(
            columns={"gen_error": "theory", "gen_error_sd": "sd_predicted"}
        ),
        on=["method", "task", "alpha_ft"],
        how="left",
    )
    table["z"] = (table["gen_error"] - table["theory"]) / table["gen_error_se"]
    table["within_2se"] = table["z"].abs() <= 2
    return table


def agreement(args: argparse.Namespace) -> None:
    if args.from_cache:
        if not args.cache or not Path(args.cache).exists():
            raise SystemExit("--from-cache needs an existing --cache file")
        curves = pd.read_csv(args.cache)
    else:
        curves = simulate(args)
    dim = int(curves["dim"].iloc[0]) if "dim" in curves else args.dim
    assert curves["converged"].all(), "a solve did not converge"
    table = agreement_table(curves, dim)
    table["label"] = np.where(table["regime"] == "scratch", "scratch", table["regime"])
    print(f"\n== theory vs simulation, D = {dim}, {int(table['n_seeds'].min())} seeds")
    show = table[["task", "label", "alpha_ft", "gen_error", "gen_error_se", "theory", "z"]]
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(show.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    n_ok = int(table["within_2se"].sum())
    print(f"\nwithin two standard errors: {n_ok} of {len(table)} cells")
    for (task, label), grp in table.groupby(["task", "label"], sort=False):
        bad = grp.loc[~grp["within_2se"], "alpha_ft"].tolist()
        if bad:
            print(f"  outside: {task} {label} at alpha {bad}")
    wide = table.pivot_table(index=["task", "alpha_ft"], columns="label", values="z", sort=False)
    print("\nz by task, alpha and regime:")
    print(wide.to_string(float_format=lambda v: f"{v:+.2f}"))


def speed(args: argparse.Namespace) -> None:
    alphas = np.linspace(0.1, 0.9, 30)
    rows = []

    def timed(run: Any) -> tuple[float, float]:
        """Best wall-clock and CPU seconds of ``args.repeat`` runs."""
        walls, cpus = [], []
        for _ in range(args.repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            run()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        return min(walls), min(cpus)

    for task in TASKS:
        for setting in REGIME_SETTINGS.values():
            wall, cpu = timed(
                lambda s=setting, t=task: theory_curves([s], alphas=alphas, tasks=[t], scratch=None)
            )
            rows.append({"task": task.name, "method": setting.name, "seconds": wall, "cpu": cpu})
        wall, cpu = timed(lambda t=task: theory_curves([], alphas=alphas, tasks=[t]))
        rows.append({"task": task.name, "method": "scratch", "seconds": wall, "cpu": cpu})
    table = pd.DataFrame(rows)
    print("== one theory curve of 30 alphas (best of", args.repeat, "runs), target <= 1 s")
    print("   seconds: wall clock; cpu: CPU seconds of this process (the figure a loaded machine")
    print("   does not inflate; run with OMP_NUM_THREADS=1 for one core)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        f"median {table['seconds'].median():.3f} s wall, {table['cpu'].median():.3f} s CPU; "
        f"largest {table['seconds'].max():.3f} s wall, {table['cpu'].max():.3f} s CPU; "
        f"{int((table['cpu'] <= 1).sum())} of {len(table)} curves within 1 CPU s"
    )
    t0 = time.perf_counter()
    theory_curves(alphas=alphas)
    print(
        f"default grid (4 methods + scratch, 4 tasks, 30 alphas): {time.perf_counter() - t0:.2f} s"
    )


#: A regime-I setting as rich on new dimensions as REGIME_SETTINGS["IV"] (kappa = gamma^2 = 1e-4
#: there): c_PT = 1e4 keeps the pretrained part B^2 / (4 c) = 2.5e-5 below gamma^2 (dependence 0.2).
MATCHED_I = InitSetting("rich_pt_independent_matched", c_pt=1e4, lam_pt=-1.0, gamma_ft=0.01)


def _best(
    settings: list[InitSetting], alphas: np.ndarray, label: str, ft_noise: float = 0.1
) -> None:
    theory = theory_curves(settings, alphas=alphas, tasks=TASKS, scratch=None, ft_noise=ft_noise)
    wide = theory.pivot_table(index=["task", "alpha_ft"], columns="regime", values="gen_error")
    wide["best"] = wide[["I", "II", "III", "IV"]].idxmin(axis=1)
    print(f"\n== {label}")
    print(wide.to_string(float_format=lambda v: f"{v:.4f}"))
    for task, claim in CLAIMS.items():
        best = wide.loc[task, "best"]
        share = float((best == claim).mean())
        where = [float(a) for a in best.index[best != claim]]
        print(
            f"{task:9s}: paper says {claim}; theory has it best at {share:.0%} of alphas"
            + (f" (not at {where})" if where else "")
        )


def findings(args: argparse.Namespace) -> None:
    alphas = np.round(np.linspace(0.1, 0.9, 17), 3)
    _best(list(REGIME_SETTINGS.values()), alphas, "REGIME_SETTINGS (the default ladder's)")
    _best(list(REGIME_SETTINGS.values()), alphas, "the same, no label noise in fine-tuning", 0.0)
    matched = [MATCHED_I, *(REGIME_SETTINGS[r] for r in ("II", "III", "IV"))]
    _best(matched, alphas, f"regime I replaced by {MATCHED_I} (regime {MATCHED_I.regime().regime})")


def stderr(args: argparse.Namespace) -> None:
    curves = pd.read_csv(args.cache)
    dim = int(curves["dim"].iloc[0])
    sd = (
        curves.groupby(["method", "task", "alpha_ft"])["gen_error"]
        .agg(sd_measured="std", n="count")
        .reset_index()
    )
    table = agreement_table(curves, dim).merge(sd, on=["method", "task", "alpha_ft"])
    table["ratio"] = table["sd_predicted"] / table["sd_measured"]
    print(f"== predicted / measured sd of one run, D = {dim}")
    print(table.groupby(["task", "regime"])["ratio"].describe().to_string())
    print(
        f"overall: median {table['ratio'].median():.2f}, "
        f"quartiles {table['ratio'].quantile(0.25):.2f} to {table['ratio'].quantile(0.75):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("agreement")
    p.add_argument("--dim", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--alphas", default=",".join(str(a) for a in ALPHAS))
    p.add_argument("--regimes", default="I,II,III,IV")
    p.add_argument("--tasks", default="equal,subset,disjoint")
    p.add_argument("--scratch", action="store_true", help="also the scratch baseline")
    p.add_argument("--seed-base", type=int, default=1000)
    p.add_argument("--cache", default=None)
    p.add_argument("--from-cache", action="store_true")
    p.set_defaults(func=agreement)
    p = sub.add_parser("speed")
    p.add_argument("--repeat", type=int, default=3)
    p.set_defaults(func=speed)
    p = sub.add_parser("findings")
    p.set_defaults(func=findings)
    p = sub.add_parser("stderr")
    p.add_argument("--cache", required=True)
    p.set_defaults(func=stderr)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
