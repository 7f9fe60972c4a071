"""A small seeded synthetic checkpoint ladder with a known ordering of methods (test helper)."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: true slope of logit(DS) on logit(US) per method: lora < full_ft < linear_probe
SLOPES = {"lora": 0.3, "full_ft": 0.8, "linear_probe": 1.4}
#: how far below the ladder's centre (on the logit scale) each method's scratch baseline sits
EQUAL_DROPS = {"lora": 2.0, "full_ft": 2.0, "linear_probe": 2.0}


def logit(p: np.ndarray | float) -> np.ndarray:
    q = np.asarray(p, dtype=float)
    return np.asarray(np.log(q) - np.log1p(-q))


def expit(z: np.ndarray | float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float))))


def synthetic_ladder(
    seed: int = 0,
    n_tasks: int = 10,
    n_checkpoints: int = 6,
    n_seeds: int = 3,
    noise: float = 0.05,
    slopes: dict[str, float] | None = None,
    drops: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Canonical runs: checkpoints of rising upstream accuracy, methods with known slopes, scratch.

    logit(DS) = a_t + b_m * (logit(US) - centre) + seed noise, with b_m the method's slope plus a
    small task deviation; each (task, method) has a scratch baseline (pretrained=False) at
    a_t - drop_m. With equal drops, a steeper method keeps less of its gain on worse checkpoints,
    so retention orders the methods opposite to their slopes; the mean gain orders them by drop.
    """
    rng = np.random.default_rng(seed)
    slopes = SLOPES if slopes is None else slopes
    drops = EQUAL_DROPS if drops is None else drops
    upstream = np.linspace(0.45, 0.85, n_checkpoints)
    centre = float(np.mean(logit(upstream)))
    rows = []

    def row(model: str, pretrained: bool, u: float, task: str, method: str, s: int, z: float):
        return {
            "model": model,
            "pretrained": pretrained,
            "upstream_score": u,
            "upstream_metric": "top1",
            "task": task,
            "method": method,
            "seed": s,
            "downstream_metric": "accuracy",
            "downstream_score": expit(z + rng.normal(0.0, noise)),
        }

    for t in range(n_tasks):
        task = f"task{t:02d}"
        a_t = rng.normal(0.5, 0.4)
        for method, b in slopes.items():
            b_t = b + rng.normal(0.0, 0.05)
            for c, u in enumerate(upstream):
                mean = a_t + b_t * (float(logit(u)) - centre)
                for s in range(n_seeds):
                    rows.append(row(f"ckpt{c}", True, float(u), task, method, s, mean))
            for s in range(n_seeds):
                rows.append(row("scratch", False, np.nan, task, method, s, a_t - drops[method]))
    return pd.DataFrame(rows)
