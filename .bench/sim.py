import sys, time
import numpy as np
from transferscope.dln import REGIME_SETTINGS, default_tasks, generalization_curves
dim, seeds, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
alphas = tuple(float(a) for a in sys.argv[4].split(",")) if len(sys.argv) > 4 else tuple(round(a, 2) for a in np.arange(0.1, 0.91, 0.1))
tasks = [t for t in default_tasks(0.1, 4) if t.name in (sys.argv[5].split(",") if len(sys.argv) > 5 else ("equal", "subset", "disjoint"))]
t0 = time.perf_counter()
c = generalization_curves(list(REGIME_SETTINGS.values()), dim=dim, alphas=alphas, tasks=tasks, seeds=seeds, rho_pt=0.1, seed=7)
c["dim"] = dim
c.to_csv(out, index=False)
print(f"D={dim} seeds={seeds} {time.perf_counter()-t0:.0f}s", flush=True)
