"""Frontier fitting: speed of the batched bootstrap, scaling, interval coverage, published data.

Usage (from the repository root)::

    .venv/bin/python benchmarks/frontier.py speed     [--n 300] [--bootstrap 1000] [--frontiers ...]
    .venv/bin/python benchmarks/frontier.py scaling   [--sizes 10000,100000,1000000] [--jobs 2]
    .venv/bin/python benchmarks/frontier.py coverage  [--groups 200] [--bootstrap 1000] [--jobs 2]
    .venv/bin/python benchmarks/frontier.py sources   [--data ../shared/data] [--bootstrap 1000]

``speed``: the bootstrap done by hand (one fit per resample in a Python loop: lmfit for the
least-squares estimators and the quantile MM loop, scipy's L-BFGS-B on the likelihood for the
stochastic frontier) against the batched solver on the same resamples: time, and the largest
difference of the plateaus. ``scaling``: fit_frontiers on 100 synthetic groups with 10k to 1M runs
in total (B = 1000, the default estimator, a process pool). ``coverage``: share of synthetic
groups whose nominal 95% plateau interval contains the plateau of the true upper frontier, for
every estimator. ``sources``: status counts on every group of the published sources.
Timings are wall-clock seconds on whatever else the machine is doing; CPU seconds are printed
beside them.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transferscope.frontier import (
    FRONTIERS,
    FitSettings,
    fit_frontiers,
    fit_group,
    get_estimator,
    get_family,
    kernels,
)
from transferscope.frontier.bootstrap import refit_resamples
from transferscope.frontier.single import CurveFit, fit_least_squares
from transferscope.frontier.synthetic import synthetic_group, synthetic_runs

# the tests' independent reference fits (another algorithm, another optimizer)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "frontier"))
from reference_fits import quantile_by_reweighting, stochastic_by_lbfgsb

FAMILY = "abnar"


# ------------------------------------------------------------------------------------------
# speed: by hand against batched, on the same resamples
# ------------------------------------------------------------------------------------------


def by_hand(
    frontier: str, x: np.ndarray, y: np.ndarray, full: CurveFit, indices: np.ndarray
) -> np.ndarray:
    """Plateau of every resample, one fit at a time (NaN where the fit failed)."""
    family = get_family(FAMILY)
    estimator = get_estimator(frontier)
    settings = FitSettings(frontier=frontier)
    p = len(family.names)
    start = {n: float(v) for n, v in zip(family.names, full.values[:p], strict=True)}
    out = np.full(indices.shape[0], np.nan)
    for b, rows in enumerate(indices):
        xs, ys = x[rows], y[rows]
        if frontier in ("hull", "pareto"):
            mask = estimator.select(xs, ys)
            if mask.sum() < estimator.min_points(family):
                continue
            fit = fit_least_squares(family, xs[mask], ys[mask], start)
            ok, theta = fit.converged, fit.values
        elif frontier == "all":
            fit = fit_least_squares(family, xs, ys, start)
            ok, theta = fit.converged, fit.values
        elif frontier == "quantile":
            theta, ok, _ = quantile_by_reweighting(
                family, xs, ys, start, tau=settings.tau, smoothing=settings.smoothing
            )
        else:  # stochastic: scipy's L-BFGS-B on the likelihood (analytic gradient), from the full
            # fit and, when the full data have a second maximum, from that one too (as ours does)
            theta = stochastic_by_lbfgsb(
                family,
                xs,
                ys,
                start,
                inefficiency=settings.inefficiency,
                noise_floor=settings.noise_floor,
                starts=estimator.warm_starts(full),
                ftol=1e-13,
                gtol=1e-9,
            )
            ok = bool(np.isfinite(theta).all())
        if ok:
            out[b] = float(family.plateau(*theta[:p]))
    return out


def speed(args: argparse.Namespace) -> None:
    family = get_family(FAMILY)
    group = synthetic_group(np.random.default_rng(args.seed), n=args.n)
    x, y = group.x, group.y
    indices = kernels.bootstrap_indices(len(x), args.bootstrap, np.random.default_rng(args.seed))
    print(f"speed: one synthetic group of {args.n} models, B = {args.bootstrap}, family {FAMILY}")
    head = (
        f"{'frontier':<11}{'by hand s':>11}{'batched s':>11}{'speedup':>9}{'cpu speedup':>13}"
        f"{'max |diff|':>12}{'> 1e-3':>8}{'failed hand':>13}{'failed ours':>13}"
    )
    print(head)
    for frontier in args.frontiers.split(","):
        estimator = get_estimator(frontier)
        settings = FitSettings(frontier=frontier)
        full = estimator.fit(family, x, y, settings)
        w0, c0 = time.perf_counter(), time.process_time()
        ours = refit_resamples(family, estimator, x, y, settings, full, indices)
        w1, c1 = time.perf_counter(), time.process_time()
        hand = by_hand(frontier, x, y, full, indices)
        w2, c2 = time.perf_counter(), time.process_time()
        both = ours.ok & np.isfinite(hand)
        diff = np.abs(ours.plateau[both] - hand[both])
        print(
            f"{frontier:<11}{w2 - w1:>11.2f}{w1 - w0:>11.3f}{(w2 - w1) / (w1 - w0):>9.0f}"
            f"{(c2 - c1) / max(c1 - c0, 1e-9):>13.0f}{diff.max():>12.2e}"
            f"{int((diff > 1e-3).sum()):>8}"
            f"{1 - np.isfinite(hand).mean():>13.3f}{ours.failed_share:>13.3f}",
            flush=True,
        )


# ------------------------------------------------------------------------------------------
# scaling: 100 groups, 10k to 1M runs
# ------------------------------------------------------------------------------------------


def scaling(args: argparse.Namespace) -> None:
    print(
        f"scaling: {args.groups} groups, B = {args.bootstrap}, frontier stochastic, "
        f"{args.jobs} processes"
    )
    print(f"{'runs':>10}{'per group':>11}{'wall s':>9}{'s per 10k runs':>16}{'ok':>6}")
    for size in (int(s) for s in args.sizes.split(",")):
        runs, _ = synthetic_runs(args.groups, seed=args.seed, n=size // args.groups)
        start = time.perf_counter()
        out = fit_frontiers(runs, bootstrap=args.bootstrap, n_jobs=args.jobs)
        wall = time.perf_counter() - start
        print(
            f"{len(runs):>10}{size // args.groups:>11}{wall:>9.1f}{wall / len(runs) * 1e4:>16.2f}"
            f"{int((out['status'] == 'ok').sum()):>6}",
            flush=True,
        )


# ------------------------------------------------------------------------------------------
# coverage of the plateau interval
# ------------------------------------------------------------------------------------------


def _cover_one(job: tuple[int, int, str, int, str, float]) -> list[dict[str, Any]]:
    index, seed, frontiers, bootstrap, shortfall, floor = job
    rng = np.random.default_rng([seed, index])
    group = synthetic_group(rng, inefficiency=shortfall)  # type: ignore[arg-type]
    rows = []
    for frontier in frontiers.split(","):
        r = fit_group(
            group.x, group.y, frontier=frontier, bootstrap=bootstrap, seed=index, noise_floor=floor
        )
        rows.append(
            {
                "group": index,
                "n": len(group.x),
                "shortfall": group.inefficiency,
                "frontier": frontier,
                "status": r.status,
                "truth": group.plateau,
                "plateau": r.plateau,
                "low": r.plateau_ci_low,
                "high": r.plateau_ci_high,
                "failed": r.bootstrap_failed_share,
            }
        )
    return rows


def coverage_table(
    groups: int,
    seed: int,
    frontiers: str,
    bootstrap: int,
    jobs: int,
    shortfall: str,
    floor: float = FitSettings().noise_floor,
) -> pd.DataFrame:
    work = [(i, seed, frontiers, bootstrap, shortfall, floor) for i in range(groups)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        rows = [row for part in pool.map(_cover_one, work, chunksize=4) for row in part]
    frame = pd.DataFrame(rows)
    frame["covered"] = (frame["low"] <= frame["truth"]) & (frame["truth"] <= frame["high"])
    frame["width"] = frame["high"] - frame["low"]
    frame["error"] = frame["plateau"] - frame["truth"]
    return frame


def _summary(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    with_ci = frame[frame["low"].notna()]
    out = with_ci.groupby(by, sort=False).agg(
        groups=("covered", "size"),
        coverage=("covered", "mean"),
        median_width=("width", "median"),
        median_error=("error", "median"),
        mean_failed=("failed", "mean"),
    )
    total = frame.groupby(by, sort=False).size()
    out["no_interval"] = total - out["groups"]
    # binomial standard error of the coverage
    out["coverage_se"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["groups"])
    return out.reset_index()


def coverage(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    frame = coverage_table(
        args.groups, args.seed, args.frontiers, args.bootstrap, args.jobs, "mixed", args.noise_floor
    )
    print(
        f"coverage of the nominal 95% plateau interval: {args.groups} synthetic groups "
        f"(30 to 500 models, half-normal or exponential shortfall), B = {args.bootstrap}, "
        f"family {FAMILY}, noise floor {args.noise_floor}; target: the plateau of the true "
        "upper frontier "
        f"({time.perf_counter() - start:.0f} s)"
    )
    with pd.option_context("display.width", 160, "display.float_format", "{:.4f}".format):
        print(_summary(frame, ["frontier"]).to_string(index=False))
        frame["size"] = pd.cut(frame["n"], [0, 80, 200, 500], labels=["30-80", "81-200", "201-500"])
        print("\nby group size")
        print(_summary(frame, ["frontier", "size"]).to_string(index=False))
        print("\nby shortfall distribution")
        print(_summary(frame, ["frontier", "shortfall"]).to_string(index=False))
    if args.misspecified:
        start = time.perf_counter()
        wrong = coverage_table(
            args.groups,
            args.seed + 1,
            "stochastic",
            args.bootstrap,
            args.jobs,
            "gamma2",
            args.noise_floor,
        )
        print(
            f"\nmisspecified shortfall (gamma with shape 2: few models on the frontier), "
            f"stochastic estimator ({time.perf_counter() - start:.0f} s)"
        )
        with pd.option_context("display.float_format", "{:.4f}".format):
            print(_summary(wrong, ["frontier"]).to_string(index=False))


# ------------------------------------------------------------------------------------------
# published sources
# ------------------------------------------------------------------------------------------


def sources(args: argparse.Namespace) -> None:
    from transferscope.ingest.sources import load_source

    plans = [
        ("timm", ("task", "method", "shots"), "abnar"),
        ("clip-benchmark", ("task", "method", "shots"), "abnar"),
        ("pythia", ("task", "method", "shots", "downstream_metric"), "abnar"),
        ("mlf-scaling", ("task", "method", "shots"), "auto"),
        ("vtab", ("task", "method", "shots"), "abnar"),
    ]
    print(f"published sources: every group, B = {args.bootstrap}, frontier stochastic")
    for name, by, family in plans:
        runs = load_source(name, from_dir=Path(args.data)).frame
        start = time.perf_counter()
        out = fit_frontiers(runs, by=by, family=family, bootstrap=args.bootstrap, n_jobs=args.jobs)
        counts = out["status"].value_counts().to_dict()
        ok = out[out["status"] == "ok"]
        print(
            f"{name:<15} groups {len(out):>4}  {counts}  ({time.perf_counter() - start:.0f} s); "
            f"median failed resamples {ok['bootstrap_failed_share'].median():.3f}"
        )
        reasons = out.loc[out["status"] != "ok", "message"].str.replace(r"\d+", "N", regex=True)
        for reason, count in reasons.value_counts().items():
            print(f"    {count:>4} x {reason}")
        if name == "timm":
            cols = ["task", "plateau", "plateau_ci_low", "plateau_ci_high", "saturation_point"]
            print(ok[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--frontiers", default=",".join(FRONTIERS))
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("scaling")
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--groups", type=int, default=100)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("coverage")
    p.add_argument("--groups", type=int, default=200)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--frontiers", default=",".join(FRONTIERS))
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--misspecified", action="store_true", help="also gamma(2) shortfalls")
    p.add_argument("--noise-floor", type=float, default=FitSettings().noise_floor)
    p = sub.add_parser("sources")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    {"speed": speed, "scaling": scaling, "coverage": coverage, "sources": sources}[args.command](
        args
    )


if __name__ == "__main__":
    main()
