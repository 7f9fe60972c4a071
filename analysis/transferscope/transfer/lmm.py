"""Linear mixed model with crossed random intercepts (e.g. model x task), by ML or REML.

``y = X beta + b_1[g_1] + ... + b_K[g_K] + e`` with ``b_k ~ N(0, sigma_k^2)`` per level of
factor ``k`` and ``e ~ N(0, sigma^2)``: the model of effective-transfer residuals with a random
effect per model (a model's residuals on different tasks are correlated) and per task. statsmodels'
``MixedLM`` handles crossed factors only as variance components of one dense group, which is slow
for a thousand models; this kernel follows lme4's formulation instead (Bates et al. 2015): the
relative scales ``theta_k = sigma_k / sigma`` are the only parameters of the profiled deviance,
and for given ``theta`` the penalized least-squares problem

    minimize ||y - X beta - Z Lambda u||^2 + ||u||^2

is solved by a block Cholesky factorization in which the first (largest) factor's block is
diagonal (each observation has one level), so that the dense part is only as large as the other
factors' levels plus the fixed effects. With ``r^2`` the minimum, ``L`` the Cholesky factor of
``Lambda Z'Z Lambda + I`` and ``R_X`` that of the fixed effects' Schur complement,

- ML:   ``-2 log L = log|L|^2 + n (1 + log(2 pi r^2 / n))``;
- REML: ``-2 log L_R = log|L|^2 + log|R_X|^2 + (n - p) (1 + log(2 pi r^2 / (n - p)))``.

``theta`` is found by bounded Nelder-Mead (``theta >= 0``) from two starts; the covariance of
``beta`` is ``sigma^2 (R_X' R_X)^-1`` at the optimum (as lme4's ``vcov``). The tests check the
kernel against statsmodels' ``MixedLM`` (one factor) and against the ANOVA estimates of a
balanced two-way layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, optimize
from threadpoolctl import threadpool_limits

from transferscope.errors import InputError
from transferscope.records import NOT_RECORDED, Record

Array = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True, kw_only=True)
class CrossedFit(Record):
    """A fitted crossed random-intercept model.

    Attributes
    ----------
    coef, se : tuple of float
        Fixed effects and their standard errors (``sigma^2 (R_X' R_X)^-1``).
    variances : tuple of float
        ``sigma_k^2`` of each random factor, in the order given.
    sigma2 : float
        Residual variance.
    deviance : float
        ``-2 log L`` (ML) or ``-2 log L_R`` (REML) at the optimum.
    reml : bool
        Which criterion.
    n_obs, n_params : int
        Observations and fixed effects.
    n_levels : tuple of int
        Levels of each random factor.
    converged : bool
        Whether the optimizer reported success.
    status : str
        ``ok``, ``boundary`` (a variance at 0) or ``did_not_converge``.
    cov : numpy.ndarray
        Covariance of the fixed effects.
    effects : tuple of numpy.ndarray
        Conditional modes (BLUPs) of the random effects of each factor.
    """

    coef: tuple[float, ...]
    se: tuple[float, ...]
    variances: tuple[float, ...]
    sigma2: float
    deviance: float
    reml: bool
    n_obs: int
    n_params: int
    n_levels: tuple[int, ...]
    converged: bool
    status: str
    cov: Array = field(metadata=NOT_RECORDED, repr=False)
    effects: tuple[Array, ...] = field(metadata=NOT_RECORDED, repr=False)

    @property
    def loglik(self) -> float:
        """The maximized (restricted) log-likelihood."""
        return -0.5 * self.deviance


@dataclass
class _Data:
    x: Array
    sizes: list[int]
    n0: Array  # observations per level of factor 0
    zr: Array  # indicators of the other factors, (n, qr)
    c0r: Array  # Z0'Zr, (q0, qr)
    c0x: Array  # Z0'X, (q0, p)
    c0y: Array  # Z0'y, (q0,)
    rr: Array  # Zr'Zr
    rx: Array  # Zr'X
    ry: Array  # Zr'y
    xx: Array
    xy: Array
    yy: float
    index_r: list[slice]


def _prepare(y: Array, x: Array, codes: Sequence[IntArray]) -> _Data:
    n = len(y)
    sizes = [int(c.max()) + 1 if len(c) else 0 for c in codes]
    c0 = codes[0]
    q0 = sizes[0]
    n0 = np.bincount(c0, minlength=q0).astype(np.float64)
    blocks = []
    index_r = []
    start = 0
    for c, q in zip(codes[1:], sizes[1:], strict=True):
        z = np.zeros((n, q))
        z[np.arange(n), c] = 1.0
        blocks.append(z)
        index_r.append(slice(start, start + q))
        start += q
    zr = np.hstack(blocks) if blocks else np.zeros((n, 0))

    def by_level(values: Array) -> Array:
        out = np.zeros((q0, values.shape[1]))
        np.add.at(out, c0, values)
        return out

    return _Data(
        x=x,
        sizes=sizes,
        n0=n0,
        zr=zr,
        c0r=by_level(zr),
        c0x=by_level(x),
        c0y=np.bincount(c0, weights=y, minlength=q0).astype(np.float64),
        rr=zr.T @ zr,
        rx=zr.T @ x,
        ry=zr.T @ y,
        xx=x.T @ x,
        xy=x.T @ y,
        yy=float(y @ y),
        index_r=index_r,
    )


@dataclass
class _Solution:
    deviance: float
    pwrss: float
    d: Array
    b: Array
    chol: Array
    c0: Array
    c2: Array
    qr: int


def _solve(data: _Data, theta: Array, reml: bool) -> _Solution:
    n, p = data.x.shape
    qr = data.zr.shape[1]
    t0 = float(theta[0])
    lam_r = (
        np.concatenate(
            [np.full(data.sizes[k + 1], theta[k + 1]) for k in range(len(data.sizes) - 1)]
        )
        if qr
        else np.zeros(0)
    )
    d = np.sqrt(t0 * t0 * data.n0 + 1.0)
    b = np.hstack([t0 * data.c0r * lam_r[None, :], t0 * data.c0x]) / d[:, None]
    top = np.hstack(
        [lam_r[:, None] * data.rr * lam_r[None, :] + np.eye(qr), lam_r[:, None] * data.rx]
    )
    bottom = np.hstack([(lam_r[:, None] * data.rx).T, data.xx])
    # BLAS on one thread (fit_crossed limits it): a threaded BLAS on a busy machine spends most
    # of its time on these small products waiting for its own threads
    schur = np.vstack([top, bottom]) - b.T @ b
    c0 = t0 * data.c0y / d
    rhs = np.concatenate([lam_r * data.ry, data.xy]) - b.T @ c0
    chol = linalg.cholesky(schur, lower=True, check_finite=False)
    c2 = linalg.solve_triangular(chol, rhs, lower=True, check_finite=False)
    pwrss = max(data.yy - float(c0 @ c0) - float(c2 @ c2), 1e-300)
    diag = np.log(np.diagonal(chol))
    logdet_re = 2.0 * float(np.sum(np.log(d))) + 2.0 * float(np.sum(diag[:qr]))
    if reml:
        dof = n - p
        deviance = logdet_re + 2.0 * float(np.sum(diag[qr:]))
        deviance += dof * (1.0 + math.log(2.0 * math.pi * pwrss / dof))
    else:
        deviance = logdet_re + n * (1.0 + math.log(2.0 * math.pi * pwrss / n))
    return _Solution(deviance, pwrss, d, b, chol, c0, c2, qr)


def fit_crossed(
    y: Sequence[float] | Array,
    x: Array,
    factors: Sequence[Sequence[Any] | Array],
    *,
    reml: bool = True,
) -> CrossedFit:
    """Fit ``y = X beta + sum_k b_k[factor_k] + e`` with crossed random intercepts.

    Parameters
    ----------
    y : array_like
        Response, shape ``(n,)``.
    x : numpy.ndarray
        Fixed-effects design, shape ``(n, p)``, of full column rank (include the intercept).
    factors : sequence of array_like
        One label per observation for each random factor; put the factor with the most levels
        first (its block is handled as a diagonal). With none, the model is fitted by least
        squares (``variances`` is empty).
    reml : bool
        REML (default) or ML (for likelihood-ratio tests of fixed effects).

    Returns
    -------
    CrossedFit
        Estimates; ``status`` is ``boundary`` when a variance is estimated at zero.

    Raises
    ------
    InputError
        For mismatched lengths, non-finite values, or a design without full rank.
    """
    ya = np.asarray(y, dtype=np.float64)
    xa = np.asarray(x, dtype=np.float64)
    if xa.ndim != 2 or xa.shape[0] != ya.shape[0]:
        raise InputError(f"x must have shape (n, p) with n = {ya.shape[0]}, got {xa.shape}")
    if not (np.isfinite(ya).all() and np.isfinite(xa).all()):
        raise InputError("y and x must be finite")
    n, p = xa.shape
    if n <= p:
        raise InputError(f"{n} observations for {p} fixed effects")
    if len(full_rank_columns(xa)) < p:
        raise InputError("the fixed-effects design is not of full column rank")
    if not factors:
        return _fit_fixed(ya, xa, reml)
    codes = []
    for f in factors:
        labels = np.asarray(f, dtype=object)
        if labels.shape[0] != n:
            raise InputError(f"a factor has {labels.shape[0]} labels for {n} observations")
        codes.append(np.unique(labels.astype(str), return_inverse=True)[1].astype(np.intp))
    # one BLAS thread: the Schur complements are small (a few hundred rows), and a threaded
    # Cholesky of a 130 x 130 matrix took 500 times as long as one thread on a busy machine
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_crossed(_prepare(ya, xa, codes), len(codes), reml)


def _fit_crossed(data: _Data, k: int, reml: bool) -> CrossedFit:
    n, p = data.x.shape

    def objective(theta: Array) -> float:
        try:
            return _solve(data, theta, reml).deviance
        except (np.linalg.LinAlgError, ValueError):
            return math.inf

    best: Any = None
    for start in (np.ones(k), np.full(k, 0.2)):
        # Nelder-Mead with bounds: derivative-free and BLAS-free, which matters on a busy
        # machine, where L-BFGS-B's small threaded linear algebra waits on its own threads
        found = optimize.minimize(
            objective, start, method="Nelder-Mead", bounds=[(0.0, None)] * k,
            options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 2000 * k},
        )  # fmt: skip
        if best is None or found.fun < best.fun:
            best = found
    theta = np.asarray(best.x, dtype=np.float64)
    sol = _solve(data, theta, reml)
    sigma2 = sol.pwrss / (n - p if reml else n)
    rx = sol.chol[sol.qr :, sol.qr :]
    rx_inv = linalg.solve_triangular(rx, np.eye(p), lower=True, check_finite=False)
    cov = sigma2 * (rx_inv.T @ rx_inv)
    full = linalg.solve_triangular(sol.chol.T, sol.c2, lower=False, check_finite=False)
    beta = full[sol.qr :]
    u_r = full[: sol.qr]
    u0 = (sol.c0 - np.einsum("ij,j->i", sol.b, full)) / sol.d
    sigma = math.sqrt(sigma2)
    effects = [theta[0] * sigma * u0]
    for j, part in enumerate(data.index_r):
        effects.append(theta[j + 1] * sigma * u_r[part])
    variances = tuple(float((t * t) * sigma2) for t in theta)
    scale = max(sigma2, 1e-300)
    boundary = any(v <= 1e-8 * scale for v in variances)
    status = "did_not_converge" if not best.success else ("boundary" if boundary else "ok")
    return CrossedFit(
        coef=tuple(float(v) for v in beta),
        se=tuple(float(math.sqrt(max(c, 0.0))) for c in np.diagonal(cov)),
        variances=variances,
        sigma2=float(sigma2),
        deviance=float(sol.deviance),
        reml=reml,
        n_obs=n,
        n_params=p,
        n_levels=tuple(data.sizes),
        converged=bool(best.success),
        status=status,
        cov=cov,
        effects=tuple(effects),
    )


def _fit_fixed(y: Array, x: Array, reml: bool) -> CrossedFit:
    """Fit the model without random effects (least squares), with the same criteria."""
    n, p = x.shape
    xtx = x.T @ x
    beta = np.linalg.solve(xtx, x.T @ y)
    resid = y - x @ beta
    rss = max(float(resid @ resid), 1e-300)
    dof = n - p if reml else n
    sigma2 = rss / dof
    deviance = dof * (1.0 + math.log(2.0 * math.pi * rss / dof))
    if reml:
        deviance += float(np.linalg.slogdet(xtx)[1])
    cov = sigma2 * np.linalg.inv(xtx)
    return CrossedFit(
        coef=tuple(float(v) for v in beta),
        se=tuple(float(math.sqrt(max(c, 0.0))) for c in np.diagonal(cov)),
        variances=(),
        sigma2=float(sigma2),
        deviance=float(deviance),
        reml=reml,
        n_obs=n,
        n_params=p,
        n_levels=(),
        converged=True,
        status="ok",
        cov=cov,
        effects=(),
    )


def full_rank_columns(x: Array, tol: float = 1e-9) -> list[int]:
    """Find columns of ``x`` that span its column space (greedy, in order).

    A column is kept when its distance from the span of the columns kept before it exceeds
    ``tol`` times its norm (an in-order Cholesky of ``x'x``).

    Parameters
    ----------
    x : numpy.ndarray
        Design, shape ``(n, p)``.
    tol : float
        Relative tolerance.

    Returns
    -------
    list of int
        Column indices kept (the first column of each dependent set is kept).
    """
    gram = np.einsum("ij,ik->jk", x, x)
    kept: list[int] = []
    factor = np.zeros((0, 0))
    for j in range(x.shape[1]):
        norm2 = float(gram[j, j])
        if norm2 <= 0.0:
            continue
        if kept:
            v = linalg.solve_triangular(factor, gram[kept, j], lower=True, check_finite=False)
            resid2 = norm2 - float(v @ v)
        else:
            v = np.zeros(0)
            resid2 = norm2
        if resid2 > (tol * tol) * norm2:
            k = len(kept)
            grown = np.zeros((k + 1, k + 1))
            grown[:k, :k] = factor
            grown[k, :k] = v
            grown[k, k] = math.sqrt(resid2)
            factor = grown
            kept.append(j)
    return kept
