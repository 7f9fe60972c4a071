"""Effective transfer on known truth: power, false-positive rate and coverage on simulated tables.

Every replicate simulates 60 models on 6 tasks (12 on 21, as CLIP_benchmark's probes, in the last
condition) (:func:`transferscope.transfer.simulate_transfer`:
a probit line per task, a binary moderator ``pretrain_data`` that shifts the line of the
``extra`` models by ``delta``, a model-level effect of standard deviation ``model_sd`` shared by
all of a model's tasks, and a per-task deviation of 0.1) and runs
:func:`transferscope.transfer.effective_transfer` with the baseline fitted to the ``standard``
models (200 bootstrap resamples). Per condition it reports

- the share of replicates whose moderator test rejects at 0.05 (power with a planted shift,
  false-positive rate without one; the F form of the likelihood-ratio test that effective_transfer
  reports, and the asymptotic chi-square form beside it) and the coverage of the shift's 95%
  interval;
- the share whose ICC F test rejects at 0.05 (a planted model-level effect, or none) and the
  coverage of the ICC's 95% interval of the planted ICC;
- the coverage of the residuals' 95% intervals of the planted residuals (each model's distance
  from the true line of the standard models, on each task), and the correlation of each model's
  mean residual with its planted effect.

Usage::

    .venv/bin/python benchmarks/transfer.py [--reps 400] [--null-reps 1000] [--jobs 2]

Targets (issue 13): power >= 0.8 at the planted effect, false-positive rate <= 0.06 without one.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from scipy import special

#: (label, models, tasks, delta, model_sd, bootstrap, null): the planted moderator shift and
#: model-level spread; "null" conditions (no planted effect of their test) get --null-reps
#: replicates and no bootstrap (the residual intervals are checked in the others).
CONDITIONS = (
    ("moderator shift 0.1", 60, 6, 0.1, 0.1, 200, False),
    ("no moderator effect", 60, 6, 0.0, 0.1, 0, True),
    ("model effects sd 0.05", 60, 6, 0.0, 0.05, 200, False),
    ("no model effects", 60, 6, 0.0, 0.0, 0, True),
    ("no moderator effect, 12 models x 21 tasks", 12, 21, 0.0, 0.1, 0, True),
)


def replicate(args: tuple[int, int, float, float, int, int]) -> dict[str, Any]:
    from transferscope.transfer import effective_transfer, simulate_transfer

    n_models, n_tasks, delta, model_sd, bootstrap, seed = args
    sim = simulate_transfer(
        n_models, n_tasks, delta=delta, model_sd=model_sd, noise_sd=0.1, seed=seed
    )
    result = effective_transfer(
        sim.runs,
        reference={"pretrain_data": "standard"},
        frontier=None,
        moderators=["pretrain_data"],
        bootstrap=bootstrap,
        seed=seed,
    )
    test = result.tests.iloc[0]
    shift = result.drivers[result.drivers["kind"] == "shift"]
    cons = result.consistency.iloc[0]
    res = result.residuals.merge(sim.lines, on="task")
    truth = special.ndtri(res["downstream_score"]) - (
        res["intercept"] + res["slope"] * special.ndtri(res["upstream_score"])
    )
    covered = (res["residual_ci_low"] <= truth) & (truth <= res["residual_ci_high"])
    means = res.groupby("model")["residual"].mean()
    extra = res.drop_duplicates("model").set_index("model")["pretrain_data"].eq("extra")
    planted = sim.model_effects + delta * extra.reindex(sim.model_effects.index)
    corr = (
        float(np.corrcoef(means.reindex(planted.index), planted)[0, 1])
        if model_sd > 0 or delta > 0
        else math.nan
    )
    return {
        "lrt_reject": bool(test["p_value"] < 0.05),
        "chi2_reject": bool(test["p_chi2"] < 0.05),
        "shift_covered": bool(
            len(shift) and shift["ci_low"].iloc[0] <= delta <= shift["ci_high"].iloc[0]
        ),
        "icc_reject": bool(cons["p_value"] < 0.05),
        "icc_covered": bool(cons["ci_low"] <= sim.icc <= cons["ci_high"]),
        "residual_coverage": float(covered.mean()) if bootstrap else math.nan,
        "effect_correlation": corr,
    }


def _share(values: list[bool]) -> str:
    p = float(np.mean(values))
    se = math.sqrt(p * (1 - p) / len(values))
    return f"{p:.3f} ({se:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=400, help="replicates per condition")
    parser.add_argument(
        "--null-reps", type=int, default=1000, help="replicates of the conditions without effect"
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--conditions", type=int, nargs="+", default=None, help="only these (1-based) conditions"
    )
    args = parser.parse_args()
    print(f"{args.reps} replicates per condition, {args.jobs} workers; load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    print(
        "| condition | replicates | moderator test rejects (SE) | chi-square LRT rejects | "
        "shift CI covers | ICC F test rejects (SE) | ICC CI covers | residual CI coverage | "
        "corr(mean residual, planted) | s / rep |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for c, (label, models, tasks, delta, model_sd, boot, null) in enumerate(CONDITIONS):
            if args.conditions and c + 1 not in args.conditions:
                continue
            start = time.perf_counter()
            reps = args.null_reps if null else args.reps
            jobs = [
                (models, tasks, delta, model_sd, boot, 10_000 * (c + 1) + r) for r in range(reps)
            ]
            out = list(pool.map(replicate, jobs, chunksize=4))
            per_rep = (time.perf_counter() - start) * args.jobs / reps
            corr = [o["effect_correlation"] for o in out if math.isfinite(o["effect_correlation"])]
            cover = [o["residual_coverage"] for o in out if math.isfinite(o["residual_coverage"])]
            print(
                f"| {label} | {reps} | {_share([o['lrt_reject'] for o in out])} | "
                f"{np.mean([o['chi2_reject'] for o in out]):.3f} | "
                f"{np.mean([o['shift_covered'] for o in out]):.3f} | "
                f"{_share([o['icc_reject'] for o in out])} | "
                f"{np.mean([o['icc_covered'] for o in out]):.3f} | "
                f"{np.mean(cover) if cover else math.nan:.3f} | "
                f"{np.median(corr) if corr else math.nan:.3f} | {per_rep:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
