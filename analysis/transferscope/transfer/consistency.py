"""Consistency of residuals across tasks: intraclass and rank correlations.

Does a model above the line on one task stay above it on the others?

- :func:`icc_consistency`: ICC(C,1) of McGraw and Wong (1996), the two-way consistency
  intraclass correlation of a complete models x tasks table, ``(MSR - MSE) / (MSR + (k - 1)
  MSE)``, with its exact interval from the F distribution of ``MSR / MSE`` and the F test of
  ``ICC = 0``. Task means are removed (a task whose residuals are all shifted does not lower
  it); it is the share of a residual's variance, within a task, that belongs to the model.
- :func:`rank_correlations`: Spearman's rho between the residuals of every pair of tasks over
  the models seen on both, with the Fisher-z interval of Bonett and Wright (2000)
  (``se = sqrt((1 + rho^2 / 2) / (n - 3))``) and the p-value of scipy's test.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

Array = NDArray[np.float64]


def icc_consistency(table: Array, level: float = 0.95) -> dict[str, Any]:
    """ICC(C,1) of a complete ``n x k`` table (rows: models, columns: tasks).

    Parameters
    ----------
    table : numpy.ndarray
        Residuals, no missing values, ``n >= 3`` rows and ``k >= 2`` columns.
    level : float
        Level of the interval.

    Returns
    -------
    dict
        ``icc``, ``ci_low``, ``ci_high``, ``f_stat``, ``df1``, ``df2``, ``p_value``
        (one-sided, ICC > 0), ``msr``, ``mse``.
    """
    y = np.asarray(table, dtype=np.float64)
    n, k = y.shape
    grand = y.mean()
    rows = y.mean(axis=1)
    cols = y.mean(axis=0)
    ssr = k * float(np.sum((rows - grand) ** 2))
    ssc = n * float(np.sum((cols - grand) ** 2))
    sst = float(np.sum((y - grand) ** 2))
    df1, df2 = n - 1, (n - 1) * (k - 1)
    msr = ssr / df1
    mse = (sst - ssr - ssc) / df2
    if not mse > 0:
        nan = math.nan
        return {"icc": nan, "ci_low": nan, "ci_high": nan, "f_stat": nan, "df1": df1,
                "df2": df2, "p_value": nan, "msr": msr, "mse": mse}  # fmt: skip
    icc = (msr - mse) / (msr + (k - 1) * mse)
    f_obs = msr / mse
    alpha = 1.0 - level
    f_low = f_obs / stats.f.ppf(1.0 - alpha / 2.0, df1, df2)
    f_high = f_obs * stats.f.ppf(1.0 - alpha / 2.0, df2, df1)
    return {
        "icc": float(icc),
        "ci_low": float((f_low - 1.0) / (f_low + k - 1.0)),
        "ci_high": float((f_high - 1.0) / (f_high + k - 1.0)),
        "f_stat": float(f_obs),
        "df1": df1,
        "df2": df2,
        "p_value": float(stats.f.sf(f_obs, df1, df2)),
        "msr": msr,
        "mse": mse,
    }


def spearman_interval(rho: float, n: int, level: float) -> tuple[float, float]:
    """Fisher-z interval of Spearman's rho (Bonett and Wright 2000).

    Parameters
    ----------
    rho : float
        The correlation.
    n : int
        Pairs.
    level : float
        Level.

    Returns
    -------
    tuple of float
        ``(low, high)``; NaN for ``n < 4`` or ``|rho| = 1``.
    """
    if n < 4 or not math.isfinite(rho) or abs(rho) >= 1.0:
        return math.nan, math.nan
    se = math.sqrt((1.0 + rho * rho / 2.0) / (n - 3))
    z = math.atanh(rho)
    q = float(stats.norm.ppf(0.5 + level / 2.0))
    return math.tanh(z - q * se), math.tanh(z + q * se)


def _spearman(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Return Spearman's rho and its two-sided p-value as ``scipy.stats.spearmanr`` does.

    NaN when either sample is constant. Ranks average ties; the p-value is the t test of the
    rank correlation with ``n - 2`` degrees of freedom (scipy's default).
    """
    ra, rb = stats.rankdata(a), stats.rankdata(b)
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return math.nan, math.nan
    rho = float(np.corrcoef(ra, rb)[0, 1])
    rho = min(1.0, max(-1.0, rho))
    dof = len(a) - 2
    if abs(rho) >= 1.0:
        return rho, 0.0
    t = rho * math.sqrt(dof / ((1.0 - rho) * (1.0 + rho)))
    return rho, float(2.0 * stats.t.sf(abs(t), dof))


def rank_correlations(wide: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Spearman's rho of residuals between every pair of columns (tasks).

    Parameters
    ----------
    wide : pandas.DataFrame
        Rows: models; columns: tasks; values: residuals (missing where a model lacks a task).
    level : float
        Level of the intervals.

    Returns
    -------
    pandas.DataFrame
        Columns ``task_a``, ``task_b``, ``n_models``, ``spearman``, ``ci_low``, ``ci_high``,
        ``p_value`` (two-sided), one row per pair in column order.
    """
    rows = []
    names = list(wide.columns)
    values = wide.to_numpy(dtype=np.float64)
    present = np.isfinite(values)
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            both = present[:, i] & present[:, j]
            n = int(both.sum())
            rho, p = _spearman(values[both, i], values[both, j]) if n >= 3 else (math.nan, math.nan)
            low, high = spearman_interval(rho, n, level)
            rows.append(
                {"task_a": a, "task_b": names[j], "n_models": n, "spearman": rho,
                 "ci_low": low, "ci_high": high, "p_value": p}
            )  # fmt: skip
    columns = ["task_a", "task_b", "n_models", "spearman", "ci_low", "ci_high", "p_value"]
    return pd.DataFrame(rows, columns=columns)
