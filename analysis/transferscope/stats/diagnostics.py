"""Diagnostics of a random-effects meta-analysis: leave-one-out and Egger's test.

The Q-profile interval of tau^2 is :func:`transferscope.stats.tau2.tau2_qprofile`.

- :func:`leave_one_out`: the pooled effect without each effect in turn (metafor's
  ``leave1out()``).
- :func:`egger_test`: Egger's regression test of funnel-plot asymmetry, the mixed-effects
  meta-regression on the standard error ``sqrt(v_i)`` (metafor's ``regtest()`` with its defaults
  ``model = "rma"``, ``predictor = "sei"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from transferscope.errors import InputError
from transferscope.records import Record
from transferscope.stats.meta import (
    PoolMethod,
    _as_inputs,
    _check_level,
    meta_regression,
    pool_effects,
)
from transferscope.stats.tau2 import check_method

FloatArray = npt.NDArray[np.float64]


def leave_one_out(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    *,
    method: PoolMethod | str = "REML",
    knha: bool = False,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Pool the effects without each one in turn, as metafor's ``leave1out()``.

    Parameters
    ----------
    effects : array_like, shape (k,)
        Effect sizes (k >= 2).
    variances : array_like, shape (k,)
        Their sampling variances, all positive.
    method : {"REML", "DL", "PM", "FE"}, default "REML"
        tau^2 estimator of every refit.
    knha : bool, default False
        Knapp-Hartung adjustment of every refit.
    ci_level : float, default 0.95
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per left-out effect, in input order: ``left_out`` (its position),
        ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``pvalue``, ``tau2``,
        ``i2``, ``h2``, ``q``, ``q_pvalue``, ``k`` (effects pooled), ``status``.

    Raises
    ------
    InputError
        Bad input (as :func:`~transferscope.stats.pool_effects`) or fewer than two effects.
    """
    method = check_method(method)
    _check_level(ci_level)
    y, v = _as_inputs(effects, variances)
    if y.size < 2:
        raise InputError("leave-one-out needs at least two effects")
    rows = []
    keep = np.ones(y.size, dtype=bool)
    for i in range(y.size):
        keep[:] = True
        keep[i] = False
        res = pool_effects(y[keep], v[keep], method=method, knha=knha, ci_level=ci_level)
        rows.append(
            {
                "left_out": i, "estimate": res.estimate, "se": res.se, "ci_low": res.ci_low,
                "ci_high": res.ci_high, "ci_level": ci_level, "pvalue": res.pvalue,
                "tau2": res.tau2, "i2": res.i2, "h2": res.h2, "q": res.q,
                "q_pvalue": res.q_pvalue, "k": res.k, "status": res.status,
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


@dataclass(frozen=True, kw_only=True)
class EggerTest(Record):
    """Result of :func:`egger_test`.

    Attributes
    ----------
    statistic, pvalue : float
        z (or t, with ``knha``) statistic of the standard-error coefficient and its two-sided
        p-value: small p-values point at funnel-plot asymmetry (small-study effects).
    df : float
        Degrees of freedom of the t reference (``inf`` for z).
    slope, slope_se : float
        Coefficient of the standard error and its standard error.
    limit_estimate, limit_se : float
        The intercept: the effect expected at a standard error of zero.
    tau2 : float
        Residual tau^2 of the meta-regression.
    k : int
        Number of effects.
    method : str
        tau^2 estimator.
    status : str
        ``"ok"``, or ``"saturated"`` with two effects (no residual degrees of freedom).
    """

    statistic: float
    pvalue: float
    df: float
    slope: float
    slope_se: float
    limit_estimate: float
    limit_se: float
    tau2: float
    k: int
    method: str
    status: str


def egger_test(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    *,
    method: PoolMethod | str = "REML",
    knha: bool = False,
) -> EggerTest:
    """Egger's regression test for funnel-plot asymmetry, as metafor's ``regtest()``.

    The effects are regressed on their standard errors by mixed-effects meta-regression;
    the test is the Wald test of the standard error's coefficient.

    Parameters
    ----------
    effects : array_like, shape (k,)
        Effect sizes (k >= 2; the standard errors must differ).
    variances : array_like, shape (k,)
        Their sampling variances, all positive.
    method : {"REML", "DL", "PM", "FE"}, default "REML"
        Estimator of the residual tau^2.
    knha : bool, default False
        Knapp-Hartung adjustment (t test).

    Returns
    -------
    EggerTest
        Frozen result.

    Raises
    ------
    InputError
        Bad input, or standard errors that are all equal.
    """
    method = check_method(method)
    y, v = _as_inputs(effects, variances)
    sei = np.sqrt(v)
    if np.ptp(sei) == 0:
        raise InputError("Egger's test needs standard errors that differ (all are equal)")
    res = meta_regression(y, v, sei, method=method, knha=knha)
    stat = res.coef[1] / res.se[1] if res.se[1] > 0 else math.nan
    if math.isnan(stat):
        pvalue = math.nan
    elif math.isinf(res.df):
        pvalue = float(2 * stats.norm.sf(abs(stat)))
    else:
        pvalue = float(2 * stats.t.sf(abs(stat), res.df))
    return EggerTest(
        statistic=float(stat),
        pvalue=pvalue,
        df=res.df,
        slope=res.coef[1],
        slope_se=res.se[1],
        limit_estimate=res.coef[0],
        limit_se=res.se[0],
        tau2=res.tau2,
        k=res.k,
        method=method,
        status=res.status,
    )
