"""Benchmark of transferscope.dln at the paper's scale (D = 1000).

Prints three things:

1. The implicit-bias solver against gradient descent run to convergence on the same fine-tuning
   problem (D = 1000, n = 500, a least-squares checkpoint from n_PT = 4 D), both to the same
   tolerance (relative residual 1e-10): wall times, their ratio (target >= 50) and the relative
   difference of the two betas. Settings: the GD-friendly ones of tests/dln, one per regime.
2. The time to simulate the default ladder (median of three runs).
3. Generalization error (|beta - beta*|^2 / |beta*|^2) of the four regimes (REGIME_SETTINGS) and of
   training from scratch, per task overlap and alpha_FT, and which regime is best per overlap,
   against the paper's three qualitative findings (equal -> II, disjoint -> I, subset -> IV).

Timings are wall-clock on whatever machine runs this; on a shared machine they are noisy.
Usage: ``python benchmarks/dln.py [--quick]`` (--quick: one GD setting, fewer alphas).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from transferscope.dln import (
    REGIME_SETTINGS,
    TaskSpec,
    finetune_constants,
    finetune_init,
    finetuning_teacher,
    generalization_curves,
    gradient_descent,
    pretrained_weights,
    pretraining_teacher,
    sample_regression,
    simulate_ladder,
    solve_implicit_bias,
    summarize_curves,
)

D, N = 1000, 500
GD_SETTINGS = {  # (c_PT, lambda_PT, gamma_FT), as in tests/dln/test_dln_gd_vs_solver.py
    "I": (10.0, -1.0, 0.25),
    "II": (0.01, 0.0, 0.1),
    "III": (0.01, 0.5, 2.0),
    "IV": (3.0, -1.0, 0.05),
}
TOL = 1e-10
CLAIMS = {"equal": "II", "disjoint": "I", "subset": "IV"}


def solver_vs_gd(regimes: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(2026)
    beta_pt_star = pretraining_teacher(D, 0.1, rng)
    beta_ft_star = finetuning_teacher(beta_pt_star, TaskSpec("partial", 0.03, 0.01), rng)
    xp, yp = sample_regression(beta_pt_star, 4 * D, rng, noise=0.1)
    beta_pt = solve_implicit_bias(xp, yp, np.ones(D)).beta  # least squares (n_PT > D)
    xf, yf = sample_regression(beta_ft_star, N, rng, noise=0.1)
    rows = []
    for regime in regimes:
        c, lam, gamma = GD_SETTINGS[regime]
        wp, _, wm, _ = pretrained_weights(beta_pt, c, lam)
        t0 = time.perf_counter()
        gd = gradient_descent(
            xf, yf, finetune_init(wp, wm, gamma), step=0.002, tol_loss=TOL**2, tol_grad=TOL
        )
        t_gd = time.perf_counter() - t0
        t0 = time.perf_counter()
        sk, phi = finetune_constants(beta_pt, c, lam, gamma)
        sol = solve_implicit_bias(xf, yf, sk, phi, tol=TOL)
        t_solver = time.perf_counter() - t0
        gd_res = np.linalg.norm(xf @ gd.beta - yf) / np.linalg.norm(yf)
        rows.append(
            {
                "regime": regime,
                "c_pt": c,
                "lam_pt": lam,
                "gamma_ft": gamma,
                "gd_seconds": t_gd,
                "gd_steps": int(gd.steps),
                "gd_converged": bool(gd.converged),
                "gd_residual": gd_res,
                "solver_seconds": t_solver,
                "solver_iterations": int(sol.n_iter),
                "solver_residual": float(sol.residual),
                "ratio": t_gd / t_solver,
                "rel_diff_beta": float(
                    np.linalg.norm(gd.beta - sol.beta) / np.linalg.norm(sol.beta)
                ),
            }
        )
        print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return pd.DataFrame(rows)


def ladder_time() -> float:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        simulate_ladder()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def findings(alphas: tuple[float, ...], seeds: int) -> pd.DataFrame:
    curves = generalization_curves(
        list(REGIME_SETTINGS.values()),
        dim=D,
        alphas=alphas,
        seeds=seeds,
        n_pretrain=4 * D,
        rho_pt=0.1,
        pt_noise=0.1,
        ft_noise=0.1,
        seed=0,
    )
    assert curves["converged"].all(), "a solve did not converge"
    return summarize_curves(curves)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one GD setting, fewer alphas")
    args = parser.parse_args()

    print(f"== 1. solver vs gradient descent, D = {D}, n = {N}, tolerance {TOL:g}")
    table = solver_vs_gd(["II"] if args.quick else list(GD_SETTINGS))
    print(
        f"ratio GD / solver: min {table['ratio'].min():.0f}, "
        f"median {table['ratio'].median():.0f} (target >= 50); "
        f"largest relative difference in beta {table['rel_diff_beta'].max():.1e}"
    )

    print("\n== 2. default ladder (simulate_ladder())")
    print(f"median of 3 runs: {ladder_time():.2f} s")

    alphas = (0.1, 0.3) if args.quick else (0.1, 0.2, 0.3, 0.5)
    print(f"\n== 3. generalization error at D = {D}, alpha_FT in {alphas}, 2 seeds")
    t0 = time.perf_counter()
    summary = findings(alphas, seeds=2)
    print(f"({time.perf_counter() - t0:.0f} s)")
    summary["label"] = np.where(summary["regime"] == "scratch", "scratch", summary["regime"])
    wide = summary.pivot_table(
        index=["task", "alpha_ft"], columns="label", values="gen_error", sort=False
    )
    wide = wide[["I", "II", "III", "IV", "scratch"]]
    wide["best_regime"] = wide[["I", "II", "III", "IV"]].idxmin(axis=1)
    with pd.option_context("display.width", 160):
        print(wide.to_string(float_format=lambda v: f"{v:.3f}"))
    mean = summary.pivot_table(index="task", columns="label", values="gen_error", sort=False)
    mean = mean[["I", "II", "III", "IV", "scratch"]]
    mean["best_regime"] = mean[["I", "II", "III", "IV"]].idxmin(axis=1)
    print("\nmean over alpha_FT:")
    print(mean.to_string(float_format=lambda v: f"{v:.3f}"))
    print("\nfindings (paper -> measured here):")
    for task, claim in CLAIMS.items():
        got = mean.loc[task, "best_regime"]
        per_alpha = wide.loc[task, "best_regime"].tolist()
        verdict = "reproduced" if got == claim else "NOT reproduced"
        print(
            f"  {task:9s} best regime {claim:>3s} expected, {got:>3s} measured on average "
            f"(per alpha: {', '.join(per_alpha)}): {verdict}"
        )


if __name__ == "__main__":
    main()
