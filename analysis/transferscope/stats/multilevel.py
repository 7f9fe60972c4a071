"""Three-level meta-analysis: effects nested in clusters (tasks in suites), as metafor's rma.mv.

The model is ``y_i = x_i' b + u_c(i) + w_i + e_i`` with a random effect ``u_c ~ N(0,
sigma2_cluster)`` shared by the effects of a cluster (the suite: MMLU's 57 subtasks, BIG-bench's
tasks), a random effect ``w_i ~ N(0, sigma2_within)`` per effect (the task within its suite)
and the known sampling error ``e_i ~ N(0, v_i)``:
``rma.mv(yi, vi, mods, random = ~ 1 | cluster/effect, method = "REML")``. So
``V = diag(v) + sigma2_within I + sigma2_cluster Z Z'`` is block-diagonal by cluster.

The two variances maximize the restricted log-likelihood
``-((k - p) log(2 pi) + log|V| + log|X'V^-1 X| + y'Py - log|X'X|) / 2``, with
``P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1``: projected Fisher scoring on ``[0, inf)^2`` (the
score ``(y'P D_r P y - tr(P D_r)) / 2`` with ``D`` = ``ZZ'`` or ``I``, information
``tr(P D_r P D_s) / 2``), finished by Newton steps with the observed information, to machine
precision. metafor optimizes the log-variances by ``nlminb``, so a variance at the boundary comes
out as about 1e-12 there and as exactly 0 here. The coefficients are the GLS estimates with
model-based covariance ``(X'V^-1 X)^-1`` and z tests; ``QE`` is Cochran's Q with weights
``1 / v_i``; the prediction interval for a new effect in a new cluster is
``estimate +/- crit * sqrt(se^2 + sigma2_cluster + sigma2_within)`` (metafor's ``predict()``).

With ``robust=True`` the standard errors are the cluster-robust CR2 ones with Satterthwaite
degrees of freedom of :mod:`~transferscope.stats.robust` (metafor's
``robust(fit, cluster, clubSandwich = TRUE)``), and intervals, tests and the prediction interval
use t quantiles with those degrees of freedom.

When the clusters cannot separate the two variances (a single cluster, or one effect per
cluster) the cluster variance is fixed at 0 and the model is the ordinary random-effects one
(its REML tau^2 is ``sigma2_within``); ``message`` says so. CR2 errors need two clusters or
more: with one, the model-based errors are reported with ``status="one_cluster"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from transferscope.errors import InputError
from transferscope.records import NOT_RECORDED, Record
from transferscope.stats.robust import cluster_index, cr2_vcov

FloatArray = npt.NDArray[np.float64]

_MAX_ITER = 500
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class MultilevelFit:
    """A fitted three-level model (the kernel's result; see :func:`fit_three_level`).

    Attributes
    ----------
    coef : ndarray, shape (p,)
        GLS coefficients.
    cov : ndarray, shape (p, p)
        Model-based covariance ``(X'V^-1 X)^-1``.
    sigma2_cluster, sigma2_within : float
        Variance of the cluster effects and of the effects within a cluster.
    loglik : float
        Restricted log-likelihood at the estimates (metafor's ``logLik()``).
    qe : float
        Cochran's Q with weights ``1 / v`` (NaN when a variance is zero).
    resid : ndarray, shape (k,)
        ``y - X coef``.
    index : list of ndarray
        Row positions of each cluster.
    blocks : list of ndarray
        Marginal covariance of each cluster's effects.
    separable : bool
        Whether the clusters separate the two variances (else ``sigma2_cluster`` is fixed at 0).
    converged : bool
        Whether the optimizer met its tolerance.
    """

    coef: FloatArray
    cov: FloatArray
    sigma2_cluster: float
    sigma2_within: float
    loglik: float
    qe: float
    resid: FloatArray
    index: list[npt.NDArray[np.intp]]
    blocks: list[FloatArray]
    separable: bool
    converged: bool


class _Reml:
    """Restricted likelihood of the three-level model at given variances (dense algebra)."""

    def __init__(self, y: FloatArray, v: FloatArray, x: FloatArray, same: FloatArray) -> None:
        self.y, self.v, self.x, self.same = y, v, x, same
        self.k, self.p = x.shape
        self.logdet_xx = float(np.linalg.slogdet(x.T @ x)[1])

    def parts(self, theta: FloatArray) -> dict[str, Any]:
        vmat = np.diag(self.v + theta[1]) + theta[0] * self.same
        chol = np.linalg.cholesky(vmat)
        vinv = np.linalg.inv(vmat)
        xtv = self.x.T @ vinv
        xvx = xtv @ self.x
        bread = np.linalg.inv(xvx)
        pmat = vinv - xtv.T @ bread @ xtv
        py = pmat @ self.y
        logdet_v = 2.0 * float(np.sum(np.log(np.diag(chol))))
        ll = -0.5 * (
            (self.k - self.p) * _LOG_2PI
            + logdet_v
            + float(np.linalg.slogdet(xvx)[1])
            + float(self.y @ py)
            - self.logdet_xx
        )
        return {"vmat": vmat, "bread": bread, "xtv": xtv, "p": pmat, "py": py, "ll": ll}

    def derivatives(
        self, parts: dict[str, Any], free: Sequence[int]
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Score, expected and observed information over the free components."""
        pmat, py = parts["p"], parts["py"]
        dmats = [self.same, np.eye(self.k)]
        pd_list = [pmat @ dmats[r] for r in free]
        score = np.array([0.5 * (py @ dmats[r] @ py) - 0.5 * np.trace(m) for r, m in
                          zip(free, pd_list, strict=True)])  # fmt: skip
        n = len(free)
        expected = np.empty((n, n))
        observed = np.empty((n, n))
        for a in range(n):
            for b in range(a, n):
                tr = 0.5 * float(np.sum(pd_list[a] * pd_list[b].T))
                quad = float(py @ dmats[free[a]] @ pmat @ dmats[free[b]] @ py)
                expected[a, b] = expected[b, a] = tr
                observed[a, b] = observed[b, a] = quad - tr  # minus the Hessian
        return score, expected, observed


def _maximize(reml: _Reml, start: FloatArray, free: list[int], floor: float) -> tuple[Any, bool]:
    """Projected Fisher scoring, then Newton, on theta >= floor (per component)."""
    theta = start.copy()
    for r in range(2):
        if r not in free:
            theta[r] = 0.0
    current = reml.parts(theta)
    scale = max(float(np.var(reml.y)), float(np.mean(reml.v)), 1e-300)
    converged = False
    for it in range(_MAX_ITER):
        score, expected, observed = reml.derivatives(current, free)
        active = [i for i, r in enumerate(free) if not (theta[r] <= floor and score[i] <= 0)]
        if not active:
            converged = True
            break
        sub = np.ix_(active, active)
        info = expected[sub]
        # Newton near the optimum (observed information positive definite), else Fisher scoring
        if it >= 3 and np.all(np.linalg.eigvalsh(observed[sub]) > 0):
            info = observed[sub]
        step = np.zeros(2)
        try:
            delta = np.linalg.solve(info, score[active])
        except np.linalg.LinAlgError:
            delta = score[active] / np.maximum(np.diag(info), 1e-300)
        for i, d in zip(active, delta, strict=True):
            step[free[i]] = d
        lam = 1.0
        while True:
            trial = np.maximum(theta + lam * step, floor)
            for r in range(2):
                if r not in free:
                    trial[r] = 0.0
            try:
                cand = reml.parts(trial)
            except np.linalg.LinAlgError:
                cand = None
            if cand is not None and cand["ll"] >= current["ll"] - 1e-13 * abs(current["ll"]):
                break
            lam /= 2.0
            if lam < 1e-12:
                cand = None
                break
        if cand is None:
            converged = True  # no ascent direction left at this precision
            break
        moved = float(np.max(np.abs(trial - theta)))
        theta, current = trial, cand
        if moved <= 1e-14 * scale + 1e-15 * float(np.max(np.abs(theta))):
            converged = True
            break
    current["theta"] = theta
    return current, converged


def fit_three_level(
    y: FloatArray,
    v: FloatArray,
    x: FloatArray,
    clusters: Sequence[object] | npt.ArrayLike,
    sigma2: tuple[float, float] | None = None,
) -> MultilevelFit:
    """Fit the three-level model by REML (see the module docstring).

    Parameters
    ----------
    y : ndarray, shape (k,)
        Effects.
    v : ndarray, shape (k,)
        Sampling variances (>= 0; zeros mean that the effects carry no known sampling error, so
        that ``sigma2_within`` holds all of the within-cluster variation).
    x : ndarray, shape (k, p)
        Design matrix with an intercept column.
    clusters : array_like, shape (k,)
        Cluster label of each effect.
    sigma2 : tuple of float, optional
        ``(sigma2_cluster, sigma2_within)`` fixed at these values instead of estimated (as
        metafor's ``sigma2`` argument of ``rma.mv``).

    Returns
    -------
    MultilevelFit
        Coefficients, covariance, variances, restricted log-likelihood, Q and the blocks.
    """
    k, p = x.shape
    index = cluster_index(clusters)
    codes = np.empty(k, dtype=np.intp)
    for j, idx in enumerate(index):
        codes[idx] = j
    same = (codes[:, None] == codes[None, :]).astype(np.float64)
    n_clusters = len(index)
    separable = 1 < n_clusters < k
    free = [0, 1] if separable else [1]
    reml = _Reml(y, v, x, same)
    ols = np.linalg.lstsq(x, y, rcond=None)[0]
    spread = float(np.sum((y - x @ ols) ** 2)) / max(k - p, 1)
    total = max(spread - float(np.mean(v)), 0.01 * spread, 1e-12)
    floor = 1e-10 * max(spread, 1e-300) if np.any(v <= 0) else 0.0
    start = np.array([total / 2.0, total / 2.0]) if separable else np.array([0.0, total])
    if sigma2 is None:
        best, converged = _maximize(reml, start, free, floor)
    else:
        if len(sigma2) != 2 or min(sigma2) < 0:
            raise InputError(f"sigma2 must be two variances >= 0, not {sigma2!r}")
        best, converged = reml.parts(np.asarray(sigma2, dtype=float)), True
        best["theta"] = np.asarray(sigma2, dtype=float)
    theta = best["theta"]
    bread = best["bread"]
    coef = bread @ (best["xtv"] @ y)
    resid = y - x @ coef
    if np.all(v > 0):
        w0 = 1.0 / v
        xw = x.T * w0
        b0 = np.linalg.solve(xw @ x, xw @ y)
        qe = float(np.sum(w0 * (y - x @ b0) ** 2))
    else:
        qe = math.nan
    vmat = best["vmat"]
    return MultilevelFit(
        coef=np.asarray(coef, dtype=np.float64),
        cov=np.asarray(bread, dtype=np.float64),
        sigma2_cluster=float(theta[0]),
        sigma2_within=float(theta[1]),
        loglik=float(best["ll"]),
        qe=qe,
        resid=np.asarray(resid, dtype=np.float64),
        index=index,
        blocks=[vmat[np.ix_(idx, idx)] for idx in index],
        separable=separable,
        converged=converged,
    )


def reml_loglik(
    y: npt.ArrayLike,
    v: npt.ArrayLike,
    x: npt.ArrayLike,
    clusters: Sequence[object] | npt.ArrayLike,
    sigma2_cluster: float,
    sigma2_within: float,
) -> float:
    """Restricted log-likelihood of the three-level model at given variances.

    The objective that :func:`fit_three_level` maximizes (metafor's ``logLik()`` of an
    ``rma.mv`` fit at its estimates); useful to compare two sets of estimates.

    Parameters
    ----------
    y, v : array_like, shape (k,)
        Effects and sampling variances.
    x : array_like, shape (k, p)
        Design matrix.
    clusters : array_like, shape (k,)
        Cluster labels.
    sigma2_cluster, sigma2_within : float
        The two variances.

    Returns
    -------
    float
        The restricted log-likelihood.
    """
    labels = np.asarray([str(c) for c in np.asarray(clusters, dtype=object).ravel()])
    same = np.equal.outer(labels, labels).astype(np.float64)
    reml = _Reml(np.asarray(y, dtype=float), np.asarray(v, dtype=float),
                 np.asarray(x, dtype=float), same)  # fmt: skip
    return float(reml.parts(np.array([sigma2_cluster, sigma2_within]))["ll"])


def _crit(level: float, df: float) -> float:
    upper = 0.5 + level / 2.0
    return float(stats.norm.ppf(upper) if math.isinf(df) else stats.t.ppf(upper, df))


def _pvalue(stat: float, df: float) -> float:
    if not math.isfinite(stat):
        return math.nan
    tail = stats.norm.sf(abs(stat)) if math.isinf(df) else stats.t.sf(abs(stat), df)
    return float(2.0 * tail)


def _check_inputs(
    effects: npt.ArrayLike, variances: npt.ArrayLike, clusters: Any, level: float
) -> tuple[FloatArray, FloatArray, np.ndarray]:
    # the checks of the univariate functions: one place for what counts as bad input
    from transferscope.stats.meta import _as_inputs, _check_level

    _check_level(level)
    y, v = _as_inputs(effects, variances)
    labels = np.asarray(clusters, dtype=object).ravel()
    if labels.size != y.size:
        raise InputError(f"{labels.size} cluster labels but {y.size} effects (expected one each)")
    missing = [i for i, c in enumerate(labels) if c is None or (isinstance(c, float) and c != c)]
    if missing:
        raise InputError(f"cluster label at position {missing[0]} is missing")
    return y, v, labels


def _message(fit: MultilevelFit, n_clusters: int, k: int) -> str:
    if fit.separable:
        return ""
    if n_clusters == 1:
        return "one cluster: its variance cannot be told from the mean, so it is fixed at 0"
    return f"one effect per cluster ({k}): the two variances cannot be told apart; all is within"


# --------------------------------------------------------------------------- pooled effect


@dataclass(frozen=True, kw_only=True)
class MultilevelEffect(Record):
    """Result of ``pool_effects(..., clusters=labels)``: the three-level pooled effect.

    Attributes
    ----------
    estimate, se : float
        Pooled effect and its standard error (CR2 cluster-robust when ``robust``).
    ci_low, ci_high, ci_level : float
        Confidence interval (z, or t with ``df`` degrees of freedom when ``robust``).
    statistic, pvalue, df : float
        z (or t) statistic of the test that the effect is zero, its two-sided p-value, and the
        degrees of freedom (``inf`` for z; Satterthwaite's with ``robust``).
    pi_low, pi_high : float
        Prediction interval for the effect of a new task in a new cluster.
    sigma2_cluster, sigma2_within : float
        Variance between clusters and between effects within a cluster.
    q, q_pvalue : float
        Cochran's Q (weights ``1 / v``) and its chi-square p-value with ``k - 1`` df.
    loglik : float
        Restricted log-likelihood (metafor's ``logLik()``).
    model_se : float
        Model-based standard error (equal to ``se`` without ``robust``).
    k, n_clusters : int
        Effects and clusters.
    method : str
        ``"REML"``.
    robust : bool
        Whether ``se`` and the intervals are CR2 cluster-robust.
    status : str
        ``"ok"``, or ``"one_cluster"`` when ``robust`` was asked with a single cluster (the
        model-based errors are reported).
    message : str
        Why a status is not ``ok``, or what the model could not separate; empty otherwise.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    ci_level: float
    statistic: float
    pvalue: float
    df: float
    pi_low: float
    pi_high: float
    sigma2_cluster: float
    sigma2_within: float
    q: float
    q_pvalue: float
    loglik: float
    model_se: float
    k: int
    n_clusters: int
    method: str
    robust: bool
    status: str
    message: str


def pool_multilevel(
    effects: npt.ArrayLike,
    variances: npt.ArrayLike,
    clusters: Sequence[object] | npt.ArrayLike,
    *,
    robust: bool = False,
    ci_level: float = 0.95,
    sigma2: tuple[float, float] | None = None,
) -> MultilevelEffect:
    """Pool effects nested in clusters by the three-level model (see the module docstring).

    ``transferscope.stats.pool_effects(effects, variances, clusters=labels, robust=...)`` calls
    this.

    Parameters
    ----------
    effects : array_like, shape (k,)
        Effect sizes.
    variances : array_like, shape (k,)
        Their sampling variances, all positive.
    clusters : array_like, shape (k,)
        Cluster label of each effect (e.g. the suite of each task).
    robust : bool, default False
        CR2 cluster-robust standard errors with Satterthwaite degrees of freedom.
    ci_level : float, default 0.95
        Level of the confidence and prediction intervals.
    sigma2 : tuple of float, optional
        Fix ``(sigma2_cluster, sigma2_within)`` instead of estimating them (metafor's
        ``sigma2`` argument).

    Returns
    -------
    MultilevelEffect
        Frozen result; ``summary()`` is a one-row DataFrame.

    Raises
    ------
    InputError
        Bad effects or variances (as :func:`~transferscope.stats.pool_effects`), or cluster
        labels of the wrong length or missing.
    """
    y, v, labels = _check_inputs(effects, variances, clusters, ci_level)
    return pool_fit(y, v, labels, robust=robust, ci_level=ci_level, sigma2=sigma2)


def pool_fit(
    y: FloatArray,
    v: FloatArray,
    labels: Sequence[object] | npt.ArrayLike,
    *,
    robust: bool,
    ci_level: float,
    sigma2: tuple[float, float] | None = None,
) -> MultilevelEffect:
    """:func:`pool_multilevel` on checked arrays; zero variances allowed (see the fitter).

    Parameters
    ----------
    y, v : ndarray, shape (k,)
        Effects and sampling variances (>= 0).
    labels : array_like, shape (k,)
        Cluster labels.
    robust : bool
        CR2 errors with Satterthwaite degrees of freedom.
    ci_level : float
        Level of the intervals.
    sigma2 : tuple of float, optional
        Fixed variances (see :func:`fit_three_level`).

    Returns
    -------
    MultilevelEffect
        As :func:`pool_multilevel`.
    """
    k = y.size
    x = np.ones((k, 1))
    fit = fit_three_level(y, v, x, labels, sigma2)
    n_clusters = len(fit.index)
    est = float(fit.coef[0])
    model_se = math.sqrt(float(fit.cov[0, 0]))
    se, df, status, message = model_se, math.inf, "ok", _message(fit, n_clusters, k)
    if robust and n_clusters >= 2:
        rob = cr2_vcov(x, fit.resid, fit.index, fit.blocks, fit.cov)
        se, df = math.sqrt(float(rob.vcov[0, 0])), float(rob.df[0])
    elif robust:
        status = "one_cluster"
        note = "cluster-robust errors need two clusters or more: model-based errors"
        message = "; ".join(m for m in (message, note) if m)
    crit = _crit(ci_level, df)
    stat = est / se if se > 0 else math.nan
    spread = math.sqrt(se**2 + fit.sigma2_cluster + fit.sigma2_within)
    return MultilevelEffect(
        estimate=est,
        se=se,
        ci_low=est - crit * se,
        ci_high=est + crit * se,
        ci_level=ci_level,
        statistic=stat,
        pvalue=_pvalue(stat, df),
        df=df,
        pi_low=est - crit * spread,
        pi_high=est + crit * spread,
        sigma2_cluster=fit.sigma2_cluster,
        sigma2_within=fit.sigma2_within,
        q=fit.qe,
        q_pvalue=float(stats.chi2.sf(fit.qe, k - 1))
        if k > 1 and math.isfinite(fit.qe)
        else math.nan,
        loglik=fit.loglik,
        model_se=model_se,
        k=k,
        n_clusters=n_clusters,
        method="REML",
        robust=bool(robust),
        status=status,
        message=message,
    )


# --------------------------------------------------------------------------- meta-regression


@dataclass(frozen=True, kw_only=True)
class MultilevelRegression(Record):
    """Result of ``meta_regression(..., clusters=labels)``: a three-level meta-regression.

    Attributes
    ----------
    terms : tuple of str
        Coefficient names (as :class:`~transferscope.stats.MetaRegression`).
    coef, se : tuple of float
        Coefficients and standard errors (CR2 cluster-robust when ``robust``).
    df : tuple of float
        Degrees of freedom of each coefficient's test (``inf`` for z; Satterthwaite's with
        ``robust``).
    model_se : tuple of float
        Model-based standard errors.
    ci_level : float
        Level of the intervals in :meth:`summary`.
    sigma2_cluster, sigma2_within : float
        Residual variance between clusters and within clusters.
    qm, qm_pvalue : float
        Omnibus test of the moderator coefficients: the model-based Wald chi-square with
        ``p - 1`` df; with ``robust`` and a single moderator coefficient, the square of its
        robust t statistic with the F(1, df) p-value (clubSandwich's HTZ test reduces to it);
        NaN with ``robust`` and several coefficients (the HTZ test is not implemented).
    qe, qe_pvalue : float
        Test of residual heterogeneity (chi-square with ``k - p`` df).
    loglik : float
        Restricted log-likelihood.
    k, p, n_clusters : int
        Effects, coefficients, clusters.
    method : str
        ``"REML"``.
    robust : bool
        Whether the errors are CR2.
    status : str
        ``"ok"`` or ``"one_cluster"`` (model-based errors reported).
    message : str
        Why, when the status is not ``ok`` or a variance could not be separated.
    """

    terms: tuple[str, ...]
    coef: tuple[float, ...]
    se: tuple[float, ...]
    df: tuple[float, ...]
    model_se: tuple[float, ...]
    ci_level: float
    sigma2_cluster: float
    sigma2_within: float
    qm: float
    qm_pvalue: float
    qe: float
    qe_pvalue: float
    loglik: float
    k: int
    p: int
    n_clusters: int
    method: str
    robust: bool
    status: str
    message: str
    vcov: tuple[tuple[float, ...], ...] = field(default=(), metadata=NOT_RECORDED)

    def summary(self) -> pd.DataFrame:
        """One row per coefficient.

        Returns
        -------
        pandas.DataFrame
            Columns ``term``, ``estimate``, ``se``, ``df``, ``statistic``, ``pvalue``,
            ``ci_low``, ``ci_high``, ``ci_level``.
        """
        rows = []
        for term, b, se, df in zip(self.terms, self.coef, self.se, self.df, strict=True):
            stat = b / se if se > 0 else math.nan
            crit = _crit(self.ci_level, df)
            rows.append(
                {
                    "term": term, "estimate": b, "se": se, "df": df, "statistic": stat,
                    "pvalue": _pvalue(stat, df), "ci_low": b - crit * se,
                    "ci_high": b + crit * se, "ci_level": self.ci_level,
                }
            )  # fmt: skip
        return pd.DataFrame(rows)


def regression_fit(
    y: FloatArray,
    v: FloatArray,
    x: FloatArray,
    terms: Sequence[str],
    labels: Sequence[object] | npt.ArrayLike,
    *,
    robust: bool,
    ci_level: float,
    sigma2: tuple[float, float] | None = None,
) -> MultilevelRegression:
    """Three-level meta-regression on a design matrix (``meta_regression(..., clusters=)``).

    Parameters
    ----------
    y, v : ndarray, shape (k,)
        Effects and sampling variances.
    x : ndarray, shape (k, p)
        Design matrix, intercept first.
    terms : sequence of str
        Coefficient names.
    labels : array_like, shape (k,)
        Cluster labels.
    robust : bool
        CR2 errors with Satterthwaite degrees of freedom.
    ci_level : float
        Level of the intervals in ``summary()``.
    sigma2 : tuple of float, optional
        Fixed variances (see :func:`fit_three_level`).

    Returns
    -------
    MultilevelRegression
        The fit.
    """
    k, p = x.shape
    fit = fit_three_level(y, v, x, labels, sigma2)
    n_clusters = len(fit.index)
    model_se = np.sqrt(np.diag(fit.cov))
    se, df, vcov = model_se, np.full(p, math.inf), fit.cov
    status, message = "ok", _message(fit, n_clusters, k)
    if robust and n_clusters >= 2:
        rob = cr2_vcov(x, fit.resid, fit.index, fit.blocks, fit.cov)
        vcov, se, df = rob.vcov, np.sqrt(np.diag(rob.vcov)), rob.df
    elif robust:
        status = "one_cluster"
        note = "cluster-robust errors need two clusters or more: model-based errors"
        message = "; ".join(m for m in (message, note) if m)
    b = fit.coef[1:]
    qm, qm_p = math.nan, math.nan
    if p > 1 and (not robust or status != "ok"):
        qm = float(b @ np.linalg.solve(fit.cov[1:, 1:], b))
        qm_p = float(stats.chi2.sf(qm, p - 1))
    elif p == 2:
        qm = float(b[0] ** 2 / vcov[1, 1])
        qm_p = float(stats.f.sf(qm, 1, df[1]))
    return MultilevelRegression(
        terms=tuple(terms),
        coef=tuple(float(c) for c in fit.coef),
        se=tuple(float(s) for s in se),
        df=tuple(float(d) for d in df),
        model_se=tuple(float(s) for s in model_se),
        ci_level=ci_level,
        sigma2_cluster=fit.sigma2_cluster,
        sigma2_within=fit.sigma2_within,
        qm=qm,
        qm_pvalue=qm_p,
        qe=fit.qe,
        qe_pvalue=float(stats.chi2.sf(fit.qe, k - p))
        if k > p and math.isfinite(fit.qe)
        else math.nan,
        loglik=fit.loglik,
        k=k,
        p=p,
        n_clusters=n_clusters,
        method="REML",
        robust=bool(robust),
        status=status,
        message=message,
        vcov=tuple(tuple(float(c) for c in row) for row in vcov),
    )
