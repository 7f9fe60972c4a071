"""Vectorized numpy kernels: frontiers and fits of many resamples at once.

The bootstrap of a frontier fit repeats one fit on B resamples of the same n models. Done one
resample at a time that is B calls of an optimizer; here the B problems are solved together, as
arrays of shape ``(B, n)``: a resample is a row of multiplicities (how often each model was drawn),
the frontier of every row is found with cumulative maxima over the models sorted once by upstream
score, and one damped Gauss-Newton (Levenberg-Marquardt) iteration updates every unfinished row
with a batched ``(B, P, P)`` linear solve. Rows that have converged drop out of the iteration.

Three objectives share that solver (:func:`solve`):

- :class:`LeastSquares`: weighted least squares (``hull``, ``pareto``, ``all``);
- :class:`Quantile`: the pinball loss at level ``tau``, smoothed within ``h`` of zero so that it is
  differentiable (iteratively reweighted Gauss-Newton steps);
- :class:`StochasticFrontier`: the likelihood of ``y = f(x) - u + v`` with ``v`` normal and ``u``
  half-normal or exponential (scores of each observation give a BHHH curvature).

Nothing here knows about DataFrames; the functions take and return numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy import special

from transferscope.frontier.families import Family, central_jacobian

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]
Inefficiency = Literal["half_normal", "exponential", "cluster", "cluster_exponential"]
#: Shape of the tail of the two-part shortfall (:class:`ClusterFrontier`).
Tail = Literal["half_normal", "exponential"]
#: The two-part shortfall with each tail shape.
TWO_PART: Final[dict[Tail, Inefficiency]] = {
    "half_normal": "cluster",
    "exponential": "cluster_exponential",
}
#: The tail shapes, in the order the default fit tries them.
TAILS: Final[tuple[Tail, ...]] = tuple(TWO_PART)

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
#: Bounds of the noise and inefficiency scales of the stochastic frontier (accuracy units).
SIGMA_BOUNDS = (1e-6, 1.0)
#: Default smallest noise standard deviation of the stochastic frontier (accuracy units): about
#: the sampling error of an accuracy of 0.95 measured on 50,000 examples (ImageNet's validation
#: set), the most precise accuracies published tables hold.
NOISE_FLOOR = 1e-3
#: Density of a gross error in the contaminated stochastic frontier: uniform over the residual
#: range [-1, 1] of scores in [0, 1].
OUTLIER_DENSITY = 0.5


# --------------------------------------------------------------------------------------------
# resampling and frontier points
# --------------------------------------------------------------------------------------------


def bootstrap_indices(n: int, n_boot: int, rng: np.random.Generator) -> IntArray:
    """Draw the indices of ``n_boot`` nonparametric bootstrap resamples of ``n`` models.

    Parameters
    ----------
    n : int
        Number of models.
    n_boot : int
        Number of resamples.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_boot, n)``: row ``b`` lists the models drawn (with replacement) for resample b.
    """
    return rng.integers(0, n, size=(n_boot, n)).astype(np.intp)


def counts_from_indices(indices: IntArray, n: int) -> Array:
    """Multiplicity of every model in every resample.

    Parameters
    ----------
    indices : numpy.ndarray
        Shape ``(B, m)``, from :func:`bootstrap_indices`.
    n : int
        Number of models.

    Returns
    -------
    numpy.ndarray
        Shape ``(B, n)``: how often model j was drawn in resample b (float).
    """
    b = indices.shape[0]
    flat = (indices + (np.arange(b, dtype=np.intp) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def sort_order(x: Array, y: Array) -> IntArray:
    """Order by increasing ``x``, ties by decreasing ``y`` (the order the frontier scans use).

    Parameters
    ----------
    x, y : numpy.ndarray
        Upstream and downstream scores.

    Returns
    -------
    numpy.ndarray
        Permutation of ``range(len(x))``.
    """
    return np.lexsort((-y, x)).astype(np.intp)


def pareto_mask(y_sorted: Array, present: BoolArray) -> BoolArray:
    """Points where the running maximum of ``y`` over increasing ``x`` rises.

    Parameters
    ----------
    y_sorted : numpy.ndarray
        Downstream scores in :func:`sort_order`, shape ``(n,)``.
    present : numpy.ndarray
        Shape ``(B, n)``: which models are in each resample (same order).

    Returns
    -------
    numpy.ndarray
        Shape ``(B, n)``: True for the frontier points of each resample. A point is on it when its
        ``y`` exceeds that of every present point with smaller ``x`` (or equal ``x`` and larger
        ``y``); duplicates count once.
    """
    ym = np.where(present, y_sorted, -np.inf)
    running = np.maximum.accumulate(ym, axis=1)
    before = np.empty_like(running)
    before[:, 0] = -np.inf
    before[:, 1:] = running[:, :-1]
    out: BoolArray = present & (ym > before)
    return out


def compact(mask: BoolArray) -> tuple[IntArray, BoolArray]:
    """Positions of the True entries of each row, left-aligned.

    Parameters
    ----------
    mask : numpy.ndarray
        Shape ``(B, n)``.

    Returns
    -------
    index : numpy.ndarray
        Shape ``(B, m)`` with ``m`` the largest row count: column positions (0 where padded).
    valid : numpy.ndarray
        Shape ``(B, m)``: False for padding.
    """
    counts = mask.sum(axis=1)
    m = int(counts.max()) if counts.size else 0
    rows, cols = np.nonzero(mask)
    slot = (np.cumsum(mask, axis=1) - 1)[rows, cols]
    index = np.zeros((mask.shape[0], m), dtype=np.intp)
    index[rows, slot] = cols
    valid = np.arange(m)[None, :] < counts[:, None]
    return index, valid


def upper_hull(xs: Array, ys: Array, valid: BoolArray) -> BoolArray:
    """Keep the points of each row that are vertices of its upper concave majorant.

    Parameters
    ----------
    xs, ys : numpy.ndarray
        Shape ``(B, m)``: Pareto points of each row, left-aligned, with strictly increasing ``x``
        and ``y`` along the valid entries (as from :func:`pareto_mask` and :func:`compact`).
    valid : numpy.ndarray
        Shape ``(B, m)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(B, m)``: True for the vertices of the rising part of the upper convex hull. A point
        on or below the chord between its neighbours is no vertex, so all such points are removed
        at once, until none is left.
    """
    keep = valid.copy()
    b, m = xs.shape
    if m < 3:
        return keep
    pos = np.arange(m)
    scale = max(float(np.nanmax(np.abs(ys[valid]))) if valid.any() else 1.0, 1.0)
    while True:
        prev = np.maximum.accumulate(np.where(keep, pos, -1), axis=1)
        prev = np.concatenate([np.full((b, 1), -1), prev[:, :-1]], axis=1)
        nxt = np.minimum.accumulate(np.where(keep, pos, m)[:, ::-1], axis=1)[:, ::-1]
        nxt = np.concatenate([nxt[:, 1:], np.full((b, 1), m)], axis=1)
        inner = keep & (prev >= 0) & (nxt < m)
        if not inner.any():
            return keep
        p = np.clip(prev, 0, m - 1)
        q = np.clip(nxt, 0, m - 1)
        xp, yp = np.take_along_axis(xs, p, 1), np.take_along_axis(ys, p, 1)
        xq, yq = np.take_along_axis(xs, q, 1), np.take_along_axis(ys, q, 1)
        cross = (xq - xp) * (ys - yp) - (yq - yp) * (xs - xp)
        drop = inner & (cross <= 1e-13 * scale)
        if not drop.any():
            return keep
        keep &= ~drop


def frontier_masks(
    x_sorted: Array, y_sorted: Array, present: BoolArray, kind: Literal["hull", "pareto"]
) -> BoolArray:
    """Frontier points of every resample.

    Parameters
    ----------
    x_sorted, y_sorted : numpy.ndarray
        Scores in :func:`sort_order`, shape ``(n,)``.
    present : numpy.ndarray
        Shape ``(B, n)``: models present in each resample.
    kind : {"hull", "pareto"}
        Rising part of the upper convex hull, or running maximum.

    Returns
    -------
    numpy.ndarray
        Shape ``(B, n)``: True for the frontier points.
    """
    front = pareto_mask(y_sorted, present)
    if kind == "pareto":
        return front
    index, valid = compact(front)
    xs = np.where(valid, x_sorted[index], 0.0)
    ys = np.where(valid, y_sorted[index], 0.0)
    keep = upper_hull(xs, ys, valid)
    out = np.zeros_like(front)
    rows = np.nonzero(keep)[0]
    out[rows, index[keep]] = True
    return out


# --------------------------------------------------------------------------------------------
# objectives
# --------------------------------------------------------------------------------------------


class Problem(Protocol):
    """A batch of B minimization problems over parameter vectors of length P."""

    lower: Array
    upper: Array

    def objective(self, theta: Array, rows: IntArray) -> Array:
        """Objective of rows ``rows`` at ``theta`` (shape ``(k, P)``); returns shape ``(k,)``."""
        ...

    def derivatives(self, theta: Array, rows: IntArray) -> tuple[Array, Array, Array]:
        """Return objective ``(k,)``, gradient ``(k, P)`` and curvature ``(k, P, P)``."""
        ...


def _rows(a: Array, rows: IntArray) -> Array:
    return a if a.shape[0] == 1 else a[rows]


class _CurveProblem:
    """Shared parts: the data of B rows and the family's curve and Jacobian."""

    def __init__(self, family: Family, x: Array, y: Array, w: Array) -> None:
        self.family = family
        self.x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        self.y = np.atleast_2d(np.asarray(y, dtype=np.float64))
        self.w = np.atleast_2d(np.asarray(w, dtype=np.float64))
        self.p = len(family.names)

    def _data(self, rows: IntArray) -> tuple[Array, Array, Array]:
        return _rows(self.x, rows), _rows(self.y, rows), _rows(self.w, rows)

    def _cols(self, theta: Array) -> list[Array]:
        return [theta[:, j : j + 1] for j in range(self.p)]

    def _curve(self, x: Array, theta: Array) -> Array:
        with np.errstate(all="ignore"):
            return np.asarray(self.family.curve(x, *self._cols(theta)), dtype=np.float64)

    def _jac(self, x: Array, theta: Array) -> list[Array]:
        """Differentiate the curve by each parameter (arrays of shape ``(k, n)``)."""
        cols = self._cols(theta)
        with np.errstate(all="ignore"):
            parts = self.family.jacobian(x, *cols)
            if parts is None:
                fam = self.family
                parts = central_jacobian(fam.curve, x, cols, fam.lower, fam.upper)
            shape = np.broadcast_shapes(x.shape, (theta.shape[0], 1))
            return [np.broadcast_to(d, shape) for d in parts]


def dot(parts: list[Array], v: Array) -> Array:
    """Contract per-parameter arrays with a vector over observations.

    Parameters
    ----------
    parts : list of numpy.ndarray
        ``p`` arrays of shape ``(k, n)`` (e.g. the curve's derivatives).
    v : numpy.ndarray
        Shape ``(k, n)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(k, p)``: ``sum_n parts[j][:, n] * v[:, n]`` (one einsum per parameter, much
        faster than a batched matmul with a small inner dimension).
    """
    v = np.broadcast_to(v, parts[0].shape)
    return np.stack([np.einsum("bn,bn->b", d, v) for d in parts], axis=1)


def gram(parts: list[Array], h: Array) -> Array:
    """Weighted Gram matrices ``sum_n h J J'`` of per-parameter arrays.

    Parameters
    ----------
    parts : list of numpy.ndarray
        ``p`` arrays of shape ``(k, n)``.
    h : numpy.ndarray
        Weights, shape ``(k, n)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(k, p, p)``.
    """
    p = len(parts)
    out = np.empty((parts[0].shape[0], p, p))
    h = np.broadcast_to(h, parts[0].shape)
    for i in range(p):
        weighted = parts[i] * h
        for j in range(i, p):
            out[:, i, j] = out[:, j, i] = np.einsum("bn,bn->b", weighted, parts[j])
    return out


class LeastSquares(_CurveProblem):
    """Weighted least squares, ``0.5 * sum_j w_bj (y_bj - f(x_bj; theta_b))**2`` per row b.

    Parameters
    ----------
    family : Family
        The curve.
    x, y : numpy.ndarray
        Shape ``(B, n)`` or ``(1, n)`` (shared by every row).
    w : numpy.ndarray
        Weights (multiplicities; 0 leaves a point out), shape ``(B, n)`` or ``(1, n)``.
    """

    def __init__(self, family: Family, x: Array, y: Array, w: Array) -> None:
        super().__init__(family, x, y, w)
        self.lower = family.lower
        self.upper = family.upper

    def objective(self, theta: Array, rows: IntArray) -> Array:
        """Half the weighted residual sum of squares per row."""
        x, y, w = self._data(rows)
        r = y - self._curve(x, theta)
        return np.asarray(0.5 * np.einsum("bn,bn->b", w * r, r), dtype=np.float64)

    def derivatives(self, theta: Array, rows: IntArray) -> tuple[Array, Array, Array]:
        """Objective, gradient and the Gauss-Newton matrix ``J' W J``."""
        x, y, w = self._data(rows)
        r = y - self._curve(x, theta)
        jac = self._jac(x, theta)
        wr = w * r
        obj = 0.5 * np.einsum("bn,bn->b", wr, r)
        grad = -dot(jac, wr)
        hess = gram(jac, w)
        return obj, grad, hess


def pinball(r: Array, tau: float, h: float) -> Array:
    """Pinball loss at level ``tau`` with its kink smoothed within ``h`` of zero.

    ``rho(r) = |r|_h / 2 + (tau - 1/2) r`` with ``|r|_h = r**2 / (2h)`` for ``|r| <= h`` and
    ``|r| - h/2`` beyond: the plain pinball loss minus ``h/4`` outside the zone, convex and
    continuously differentiable (the smoothing of Hunter and Lange's 2000 MM algorithm).

    Parameters
    ----------
    r : numpy.ndarray
        Residuals ``y - f(x)``.
    tau : float
        Quantile level in (0, 1).
    h : float
        Half-width of the quadratic zone (0 gives the plain pinball loss).

    Returns
    -------
    numpy.ndarray
        The loss per residual.
    """
    a = np.abs(r)
    smooth = a if h <= 0 else np.where(a > h, a - 0.5 * h, 0.5 * r * r / h)
    return np.asarray(0.5 * smooth + (tau - 0.5) * r, dtype=np.float64)


def pinball_weights(r: Array, tau: float, h: float) -> tuple[Array, Array]:
    """Compute the derivative of :func:`pinball` and the weights of its quadratic majorizer.

    Parameters
    ----------
    r : numpy.ndarray
        Residuals.
    tau, h : float
        As for :func:`pinball`.

    Returns
    -------
    psi : numpy.ndarray
        ``d rho / d r``.
    omega : numpy.ndarray
        ``1 / (2 max(|r|, h))``: the curvature of the majorizer, so that a Gauss-Newton step with
        these weights is one step of iteratively reweighted least squares.
    """
    a = np.maximum(np.abs(r), h)
    psi = 0.5 * r / a + (tau - 0.5)
    return np.asarray(psi, dtype=np.float64), np.asarray(0.5 / a, dtype=np.float64)


class Quantile(_CurveProblem):
    """Weighted smoothed pinball loss ``sum_j w_bj rho_tau(y_bj - f(x_bj; theta_b))`` per row b.

    The curvature is that of iteratively reweighted least squares,
    ``J' diag(w / (2 max(|r|, h))) J``, so a full step is one IRLS step.

    Parameters
    ----------
    family : Family
        The curve.
    x, y, w : numpy.ndarray
        As for :class:`LeastSquares`.
    tau : float
        Quantile level.
    h : float
        Smoothing half-width, see :func:`pinball`.
    """

    def __init__(self, family: Family, x: Array, y: Array, w: Array, tau: float, h: float) -> None:
        super().__init__(family, x, y, w)
        self.tau, self.h = float(tau), float(h)
        self.lower = family.lower
        self.upper = family.upper

    def objective(self, theta: Array, rows: IntArray) -> Array:
        """Weighted smoothed pinball loss per row."""
        x, y, w = self._data(rows)
        r = y - self._curve(x, theta)
        return np.asarray(np.einsum("bn,bn->b", w, pinball(r, self.tau, self.h)), np.float64)

    def derivatives(self, theta: Array, rows: IntArray) -> tuple[Array, Array, Array]:
        """Objective, gradient and the IRLS curvature."""
        x, y, w = self._data(rows)
        r = y - self._curve(x, theta)
        jac = self._jac(x, theta)
        psi, omega = pinball_weights(r, self.tau, self.h)
        obj = np.einsum("bn,bn->b", w, pinball(r, self.tau, self.h))
        grad = -dot(jac, w * psi)
        hess = gram(jac, w * omega)
        return obj, grad, hess


def _loglik_parts(
    eps: Array, sigma_v: Array, sigma_u: Array, inefficiency: Inefficiency
) -> tuple[Array, Array]:
    """Log-density and the ``log Phi`` term inside it (reused by the derivatives)."""
    with np.errstate(all="ignore"):
        if inefficiency == "half_normal":
            s2 = sigma_v * sigma_v + sigma_u * sigma_u
            a = eps * (-sigma_u / (sigma_v * np.sqrt(s2)))
            log_cdf = special.log_ndtr(a)
            const = np.log(2.0) - 0.5 * np.log(s2) - _LOG_SQRT_2PI
            return np.asarray(const - (0.5 / s2) * eps * eps + log_cdf, np.float64), log_cdf
        if inefficiency == "exponential":
            b = eps * (-1.0 / sigma_v) - sigma_v / sigma_u
            log_cdf = special.log_ndtr(b)
            const = -np.log(sigma_u) + 0.5 * (sigma_v / sigma_u) ** 2
            return np.asarray(const + eps * (1.0 / sigma_u) + log_cdf, np.float64), log_cdf
    raise ValueError(f"unknown inefficiency {inefficiency!r}")


def _mills(z: Array, log_cdf: Array | None = None) -> tuple[Array, Array, Array]:
    """``log Phi(z)``, the inverse Mills ratio ``m = phi(z) / Phi(z)`` and ``d m / d z``."""
    if log_cdf is None:
        log_cdf = special.log_ndtr(z)
    m = np.exp(-0.5 * z * z - _LOG_SQRT_2PI - log_cdf)
    return log_cdf, m, -m * (z + m)


def sfa_derivatives(
    eps: Array,
    w: Array,
    jac: list[Array],
    log_sigma_v: Array,
    log_sigma_u: Array,
    inefficiency: Inefficiency,
    curve_hessian: Array | None = None,
    log_cdf: Array | None = None,
    with_objective: bool = True,
) -> tuple[Array, Array, Array]:
    """Weighted negative log-likelihood of a stochastic frontier, its gradient and Hessian.

    The parameters are the curve's ``theta`` (through ``eps = y - f(x; theta)``, whose Jacobian is
    ``-jac``) and the log scales. The log-density's derivatives are analytic, written with
    the inverse Mills ratio ``m(z) = phi(z) / Phi(z)`` and ``m'(z) = -m (z + m)``, and summed over
    observations before the per-row scale terms are applied, so that each observation costs one
    ``log Phi`` and one ``exp``.

    Parameters
    ----------
    eps : numpy.ndarray
        Shape ``(B, n)``: residuals.
    w : numpy.ndarray
        Shape ``(B, n)`` or ``(1, n)``: observation weights.
    jac : list of numpy.ndarray
        ``p`` arrays of shape ``(B, n)``: derivatives of the curve by its parameters.
    log_sigma_v, log_sigma_u : numpy.ndarray
        Shape ``(B, 1)``.
    inefficiency : {"half_normal", "exponential"}
        Distribution of ``u``.
    curve_hessian : numpy.ndarray, optional
        Shape ``(B, p, p, n)``: second derivatives of the curve; with them the Hessian is exact
        (Newton's method), without them it is the Gauss-Newton approximation.
    log_cdf : numpy.ndarray, optional
        The ``log Phi`` term at these residuals, when already computed by the objective.
    with_objective : bool
        Compute the objective (NaN otherwise, when the caller knows it already).

    Returns
    -------
    objective : numpy.ndarray
        Shape ``(B,)``.
    gradient : numpy.ndarray
        Shape ``(B, p + 2)``.
    hessian : numpy.ndarray
        Shape ``(B, p + 2, p + 2)``.
    """
    k, p = eps.shape[0], len(jac)
    sv, su = np.exp(log_sigma_v), np.exp(log_sigma_u)
    w = np.broadcast_to(w, eps.shape)
    s1 = w.sum(axis=1, keepdims=True)

    def total(a: Array) -> Array:
        return np.einsum("bn,bn->b", w, a)[:, None]

    grad = np.empty((k, p + 2))
    hess = np.empty((k, p + 2, p + 2))
    with np.errstate(all="ignore"):
        if inefficiency == "half_normal":
            q = 1.0 / (sv * sv + su * su)
            lv, lu = -2.0 * sv * sv * q, -2.0 * su * su * q
            lvv = -4.0 * sv * sv * q + 4.0 * sv**4 * q * q
            luu = -4.0 * su * su * q + 4.0 * su**4 * q * q
            lvu = 4.0 * sv * sv * su * su * q * q
            c = su / sv * np.sqrt(q)
            kv, ku = -1.0 + 0.5 * lv, 1.0 + 0.5 * lu
            a = eps * -c
            log_cdf, m, dm = _mills(a, log_cdf)
            e2 = eps * eps
            if with_objective:
                ll = (np.log(2.0) + 0.5 * np.log(q) - _LOG_SQRT_2PI) - (0.5 * q) * e2 + log_cdf
            if curve_hessian is not None:
                ll_e = -q * eps - c * m
            s_e2, s_ma, s_dma2 = total(e2), total(m * a), total(dm * a * a)
            # theta: ll_e = -q eps - c m; ll_es = -q l_s eps - c k_s (dm a + m)
            we, wm, wdma = w * eps, w * m, w * (dm * a)
            j_e, j_m, j_dma = dot(jac, we), dot(jac, wm), dot(jac, wdma)
            grad[:, :p] = -q * j_e - c * j_m
            hess[:, :p, :p] = gram(jac, w * (q - dm * (c * c)))
            hess[:, :p, p] = -q * lv * j_e - c * kv * (j_dma + j_m)
            hess[:, :p, p + 1] = -q * lu * j_e - c * ku * (j_dma + j_m)
            g_v = 0.5 * lv * s1 - 0.5 * q * lv * s_e2 + kv * s_ma
            g_u = 0.5 * lu * s1 - 0.5 * q * lu * s_e2 + ku * s_ma

            def second(l1: Array, l2: Array, l12: Array, k1: Array, k2: Array) -> Array:
                return (
                    0.5 * l12 * s1
                    - 0.5 * q * (l1 * l2 + l12) * s_e2
                    + k1 * k2 * s_dma2
                    + (k1 * k2 + 0.5 * l12) * s_ma
                )

            h_vv = second(lv, lv, lvv, kv, kv)
            h_uu = second(lu, lu, luu, ku, ku)
            h_vu = second(lv, lu, lvu, kv, ku)
        elif inefficiency == "exponential":
            iv, iu, r = 1.0 / sv, 1.0 / su, sv / su
            b = eps * -iv - r
            log_cdf, m, dm = _mills(b, log_cdf)
            if with_objective:
                ll = (-log_sigma_u + 0.5 * r * r) + eps * iu + log_cdf
            if curve_hessian is not None:
                ll_e = iu - iv * m
            s_e, s_m, s_mb = total(eps), total(m), total(m * b)
            s_d, s_db, s_db2 = total(dm), total(dm * b), total(dm * b * b)
            wm, wd, wdb = w * m, w * dm, w * (dm * b)
            j_w, j_m, j_d, j_db = dot(jac, w), dot(jac, wm), dot(jac, wd), dot(jac, wdb)
            # ll_e = iu - iv m; ll_ee = iv^2 dm
            grad[:, :p] = iu * j_w - iv * j_m
            hess[:, :p, :p] = gram(jac, w * (-(iv * iv) * dm))
            # ll_ev = iv (dm (b + 2r) + m); ll_eu = -iu - iv r dm
            hess[:, :p, p] = iv * (j_db + 2.0 * r * j_d + j_m)
            hess[:, :p, p + 1] = -iu * j_w - iv * r * j_d
            g_v = r * r * s1 - s_mb - 2.0 * r * s_m
            g_u = (-1.0 - r * r) * s1 - iu * s_e + r * s_m
            h_vv = 2.0 * r * r * s1 + s_db2 + 4.0 * r * s_db + 4.0 * r * r * s_d + s_mb
            h_uu = 2.0 * r * r * s1 + iu * s_e + r * r * s_d - r * s_m
            h_vu = -2.0 * r * r * s1 - r * s_db - 2.0 * r * r * s_d + r * s_m
        else:
            raise ValueError(f"unknown inefficiency {inefficiency!r}")
        # objective = -sum w ll; its Hessian is minus that of ll.
        objective = -np.einsum("bn,bn->b", w, ll) if with_objective else np.full(k, np.nan)
        grad[:, p] = -g_v[:, 0]
        grad[:, p + 1] = -g_u[:, 0]
        hess[:, p, :p] = hess[:, :p, p]
        hess[:, p + 1, :p] = hess[:, :p, p + 1]
        hess[:, p, p] = -h_vv[:, 0]
        hess[:, p + 1, p + 1] = -h_uu[:, 0]
        hess[:, p, p + 1] = hess[:, p + 1, p] = -h_vu[:, 0]
        if curve_hessian is not None:
            # sum_n w ll_e d2f/dtheta2: the term Gauss-Newton drops (Newton's convergence)
            extra = np.einsum("bpqn,bn->bpq", curve_hessian, w * ll_e)
            hess[:, :p, :p] += extra
    return np.asarray(objective, np.float64), grad, hess


def mean_shortfall(scales: Array, inefficiency: Inefficiency) -> Array:
    """Mean shortfall below the frontier from the scale parameters of a stochastic frontier.

    Parameters
    ----------
    scales : numpy.ndarray
        The parameters after the curve's: ``(sigma_v, sigma_u)``, or for the two-part
        shortfalls ``(sigma_v, sigma_u, sigma_c, pi_c)``; shape ``(m,)`` or ``(k, m)``.
    inefficiency : {"half_normal", "exponential", "cluster", "cluster_exponential"}
        The shortfall distribution (``"cluster_exponential"``: the two-part shortfall with an
        exponential tail).

    Returns
    -------
    numpy.ndarray
        The mean of ``u``.
    """
    s = np.asarray(scales, dtype=np.float64)
    if inefficiency in TWO_PART.values():
        su, sc, share = s[..., 1], s[..., 2], s[..., 3]
        tail = mean_inefficiency(su, tail_of(inefficiency))
        return np.asarray(np.sqrt(2.0 / np.pi) * share * sc + (1.0 - share) * tail, np.float64)
    return mean_inefficiency(s[..., 1], inefficiency)


def tail_of(inefficiency: str) -> Tail:
    """Return the shape of a shortfall's (tail's) distribution: exponential or half-normal.

    Parameters
    ----------
    inefficiency : str
        A :data:`Inefficiency` (or an ``inefficiency`` option: ``"cluster"`` and the empty
        string read as half-normal).

    Returns
    -------
    str
        ``"exponential"`` for ``"exponential"`` and ``"cluster_exponential"``, else
        ``"half_normal"``.
    """
    return (
        "exponential"
        if inefficiency in ("exponential", TWO_PART["exponential"])
        else ("half_normal")
    )


def mean_inefficiency(sigma_u: Array | float, inefficiency: Inefficiency) -> Array:
    """Mean of the inefficiency ``u``: ``sigma_u * sqrt(2 / pi)`` (half-normal) or ``sigma_u``.

    Parameters
    ----------
    sigma_u : float or numpy.ndarray
        Scale of ``u``.
    inefficiency : {"half_normal", "exponential"}
        Distribution of ``u``.

    Returns
    -------
    numpy.ndarray
        The mean, same shape as ``sigma_u``.
    """
    factor = np.sqrt(2.0 / np.pi) if inefficiency == "half_normal" else 1.0
    return np.asarray(np.asarray(sigma_u, dtype=np.float64) * factor, dtype=np.float64)


class StochasticFrontier(_CurveProblem):
    """Negative log-likelihood of ``y = f(x; theta) - u + v``, weighted per observation.

    The parameter vector is ``(theta, sigma_v, sigma_u)``. The scales are not on the log scale:
    when the residuals are skewed the wrong way the maximum lies at ``sigma_u = 0``, which a
    bound reaches in one step but a log scale approaches only one unit per step. The curvature
    is the Hessian; it need not be definite, :func:`solve` shifts it where it is not.

    Parameters
    ----------
    family : Family
        The frontier curve ``f``.
    x, y, w : numpy.ndarray
        As for :class:`LeastSquares`.
    inefficiency : {"half_normal", "exponential"}
        Distribution of ``u``.
    noise_floor : float
        Smallest ``sigma_v``. As ``sigma_v -> 0`` the likelihood tends to that of a deterministic
        frontier through the top points, a boundary maximum that is no smooth optimization
        problem; a floor at the precision of any real accuracy measurement keeps it regular.
    exact : bool
        Include the curve's second derivatives (forward differences of its Jacobian) in the
        Hessian; otherwise Gauss-Newton's approximation drops them.
    contamination : float
        Prior share ``c`` of gross errors: each observation's density is
        ``(1 - c) g(eps) + c h`` with ``g`` the stochastic-frontier density and ``h`` uniform
        over [-1, 1] (:data:`OUTLIER_DENSITY`). A model far above the frontier (or far below
        any plausible shortfall) then costs a bounded log-likelihood instead of pulling the
        curve: the fit is robust to a few outliers. 0 gives the plain likelihood. The gradient
        is exact; the curvature weights each observation by its posterior probability of being
        regular (the term ``r (1 - r) s s'`` of the exact Hessian is dropped, which only makes
        steps shorter).
    """

    def __init__(
        self,
        family: Family,
        x: Array,
        y: Array,
        w: Array,
        inefficiency: Inefficiency,
        noise_floor: float = NOISE_FLOOR,
        exact: bool = False,
        contamination: float = 0.0,
    ) -> None:
        super().__init__(family, x, y, w)
        self.inefficiency: Inefficiency = inefficiency
        self.exact = exact
        self.contamination = float(contamination)
        if self.contamination > 0:
            self._log_regular = float(np.log1p(-self.contamination))
            self._log_outlier = float(np.log(self.contamination * OUTLIER_DENSITY))
        # (eps, log Phi, contaminated log-density, regular share) of the last objective call
        self._last: tuple[Array, Array, Array | None, Array | None] | None = None
        self._reuse: tuple[Array, Array, Array | None, Array | None] | None = None
        low, high = SIGMA_BOUNDS
        self.lower = np.concatenate([family.lower, [max(noise_floor, low), low]])
        self.upper = np.concatenate([family.upper, [high, high]])

    def _mix(self, ll: Array) -> tuple[Array, Array]:
        """Return the contaminated log-density and each observation's chance of being regular."""
        with np.errstate(all="ignore"):
            regular = self._log_regular + ll
            mixed = np.logaddexp(regular, self._log_outlier)
            return np.asarray(mixed, np.float64), np.asarray(np.exp(regular - mixed), np.float64)

    def regular_share(self, theta: Array, rows: IntArray | None = None) -> Array:
        """Posterior probability that each observation is regular (not a gross error).

        Parameters
        ----------
        theta : numpy.ndarray
            Shape ``(k, P)``.
        rows : numpy.ndarray, optional
            Rows of the problem (default: the first ``k``).

        Returns
        -------
        numpy.ndarray
            Shape ``(k, n)``; all ones without contamination.
        """
        rows = np.arange(theta.shape[0], dtype=np.intp) if rows is None else rows
        x, y, _ = self._data(rows)
        eps = y - self._curve(x, theta)
        if self.contamination <= 0:
            return np.ones_like(eps)
        sv = theta[:, self.p : self.p + 1]
        su = theta[:, self.p + 1 : self.p + 2]
        ll, _ = _loglik_parts(eps, sv, su, self.inefficiency)
        return self._mix(ll)[1]

    def loglik_terms(self, theta: Array, rows: IntArray) -> Array:
        """Log-likelihood of every observation (unweighted), shape ``(k, n)``."""
        x, y, _ = self._data(rows)
        eps = y - self._curve(x, theta)
        sv = theta[:, self.p : self.p + 1]
        su = theta[:, self.p + 1 : self.p + 2]
        ll, _ = _loglik_parts(eps, sv, su, self.inefficiency)
        return self._mix(ll)[0] if self.contamination > 0 else ll

    def objective(self, theta: Array, rows: IntArray) -> Array:
        """Negative weighted log-likelihood per row."""
        x, y, w = self._data(rows)
        eps = y - self._curve(x, theta)
        sv = theta[:, self.p : self.p + 1]
        su = theta[:, self.p + 1 : self.p + 2]
        ll, log_cdf = _loglik_parts(eps, sv, su, self.inefficiency)
        mixed = regular = None
        if self.contamination > 0:
            mixed, regular = self._mix(ll)
            ll = mixed
        self._last = (eps, log_cdf, mixed, regular)
        return np.asarray(-np.einsum("bn,bn->b", np.broadcast_to(w, ll.shape), ll), np.float64)

    def accept(self, mask: BoolArray) -> None:
        """Keep residuals of the rows ``mask`` of the last objective call for :meth:`derivatives`.

        :func:`solve` calls it before asking for the derivatives at accepted trial points, which
        saves evaluating the curve, ``log Phi`` and the contaminated density again.
        """
        if self._last is not None:
            self._reuse = tuple(  # type: ignore[assignment]
                None if part is None else part[mask] for part in self._last
            )

    def derivatives(self, theta: Array, rows: IntArray) -> tuple[Array, Array, Array]:
        """Negative log-likelihood, its gradient and Hessian (see :func:`sfa_derivatives`)."""
        x, y, w = self._data(rows)
        log_cdf: Array | None = None
        known: tuple[Array, Array] | None = None
        if self._reuse is not None and self._reuse[0].shape[0] == theta.shape[0]:
            eps, log_cdf, mixed_known, regular_known = self._reuse
            if mixed_known is not None and regular_known is not None:
                known = (mixed_known, regular_known)
        else:
            eps = y - self._curve(x, theta)
        self._reuse = None
        jac = self._jac(x, theta)
        p = self.p
        sv, su = theta[:, p : p + 1], theta[:, p + 1 : p + 2]
        mixed_objective = None
        if self.contamination > 0:
            # the contaminated likelihood's gradient is the plain one weighted by each
            # observation's posterior probability of being regular
            if known is None:
                ll, log_cdf = _loglik_parts(eps, sv, su, self.inefficiency)
                known = self._mix(ll)
            mixed, regular = known
            mixed_objective = -np.einsum("bn,bn->b", np.broadcast_to(w, mixed.shape), mixed)
            w = np.broadcast_to(w, regular.shape) * regular
        curve_hessian = None
        if self.exact:
            k, n = eps.shape
            curve_hessian = np.empty((k, p, p, n))
            for j in range(p):
                h = 1e-6 * np.maximum(np.abs(theta[:, j]), 1e-3)
                moved = theta.copy()
                moved[:, j] += h
                shifted = self._jac(x, moved)
                for i in range(p):
                    curve_hessian[:, i, j, :] = (shifted[i] - jac[i]) / h[:, None]
            curve_hessian = 0.5 * (curve_hessian + curve_hessian.transpose(0, 2, 1, 3))
        with np.errstate(all="ignore"):
            obj, grad, hess = sfa_derivatives(
                eps,
                w,
                jac,
                np.log(sv),
                np.log(su),
                self.inefficiency,
                curve_hessian=curve_hessian,
                log_cdf=log_cdf,
                with_objective=log_cdf is None and mixed_objective is None,
            )
            if mixed_objective is not None:
                obj = np.asarray(mixed_objective, dtype=np.float64)
            _from_log_scales(grad, hess, p, np.concatenate([sv, su], axis=1))
        return obj, grad, hess


def _from_log_scales(grad: Array, hess: Array, p: int, scales: Array) -> None:
    """Turn derivatives by ``(theta, log s1, log s2)`` into derivatives by ``(theta, s1, s2)``.

    ``d/ds = (1/s) d/dlog s``; in place. ``scales`` has shape ``(k, 2)``.
    """
    g_log = grad[:, p:].copy()
    grad[:, p:] = g_log / scales
    hess[:, :p, p:] /= scales[:, None, :]
    hess[:, p:, :p] /= scales[:, :, None]
    block = hess[:, p:, p:] / (scales[:, :, None] * scales[:, None, :])
    block -= np.einsum("bi,ij->bij", g_log / (scales * scales), np.eye(2))
    hess[:, p:, p:] = block


def _half_normal_scores(
    eps: Array, sigma_v: Array, sigma_s: Array
) -> tuple[Array, Array, Array, Array]:
    """Per-observation log-density of the half-normal frontier and its derivatives.

    Returns ``ll`` and its derivatives by the residual ``eps``, by ``sigma_v`` and by the
    shortfall scale ``sigma_s`` (arrays of the shape of ``eps``).
    """
    with np.errstate(all="ignore"):
        s2 = sigma_v * sigma_v + sigma_s * sigma_s
        c = sigma_s / (sigma_v * np.sqrt(s2))
        a = -eps * c
        log_cdf, m, _ = _mills(a)
        ll = np.log(2.0) - 0.5 * np.log(s2) - _LOG_SQRT_2PI - 0.5 * eps * eps / s2 + log_cdf
        d_e = -eps / s2 - m * c
        e2 = eps * eps / (s2 * s2)
        d_v = -sigma_v / s2 + e2 * sigma_v + m * eps * c * (1.0 / sigma_v + sigma_v / s2)
        d_s = -sigma_s / s2 + e2 * sigma_s - m * eps * c * (1.0 / sigma_s - sigma_s / s2)
    return (
        np.asarray(ll, np.float64),
        np.asarray(d_e, np.float64),
        np.asarray(d_v, np.float64),
        np.asarray(d_s, np.float64),
    )


def _exponential_scores(
    eps: Array, sigma_v: Array, sigma_s: Array
) -> tuple[Array, Array, Array, Array]:
    """Per-observation log-density of the exponential frontier and its derivatives.

    As :func:`_half_normal_scores`, for ``u`` exponential with mean ``sigma_s``:
    ``ll = -log s + v^2 / (2 s^2) + eps / s + log Phi(b)`` with ``b = -eps / v - v / s``.
    """
    with np.errstate(all="ignore"):
        b = -eps / sigma_v - sigma_v / sigma_s
        log_cdf, m, _ = _mills(b)
        r = sigma_v / sigma_s
        ll = -np.log(sigma_s) + 0.5 * r * r + eps / sigma_s + log_cdf
        d_e = 1.0 / sigma_s - m / sigma_v
        d_v = sigma_v / (sigma_s * sigma_s) + m * (eps / (sigma_v * sigma_v) - 1.0 / sigma_s)
        d_s = (-1.0 / sigma_s - r * r / sigma_s - eps / (sigma_s * sigma_s)) + m * r / sigma_s
    return (
        np.asarray(ll, np.float64),
        np.asarray(d_e, np.float64),
        np.asarray(d_v, np.float64),
        np.asarray(d_s, np.float64),
    )


class ClusterFrontier(_CurveProblem):
    """Negative log-likelihood of ``y = f(x) - u + v`` with a two-part shortfall.

    ``u`` is a mixture: with probability ``pi`` a model belongs to a cluster close to the
    frontier (half-normal, scale ``sigma_c``), otherwise to the tail (half-normal with scale
    ``sigma_u``, or with ``tail="exponential"`` exponential with mean ``sigma_u``). Real
    tables often hold a group of models close to the best achievable and a long tail of worse
    ones; a single half-normal then misplaces the frontier (its density near zero cannot be
    both high and wide), this mixture does not. It contains the half-normal frontier
    (``pi = 0``) and, as ``sigma_c`` goes to 0, the zero-inefficiency frontier (a share of
    models exactly on it). The parameter vector is ``(theta, sigma_v, sigma_u, sigma_c, pi)``.

    Gradient and Hessian are analytic: the components' (:func:`sfa_derivatives`, weighted by
    each observation's posterior probability of belonging to the component and of being
    regular) plus the between-component and contamination terms, built from per-observation
    scores (:func:`_half_normal_scores`). Only the curve's second derivatives are left out, as
    in Gauss-Newton.

    Parameters
    ----------
    family : Family
        The frontier curve ``f``.
    x, y, w : numpy.ndarray
        As for :class:`LeastSquares`.
    noise_floor : float
        Smallest ``sigma_v`` (see :class:`StochasticFrontier`).
    contamination : float
        Prior share of gross errors (see :class:`StochasticFrontier`).
    tail : {"half_normal", "exponential"}
        Shape of the tail. The two differ in how much of the tail lies close to the frontier
        (the exponential's density is highest at zero shortfall); a tail of the wrong shape
        biases the frontier, so the default fit tries both (see ``fit_two_part``).
    """

    def __init__(
        self,
        family: Family,
        x: Array,
        y: Array,
        w: Array,
        noise_floor: float = NOISE_FLOOR,
        contamination: float = 0.0,
        tail: Tail = "half_normal",
    ) -> None:
        super().__init__(family, x, y, w)
        if tail not in TAILS:
            raise ValueError(f"unknown tail {tail!r}; expected one of {TAILS}")
        self.tail = tail
        low, high = SIGMA_BOUNDS
        self.lower = np.concatenate([family.lower, [max(noise_floor, low), low, low, 0.0]])
        self.upper = np.concatenate([family.upper, [high, high, high, 1.0]])
        self.contamination = float(contamination)
        self._log_outlier = (
            float(np.log(self.contamination * OUTLIER_DENSITY)) if contamination > 0 else None
        )
        self._log_regular = float(np.log1p(-self.contamination))

    def _mixture(self, eps: Array, theta: Array) -> dict[str, Array]:
        """Log-densities, posterior weights and per-observation scores of the mixture."""
        p = self.p
        sv = theta[:, p : p + 1]
        su = theta[:, p + 1 : p + 2]
        sc = theta[:, p + 2 : p + 3]
        pi = theta[:, p + 3 : p + 4]
        tail_scores = _half_normal_scores if self.tail == "half_normal" else _exponential_scores
        ll_u, de_u, dv_u, ds_u = tail_scores(eps, sv, su)
        ll_c, de_c, dv_c, ds_c = _half_normal_scores(eps, sv, sc)
        with np.errstate(all="ignore"):
            a = np.log(pi) + ll_c
            b = np.log1p(-pi) + ll_u
            ll = np.logaddexp(a, b)
            r_c = np.nan_to_num(np.exp(a - ll), nan=0.0)
            r_u = np.nan_to_num(np.exp(b - ll), nan=0.0)
            g_c = np.nan_to_num(np.exp(ll_c - ll), nan=0.0)  # g_c / g
            g_u = np.nan_to_num(np.exp(ll_u - ll), nan=0.0)
            regular = np.ones_like(ll)
            total = ll
            if self._log_outlier is not None:
                total = np.logaddexp(self._log_regular + ll, self._log_outlier)
                regular = np.exp(self._log_regular + ll - total)
        return {
            "ll": ll, "total": total, "q": regular, "r_c": r_c, "r_u": r_u, "g_c": g_c,
            "g_u": g_u, "de_u": de_u, "dv_u": dv_u, "ds_u": ds_u, "de_c": de_c, "dv_c": dv_c,
            "ds_c": ds_c,
        }  # fmt: skip

    def loglik_terms(self, theta: Array, rows: IntArray) -> Array:
        """Log-likelihood of every observation (unweighted), shape ``(k, n)``."""
        x, y, _ = self._data(rows)
        return self._mixture(y - self._curve(x, theta), theta)["total"]

    def objective(self, theta: Array, rows: IntArray) -> Array:
        """Negative weighted log-likelihood per row."""
        w = self._data(rows)[2]
        ll = self.loglik_terms(theta, rows)
        return np.asarray(-np.einsum("bn,bn->b", np.broadcast_to(w, ll.shape), ll), np.float64)

    def regular_share(self, theta: Array, rows: IntArray | None = None) -> Array:
        """Posterior probability that each observation is regular (not a gross error)."""
        rows = np.arange(theta.shape[0], dtype=np.intp) if rows is None else rows
        x, y, _ = self._data(rows)
        return self._mixture(y - self._curve(x, theta), theta)["q"]

    def derivatives(self, theta: Array, rows: IntArray) -> tuple[Array, Array, Array]:
        """Negative log-likelihood, its gradient and Hessian."""
        x, y, w = self._data(rows)
        eps = y - self._curve(x, theta)
        jac = self._jac(x, theta)
        p = self.p
        k = theta.shape[0]
        sv = theta[:, p : p + 1]
        su = theta[:, p + 1 : p + 2]
        sc = theta[:, p + 2 : p + 3]
        m = self._mixture(eps, theta)
        wb = np.broadcast_to(w, eps.shape)
        wq = wb * m["q"]
        obj = -np.einsum("bn,bn->b", wb, m["total"])
        grad = np.zeros((k, p + 4))
        hess = np.zeros((k, p + 4, p + 4))
        iv, iu, ic, ipi = p, p + 1, p + 2, p + 3
        with np.errstate(all="ignore"):
            # the components' own curvature, weighted by their posterior probabilities
            parts: tuple[tuple[Array, Array, int, Inefficiency], ...] = (
                (m["r_u"], su, iu, self.tail),
                (m["r_c"], sc, ic, "half_normal"),
            )
            for weights, scale, col, kind in parts:
                _, g, h = sfa_derivatives(
                    eps, wq * weights, jac, np.log(sv), np.log(scale), kind,
                    with_objective=False,
                )  # fmt: skip
                _from_log_scales(g, h, p, np.concatenate([sv, scale], axis=1))
                idx = np.r_[np.arange(p + 1), col]
                hess[:, idx[:, None], idx[None, :]] += h
            # per-observation scores of the mixture: s = r_c s_c + r_u s_u (and pi's)
            r_c, r_u = m["r_c"], m["r_u"]
            d_pi = m["g_c"] - m["g_u"]
            se = r_c * m["de_c"] + r_u * m["de_u"]  # d ll / d eps
            scal = {
                iv: r_c * m["dv_c"] + r_u * m["dv_u"],
                iu: r_u * m["ds_u"],
                ic: r_c * m["ds_c"],
                ipi: d_pi,
            }
            # gradient of the objective: -sum w q s  (d eps / d theta = -J)
            grad[:, :p] = dot(jac, wq * se)
            for j, v in scal.items():
                grad[:, j] = -np.einsum("bn,bn->b", wq, v)

            def outer(
                weight: Array, ae: Array, a: dict[int, Array], be: Array, b: dict[int, Array]
            ) -> Array:
                """sum_n weight * s_a s_b' for scores written (eps part, scale parts)."""
                out = np.zeros((k, p + 4, p + 4))
                out[:, :p, :p] = gram(jac, weight * ae * be) if p else 0.0
                for j, v in b.items():
                    out[:, :p, j] = -dot(jac, weight * ae * v)
                for i, u in a.items():
                    out[:, i, :p] = -dot(jac, weight * u * be)
                    for j, v in b.items():
                        out[:, i, j] = np.einsum("bn,bn->b", weight, u * v)
                return out

            # between-component term (no pi): + sum w q r_c r_u D D', D = s_c - s_u
            de = m["de_c"] - m["de_u"]
            dd = {iv: m["dv_c"] - m["dv_u"], iu: -m["ds_u"], ic: m["ds_c"]}
            hess -= outer(wq * r_c * r_u, de, dd, de, dd)
            # pi: d2 ll / d pi2 = -d_pi^2; d2 ll / d pi d phi = (g_c/g) s_c - (g_u/g) s_u - d_pi s
            hess[:, ipi, ipi] += np.einsum("bn,bn->b", wq, d_pi * d_pi)
            cross_e = m["g_c"] * m["de_c"] - m["g_u"] * m["de_u"] - d_pi * se
            cross = {
                iv: m["g_c"] * m["dv_c"] - m["g_u"] * m["dv_u"] - d_pi * scal[iv],
                iu: -m["g_u"] * m["ds_u"] - d_pi * scal[iu],
                ic: m["g_c"] * m["ds_c"] - d_pi * scal[ic],
            }
            col_pi = np.zeros((k, p + 4))
            col_pi[:, :p] = dot(jac, wq * cross_e)
            for j, v in cross.items():
                col_pi[:, j] = -np.einsum("bn,bn->b", wq, v)
            hess[:, :ipi, ipi] += col_pi[:, :ipi]
            hess[:, ipi, :ipi] += col_pi[:, :ipi]
            # contamination: + sum w q (1 - q) s s'
            if self._log_outlier is not None:
                full = {**scal}
                hess -= outer(wb * m["q"] * (1.0 - m["q"]), se, full, se, full)
        return np.asarray(obj, np.float64), grad, hess


# --------------------------------------------------------------------------------------------
# the batched damped Gauss-Newton solver
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SolveResult:
    """Outcome of :func:`solve` for B problems.

    Attributes
    ----------
    theta : numpy.ndarray
        Shape ``(B, P)``: the solutions.
    objective : numpy.ndarray
        Shape ``(B,)``: objective at the solution.
    converged : numpy.ndarray
        Shape ``(B,)``: True where the relative decrease of the objective or the relative step fell
        below tolerance, or no damped step could decrease the objective any more.
    n_iter : numpy.ndarray
        Shape ``(B,)``: iterations used.
    """

    theta: Array
    objective: Array
    converged: BoolArray
    n_iter: NDArray[np.int64]


def _batched_solve(a: Array, b: Array) -> Array:
    try:
        return np.asarray(np.linalg.solve(a, b[..., None])[..., 0], dtype=np.float64)
    except np.linalg.LinAlgError:
        out = np.zeros_like(b)
        for i in range(a.shape[0]):
            out[i] = np.linalg.lstsq(a[i], b[i], rcond=None)[0]
        return out


def solve(
    problem: Problem,
    theta0: Array,
    *,
    max_iter: int = 200,
    ftol: float = 1e-12,
    xtol: float = 1e-10,
    mu0: float = 1e-3,
) -> SolveResult:
    """Minimize B problems at once by projected, damped Gauss-Newton (Levenberg-Marquardt) steps.

    Each unfinished row takes the step ``-(H + mu diag(H))^-1 g`` with its own damping ``mu``
    (updated from the ratio of actual to predicted decrease, as in Nielsen 1999), projected onto
    the bounds; parameters on a bound with the gradient pushing outward are held fixed.

    Parameters
    ----------
    problem : Problem
        Objective, gradient and curvature of the B rows.
    theta0 : numpy.ndarray
        Shape ``(B, P)``: starting points (e.g. the fit to all data, for every resample).
    max_iter : int
        Largest number of steps tried per row.
    ftol, xtol : float
        Convergence when the relative decrease of the objective is at most ``ftol`` or the largest
        relative parameter change is at most ``xtol``.
    mu0 : float
        Starting damping.

    Returns
    -------
    SolveResult
        Solutions, objectives, convergence flags and iteration counts.
    """
    lower, upper = problem.lower, problem.upper
    theta = np.clip(np.array(theta0, dtype=np.float64, copy=True), lower, upper)
    n_rows, n_par = theta.shape
    everything = np.arange(n_rows, dtype=np.intp)
    obj, grad, hess = problem.derivatives(theta, everything)
    mu = np.full(n_rows, mu0)
    nu = np.full(n_rows, 2.0)
    converged = np.zeros(n_rows, dtype=bool)
    n_iter = np.zeros(n_rows, dtype=np.int64)
    finite = np.isfinite(obj) & np.isfinite(grad).all(axis=1) & np.isfinite(hess).all(axis=(1, 2))
    active = everything[finite]
    eye = np.eye(n_par)
    for _ in range(max_iter):
        if active.size == 0:
            break
        th, g, h = theta[active], grad[active], hess[active]
        fixed = ((th <= lower) & (g > 0)) | ((th >= upper) & (g < 0))
        free = ~fixed
        g_free = np.where(free, g, 0.0)
        h_free = h * (free[:, :, None] & free[:, None, :]) + eye * fixed[:, :, None]
        # Jacobi scaling to unit diagonal (Marquardt's damping), and a shift of the spectrum
        # where the curvature on the free parameters is not positive definite (modified Newton).
        diag = np.abs(np.diagonal(h_free, axis1=1, axis2=2))
        scale = np.sqrt(
            np.maximum(diag, 1e-30 * np.maximum(diag.max(axis=1, keepdims=True), 1e-270))
        )
        scaled = h_free / (scale[:, :, None] * scale[:, None, :])
        lowest = np.linalg.eigvalsh(scaled)[:, 0]
        shift = np.where(lowest < 1e-10, 1e-10 - lowest, 0.0)
        model = scaled + eye * (shift + 1e-14)[:, None, None]
        g_scaled = g_free / scale
        z = -_batched_solve(model + eye * mu[active, None, None], g_scaled)
        trial = np.clip(th + z / scale, lower, upper)
        z = (trial - th) * scale
        predicted = -np.einsum("bp,bp->b", g_scaled, z) - 0.5 * np.einsum(
            "bp,bpq,bq->b", z, model, z
        )
        step = trial - th
        new_obj = problem.objective(trial, active)
        old = obj[active]
        better = np.isfinite(new_obj) & (new_obj < old)
        n_iter[active] += 1
        acc = active[better]
        rej = active[~better]
        stop = acc[:0]
        if acc.size:
            moved = np.abs(step[better])
            rel_step = np.max(moved / (np.abs(th[better]) + 1e-8), axis=1)
            rel_dec = (old[better] - new_obj[better]) / np.maximum(np.abs(new_obj[better]), 1e-300)
            rho = (old[better] - new_obj[better]) / np.maximum(predicted[better], 1e-300)
            theta[acc] = trial[better]
            accept = getattr(problem, "accept", None)
            if accept is not None:
                accept(better)
            _, gr, he = problem.derivatives(theta[acc], acc)  # the objective is new_obj
            ok = np.isfinite(gr).all(axis=1) & np.isfinite(he).all(axis=(1, 2))
            obj[acc], grad[acc], hess[acc] = new_obj[better], gr, he
            # Nielsen's update of the damping from the gain ratio.
            factor = np.maximum(1.0 / 3.0, 1.0 - (2.0 * np.minimum(rho, 1.0) - 1.0) ** 3)
            mu[acc] = np.maximum(mu[acc] * factor, 1e-15)
            nu[acc] = 2.0
            done = ok & ((rel_dec <= ftol) | (rel_step <= xtol))
            converged[acc[done]] = True
            stop = acc[done | ~ok]
        mu[rej] *= nu[rej]
        nu[rej] *= 2.0
        stalled = rej[mu[rej] > 1e12]
        converged[stalled] = True
        finished = np.concatenate([stop, stalled])
        if finished.size:
            active = np.setdiff1d(active, finished, assume_unique=True)
    return SolveResult(theta=theta, objective=obj, converged=converged, n_iter=n_iter)


def solve_stochastic(
    problem: StochasticFrontier,
    theta0: Array,
    *,
    max_iter: int = 200,
    ftol: float = 1e-12,
    xtol: float = 1e-10,
) -> tuple[SolveResult, SolveResult]:
    """Maximize stochastic-frontier likelihoods from both sides of the noise floor.

    The likelihood can have two maxima: one with the noise ``sigma_v`` inside, one with it on
    its floor (close to a deterministic frontier through the top points); which is higher
    differs from sample to sample. Every row is solved from ``theta0``, then again from its
    solution with ``sigma_v`` moved to the other side (to the floor, or from the floor to half of
    ``sigma_u``).

    Parameters
    ----------
    problem : StochasticFrontier
        The B likelihoods.
    theta0 : numpy.ndarray
        Shape ``(B, p + 2)``: starting points.
    max_iter, ftol, xtol
        As for :func:`solve` (per pass).

    Returns
    -------
    best : SolveResult
        The better of the two maxima of every row (``n_iter`` counts both passes).
    other : SolveResult
        The other one (it may be the same point).
    """
    p = problem.p
    floor = float(problem.lower[p])
    first = solve(problem, theta0, max_iter=max_iter, ftol=ftol, xtol=xtol)
    start = first.theta.copy()
    on_floor = start[:, p] <= floor * (1.0 + 1e-9)
    inside = np.minimum(np.maximum(start[:, p + 1] / 2.0, 2.0 * floor), problem.upper[p])
    start[:, p] = np.where(on_floor, inside, floor * 1.1)
    second = solve(problem, start, max_iter=max_iter, ftol=ftol, xtol=xtol)
    return best_of(first, second)


def best_of(first: SolveResult, second: SolveResult) -> tuple[SolveResult, SolveResult]:
    """Split two solutions of the same rows into the better and the other, row by row.

    Parameters
    ----------
    first, second : SolveResult
        Solutions of the same B problems from different starts.

    Returns
    -------
    best, other : SolveResult
        Per row, the converged solution with the smaller objective, and the remaining one
        (``n_iter`` of both counts both).
    """
    take = second.converged & (~first.converged | (second.objective < first.objective))
    iters = first.n_iter + second.n_iter

    def pick(mask: BoolArray) -> SolveResult:
        return SolveResult(
            theta=np.where(mask[:, None], second.theta, first.theta),
            objective=np.where(mask, second.objective, first.objective),
            converged=np.where(mask, second.converged, first.converged),
            n_iter=iters,
        )

    return pick(take), pick(~take)


def distinct(a: Array, b: Array, rtol: float = 1e-3) -> BoolArray:
    """Whether two solutions are different points (largest relative difference above ``rtol``).

    Parameters
    ----------
    a, b : numpy.ndarray
        Shape ``(B, P)``.
    rtol : float
        Tolerance relative to ``|a| + 1e-3``.

    Returns
    -------
    numpy.ndarray
        Shape ``(B,)``.
    """
    out: BoolArray = np.max(np.abs(a - b) / (np.abs(a) + 1e-3), axis=1) > rtol
    return out
