"""Cost of one default fit (the bootstrap grown to stable endpoints), group by group.

Usage (from the repository root)::

    .venv/bin/python benchmarks/fit_cost.py [--data ../shared/data] [--sizes 60,300,1500]
                                            [--per-size 4] [--seed 0] [--no-published]

Fits, with the default options (``stochastic``, ``interval="auto"``, B = 1,000 grown until
1.96 Monte Carlo SE <= 0.002 or ``bootstrap_max``), ``--per-size`` synthetic groups of each size
(``frontier.synthetic.synthetic_group``, seeded) and the five timm groups of the published
tables (1,555 to 1,556 models each; skipped without ``--data``). Prints, per group, CPU seconds,
resamples drawn and the interval with its Monte Carlo errors; then the whole process's CPU and
wall-clock seconds. Timings are whatever else the machine is doing: compare CPU seconds of two
runs on the same machine (e.g. this checkout against another with ``PYTHONPATH=other/analysis``).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from transferscope.frontier import fit_group
from transferscope.frontier.synthetic import synthetic_group


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _groups(args: argparse.Namespace) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    rng = np.random.default_rng(args.seed)
    for n in (int(s) for s in args.sizes.split(",")):
        for i in range(args.per_size):
            g = synthetic_group(rng, n=n)
            out.append((f"synthetic n={n} #{i}", g.x, g.y))
    data = Path(args.data)
    if not args.no_published and (data / "timm").exists():
        from transferscope.ingest.sources import load_source

        runs = load_source("timm", from_dir=data).frame
        runs = runs[runs["pretrained"].astype(bool)] if "pretrained" in runs else runs
        for task, g in runs.groupby("task"):
            g = g.dropna(subset=["upstream_score", "downstream_score"])
            out.append(
                (f"timm {task}", g["upstream_score"].to_numpy(), g["downstream_score"].to_numpy())
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data", default=str(default_data))
    parser.add_argument("--sizes", default="60,300,1500")
    parser.add_argument("--per-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-published", action="store_true")
    args = parser.parse_args()
    groups = _groups(args)
    cpu0, wall0 = _cpu(), time.perf_counter()
    total_boot = 0
    print(f"{'group':<40} {'cpu s':>7} {'B':>5}  interval (MC SE)")
    for name, x, y in groups:
        c0 = _cpu()
        r = fit_group(x, y, "abnar", seed=1)
        total_boot += r.n_bootstrap
        print(
            f"{name:<40} {_cpu() - c0:7.2f} {r.n_bootstrap:5d}  {r.status} {r.frontier} "
            f"{r.plateau:.4f} [{r.plateau_ci_low:.4f}, {r.plateau_ci_high:.4f}] "
            f"({r.mc_se_low:.4f}, {r.mc_se_high:.4f}) {r.interval_kind}"
        )
    print(
        f"{len(groups)} groups: {_cpu() - cpu0:.1f} CPU s, {time.perf_counter() - wall0:.1f} s "
        f"wall, {total_boot} resamples drawn"
    )


if __name__ == "__main__":
    main()
