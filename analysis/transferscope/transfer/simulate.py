"""Tables with planted effects, to check effective transfer on known truth.

``probit(y_mt) = a_t + b_t probit(x_m) + delta [z_m = "extra"] + gamma [z_m = "extra"] (probit(x_m)
- mean) + e_m + eps_mt``: every model ``m`` has one upstream score ``x_m`` and is evaluated on
``n_tasks`` tasks, each with its own line (``a_t``, ``b_t``); a binary moderator ``z_m``
(``pretrain_data`` = ``"standard"`` or ``"extra"``) shifts the line by ``delta`` and tilts it by
``gamma``; a model-level effect ``e_m ~ N(0, model_sd^2)`` is the model's own effective
transfer, the same on every task (so the residuals' intraclass correlation across tasks is
``model_sd^2 / (model_sd^2 + noise_sd^2)``); ``eps_mt ~ N(0, noise_sd^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from transferscope.records import NOT_RECORDED, Record
from transferscope.rng import make_rng


@dataclass(frozen=True, kw_only=True)
class SimulatedTransfer(Record):
    """A simulated table and its truth.

    Attributes
    ----------
    runs : pandas.DataFrame
        Canonical runs (``model``, ``task``, ``method``, ``shots``, ``upstream_score``,
        ``downstream_score``, ``upstream_metric``, ``downstream_metric``, ``pretrain_data``,
        ``params``).
    model_effects : pandas.Series
        The planted ``e_m`` by model.
    delta, gamma : float
        The planted shift and slope change of the ``"extra"`` level.
    icc : float
        The residuals' intraclass correlation across tasks implied by the planted variances.
    lines : pandas.DataFrame
        The planted line of the ``"standard"`` models per task: ``task``, ``intercept``,
        ``slope`` (on the probit axes).
    """

    runs: pd.DataFrame = field(metadata=NOT_RECORDED, repr=False)
    model_effects: pd.Series = field(metadata=NOT_RECORDED, repr=False)
    lines: pd.DataFrame = field(metadata=NOT_RECORDED, repr=False)
    delta: float
    gamma: float
    icc: float


def simulate_transfer(
    n_models: int = 60,
    n_tasks: int = 6,
    *,
    delta: float = 0.0,
    gamma: float = 0.0,
    model_sd: float = 0.1,
    noise_sd: float = 0.1,
    share_extra: float = 0.5,
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
) -> SimulatedTransfer:
    """Simulate models on tasks with a planted moderator effect and model-level effects.

    Parameters
    ----------
    n_models, n_tasks : int
        Models and tasks.
    delta : float
        Shift of the ``"extra"`` models' line (probit units).
    gamma : float
        Change of their slope.
    model_sd : float
        Standard deviation of the models' own effects.
    noise_sd : float
        Standard deviation of a model's deviation on one task.
    share_extra : float
        Share of ``"extra"`` models.
    seed : int, optional
        Seed.
    rng : numpy.random.Generator, optional
        Generator to draw from instead.

    Returns
    -------
    SimulatedTransfer
        Runs and truth.
    """
    gen = make_rng(seed, rng)
    models = [f"m{i:03d}" for i in range(n_models)]
    x = gen.uniform(0.55, 0.9, n_models)
    extra = gen.random(n_models) < share_extra
    effects = gen.normal(0.0, model_sd, n_models)
    params = np.round(10 ** gen.uniform(7, 9, n_models))
    px = special.ndtri(x)
    rows = []
    lines = []
    for t in range(n_tasks):
        a = gen.normal(-0.3, 0.4)
        b = gen.uniform(0.8, 1.4)
        lines.append({"task": f"task_{t:02d}", "intercept": a, "slope": b})
        z = a + b * px + extra * (delta + gamma * (px - px.mean())) + effects
        z = z + gen.normal(0.0, noise_sd, n_models)
        rows.append(
            pd.DataFrame(
                {
                    "model": models,
                    "task": f"task_{t:02d}",
                    "method": "zero_shot",
                    "shots": pd.array([0] * n_models, dtype="Int64"),
                    "upstream_score": x,
                    "downstream_score": special.ndtr(z),
                    "upstream_metric": "top1",
                    "downstream_metric": "top1",
                    "pretrain_data": np.where(extra, "extra", "standard"),
                    "params": pd.array(params.astype(np.int64), dtype="Int64"),
                }
            )
        )
    return SimulatedTransfer(
        runs=pd.concat(rows, ignore_index=True),
        model_effects=pd.Series(effects, index=models, name="effect"),
        lines=pd.DataFrame(lines),
        delta=float(delta),
        gamma=float(gamma),
        icc=float(model_sd**2 / (model_sd**2 + noise_sd**2)),
    )
