"""Estimators of the between-study variance tau^2 (numpy/scipy kernels), as R's metafor.

- ``"FE"``: fixed effect, weights ``1 / v_i`` (tau^2 = 0).
- ``"DL"``: DerSimonian-Laird, the moment estimator
  ``tau^2 = max(0, (Q - (k - p)) / (sum w - tr((X'WX)^-1 X'W^2X)))``.
- ``"REML"``: restricted maximum likelihood: the root of the REML estimating equation
  ``y'PPy - tr(P) = 0`` with ``P = W - WX(X'WX)^-1X'W`` and ``W = diag(1 / (v_i + tau^2))``;
  zero when the equation is negative at zero (the boundary maximum).
- ``"PM"``: Paule-Mandel, the root of the generalized Q equation
  ``sum w_i (y_i - x_i'b)^2 = k - p``; zero when Q at zero is already below ``k - p``.

``solver="metafor"`` (the default) repeats metafor's algorithms step for step, so that the numbers
are R's: REML by Fisher scoring from the Hedges estimate until tau^2 changes by less than 1e-5
(with step halving at the boundary and metafor's check of the likelihood at zero), PM by R's
``uniroot()`` (Brent's zeroin, tolerance eps^0.25) on ``[0, max(100, 10 mad(y)^2)]``. These
stopping rules are loose: for a small tau^2 metafor's answer can differ from the exact root by
more than 1e-6 relative (a REML boundary maximum of 0 can come out as 5e-6).
``solver="exact"`` instead finds the roots by Brent's method on a bracket to machine precision
(and returns exactly zero at the boundary); when metafor's iteration fails (no convergence in 100
steps, or a PM root above its interval) the exact solution is used.

:func:`pool_resampled` pools many bootstrap resamples at once (vectorized, exact roots).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

from transferscope.errors import InputError

PoolMethod = Literal["DL", "REML", "PM", "FE"]
POOL_METHODS: tuple[str, ...] = ("DL", "REML", "PM", "FE")
Solver = Literal["metafor", "exact"]
SOLVERS: tuple[str, ...] = ("metafor", "exact")

_EPS = float(np.finfo(np.float64).eps)
# metafor's rma() defaults: convergence threshold of Fisher scoring, uniroot() tolerance, iterations
_METAFOR_THRESHOLD = 1e-5
_METAFOR_TOL = _EPS**0.25
_METAFOR_MAXITER = 100

FloatArray = npt.NDArray[np.float64]


def check_method(method: str) -> str:
    """Return the canonical (upper-case) name of a pooling method.

    Parameters
    ----------
    method : str
        ``"DL"``, ``"REML"``, ``"PM"`` or ``"FE"`` (any case).

    Returns
    -------
    str
        The upper-case name.

    Raises
    ------
    InputError
        For any other name.
    """
    name = str(method).upper()
    if name not in POOL_METHODS:
        raise InputError(f"unknown pooling method {method!r}; expected one of {POOL_METHODS}")
    return name


@dataclass(frozen=True)
class WeightedFit:
    """Weighted least squares at a given tau^2.

    Attributes
    ----------
    coef : ndarray
        Coefficients.
    cov_unscaled : ndarray
        ``(X'WX)^-1``.
    weights : ndarray
        ``1 / (v + tau^2)``.
    resid : ndarray
        Residuals ``y - X coef``.
    """

    coef: FloatArray
    cov_unscaled: FloatArray  # (X'WX)^-1
    weights: FloatArray
    resid: FloatArray


def weighted_fit(y: FloatArray, v: FloatArray, x: FloatArray, tau2: float) -> WeightedFit:
    """Fit ``y ~ X`` by weighted least squares with weights ``1 / (v + tau2)``.

    Parameters
    ----------
    y, v : ndarray, shape (k,)
        Effects and sampling variances.
    x : ndarray, shape (k, p)
        Design matrix.
    tau2 : float
        Between-study variance added to every ``v``.

    Returns
    -------
    WeightedFit
        Coefficients, ``(X'WX)^-1``, weights and residuals.
    """
    w = 1.0 / (v + tau2)
    xtw = x.T * w
    inv = np.asarray(np.linalg.inv(xtw @ x), dtype=np.float64)
    coef = inv @ (xtw @ y)
    return WeightedFit(coef, inv, w, y - x @ coef)


def trace_p(fit: WeightedFit, x: FloatArray) -> float:
    """Return ``tr(P)`` with ``P = W - WX(X'WX)^-1X'W``, from p x p products only.

    Parameters
    ----------
    fit : WeightedFit
        A weighted fit (its weights define ``W``).
    x : ndarray, shape (k, p)
        Its design matrix.

    Returns
    -------
    float
        The trace.
    """
    w = fit.weights
    return float(np.sum(w) - np.trace(fit.cov_unscaled @ ((x.T * w**2) @ x)))


def _reml_score(y: FloatArray, v: FloatArray, x: FloatArray, tau2: float) -> float:
    """``y'PPy - tr(P)``: twice the derivative of the restricted log-likelihood in tau^2."""
    fit = weighted_fit(y, v, x, tau2)
    return float(np.sum((fit.weights * fit.resid) ** 2) - trace_p(fit, x))


def _pm_equation(y: FloatArray, v: FloatArray, x: FloatArray, tau2: float) -> float:
    fit = weighted_fit(y, v, x, tau2)
    return float(np.sum(fit.weights * fit.resid**2) - (y.size - x.shape[1]))


def _root_from_zero(func: Any, start: float) -> float:
    """Root of a function positive at zero and negative for large tau^2, to machine precision."""
    hi = max(start, 1e-8)
    for _ in range(200):
        if func(hi) < 0:
            break
        hi *= 4.0
    else:  # pragma: no cover - both equations are negative for large tau^2
        return math.nan
    root, info = optimize.brentq(
        func, 0.0, hi, xtol=1e-300, rtol=4 * _EPS, maxiter=500, full_output=True, disp=False
    )
    # no convergence (e.g. variances spanning hundreds of orders of magnitude): NaN, which
    # the pooling reports as a degenerate status
    return float(root) if info.converged else math.nan


def _trace_pp(fit: WeightedFit, x: FloatArray) -> float:
    """``tr(PP)`` from p x p products only."""
    w = fit.weights
    inv = fit.cov_unscaled
    m2 = inv @ ((x.T * w**2) @ x)
    m3 = inv @ ((x.T * w**3) @ x)
    return float(np.sum(w**2) - 2.0 * np.trace(m3) + np.trace(m2 @ m2))


def _reml_loglik(y: FloatArray, v: FloatArray, x: FloatArray, tau2: float) -> float:
    k, p = x.shape
    fit = weighted_fit(y, v, x, tau2)
    logdet = np.linalg.slogdet((x.T * fit.weights) @ x)[1]
    rss = float(np.sum(fit.weights * fit.resid**2))
    return float(
        -0.5 * (k - p) * math.log(2 * math.pi)
        - 0.5 * np.sum(np.log(v + tau2))
        - 0.5 * logdet
        - 0.5 * rss
    )


def _reml_fisher_scoring(y: FloatArray, v: FloatArray, x: FloatArray) -> float:
    """REML as metafor: Fisher scoring from the Hedges estimate, change below 1e-5, step halving.

    Returns NaN when it does not converge within 100 iterations.
    """
    k, p = x.shape
    hat = x @ np.linalg.solve(x.T @ x, x.T)
    resid = y - hat @ y
    hedges = (float(resid @ resid) - float(np.sum((1.0 - np.diag(hat)) * v))) / (k - p)
    tau2 = max(0.0, hedges)
    change = _METAFOR_THRESHOLD + 1.0
    iterations = 0
    while change > _METAFOR_THRESHOLD:
        iterations += 1
        if iterations > _METAFOR_MAXITER:
            return math.nan
        old = tau2
        fit = weighted_fit(y, v, x, tau2)
        score = float(np.sum((fit.weights * fit.resid) ** 2)) - trace_p(fit, x)
        adj = score / _trace_pp(fit, x)
        while tau2 + adj < 0.0:  # step halving; underflows to 0 at the boundary, as in metafor
            adj /= 2.0
        tau2 = tau2 + adj
        change = abs(old - tau2)
    # metafor's ll0check: prefer the boundary when its restricted likelihood is clearly larger
    if (
        _reml_loglik(y, v, x, 0.0) - _reml_loglik(y, v, x, tau2) > _METAFOR_TOL
        and tau2 > _METAFOR_THRESHOLD
    ):
        tau2 = 0.0
    return max(0.0, tau2)


def _zeroin(func: Any, ax: float, bx: float, fa: float, fb: float, tol: float, maxit: int) -> float:
    """R's ``uniroot()`` (Brent's zeroin, ``R_zeroin2``), step for step."""
    a, b, c, fc = ax, bx, ax, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2.0 * _EPS * abs(b) + tol / 2.0
        new_step = (c - b) / 2.0
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2.0) and p < abs(prev_step * q / 2.0):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = func(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return math.nan


def _pm_uniroot(y: FloatArray, v: FloatArray, x: FloatArray) -> float:
    """Paule-Mandel as metafor: ``uniroot`` on [0, max(100, 10 mad(y)^2)], tol eps^0.25."""
    med = float(np.median(y))
    mad = 1.4826 * float(np.median(np.abs(y - med)))
    hi = max(100.0, 10.0 * mad**2)
    f_lo = _pm_equation(y, v, x, 0.0)
    f_hi = _pm_equation(y, v, x, hi)
    if f_hi > 0:
        return math.nan
    return _zeroin(
        lambda t: _pm_equation(y, v, x, t), 0.0, hi, f_lo, f_hi, _METAFOR_TOL, _METAFOR_MAXITER
    )


def estimate_tau2(
    y: FloatArray,
    v: FloatArray,
    x: FloatArray,
    method: PoolMethod | str = "DL",
    solver: Solver | str = "metafor",
) -> float:
    """Estimate the between-study variance tau^2 of a (meta-)regression.

    Parameters
    ----------
    y : ndarray, shape (k,)
        Effects.
    v : ndarray, shape (k,)
        Their sampling variances (positive).
    x : ndarray, shape (k, p)
        Design matrix whose first column is the intercept (a column of ones for a plain
        meta-analysis).
    method : {"DL", "REML", "PM", "FE"}
        Estimator (see the module docstring).
    solver : {"metafor", "exact"}, default "metafor"
        How REML and PM are solved: ``"metafor"`` repeats rma()'s iterations and stopping rules
        (so that the numbers are R's); ``"exact"`` finds the root to machine precision.

    Returns
    -------
    float
        tau^2 >= 0 (exactly zero at the boundary and for ``"FE"``).
    """
    method = check_method(method)
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; expected one of {SOLVERS}")
    k, p = x.shape
    if method == "FE" or k <= p:
        return 0.0
    y = y - float(np.mean(y))  # as metafor: centring changes nothing with an intercept
    fe = weighted_fit(y, v, x, 0.0)
    q = float(np.sum(fe.weights * fe.resid**2))
    dl = max(0.0, (q - (k - p)) / trace_p(fe, x))
    if method == "DL":
        return dl
    start = max(dl, float(np.var(y)) + float(np.mean(v)))
    if method == "REML":
        tau2 = _reml_fisher_scoring(y, v, x) if solver == "metafor" else math.nan
        if math.isnan(tau2):
            if _reml_score(y, v, x, 0.0) <= 0:
                return 0.0
            tau2 = _root_from_zero(lambda t: _reml_score(y, v, x, t), start)
        return tau2
    # PM
    if _pm_equation(y, v, x, 0.0) < 0:
        return 0.0
    tau2 = _pm_uniroot(y, v, x) if solver == "metafor" else math.nan
    if math.isnan(tau2):
        tau2 = _root_from_zero(lambda t: _pm_equation(y, v, x, t), start)
    return tau2


# --------------------------------------------------------------------------- interval

_UNIROOT_MAXITER = 1000


def _generalized_q(y: FloatArray, v: FloatArray, x: FloatArray, tau2: float) -> float:
    fit = weighted_fit(y, v, x, tau2)
    return float(np.sum(fit.weights * fit.resid**2))


def tau2_qprofile(
    y: FloatArray, v: FloatArray, x: FloatArray, tau2: float, ci_level: float = 0.95
) -> tuple[float, float]:
    """Q-profile confidence interval of tau^2 (Viechtbauer 2007), as metafor's ``confint()``.

    The bounds are the values of tau^2 at which the generalized Q statistic
    ``sum w_i(tau^2) (y_i - x_i'b(tau^2))^2`` equals the chi-square quantiles with ``k - p`` df,
    found by R's ``uniroot()`` on ``[0, max(100, 10 tau^2)]`` with its tolerance (eps^0.25),
    step for step, so that the numbers are R's. A bound whose Q at 0 is already below its
    quantile is 0; when both are, the interval is the null set (both 0).

    Parameters
    ----------
    y, v : ndarray, shape (k,)
        Effects and sampling variances.
    x : ndarray, shape (k, p)
        Design matrix.
    tau2 : float
        The estimate (sets the upper end of the search interval, as metafor).
    ci_level : float, default 0.95
        Confidence level.

    Returns
    -------
    tuple of float
        ``(low, high)``; NaN when ``k <= p``; ``high`` is the end of the search interval when Q
        there is still above the quantile.
    """
    k, p = x.shape
    if k <= p:
        return math.nan, math.nan
    alpha = 1.0 - ci_level
    crit_u = float(stats.chi2.isf(alpha / 2.0, k - p))
    crit_l = float(stats.chi2.ppf(alpha / 2.0, k - p))
    lo, hi = 0.0, max(100.0, 10.0 * tau2)
    q_lo = _generalized_q(y, v, x, lo)
    q_hi = _generalized_q(y, v, x, hi)

    def root(objective: float) -> float:
        return _zeroin(
            lambda t: _generalized_q(y, v, x, t) - objective,
            lo, hi, q_lo - objective, q_hi - objective, _METAFOR_TOL, _UNIROOT_MAXITER,
        )  # fmt: skip

    if q_lo < crit_l:
        return lo, lo  # both bounds below 0: the null set
    upper = hi if q_hi > crit_l else root(crit_l)
    if q_hi > crit_u:
        return hi, hi
    lower = lo if q_lo < crit_u else root(crit_u)
    return lower, upper


# --------------------------------------------------------------------------- resampling


def _bisect_rows(func: Any, lo: FloatArray, hi: FloatArray, iterations: int = 200) -> FloatArray:
    """Vectorized bisection of decreasing-through-zero functions, one root per row."""
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        positive = func(mid) > 0
        lo = np.where(positive, mid, lo)
        hi = np.where(positive, hi, mid)
        if np.all(hi - lo <= 4 * _EPS * np.maximum(hi, 1e-300)):
            break
    return 0.5 * (lo + hi)


def pool_resampled(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike | None,
    counts: npt.ArrayLike,
    method: PoolMethod | str = "DL",
) -> FloatArray:
    """Pooled estimates of many resamples at once (for bootstraps), one per row of ``counts``.

    Each resample is the effects repeated ``counts[b, i]`` times, pooled as :func:`pool_effects`
    would pool that list with ``solver="exact"``. Without variances (``None`` or any NaN), the
    pooled estimate is the count-weighted mean (equal weights per effect).

    Parameters
    ----------
    effects : array_like, shape (k,)
        Effects (finite).
    variances : array_like, shape (k,), or None
        Their sampling variances.
    counts : array_like, shape (B, k)
        Non-negative multiplicities, e.g. ``np.bincount`` of resampled indices.
    method : {"DL", "REML", "PM", "FE"}, default "DL"
        tau^2 estimator.

    Returns
    -------
    ndarray, shape (B,)
        Pooled estimate per resample; NaN where a resample has no effect.
    """
    method = check_method(method)
    y = np.asarray(effects, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 2 or n.shape[1] != y.size:
        raise InputError(f"counts must have shape (B, {y.size}), not {n.shape}")
    total = n.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if variances is None or np.any(~np.isfinite(np.asarray(variances, dtype=np.float64))):
            return np.asarray(np.where(total > 0, (n @ y) / total, np.nan))
        v = np.asarray(variances, dtype=np.float64)
        w0 = 1.0 / v
        sw = n @ w0
        mu0 = (n @ (w0 * y)) / sw
        q = n @ (w0 * y**2) - sw * mu0**2
        if method == "FE":
            tau2 = np.zeros(n.shape[0])
        elif method == "DL":
            denom = sw - (n @ w0**2) / sw
            tau2 = np.where(denom > 0, np.maximum(0.0, (q - (total - 1)) / denom), 0.0)
        else:

            def weights(tau: FloatArray) -> FloatArray:
                return np.asarray(1.0 / (v[None, :] + tau[:, None]))

            def equation(tau: FloatArray) -> FloatArray:
                w = weights(tau)
                nw = n * w
                s = nw.sum(axis=1)
                mu = (nw @ y) / s
                resid = y[None, :] - mu[:, None]
                if method == "PM":
                    return np.asarray((nw * resid**2).sum(axis=1) - (total - 1))
                return np.asarray((nw * w * resid**2).sum(axis=1) - (s - (nw * w).sum(axis=1) / s))

            zero = np.zeros(n.shape[0])
            active = (total > 1) & (equation(zero) > 0)
            hi = np.full(n.shape[0], max(float(np.var(y)) + float(np.mean(v)), 1e-8))
            for _ in range(200):
                grow = active & (equation(hi) > 0)
                if not grow.any():
                    break
                hi = np.where(grow, hi * 4.0, hi)
            root = _bisect_rows(equation, zero.copy(), hi)
            tau2 = np.where(active, root, 0.0)
        w = 1.0 / (v[None, :] + tau2[:, None])
        nw = n * w
        return np.asarray(np.where(total > 0, (nw @ y) / nw.sum(axis=1), np.nan))
