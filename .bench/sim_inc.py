"""Incremental simulation for benchmarks/dln_theory.py agreement: one replicate per call, appended."""
import sys, time, os
import numpy as np
from transferscope.dln import REGIME_SETTINGS, default_tasks, generalization_curves
dim, seeds, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
alphas = tuple(float(a) for a in sys.argv[4].split(","))
names = sys.argv[5].split(",") if len(sys.argv) > 5 else ["equal", "subset", "disjoint"]
tasks = [t for t in default_tasks(0.1, 4) if t.name in names]
start = int(sys.argv[6]) if len(sys.argv) > 6 else 0
for r in range(start, seeds):
    t0 = time.perf_counter()
    c = generalization_curves(list(REGIME_SETTINGS.values()), dim=dim, alphas=alphas, tasks=tasks,
                              seeds=1, rho_pt=0.1, seed=1000 + r, scratch=None)
    c["seed"] = r
    c["dim"] = dim
    c.to_csv(out, mode="a", header=not os.path.exists(out), index=False)
    print(f"D={dim} replicate {r} {time.perf_counter()-t0:.0f}s", flush=True)
