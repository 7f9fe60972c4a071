"""Synthetic groups with a known frontier, to check plateaus and the coverage of their intervals.

A group of n models (30 to 500) has upstream accuracies spread over a range ending below 1, and
downstream accuracies ``y = f(x) - u + v`` under a true Abnar frontier
``f(x) = 1 - e_IR - k (1 - x)**alpha``: ``u >= 0`` is how far a model falls short of the best
achievable (half-normal or exponential, a few points of accuracy on average), ``v`` is the noise of
measuring accuracy on a finite test set. The plateau of the true upper frontier is ``1 - e_IR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from transferscope.rng import make_rng

Array = NDArray[np.float64]


@dataclass(frozen=True)
class SyntheticGroup:
    """One synthetic group and its truth.

    Attributes
    ----------
    x, y : numpy.ndarray
        Upstream and downstream accuracies of the models.
    k, alpha, e_ir : float
        The true Abnar frontier.
    sigma_u : float
        Scale of the shortfall ``u`` (half-normal sigma or exponential mean).
    sigma_v : float
        Standard deviation of the measurement noise ``v``.
    inefficiency : str
        ``"half_normal"``, ``"exponential"`` or ``"gamma2"`` (a gamma with shape 2: few models
        on the frontier itself, the mode of the shortfall away from zero).
    """

    x: Array
    y: Array
    k: float
    alpha: float
    e_ir: float
    sigma_u: float
    sigma_v: float
    inefficiency: str

    @property
    def plateau(self) -> float:
        """Plateau of the true upper frontier, ``1 - e_IR``."""
        return 1.0 - self.e_ir

    def frontier(self, x: Array) -> Array:
        """Evaluate the true upper frontier at ``x``."""
        return np.asarray(1.0 - self.e_ir - self.k * (1.0 - x) ** self.alpha, dtype=np.float64)


Shortfall = Literal["half_normal", "exponential", "gamma2", "mixed"]


def synthetic_group(
    rng: np.random.Generator,
    *,
    n: int | None = None,
    inefficiency: Shortfall = "mixed",
) -> SyntheticGroup:
    """Draw one group with a random true frontier.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int, optional
        Number of models; by default log-uniform between 30 and 500.
    inefficiency : {"mixed", "half_normal", "exponential", "gamma2"}
        Distribution of the shortfall below the frontier; ``"mixed"`` picks half-normal or
        exponential with equal probability.

    Returns
    -------
    SyntheticGroup
        Data and truth. Draws: ``e_IR ~ U(0.02, 0.25)``, ``alpha ~ U(0.8, 2.5)``; upstream
        accuracies from ``lo ~ U(0.35, 0.6)`` to ``hi ~ U(0.8, 0.92)`` (a Beta(1.5, 1.2)
        spread, more models near the top); ``k`` such that the frontier at ``lo`` lies
        ``U(0.15, 0.45)`` below the plateau; shortfall scale ``U(0.01, 0.06)``; noise
        ``U(0.002, 0.01)``.
    """
    if n is None:
        n = int(np.round(np.exp(rng.uniform(np.log(30), np.log(500)))))
    kind = inefficiency
    if kind == "mixed":
        kind = "half_normal" if rng.random() < 0.5 else "exponential"
    e_ir = rng.uniform(0.02, 0.25)
    alpha = rng.uniform(0.8, 2.5)
    lo, hi = rng.uniform(0.35, 0.6), rng.uniform(0.8, 0.92)
    drop = rng.uniform(0.15, 0.45)
    k = drop / (1.0 - lo) ** alpha
    sigma_u = rng.uniform(0.01, 0.06)
    sigma_v = rng.uniform(0.002, 0.01)
    x = lo + (hi - lo) * rng.beta(1.5, 1.2, size=n)
    if kind == "half_normal":
        u = np.abs(rng.normal(0.0, sigma_u, size=n))
    elif kind == "exponential":
        u = rng.exponential(sigma_u, size=n)
    elif kind == "gamma2":
        u = rng.gamma(2.0, sigma_u / 2.0, size=n)
    else:
        raise ValueError(f"unknown inefficiency {inefficiency!r}")
    v = rng.normal(0.0, sigma_v, size=n)
    f = 1.0 - e_ir - k * (1.0 - x) ** alpha
    y = np.clip(f - u + v, 0.0, 1.0)
    return SyntheticGroup(
        x=x, y=y, k=k, alpha=alpha, e_ir=e_ir, sigma_u=sigma_u, sigma_v=sigma_v, inefficiency=kind
    )


def synthetic_runs(
    n_groups: int,
    seed: int = 0,
    *,
    n: int | None = None,
    inefficiency: Shortfall = "mixed",
    rng: np.random.Generator | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Many synthetic groups as canonical runs, with a table of the truth per group.

    Parameters
    ----------
    n_groups : int
        Number of groups (tasks ``task_000``, ``task_001``, ...).
    seed : int
        Seed of the draws.
    n : int, optional
        Models per group (default: random, 30 to 500).
    inefficiency : str
        See :func:`synthetic_group`.
    rng : numpy.random.Generator, optional
        Generator of the draws; wins over ``seed`` when given.

    Returns
    -------
    runs : pandas.DataFrame
        Columns ``source, model, pretrained, upstream_task, upstream_metric, upstream_score, task,
        method, shots, seed, downstream_metric, downstream_score``.
    truth : pandas.DataFrame
        One row per task: ``task, n, k, alpha, e_ir, plateau, sigma_u, sigma_v, inefficiency``.
    """
    rng = make_rng(seed, rng)
    frames, truth = [], []
    for g in range(n_groups):
        grp = synthetic_group(rng, n=n, inefficiency=inefficiency)
        task = f"task_{g:03d}"
        m = len(grp.x)
        frames.append(
            pd.DataFrame(
                {
                    "source": "synthetic",
                    "model": [f"m{j:04d}" for j in range(m)],
                    "pretrained": True,
                    "upstream_task": "upstream",
                    "upstream_metric": "top1",
                    "upstream_score": grp.x,
                    "task": task,
                    "method": "full_ft",
                    "shots": pd.array([pd.NA] * m, dtype="Int64"),
                    "seed": pd.array([0] * m, dtype="Int64"),
                    "downstream_metric": "accuracy",
                    "downstream_score": grp.y,
                }
            )
        )
        truth.append(
            {
                "task": task,
                "n": m,
                "k": grp.k,
                "alpha": grp.alpha,
                "e_ir": grp.e_ir,
                "plateau": grp.plateau,
                "sigma_u": grp.sigma_u,
                "sigma_v": grp.sigma_v,
                "inefficiency": grp.inefficiency,
            }
        )
    return pd.concat(frames, ignore_index=True), pd.DataFrame(truth)
