"""Focused replicates: chosen settings/tasks/alphas, one replicate per loop, appended (no scratch)."""
import os, sys, time
import numpy as np
import pandas as pd
from transferscope.dln import REGIME_SETTINGS, default_tasks, finetuning_teacher, normalized_error, pretraining_teacher, sample_regression
from transferscope.dln.methods import finetune, pretrain
dim, seeds, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
alphas = [float(a) for a in sys.argv[4].split(",")]
regimes = sys.argv[5].split(",")
names = sys.argv[6].split(",")
base = int(sys.argv[7]) if len(sys.argv) > 7 else 2000
settings = [REGIME_SETTINGS[r] for r in regimes]
tasks = [t for t in default_tasks(0.1, 4) if t.name in names]
for r in range(seeds):
    t0 = time.perf_counter()
    rng = np.random.default_rng(base + r)
    bpt = pretraining_teacher(dim, 0.1, rng)
    xp, yp = sample_regression(bpt, 4 * dim, rng, noise=0.1)
    ck = pretrain(xp, yp, [4 * dim], [s.c_pt for s in settings])
    rows = []
    for task in tasks:
        bft = finetuning_teacher(bpt, task, rng)
        xf, yf = sample_regression(bft, int(round(max(alphas) * dim)), rng, noise=0.1)
        for a in alphas:
            n = int(round(a * dim))
            beta, conv = finetune(ck, settings, xf[:n], yf[:n])
            err = normalized_error(beta, bft)[0]
            for s, e, c in zip(settings, err, conv[0]):
                rows.append({"method": s.name, "regime": s.regime().regime, "task": task.name, "alpha_ft": a,
                             "seed": r, "gen_error": float(e), "converged": bool(c), "dim": dim})
    pd.DataFrame(rows).to_csv(out, mode="a", header=not os.path.exists(out), index=False)
    print(f"D={dim} replicate {r} {time.perf_counter()-t0:.0f}s", flush=True)
