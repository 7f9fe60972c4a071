"""Fitting many groups: one process, two local processes, two Dask workers.

The held-out case of 1,152 groups made synthetic: 1,152 groups of 40 models each (about the
sizes of the real table), the default stochastic frontier and B = 1000 bootstrap resamples per
group. Prints, per engine: wall-clock seconds, CPU seconds (this process and its workers), the
speed-up over one process, seconds per group and per group per worker, CPU seconds per group
(what a quiet machine would take per core), and whether the output equals the one-process
output exactly. Then the physical floor: the time of one batched bootstrap refit
(B = 1000) of a 40-model group, the bulk of a group's work, against the per-group cost.

Usage (from the repository root)::

    .venv/bin/python benchmarks/engines.py [--groups 1152] [--n 40] [--bootstrap 1000]
        [--engines one,local2,dask2] [--seed 0]

Timings are wall-clock seconds on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import numpy as np
import pandas as pd

from transferscope.engine import DaskEngine, LocalEngine
from transferscope.frontier import FitSettings, fit_frontiers, get_estimator, get_family, kernels
from transferscope.frontier.bootstrap import refit_resamples
from transferscope.frontier.synthetic import synthetic_group, synthetic_runs


def floor(n: int, bootstrap: int, repeats: int = 7) -> tuple[float, float]:
    """Median seconds of one batched bootstrap refit, and of one whole group's fit."""
    family, estimator, settings = get_family("abnar"), get_estimator("stochastic"), FitSettings()
    refits, groups = [], []
    for r in range(repeats):
        group = synthetic_group(np.random.default_rng(100 + r), n=n)
        full = estimator.fit(family, group.x, group.y, settings)
        idx = kernels.bootstrap_indices(n, bootstrap, np.random.default_rng(r))
        start = time.perf_counter()
        refit_resamples(family, estimator, group.x, group.y, settings, full, idx)
        refits.append(time.perf_counter() - start)
        runs = pd.DataFrame({"task": "t", "method": "m", "shots": pd.NA,
                             "upstream_score": group.x, "downstream_score": group.y})  # fmt: skip
        start = time.perf_counter()
        fit_frontiers(runs, bootstrap=bootstrap, seed=r)
        groups.append(time.perf_counter() - start)
    return statistics.median(refits), statistics.median(groups)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1152)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--engines", default="one,local2,dask2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    runs, _ = synthetic_runs(args.groups, seed=args.seed, n=args.n)
    print(
        f"engines: {args.groups} groups x {args.n} models ({len(runs):,} runs), B = "
        f"{args.bootstrap}, stochastic frontier; {os.cpu_count()} cores; "
        f"load average before {os.getloadavg()[0]:.1f}"
    )
    print(f"{'engine':<26}{'wall s':>9}{'cpu s':>9}{'speed-up':>10}{'s/group':>9}"
          f"{'s/group/worker':>16}{'cpu s/group':>13}{'identical':>11}")  # fmt: skip
    reference: pd.DataFrame | None = None
    base = None
    for name in args.engines.split(","):
        workers = 1 if name == "one" else 2
        if name == "one":
            engine: object = LocalEngine(1)
            label = "one process"
        elif name == "local2":
            engine = LocalEngine(2)
            label = "two local processes"
        elif name == "dask2":
            engine = DaskEngine(n_workers=2, processes=True, threads_per_worker=1)
            label = "two Dask workers"
        else:
            raise SystemExit(f"unknown engine {name!r}")
        c0 = _cpu()
        opened = engine.open() if isinstance(engine, DaskEngine) else engine
        try:
            w0 = time.perf_counter()
            out = fit_frontiers(runs, bootstrap=args.bootstrap, seed=args.seed, engine=opened)
            wall = time.perf_counter() - w0
        finally:
            if isinstance(engine, DaskEngine):
                engine.close()
        cpu = _cpu() - c0  # this process and its finished children (pool or Dask workers)
        if reference is None:
            reference, base = out, wall
            same = "reference"
        else:
            same = "yes" if reference.equals(out) else "NO"
        print(
            f"{label:<26}{wall:>9.1f}{cpu:>9.1f}{(base or wall) / wall:>10.2f}"
            f"{wall / args.groups:>9.3f}{wall * workers / args.groups:>16.3f}"
            f"{cpu / args.groups:>13.3f}{same:>11}",
            flush=True,
        )
    refit, group = floor(args.n, args.bootstrap)
    print(
        f"floor: one batched bootstrap refit (B = {args.bootstrap}, {args.n} models) "
        f"{refit:.3f} s; one whole group's fit {group:.3f} s ({group / refit:.2f}x the floor); "
        f"load average after {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
