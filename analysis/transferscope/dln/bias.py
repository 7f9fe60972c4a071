r"""The implicit bias of gradient flow in a diagonal linear network, and its dual solver.

Derivation (checked against gradient descent in ``tests/dln``)
--------------------------------------------------------------
Network ``beta = w_plus * v_plus - w_minus * v_minus`` (element-wise; ``w`` the first layer,
``v`` the readout), loss ``L = |X beta - y|^2 / (2 n)``, ``g = dL/dbeta = X^T (X beta - y) / n``.
Gradient flow on one unit of the ``+`` branch, ``b = w v``: ``w' = -v g``, ``v' = -w g``, so

* ``delta = w^2 - v^2`` is conserved, and with ``r = w^2 + v^2 = sqrt(4 b^2 + delta^2)``,
* ``b' = -r g``, hence ``d/dt arcsinh(2 b / |delta|) = -2 g`` and, with
  ``s(t) = -int_0^t g``, ``b(t) = r(0)/2 * sinh(2 s) + b(0) * cosh(2 s)``
  (``|delta| cosh a = r(0)``, ``|delta| sinh a = 2 b(0)``; the form also holds for ``delta = 0``).

The ``-`` branch has ``b_-' = +r_- g``, i.e. ``s -> -s``. Subtracting the branches, per dimension

    ``beta_d(s) = C1_d sinh(2 s_d) + C2_d cosh(2 s_d)``,
    ``C1 = (w_+^2 + v_+^2 + w_-^2 + v_-^2) / 2`` and ``C2 = beta_d(0)``, both at the start,

and since ``C1 > |C2|`` this is ``beta_d = (sqrt(k_d)/2) sinh(2 s_d + phi_d)`` with

    ``k_d = 4 (C1^2 - C2^2)``,  ``phi_d = artanh(C2 / C1)``.

Because ``s(t) = X^T mu(t)`` with ``mu = -int (X beta - y) / n`` lies in the row space of ``X``, a
limit that interpolates (``n < D``) satisfies the optimality conditions of

    ``min_beta sum_d q_{k_d}(beta_d) - (phi_d / 2) beta_d  subject to  X beta = y``,

``q_k(z) = (sqrt(k)/4) (1 - sqrt(1 + 4 z^2/k) + (2 z/sqrt(k)) arcsinh(2 z/sqrt(k)))``,
``q_k'(z) = arcsinh(2 z / sqrt(k)) / 2``. The linear term makes it the Bregman divergence of
``q_k`` from ``beta(0)``; it vanishes exactly when ``beta(0) = 0`` (the form of ARCHITECTURE.md).
The dual, ``min_mu sum_d (sqrt(k_d)/4) cosh(2 (X^T mu)_d + phi_d) - mu . y``, is smooth
and strictly convex and is solved by damped Newton. With ``n >= D`` (full column rank) the flow
converges to the least-squares solution whatever the bias, and the solver returns it.

Pretraining from ``w(0)^2 + v(0)^2 = c`` and ``(w(0)^2 - v(0)^2)/c = lambda`` in both branches
(``w(0) = sqrt(c (1 + lambda)/2)``, ``v(0) = sqrt(c (1 - lambda)/2)``, so ``beta(0) = 0``):
``C1 = c``, ``C2 = 0``, hence ``k_PT = 4 c^2`` and ``beta_PT = c sinh(2 s)``: the pretrained
``beta`` does not depend on ``lambda``. Each branch keeps ``delta = lambda c``; writing
``B = beta_PT,d``, ``R = sqrt(c^2 + B^2)``, ``m = sqrt(1 - lambda^2)``, the branch outputs are
``b_+- = (+-B + m R)/2`` and their radii ``r_+- = R +- m B``, so the pretrained first layer is

    ``w_+-^2 = (R +- m B + lambda c) / 2``,  ``v_+-^2 = (R +- m B - lambda c) / 2``

(sign: ``w >= 0`` when ``lambda >= 0``, otherwise ``w`` carries the sign of ``b``). In particular
``w_+^2 + w_-^2 = R + lambda c``.

Fine-tuning keeps ``w`` (optionally multiplied by ``rescale``, a first-layer rescaling) and
re-initializes the readout at scale ``gamma``, meaning root-mean-square ``gamma`` over the two
readouts of a dimension, ``v_+(0)^2 + v_-(0)^2 = 2 gamma^2``. Two re-initializations are provided:

* ``readout="balanced"`` (default): ``v_+ = gamma w_- / wbar``, ``v_- = gamma w_+ / wbar``,
  ``wbar^2 = (w_+^2 + w_-^2)/2`` (``v_+- = gamma`` when ``w_+ = w_-``, e.g. ``B = 0`` or
  ``lambda = +-1``). Then ``beta_FT(0) = 0`` exactly, ``phi = 0`` and

      ``sqrt(k_d) / 2 = rescale^2 (sqrt(c^2 + B^2) + lambda c) / 2 + gamma^2``.

* ``readout="constant"``: ``v_+ = v_- = gamma``. Then ``beta_FT(0) = gamma rescale (w_+ - w_-)``,
  which is non-zero on pretrained dimensions when ``|lambda| < 1``; ``C1`` is as above,
  ``C2 = gamma rescale (w_+ - w_-)``, and the penalty carries the linear term above.

We write ``kappa_d = sqrt(k_d)/2``: ``q`` is quadratic, ``z^2 / (4 kappa)``, for ``|z| << kappa``
and ``(|z|/2)(log(|z|/kappa) - 1)``, l1-like, for ``|z| >> kappa``. The pretraining dependence of
``kappa`` is additive and bounded: ``kappa(B) - kappa(0) = rescale^2 (sqrt(c^2 + B^2) - c)/2``,
between ``B^2/(4c)`` (``c >> |B|``) and ``|B|/2`` (``c << |B|``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from transferscope.records import NOT_RECORDED, Record

Readout = Literal["balanced", "constant"]
_Raw = tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.int64],
    NDArray[np.bool_],
    NDArray[np.float64],
]
READOUTS: tuple[Readout, ...] = ("balanced", "constant")

_MAX_ARG = 700.0  # cosh/sinh overflow a float64 just above 710


def q_penalty(z: ArrayLike, k: ArrayLike) -> NDArray[np.float64]:
    """Hyperbolic-entropy penalty ``q_k(z)`` of one coordinate.

    Parameters
    ----------
    z : array_like
        Coordinate values ``beta_d``.
    k : array_like
        Penalty parameter ``k_d > 0``, broadcast against ``z``.

    Returns
    -------
    numpy.ndarray
        ``(sqrt(k)/4) (1 - sqrt(1 + 4 z^2/k) + (2 z/sqrt(k)) arcsinh(2 z/sqrt(k)))``, >= 0.
    """
    z = np.asarray(z, dtype=float)
    sk = np.sqrt(np.asarray(k, dtype=float))
    u = 2.0 * z / sk
    return np.asarray((sk / 4.0) * (1.0 - np.sqrt(1.0 + u**2) + u * np.arcsinh(u)), dtype=float)


def q_derivative(z: ArrayLike, k: ArrayLike) -> NDArray[np.float64]:
    """Compute the derivative ``q_k'(z) = arcsinh(2 z / sqrt(k)) / 2``.

    Parameters
    ----------
    z : array_like
        Coordinate values.
    k : array_like
        Penalty parameter, broadcast against ``z``.

    Returns
    -------
    numpy.ndarray
        The derivative, odd in ``z``.
    """
    z = np.asarray(z, dtype=float)
    return np.asarray(np.arcsinh(2.0 * z / np.sqrt(np.asarray(k, dtype=float))) / 2.0, dtype=float)


def bias_constants(
    w_plus: ArrayLike, v_plus: ArrayLike, w_minus: ArrayLike, v_minus: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Penalty parameters ``(sqrt(k), phi)`` of gradient flow started from the given weights.

    Parameters
    ----------
    w_plus, v_plus, w_minus, v_minus : array_like
        Initial first-layer and readout weights of the two branches, all of one shape.

    Returns
    -------
    sqrt_k : numpy.ndarray
        ``2 sqrt(C1^2 - C2^2)``, with ``C1 = (w_+^2 + v_+^2 + w_-^2 + v_-^2)/2`` and
        ``C2 = beta(0)``.
    phi : numpy.ndarray
        ``artanh(C2 / C1)``: zero when the network starts at ``beta = 0``.
    """
    wp, vp, wm, vm = (np.asarray(a, dtype=float) for a in (w_plus, v_plus, w_minus, v_minus))
    c1 = (wp**2 + vp**2 + wm**2 + vm**2) / 2.0
    c2 = wp * vp - wm * vm
    # C1 >= |C2| always; equality (a one-signed flow) is clipped to a tiny positive gap.
    gap = np.maximum(c1**2 - c2**2, (1e-300 + 1e-15 * c1) ** 2)
    sqrt_k = 2.0 * np.sqrt(gap)
    phi = np.arctanh(np.clip(np.divide(c2, c1, out=np.zeros_like(c1), where=c1 > 0), -1, 1))
    phi = np.clip(phi, -_MAX_ARG, _MAX_ARG)
    return sqrt_k, np.asarray(phi, dtype=float)


def pretraining_init(
    c: float, lam: float, shape: int | tuple[int, ...]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Deterministic pretraining initialization of absolute scale ``c`` and relative scale ``lam``.

    Parameters
    ----------
    c : float
        ``w(0)^2 + v(0)^2`` of every unit, > 0.
    lam : float
        ``(w(0)^2 - v(0)^2) / c`` in [-1, 1]; negative when the first layer starts smaller.
    shape : int or tuple of int
        Shape of each weight array, e.g. ``(seeds, D)``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(w_plus, v_plus, w_minus, v_minus)``, with ``w = sqrt(c (1 + lam)/2)`` and
        ``v = sqrt(c (1 - lam)/2)`` in both branches (so ``beta(0) = 0``).
    """
    _check_init(c, lam)
    w = np.full(shape, np.sqrt(c * (1.0 + lam) / 2.0))
    v = np.full(shape, np.sqrt(c * (1.0 - lam) / 2.0))
    return w, v, w.copy(), v.copy()


def pretrained_weights(
    beta_pt: ArrayLike, c: float, lam: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Weights that gradient flow from :func:`pretraining_init` reaches when it ends at ``beta_pt``.

    Parameters
    ----------
    beta_pt : array_like
        Pretrained ``beta`` (any shape).
    c, lam : float
        Pretraining initialization (see :func:`pretraining_init`).

    Returns
    -------
    tuple of numpy.ndarray
        ``(w_plus, v_plus, w_minus, v_minus)`` with ``w_+-^2 = (R +- m B + lam c)/2`` and
        ``v_+-^2 = (R +- m B - lam c)/2`` (module docstring), signed so that
        ``w v = (+-B + m R)/2``.
    """
    _check_init(c, lam)
    b = np.asarray(beta_pt, dtype=float)
    big_r = np.sqrt(c**2 + b**2)
    m = np.sqrt(max(0.0, 1.0 - lam**2))
    out: list[NDArray[np.float64]] = []
    for sign in (1.0, -1.0):
        radius = big_r + sign * m * b
        branch = (sign * b + m * big_r) / 2.0  # w v of this branch
        w_abs = np.sqrt(np.maximum(radius + lam * c, 0.0) / 2.0)
        v_abs = np.sqrt(np.maximum(radius - lam * c, 0.0) / 2.0)
        if lam >= 0:  # w never crosses zero; v carries the sign
            w, v = w_abs, np.where(branch < 0, -v_abs, v_abs)
        else:  # v never crosses zero
            w, v = np.where(branch < 0, -w_abs, w_abs), v_abs
        out.extend([np.asarray(w, dtype=float), np.asarray(v, dtype=float)])
    return out[0], out[1], out[2], out[3]


def finetune_init(
    w_plus: ArrayLike,
    w_minus: ArrayLike,
    gamma: float,
    *,
    readout: Readout = "balanced",
    rescale: float = 1.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Start fine-tuning: the pretrained first layer (times ``rescale``), a re-initialized readout.

    Parameters
    ----------
    w_plus, w_minus : array_like
        Pretrained first-layer weights of the two branches.
    gamma : float
        Readout scale: ``v_+(0)^2 + v_-(0)^2 = 2 gamma^2`` per dimension.
    readout : {"balanced", "constant"}
        ``balanced`` makes ``beta_FT(0) = 0`` (``v_+ = gamma w_-/wbar``, ``v_- = gamma w_+/wbar``);
        ``constant`` sets ``v_+- = gamma``.
    rescale : float
        Factor applied to the first layer before fine-tuning (1 keeps it as pretrained).

    Returns
    -------
    tuple of numpy.ndarray
        ``(w_plus, v_plus, w_minus, v_minus)`` at the start of fine-tuning.
    """
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    if gamma < 0 or rescale < 0:
        raise ValueError("gamma and rescale must be >= 0")
    wp = rescale * np.asarray(w_plus, dtype=float)
    wm = rescale * np.asarray(w_minus, dtype=float)
    if readout == "constant":
        return wp, np.full_like(wp, gamma), wm, np.full_like(wm, gamma)
    wbar = np.sqrt((wp**2 + wm**2) / 2.0)
    ok = wbar > 0
    safe = np.where(ok, wbar, 1.0)
    vp = np.where(ok, gamma * wm / safe, gamma)
    vm = np.where(ok, gamma * wp / safe, gamma)
    return wp, vp, wm, vm


def finetune_constants(
    beta_pt: ArrayLike,
    c: float,
    lam: float,
    gamma: float,
    *,
    readout: Readout = "balanced",
    rescale: float = 1.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(sqrt(k_d), phi_d)`` of fine-tuning after pretraining from ``(c, lam)`` to ``beta_pt``.

    Parameters
    ----------
    beta_pt : array_like
        Pretrained ``beta``.
    c, lam : float
        Pretraining initialization.
    gamma : float
        Readout scale at the start of fine-tuning.
    readout : {"balanced", "constant"}
        Readout re-initialization (see :func:`finetune_init`).
    rescale : float
        First-layer rescaling before fine-tuning.

    Returns
    -------
    sqrt_k, phi : numpy.ndarray
        For ``balanced``: ``sqrt(k) = rescale^2 (sqrt(c^2 + B^2) + lam c) + 2 gamma^2`` and
        ``phi = 0``.
    """
    wp, _, wm, _ = pretrained_weights(beta_pt, c, lam)
    return bias_constants(*finetune_init(wp, wm, gamma, readout=readout, rescale=rescale))


@dataclass(frozen=True, kw_only=True)
class BiasSolution(Record):
    """Minimizer of the implicit-bias problem for a batch of problems.

    Attributes
    ----------
    beta : numpy.ndarray
        Solutions, shape ``(..., D)``.
    mu : numpy.ndarray
        Dual vectors, shape ``(..., n)`` (zeros where the least-squares branch was used).
    n_iter : numpy.ndarray
        Newton iterations per problem.
    converged : numpy.ndarray
        Whether the relative residual reached the tolerance, per problem.
    residual : numpy.ndarray
        Final ``|X beta - y| / |y|`` (for ``n >= D``: the relative gradient norm of least squares).
    """

    beta: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    mu: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    n_iter: NDArray[np.int64] = field(metadata=NOT_RECORDED)
    converged: NDArray[np.bool_] = field(metadata=NOT_RECORDED)
    residual: NDArray[np.float64] = field(metadata=NOT_RECORDED)

    def to_record(self) -> dict[str, Any]:
        """Return a JSON-safe summary: problems, converged count, largest residual, iterations."""
        return {
            "n_problems": int(np.size(self.converged)),
            "n_converged": int(np.sum(self.converged)),
            "max_residual": float(np.max(self.residual)),
            "max_iterations": int(np.max(self.n_iter)),
        }

    def summary(self) -> pd.DataFrame:
        """Return one row per problem: problem (flat index), n_iter, converged, residual."""
        return pd.DataFrame(
            {
                "problem": np.arange(np.size(self.converged)),
                "n_iter": np.ravel(self.n_iter),
                "converged": np.ravel(self.converged),
                "residual": np.ravel(self.residual),
            }
        )

    def describe(self) -> str:
        """Return one line: how many problems converged, the largest residual."""
        r = self.to_record()
        return (
            f"{r['n_converged']} of {r['n_problems']} problems converged; largest residual "
            f"{r['max_residual']:.3g} after at most {r['max_iterations']} Newton steps"
        )


def solve_implicit_bias(
    x: ArrayLike,
    y: ArrayLike,
    sqrt_k: ArrayLike,
    phi: ArrayLike | None = None,
    *,
    tol: float = 1e-11,
    max_iter: int = 200,
) -> BiasSolution:
    """Solve ``min sum_d q_{k_d}(beta_d) - phi_d beta_d / 2`` s.t. ``X beta = y`` (flow's limit).

    Damped Newton on the dual vector ``mu``, vectorized over leading batch axes; the primal is
    ``beta_d = (sqrt(k_d)/2) sinh(2 (X^T mu)_d + phi_d)``. When ``n >= D`` the least-squares
    solution is returned instead (the unique minimizer of the loss that gradient flow reaches).

    Parameters
    ----------
    x : array_like
        Inputs, shape ``(..., n, D)``.
    y : array_like
        Targets, shape ``(..., n)``.
    sqrt_k : array_like
        ``sqrt(k_d) > 0``, shape broadcastable to ``(..., D)``.
    phi : array_like, optional
        Offsets ``phi_d`` (``artanh(beta(0)/C1)``); zero when omitted.
    tol : float
        Stop when ``|X beta - y| <= tol * |y|``.
    max_iter : int
        Newton iterations at most.

    Returns
    -------
    BiasSolution
        Solutions with per-problem convergence flags; a problem that does not converge keeps its
        last iterate and ``converged = False`` (no exception).
    """
    xa = np.asarray(x, dtype=float)
    if xa.ndim < 2:
        raise ValueError("x must have shape (..., n, D)")
    n, dim = xa.shape[-2:]
    ph_in = np.zeros(dim) if phi is None else np.asarray(phi, dtype=float)
    batch = np.broadcast_shapes(
        xa.shape[:-2], np.shape(y)[:-1], np.shape(sqrt_k)[:-1], ph_in.shape[:-1]
    )
    # Inputs shared across the batch are not copied: problem i uses x_flat[x_map[i]].
    x_flat = xa.reshape(-1, n, dim)
    x_map = np.broadcast_to(np.arange(x_flat.shape[0]).reshape(xa.shape[:-2]), batch).ravel()
    ya = np.broadcast_to(np.asarray(y, dtype=float), (*batch, n)).reshape(-1, n)
    sk = np.broadcast_to(np.asarray(sqrt_k, dtype=float), (*batch, dim)).reshape(-1, dim)
    ph = np.broadcast_to(ph_in, (*batch, dim)).reshape(-1, dim)
    if np.any(sk <= 0) or not np.all(np.isfinite(sk)):
        raise ValueError("sqrt_k must be finite and > 0")
    xs = [x_flat[i] for i in x_map]
    if n >= dim:
        beta, mu, iters, conv, res = _least_squares(xs, ya)
    else:
        beta, mu, iters, conv, res = _dual_newton(xs, ya, sk, ph, tol, max_iter)
    return BiasSolution(
        beta=beta.reshape(*batch, dim),
        mu=mu.reshape(*batch, n),
        n_iter=iters.reshape(batch),
        converged=conv.reshape(batch),
        residual=res.reshape(batch),
    )


def _least_squares(xs: list[NDArray[np.float64]], y: NDArray[np.float64]) -> _Raw:
    b, n = y.shape
    dim = xs[0].shape[1]
    beta = np.empty((b, dim))
    res = np.empty(b)
    for i, x in enumerate(xs):
        rhs = y[i] @ x
        scale = float(np.linalg.norm(rhs)) or 1.0
        try:  # normal equations: fast and accurate for the well-conditioned designs used here
            beta[i] = np.linalg.solve(x.T @ x, rhs)
        except np.linalg.LinAlgError:
            beta[i] = np.nan
        res[i] = np.linalg.norm((x @ beta[i] - y[i]) @ x) / scale
        if not res[i] <= 1e-10:  # ill-conditioned: fall back to an SVD solve
            beta[i] = np.linalg.lstsq(x, y[i], rcond=None)[0]
            res[i] = np.linalg.norm((x @ beta[i] - y[i]) @ x) / scale
    return beta, np.zeros((b, n)), np.zeros(b, dtype=np.int64), np.ones(b, dtype=bool), res


def _dual_newton(
    xs: list[NDArray[np.float64]],
    y: NDArray[np.float64],
    sk: NDArray[np.float64],
    ph: NDArray[np.float64],
    tol: float,
    max_iter: int,
) -> _Raw:
    b, n = y.shape
    mu = np.zeros((b, n))
    iters = np.zeros(b, dtype=np.int64)
    active = np.ones(b, dtype=bool)
    y_norm = np.linalg.norm(y, axis=-1)
    y_norm = np.where(y_norm > 0, y_norm, 1.0)

    def arg(m: NDArray[np.float64], idx: NDArray[np.intp]) -> NDArray[np.float64]:
        a = 2.0 * np.stack([m[j] @ xs[i] for j, i in enumerate(idx)]) + ph[idx]
        return np.asarray(np.clip(a, -_MAX_ARG, _MAX_ARG))

    def dual(m: NDArray[np.float64], idx: NDArray[np.intp]) -> NDArray[np.float64]:
        a = arg(m, idx)
        return np.asarray((sk[idx] / 4.0 * np.cosh(a)).sum(-1) - (m * y[idx]).sum(-1))

    res = np.full(b, np.inf)
    for _ in range(max_iter + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        a = arg(mu[idx], idx)
        beta = sk[idx] / 2.0 * np.sinh(a)
        grad = np.stack([xs[i] @ beta[j] for j, i in enumerate(idx)]) - y[idx]
        res[idx] = np.linalg.norm(grad, axis=-1) / y_norm[idx]
        done = res[idx] <= tol
        active[idx[done]] = False
        if np.all(done) or iters[idx].max() >= max_iter:
            break
        idx, a, grad = idx[~done], a[~done], grad[~done]
        weight = sk[idx] * np.cosh(a)
        hess = np.stack([(xs[i] * weight[j]) @ xs[i].T for j, i in enumerate(idx)])
        step = -_solve_spd(hess, grad)
        decrement = -(grad * step).sum(-1)
        f0 = dual(mu[idx], idx)
        t = np.ones(idx.size)
        # Armijo backtracking; once the predicted decrease is below rounding, take the full step.
        need = decrement > 1e-13 * (1.0 + np.abs(f0))
        for _ in range(60):
            if not need.any():
                break
            sub = np.flatnonzero(need)
            trial = mu[idx[sub]] + t[sub, None] * step[sub]
            f1 = dual(trial, idx[sub])
            ok = np.isfinite(f1) & (f1 <= f0[sub] - 0.25 * t[sub] * decrement[sub])
            need[sub[ok]] = False
            t[sub[~ok]] *= 0.5
        mu[idx] += t[:, None] * step
        iters[idx] += 1
    a = arg(mu, np.arange(b))
    beta_all = np.asarray(sk / 2.0 * np.sinh(a), dtype=float)
    return beta_all, mu, iters, np.asarray(res <= tol), res


def _solve_spd(hess: NDArray[np.float64], rhs: NDArray[np.float64]) -> NDArray[np.float64]:
    """Solve symmetric positive definite systems, with a ridge where one is singular."""
    try:
        return np.asarray(np.linalg.solve(hess, rhs[..., None])[..., 0])
    except np.linalg.LinAlgError:
        out = np.empty_like(rhs)
        for i in range(hess.shape[0]):
            h = hess[i]
            ridge = 1e-12 * max(float(np.trace(h)) / h.shape[0], 1e-300)
            out[i] = np.linalg.lstsq(h + ridge * np.eye(h.shape[0]), rhs[i], rcond=None)[0]
        return out


def _check_init(c: float, lam: float) -> None:
    if not (c > 0 and np.isfinite(c)):
        raise ValueError(f"c must be finite and > 0, got {c}")
    if not -1.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [-1, 1], got {lam}")
