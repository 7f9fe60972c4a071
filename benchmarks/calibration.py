"""Calibration of the plateau interval under misspecification (a harder benchmark than coverage).

Usage (from the repository root)::

    .venv/bin/python benchmarks/calibration.py run [--groups 100] [--seed 2026] [--jobs 2]
        [--baseline-src DIR] [--out calibration.csv]
    .venv/bin/python benchmarks/calibration.py table calibration.csv

Every group is drawn from a known Abnar frontier ``f(x) = 1 - e_IR - k (1 - x)**alpha`` with a
shortfall ``u`` that no estimator assumes: a mixture of a cluster of models close to the frontier
(a share U(0.2, 0.5), half-normal with scale U(0.002, 0.008)) and a tail that is exponential or
gamma (shape 2.5), with mean U(0.02, 0.08); plus measurement noise ``v ~ N(0, sigma_v)`` and
one to three outliers 0.01 to 0.05 above the frontier. Cells cross

- group size: 30-60, 200-400 or 1,000-2,000 models (log-uniform);
- noise: sigma_v in 0.001-0.003, 0.003-0.008 or 0.008-0.02 (log-uniform);
- truth: ``saturating`` (e_IR ~ U(0.02, 0.3); the data end U(0.05, 0.2) below the upstream
  score 1) or ``not saturating`` (e_IR = 0: the frontier rises to 1, the plateau the interval
  must cover is 1).

In each cell the default fit (``fit_group(x, y)``, the 95% interval) is judged on whether its
interval contains the true plateau ``1 - e_IR``; its median width and error are reported. With
``--baseline-src`` (a folder holding the package before this change, e.g. made with
``git archive main analysis | tar -x -C DIR``) the same groups are fitted by that code with its
defaults, B = 1000, in a separate process: "today's" coverage and widths beside ours. The seeds
of the final table are not those the method was developed on (``--seed``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SIZES = {"30-60": (30, 60), "200-400": (200, 400), "1000-2000": (1000, 2000)}
NOISES = {"0.001-0.003": (0.001, 0.003), "0.003-0.008": (0.003, 0.008), "0.008-0.02": (0.008, 0.02)}
TRUTHS = ("saturating", "not saturating")


def draw_group(
    rng: np.random.Generator, size: tuple[int, int], noise: tuple[float, float], truth: str
) -> dict[str, Any]:
    """One group of a cell: its points and its truth."""
    n = int(np.round(np.exp(rng.uniform(np.log(size[0]), np.log(size[1])))))
    sigma_v = float(np.exp(rng.uniform(np.log(noise[0]), np.log(noise[1]))))
    tail = "exponential" if rng.random() < 0.5 else "gamma"
    e_ir = float(rng.uniform(0.02, 0.3)) if truth == "saturating" else 0.0
    alpha = float(rng.uniform(0.8, 2.5))
    lo = float(rng.uniform(0.35, 0.6))
    hi = float(1.0 - rng.uniform(0.05, 0.2))
    drop = float(rng.uniform(0.15, 0.45))
    k = drop / (1.0 - lo) ** alpha
    x = lo + (hi - lo) * rng.beta(1.5, 1.2, size=n)
    share = rng.uniform(0.2, 0.5)
    cluster = rng.random(n) < share
    scale_c = rng.uniform(0.002, 0.008)
    mean_t = rng.uniform(0.02, 0.08)
    tail_u = (
        rng.exponential(mean_t, n) if tail == "exponential" else rng.gamma(2.5, mean_t / 2.5, n)
    )
    u = np.where(cluster, np.abs(rng.normal(0.0, scale_c, n)), tail_u)
    n_out = int(rng.integers(1, 4))
    out = rng.choice(n, n_out, replace=False)
    u[out] = -rng.uniform(0.01, 0.05, n_out)
    f = 1.0 - e_ir - k * (1.0 - x) ** alpha
    y = np.clip(f - u + rng.normal(0.0, sigma_v, n), 0.0, 1.0)
    return {
        "x": x,
        "y": y,
        "n": n,
        "sigma_v": sigma_v,
        "tail": tail,
        "truth": 1.0 - e_ir,
        "gap": float(k * (1.0 - hi) ** alpha),
    }


def jobs(groups: int, seed: int) -> list[tuple[Any, ...]]:
    """Every group of every cell: (cell names, seed sequence entropy)."""
    out = []
    for (si, s), (ni, v), (ti, t) in product(
        enumerate(SIZES), enumerate(NOISES), enumerate(TRUTHS)
    ):
        for g in range(groups):
            out.append((s, v, t, (seed, si, ni, ti, g)))
    return out


def fit_job(job: tuple[Any, ...]) -> dict[str, Any]:
    """Fit one group with the installed package's defaults (runs in a worker)."""
    from transferscope.frontier import fit_group

    size, noise, truth, entropy = job
    group = draw_group(np.random.default_rng(list(entropy)), SIZES[size], NOISES[noise], truth)
    start = time.process_time()
    r = fit_group(group["x"], group["y"], seed=int(entropy[-1]))
    row = {
        "size": size,
        "noise": noise,
        "truth_kind": truth,
        "entropy": list(entropy),
        "n": group["n"],
        "sigma_v": group["sigma_v"],
        "tail": group["tail"],
        "truth": group["truth"],
        "gap": group["gap"],
        "status": r.status,
        "plateau": r.plateau,
        "low": r.plateau_ci_low,
        "high": r.plateau_ci_high,
        "cpu": time.process_time() - start,
    }
    for name in ("interval_kind", "flags", "n_bootstrap", "frontier", "mc_se_low", "mc_se_high"):
        value = getattr(r, name, None)
        row[name] = ",".join(value) if isinstance(value, tuple) else value
    return row


def run_jobs(todo: list[tuple[Any, ...]], n_jobs: int) -> list[dict[str, Any]]:
    with ProcessPoolExecutor(max_workers=n_jobs) as pool:
        return list(pool.map(fit_job, todo, chunksize=1))


def baseline(todo: list[tuple[Any, ...]], src: str, n_jobs: int) -> pd.DataFrame:
    """Fit the same groups with the package at ``src`` (a separate Python process)."""
    root = Path(src).resolve()
    # a folder made by `git archive REV analysis` holds the package under analysis/
    path = root / "analysis" if (root / "analysis" / "transferscope").is_dir() else root
    if not (path / "transferscope").is_dir():
        raise SystemExit(f"--baseline-src {src}: no transferscope package in it")
    env = {**os.environ, "PYTHONPATH": str(path)}
    payload = json.dumps([[*j[:3], list(j[3])] for j in todo])
    # the baseline must import the old package, not the installed one: checked in the child
    code = (
        "import json, sys, transferscope; "
        f"assert transferscope.__file__.startswith({str(path)!r}), transferscope.__file__; "
        "sys.path.insert(0, sys.argv[1]); import calibration as c; "
        "todo = [tuple(j[:3]) + (tuple(j[3]),) for j in json.loads(sys.stdin.read())]; "
        "print(json.dumps(c.run_jobs(todo, int(sys.argv[2])), default=float))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), str(n_jobs)],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return pd.DataFrame(json.loads(done.stdout.strip().splitlines()[-1]))


def judge(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    ok = out["low"].notna() & out["high"].notna()
    out["covered"] = ok & (out["low"] <= out["truth"]) & (out["truth"] <= out["high"])
    out["width"] = out["high"] - out["low"]
    out["error"] = out["plateau"] - out["truth"]
    out["has_interval"] = ok
    return out


def wilson(share: pd.Series, n: pd.Series, z: float = 1.959964) -> tuple[pd.Series, pd.Series]:
    """Wilson score interval of a binomial share (95%): how precisely a cell's coverage is known."""
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def table(ours: pd.DataFrame, today: pd.DataFrame | None) -> pd.DataFrame:
    keys = ["size", "noise", "truth_kind"]
    a = judge(ours)
    rows = a.groupby(keys, sort=False).agg(
        groups=("covered", "size"),
        coverage=("covered", "mean"),
        median_width=("width", "median"),
        median_error=("error", "median"),
        no_interval=("has_interval", lambda s: int((~s).sum())),
        cpu_s=("cpu", "mean"),
    )
    rows["coverage_se"] = np.sqrt(rows["coverage"] * (1 - rows["coverage"]) / rows["groups"])
    rows["coverage_low"], rows["coverage_high"] = wilson(rows["coverage"], rows["groups"])
    if today is not None:
        b = (
            judge(today)
            .groupby(keys, sort=False)
            .agg(
                today_coverage=("covered", "mean"),
                today_width=("width", "median"),
                today_error=("error", "median"),
            )
        )
        rows = rows.join(b)
    return rows.reset_index()


def markdown(rows: pd.DataFrame) -> str:
    cols = [
        ("size", "models"),
        ("noise", "noise sd"),
        ("truth_kind", "truth"),
        ("groups", "groups"),
        ("coverage", "coverage"),
        ("coverage_low", "its 95% interval"),
        ("median_width", "median width"),
        ("today_coverage", "today: coverage"),
        ("today_width", "today: median width"),
    ]
    cols = [(c, t) for c, t in cols if c in rows]
    lines = ["| " + " | ".join(t for _, t in cols) + " |", "|" + "---|" * len(cols)]
    for _, r in rows.iterrows():
        cells = []
        for c, _ in cols:
            v = r[c]
            if c in ("coverage", "today_coverage"):
                cells.append(f"{v:.2f}" if c == "today_coverage" else f"**{v:.2f}**")
            elif c == "coverage_low":
                cells.append(f"{v:.2f}-{r['coverage_high']:.2f}")
            elif c in ("median_width", "today_width"):
                cells.append(f"{v:.3f}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--groups", type=int, default=100, help="groups per cell")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--baseline-src", default=None, metavar="DIR")
    p.add_argument("--out", default="calibration.csv")
    p.add_argument("--cells", default=None, help="only sizes matching this text, e.g. 30-60")
    p = sub.add_parser("table")
    p.add_argument("csv")
    args = parser.parse_args()
    if args.command == "table":
        frame = pd.read_csv(args.csv)
        ours = frame[frame["method"] == "ours"]
        today = frame[frame["method"] == "today"]
        rows = table(ours, today if len(today) else None)
        with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
            print(rows.to_string(index=False))
        print()
        print(markdown(rows))
        return
    todo = jobs(args.groups, args.seed)
    if args.cells:
        todo = [j for j in todo if j[0] == args.cells]
    start = time.perf_counter()
    ours = pd.DataFrame(run_jobs(todo, args.jobs)).assign(method="ours")
    print(f"ours: {len(ours)} groups in {time.perf_counter() - start:.0f} s", flush=True)
    ours.to_csv(args.out, index=False)  # kept even if the baseline fails
    frames = [ours]
    today = None
    if args.baseline_src:
        start = time.perf_counter()
        today = baseline(todo, args.baseline_src, args.jobs).assign(method="today")
        print(f"today: {len(today)} groups in {time.perf_counter() - start:.0f} s", flush=True)
        frames.append(today)
    pd.concat(frames, ignore_index=True).to_csv(args.out, index=False)
    rows = table(ours, today)
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(rows.to_string(index=False))
    print()
    print(markdown(rows))


if __name__ == "__main__":
    main()
