"""Benchmark of the theory curves (transferscope.dln.theory) against the simulator, and their speed.

Subcommands:

``agreement``  Simulates ``generalization_curves`` at dimension ``--dim`` with ``--seeds``
               replicates (the implicit-bias solver, i.e. the exact limit of gradient flow) for the
               four regimes and scratch on the tasks equal (same dimensions as pretraining), subset
               and disjoint, alpha_FT = 0.1 ... 0.9, and prints the table of simulated mean,
               standard error over seeds, theory, z = (mean - theory) / se, and whether
               |z| <= 2. Raw per-seed errors are cached in ``--cache`` (CSV) so that the table can
               be printed again without simulating (``--from-cache``).
``speed``      Times a theory curve of 30 alphas per method and task on one core (target <= 1 s),
               and the whole default grid.
``findings``   Which regime the theory predicts best per task (the paper's three findings).
``stderr``     Compares the predicted standard deviation of a single run at dimension D
               (``gen_error_sd``) with the measured one, from a cache written by ``agreement``.

Timings are wall-clock on whatever machine runs this; on a shared machine they are noisy. Run with
``OMP_NUM_THREADS=1`` for one core.
Usage: ``python benchmarks/dln_theory.py agreement --dim 1000 --seeds 20 --cache c1000.csv``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from transferscope.dln import (
    REGIME_SETTINGS,
    InitSetting,
    default_tasks,
    generalization_curves,
    summarize_curves,
    theory_curves,
)

RHO_PT = 0.1
TASKS = [t for t in default_tasks(RHO_PT, 4) if t.name in ("equal", "subset", "disjoint")]
ALPHAS = tuple(round(a, 2) for a in np.arange(0.1, 0.91, 0.1))
CLAIMS = {"equal": "II", "subset": "IV", "disjoint": "I"}


def _simulate(dim: int, seeds: int, alphas: tuple[float, ...], seed: int) -> pd.DataFrame:
    t0 = time.perf_counter()
    curves = generalization_curves(
        list(REGIME_SETTINGS.values()),
        dim=dim,
        alphas=alphas,
        tasks=TASKS,
        seeds=seeds,
        rho_pt=RHO_PT,
        seed=seed,
    )
    curves["dim"] = dim
    print(f"simulated D = {dim}, {seeds} seeds in {time.perf_counter() - t0:.0f} s", flush=True)
    return curves


def agreement_table(curves: pd.DataFrame, dim: int) -> pd.DataFrame:
    """Join the simulated means (per method, task, alpha) with the theory."""
    summary = summarize_curves(curves)
    alphas = sorted(summary["alpha_ft"].unique())
    theory = theory_curves(
        list(REGIME_SETTINGS.values()), alphas=alphas, tasks=TASKS, rho_pt=RHO_PT, dim=dim
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
    cache = Path(args.cache) if args.cache else None
    if args.from_cache:
        if cache is None or not cache.exists():
            raise SystemExit("--from-cache needs an existing --cache file")
        curves = pd.read_csv(cache)
    else:
        curves = _simulate(args.dim, args.seeds, ALPHAS if not args.quick else (0.3, 0.6), 7)
        if cache is not None:
            curves.to_csv(cache, index=False)
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
    for task in TASKS:
        for setting in REGIME_SETTINGS.values():
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                theory_curves([setting], alphas=alphas, tasks=[task], scratch=None)
                times.append(time.perf_counter() - t0)
            rows.append({"task": task.name, "method": setting.name, "seconds": min(times)})
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            theory_curves([], alphas=alphas, tasks=[task])
            times.append(time.perf_counter() - t0)
        rows.append({"task": task.name, "method": "scratch", "seconds": min(times)})
    table = pd.DataFrame(rows)
    print("== one theory curve of 30 alphas (best of", args.repeat, "runs), target <= 1 s")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        f"median {table['seconds'].median():.3f} s, largest {table['seconds'].max():.3f} s; "
        f"{int((table['seconds'] <= 1).sum())} of {len(table)} curves within 1 s"
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
    _ = statistics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("agreement")
    p.add_argument("--dim", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--cache", default=None)
    p.add_argument("--from-cache", action="store_true")
    p.add_argument("--quick", action="store_true", help="two alphas only")
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
