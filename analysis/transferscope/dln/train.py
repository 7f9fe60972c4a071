"""Gradient descent on a diagonal linear network, vectorized over a leading batch (seed) axis.

``beta = w_plus * v_plus - w_minus * v_minus`` is trained on ``L = |X beta - y|^2 / (2 n)``, with
``g = dL/dbeta``. The step is adaptive and common to all weights of a problem (a time change of
gradient flow, which leaves its path unchanged):

    ``eta = min(step / max_d |g_d|, stability / (lambda_max(X^T X / n) * max_d r_d))``,

``r_d`` the sum of squared weights of dimension ``d``. Per unit, one step of gradient descent
differs from the exact flow map over the same increment of ``s = -int g`` by ``O((eta g_d)^2)``
relative terms (``w^2 - v^2`` shrinks by the factor ``1 - (eta g_d)^2``, and ``b`` gains
``(eta g_d)^2 b`` where the flow gains ``2 (eta g_d)^2 b``), so ``step`` bounds the deviation from
gradient flow, which shrinks about linearly with it; ``stability < 2`` keeps the iteration stable
once ``g`` is small and the first bound is loose. Each problem stops when it meets the convergence
criterion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from transferscope.records import NOT_RECORDED, Record

Weights = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


@dataclass(frozen=True, kw_only=True)
class GDResult(Record):
    """End state of gradient descent for a batch of problems.

    Attributes
    ----------
    beta : numpy.ndarray
        ``w_plus * v_plus - w_minus * v_minus``, shape ``(..., D)``.
    weights : tuple of numpy.ndarray
        ``(w_plus, v_plus, w_minus, v_minus)`` at the end.
    steps : numpy.ndarray
        Steps taken per problem.
    converged : numpy.ndarray
        Whether both criteria held (relative loss and relative gradient), per problem.
    loss : numpy.ndarray
        Final training loss ``|X beta - y|^2 / (2 n)``.
    grad_norm : numpy.ndarray
        Final norm of the gradient with respect to all weights.
    """

    beta: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    weights: Weights = field(metadata=NOT_RECORDED)
    steps: NDArray[np.int64] = field(metadata=NOT_RECORDED)
    converged: NDArray[np.bool_] = field(metadata=NOT_RECORDED)
    loss: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    grad_norm: NDArray[np.float64] = field(metadata=NOT_RECORDED)

    def to_record(self) -> dict[str, Any]:
        """Return a JSON-safe summary: problems, converged count, most steps, largest loss."""
        return {
            "n_problems": int(np.size(self.converged)),
            "n_converged": int(np.sum(self.converged)),
            "max_steps": int(np.max(self.steps)),
            "max_loss": float(np.max(self.loss)),
        }

    def summary(self) -> pd.DataFrame:
        """Return one row per problem: problem (flat index), steps, converged, loss, grad_norm."""
        return pd.DataFrame(
            {
                "problem": np.arange(np.size(self.converged)),
                "steps": np.ravel(self.steps),
                "converged": np.ravel(self.converged),
                "loss": np.ravel(self.loss),
                "grad_norm": np.ravel(self.grad_norm),
            }
        )

    def describe(self) -> str:
        """Return one line: how many problems converged, the most steps, the largest loss."""
        r = self.to_record()
        return (
            f"{r['n_converged']} of {r['n_problems']} problems converged in at most "
            f"{r['max_steps']} steps; largest loss {r['max_loss']:.3g}"
        )


def scratch_init(
    c: float, shape: int | tuple[int, ...], rng: np.random.Generator, *, jitter: float = 0.1
) -> Weights:
    """Small random initialization for training from scratch.

    Parameters
    ----------
    c : float
        Typical ``w^2 + v^2`` of a unit (> 0).
    shape : int or tuple of int
        Shape of each weight array.
    rng : numpy.random.Generator
        Source of randomness.
    jitter : float
        Log-normal spread: each weight is ``sqrt(c/2) * exp(jitter * N(0, 1))``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(w_plus, v_plus, w_minus, v_minus)``, all positive.
    """
    if not c > 0:
        raise ValueError(f"c must be > 0, got {c}")
    base = np.sqrt(c / 2.0)
    draws = base * np.exp(jitter * rng.standard_normal((4, *np.atleast_1d(shape))))
    return draws[0], draws[1], draws[2], draws[3]


def gradient_descent(
    x: ArrayLike,
    y: ArrayLike,
    weights: tuple[ArrayLike, ArrayLike, ArrayLike, ArrayLike],
    *,
    step: float = 0.01,
    stability: float = 0.5,
    tol_loss: float = 1e-20,
    tol_grad: float = 1e-10,
    max_steps: int = 2_000_000,
    check_every: int = 50,
) -> GDResult:
    """Run gradient descent to convergence on a batch of problems.

    Parameters
    ----------
    x : array_like
        Inputs, shape ``(..., n, D)``.
    y : array_like
        Targets, shape ``(..., n)``.
    weights : tuple of array_like
        Initial ``(w_plus, v_plus, w_minus, v_minus)``, each broadcastable to ``(..., D)``.
    step : float
        Largest ``eta * |g_d|`` per step (module docstring); smaller tracks gradient flow more
        closely.
    stability : float
        Largest ``eta * lambda_max * max_d r_d``; below 2 for a stable iteration.
    tol_loss : float
        Converged needs ``loss <= tol_loss * |y|^2 / (2 n)`` when ``n < D`` (interpolation is
        possible).
    tol_grad : float
        Converged needs ``|dL/dbeta| <= tol_grad * |X^T y| / n``.
    max_steps : int
        Upper bound on steps; problems that do not converge report ``converged = False``.
    check_every : int
        Steps between convergence checks.

    Returns
    -------
    GDResult
        Final weights, ``beta``, steps, flags, loss and weight-gradient norm per problem.
    """
    xa = np.asarray(x, dtype=float)
    n, dim = xa.shape[-2:]
    batch = np.broadcast_shapes(
        xa.shape[:-2], np.shape(y)[:-1], *(np.shape(w)[:-1] for w in weights)
    )
    xa = np.broadcast_to(xa, (*batch, n, dim)).reshape(-1, n, dim)
    ya = np.broadcast_to(np.asarray(y, dtype=float), (*batch, n)).reshape(-1, n)
    ws = [
        np.broadcast_to(np.asarray(w, dtype=float), (*batch, dim)).reshape(-1, dim).copy()
        for w in weights
    ]
    size = xa.shape[0]
    xt = np.swapaxes(xa, -1, -2)
    gram = xa @ xt / n if n <= dim else xt @ xa / n
    lam_max = np.linalg.eigvalsh(gram)[:, -1]
    loss_scale = np.maximum((ya**2).sum(-1) / (2 * n), 1e-300)
    grad_scale = np.maximum(np.linalg.norm(_rmatvec(xa, ya), axis=-1) / n, 1e-300)
    interpolating = n < dim

    steps = np.zeros(size, dtype=np.int64)
    converged = np.zeros(size, dtype=bool)
    active = np.arange(size)
    while active.size:
        xb, yb = xa[active], ya[active]
        wp, vp, wm, vm = (w[active] for w in ws)
        lm = lam_max[active]
        for _ in range(check_every):
            beta = wp * vp - wm * vm
            g = _rmatvec(xb, _matvec(xb, beta) - yb) / n
            r_max = (wp**2 + vp**2 + wm**2 + vm**2).max(-1)
            eta = np.minimum(step / np.maximum(np.abs(g).max(-1), 1e-300), stability / (lm * r_max))
            eg = eta[:, None] * g
            wp, vp, wm, vm = wp - eg * vp, vp - eg * wp, wm + eg * vm, vm + eg * wm
        for w, new in zip(ws, (wp, vp, wm, vm), strict=True):
            w[active] = new
        steps[active] += check_every
        beta = wp * vp - wm * vm
        resid = _matvec(xb, beta) - yb
        loss = (resid**2).sum(-1) / (2 * n)
        g = _rmatvec(xb, resid) / n
        ok = np.linalg.norm(g, axis=-1) <= tol_grad * grad_scale[active]
        if interpolating:
            ok &= loss <= tol_loss * loss_scale[active]
        converged[active[ok]] = True
        active = active[~ok & (steps[active] < max_steps)]

    wp, vp, wm, vm = ws
    beta = wp * vp - wm * vm
    resid = _matvec(xa, beta) - ya
    g = _rmatvec(xa, resid) / n
    grad_w = np.sqrt(((g * vp) ** 2 + (g * wp) ** 2 + (g * vm) ** 2 + (g * wm) ** 2).sum(-1))
    shape_d = (*batch, dim)
    return GDResult(
        beta=beta.reshape(shape_d),
        weights=(
            wp.reshape(shape_d),
            vp.reshape(shape_d),
            wm.reshape(shape_d),
            vm.reshape(shape_d),
        ),
        steps=steps.reshape(batch),
        converged=converged.reshape(batch),
        loss=((resid**2).sum(-1) / (2 * n)).reshape(batch),
        grad_norm=grad_w.reshape(batch),
    )


def _matvec(x: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """``x[i] @ b[i]`` for each problem."""
    return np.asarray((x @ b[..., None])[..., 0])


def _rmatvec(x: NDArray[np.float64], r: NDArray[np.float64]) -> NDArray[np.float64]:
    """``r[i] @ x[i]`` (that is ``x[i]^T r[i]``) for each problem, without transposing ``x``."""
    return np.asarray((r[..., None, :] @ x)[..., 0, :])
