"""Efficiency relative to a frontier: how far below the best attainable each model lies.

- **Stochastic frontier** (``y = f(x) - u + v``): the inefficiency of model i given its composed
  error ``e_i = y_i - f(x_i)`` is distributed as a normal ``N(mu_i, s^2)`` truncated at zero
  (Jondrow, Lovell, Materov and Schmidt 1982): for a half-normal ``u`` with scale ``sigma_u``,
  ``mu_i = -e_i sigma_u^2 / sigma^2`` and ``s = sigma_u sigma_v / sigma`` (``sigma^2 =
  sigma_u^2 + sigma_v^2``); for an exponential ``u`` of mean ``sigma_u``, ``mu_i = -e_i -
  sigma_v^2 / sigma_u`` and ``s = sigma_v``. The shortfall is the JLMS estimate ``E[u | e]``,
  its interval the Horrace-Schmidt (1996) quantiles of that truncated normal, and
  ``efficiency_bc`` the Battese-Coelli (1988) estimate ``E[exp(-u) | e]``. The frontier's
  parameters are taken as known (as in the usual practice).
- **Hull or Pareto frontier**: the empirical envelope of the group (the upper concave hull with
  free disposal, or the running maximum of downstream over increasing upstream). The shortfall
  is the envelope's height at ``x_i`` minus ``y_i``. Its interval comes from m-out-of-n
  subsampling (Simar and Wilson 2011): the naive bootstrap of a boundary is inconsistent; with
  ``m = n^0.7`` models drawn without replacement, the spread of ``(m/n)^k (F_n - F_m)`` (``k =
  2/3`` for the hull, ``1/2`` for the Pareto envelope, their rates with one input and one
  output) estimates how far the true frontier lies above the empirical one. The interval of
  the shortfall therefore lies at or above the point estimate, which is biased low.
- For every frontier, ``efficiency = 1 - shortfall / F(x_i)``: the share of the frontier's
  downstream score at the model's upstream score that the model attains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray
from scipy import special

from transferscope.frontier import kernels

Array = NDArray[np.float64]

#: Exponent of the subsample size m = ceil(n ** SUBSAMPLE_EXPONENT).
SUBSAMPLE_EXPONENT: Final[float] = 0.7
#: Rates of convergence of the envelope estimators with one input and one output.
RATES: Final[dict[str, float]] = {"hull": 2.0 / 3.0, "pareto": 0.5}


@dataclass(frozen=True)
class Efficiency:
    """Per-model shortfall and efficiency with intervals (arrays in the order of the points)."""

    frontier_height: Array
    shortfall: Array
    shortfall_ci_low: Array
    shortfall_ci_high: Array
    efficiency: Array
    efficiency_ci_low: Array
    efficiency_ci_high: Array
    efficiency_bc: Array


def _ratio(height: Array, shortfall: Array) -> Array:
    with np.errstate(all="ignore"):
        return np.where(height > 0, 1.0 - shortfall / height, np.nan)


def sfa_efficiency(
    e: Array,
    height: Array,
    sigma_v: float,
    sigma_u: float,
    inefficiency: str,
    level: float,
) -> Efficiency:
    """JLMS shortfall, Horrace-Schmidt interval and Battese-Coelli efficiency of each model.

    Parameters
    ----------
    e : numpy.ndarray
        Composed errors ``y - f(x)``.
    height : numpy.ndarray
        The frontier ``f(x)`` at each model.
    sigma_v, sigma_u : float
        Noise and inefficiency scales of the fit.
    inefficiency : {"half_normal", "exponential"}
        Distribution of ``u``.
    level : float
        Level of the intervals.

    Returns
    -------
    Efficiency
        The estimates.
    """
    if inefficiency == "exponential":
        mu = -e - sigma_v**2 / sigma_u
        s = np.full_like(e, sigma_v)
    else:
        total = sigma_u**2 + sigma_v**2
        mu = -e * sigma_u**2 / total
        s = np.full_like(e, sigma_u * sigma_v / math.sqrt(total))
    z = mu / s
    log_cdf = special.log_ndtr(z)
    mills = np.exp(-0.5 * z * z - 0.5 * math.log(2.0 * math.pi) - log_cdf)
    shortfall = mu + s * mills
    alpha = 1.0 - level

    def quantile(p: float) -> Array:
        # the p-quantile of N(mu, s^2) truncated to [0, inf): mu - s * ndtri((1 - p) * Phi(z))
        tail = np.exp(math.log(1.0 - p) + log_cdf)
        return np.maximum(mu - s * special.ndtri(tail), 0.0)

    low, high = quantile(alpha / 2.0), quantile(1.0 - alpha / 2.0)
    log_bc = -mu + 0.5 * s * s + special.log_ndtr(z - s) - log_cdf
    return Efficiency(
        frontier_height=height,
        shortfall=shortfall,
        shortfall_ci_low=low,
        shortfall_ci_high=high,
        efficiency=_ratio(height, shortfall),
        efficiency_ci_low=_ratio(height, high),
        efficiency_ci_high=_ratio(height, low),
        efficiency_bc=np.exp(log_bc),
    )


def envelope_heights(xs: Array, ys: Array, present: NDArray[np.bool_], kind: str) -> Array:
    """Height of the empirical frontier of each row of points at every sorted ``xs``.

    Parameters
    ----------
    xs, ys : numpy.ndarray
        Points sorted by ``x`` (then ``y``), shape ``(n,)``; a larger ``x`` is a better upstream.
    present : numpy.ndarray of bool
        Shape ``(B, n)``: which points each row (subsample) holds.
    kind : {"hull", "pareto"}
        The envelope.

    Returns
    -------
    numpy.ndarray
        Shape ``(B, n)``: the envelope of row ``b`` at ``xs[j]`` (``-inf`` where no point of the
        row has an upstream score at or below ``xs[j]``).
    """
    last = np.searchsorted(xs, xs, side="right") - 1
    if kind == "pareto":
        values = np.where(present, ys[None, :], -np.inf)
        return np.asarray(np.maximum.accumulate(values, axis=1)[:, last], dtype=np.float64)
    masks = kernels.frontier_masks(xs, ys, present, "hull")
    out = np.full(present.shape, -np.inf)
    for b in range(present.shape[0]):
        vx, vy = xs[masks[b]], ys[masks[b]]
        if vx.size == 0:
            continue
        heights = np.interp(xs, vx, vy)
        heights[xs < vx[0]] = -np.inf
        # free disposal: the envelope never falls as upstream improves
        out[b] = np.maximum.accumulate(heights)
    return out[:, last]


def envelope_efficiency(
    x: Array,
    y: Array,
    kind: str,
    level: float,
    rng: np.random.Generator,
    *,
    n_subsamples: int = 200,
) -> Efficiency:
    """Shortfall below the hull or Pareto envelope, with m-out-of-n subsampling intervals.

    Parameters
    ----------
    x, y : numpy.ndarray
        Upstream (larger is better) and downstream scores of the group's models.
    kind : {"hull", "pareto"}
        The envelope.
    level : float
        Level of the intervals.
    rng : numpy.random.Generator
        Source of the subsamples.
    n_subsamples : int
        Number of subsamples.

    Returns
    -------
    Efficiency
        The estimates (``efficiency_bc`` is NaN: it belongs to the stochastic frontier).
    """
    n = len(x)
    order = kernels.sort_order(x, y)
    xs, ys = x[order], y[order]
    full = envelope_heights(xs, ys, np.ones((1, n), dtype=bool), kind)[0]
    full = np.maximum(full, ys)
    shortfall_sorted = full - ys
    nan = np.full(n, np.nan)
    low_sorted, high_sorted = nan.copy(), nan.copy()
    m = math.ceil(n**SUBSAMPLE_EXPONENT)
    if 2 <= m < n and n_subsamples > 0:
        present = np.zeros((n_subsamples, n), dtype=bool)
        for b in range(n_subsamples):
            present[b, rng.choice(n, size=m, replace=False)] = True
        sub = np.maximum(envelope_heights(xs, ys, present, kind), ys[None, :])
        gap = (m / n) ** RATES[kind] * (full[None, :] - sub)
        alpha = 1.0 - level
        q_low, q_high = np.quantile(gap, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
        low_sorted = shortfall_sorted + q_low
        high_sorted = shortfall_sorted + q_high
    back = np.empty(n, dtype=np.intp)
    back[order] = np.arange(n)
    height = full[back]
    shortfall = shortfall_sorted[back]
    low, high = low_sorted[back], high_sorted[back]
    return Efficiency(
        frontier_height=height,
        shortfall=shortfall,
        shortfall_ci_low=low,
        shortfall_ci_high=high,
        efficiency=_ratio(height, shortfall),
        efficiency_ci_low=_ratio(height + (high - shortfall), high),
        efficiency_ci_high=_ratio(height + (low - shortfall), low),
        efficiency_bc=np.full(n, np.nan),
    )
