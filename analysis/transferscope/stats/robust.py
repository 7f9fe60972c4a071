"""Cluster-robust (CR2) standard errors with Satterthwaite degrees of freedom, as clubSandwich.

For a model fitted by generalized least squares with a block-diagonal working covariance
``Theta = blockdiag(Theta_1, ..., Theta_J)`` (one block per cluster) and inverse-variance weights
``W_j = Theta_j^-1``, the bias-reduced linearization estimator (Bell and McCaffrey 2002; Tipton
and Pustejovsky 2015) is

``V_CR2 = M (sum_j X_j' W_j A_j e_j e_j' A_j W_j X_j) M``, with ``M = (X' W X)^-1``,

residuals ``e_j`` of cluster ``j`` and adjustment matrices ``A_j = R_j' G_j^(-1/2) R_j``, where
``Theta_j = R_j' R_j`` (Cholesky, ``R_j`` upper triangular) and
``G_j = R_j (I - X_j M X_j' W_j) Theta_j R_j'``. ``G^(-1/2)`` is the symmetric inverse square
root that sets eigenvalues below ``1e-12`` (relative to the largest, when that exceeds one) to
zero, as clubSandwich's ``Sym_power``.

The degrees of freedom of the t test of coefficient ``i`` are Satterthwaite's
``nu_i = tr(P_i)^2 / ||P_i||_F^2`` with the J x J matrix
``P_i[j, l] = delta_jl ||g_ij||^2 - h_ij . h_il``, ``g_ij = (M E_j L_j)[i, :]``,
``h_ij = (M E_j X_j L_M)[i, :]``, ``E_j = X_j' W_j A_j``, ``Theta_j = L_j L_j'`` and
``M = L_M L_M'``: clubSandwich's ``coef_test(..., test = "Satterthwaite")`` with the working
model as target (``inverse_var = TRUE``, as ``vcovCR()`` chooses for an ``rma.mv`` fit).
metafor's ``robust(fit, cluster, clubSandwich = TRUE)`` reports these numbers; the tests
reproduce clubSandwich 0.5.8 on the shared reference cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Eigenvalues of G_j at or below this (relative to the largest when that exceeds one) are zero.
SYM_POWER_TOL = 1e-12


@dataclass(frozen=True)
class RobustVcov:
    """CR2 covariance of the coefficients and Satterthwaite degrees of freedom.

    Attributes
    ----------
    vcov : ndarray, shape (p, p)
        Cluster-robust covariance of the coefficients.
    df : ndarray, shape (p,)
        Satterthwaite degrees of freedom of each coefficient's t test.
    n_clusters : int
        Number of clusters.
    """

    vcov: FloatArray
    df: FloatArray
    n_clusters: int


def sym_power(matrix: FloatArray, power: float) -> FloatArray:
    """Symmetric matrix power through the eigendecomposition, small eigenvalues set to zero.

    Parameters
    ----------
    matrix : ndarray, shape (n, n)
        Symmetric matrix.
    power : float
        Exponent (``-0.5`` for the inverse square root).

    Returns
    -------
    ndarray, shape (n, n)
        ``U diag(lambda^power) U'`` over eigenvalues above the tolerance (others give zero).
    """
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    tol = SYM_POWER_TOL * max(1.0, float(values.max(initial=0.0)))
    keep = values > tol
    powered = np.zeros_like(values)
    powered[keep] = values[keep] ** power
    return np.asarray((vectors * powered) @ vectors.T, dtype=np.float64)


def cluster_index(labels: Sequence[object] | npt.ArrayLike) -> list[npt.NDArray[np.intp]]:
    """Row positions of each cluster, clusters in sorted order of their labels.

    Parameters
    ----------
    labels : array_like, shape (k,)
        One cluster label per row.

    Returns
    -------
    list of ndarray
        For each distinct label (sorted as strings), the positions of its rows.
    """
    text = np.asarray([str(label) for label in np.asarray(labels, dtype=object).ravel()])
    return [np.flatnonzero(text == level) for level in sorted(set(text.tolist()))]


def cr2_vcov(
    x: FloatArray,
    resid: FloatArray,
    index: Sequence[npt.NDArray[np.intp]],
    theta: Sequence[FloatArray],
    bread: FloatArray,
) -> RobustVcov:
    """CR2 covariance and Satterthwaite degrees of freedom of a GLS fit (see the module docstring).

    Parameters
    ----------
    x : ndarray, shape (k, p)
        Design matrix.
    resid : ndarray, shape (k,)
        Residuals ``y - X b``.
    index : sequence of ndarray
        Row positions of each cluster (see :func:`cluster_index`).
    theta : sequence of ndarray
        The working (marginal) covariance block of each cluster, in the order of ``index``;
        the weights are their inverses.
    bread : ndarray, shape (p, p)
        ``(X' W X)^-1``, the model-based covariance of the coefficients.

    Returns
    -------
    RobustVcov
        Covariance, degrees of freedom per coefficient, number of clusters.
    """
    p = x.shape[1]
    n_clusters = len(index)
    meat = np.zeros((p, p))
    me_list: list[FloatArray] = []
    chol_list: list[FloatArray] = []
    for idx, th in zip(index, theta, strict=True):
        xj = x[idx]
        lower = np.linalg.cholesky(th)
        upper = lower.T
        wj = np.linalg.inv(th)
        ih = np.eye(idx.size) - xj @ bread @ xj.T @ wj
        g = upper @ ih @ th @ upper.T
        a = upper.T @ sym_power(g, -0.5) @ upper
        ej = xj.T @ wj @ a
        comp = ej @ resid[idx]
        meat += np.outer(comp, comp)
        me_list.append(np.asarray(bread @ ej, dtype=np.float64))
        chol_list.append(np.asarray(lower, dtype=np.float64))
    vcov = bread @ meat @ bread
    bread_lower = np.linalg.cholesky(bread)
    g_rows = np.empty((p, n_clusters))  # ||g_ij||^2
    h = np.empty((p, p, n_clusters))  # h_ij as columns, per coefficient
    for j, (idx, me, lower) in enumerate(zip(index, me_list, chol_list, strict=True)):
        g_rows[:, j] = np.sum((me @ lower) ** 2, axis=1)
        h[:, :, j] = me @ x[idx] @ bread_lower
    df = np.empty(p)
    for i in range(p):
        hi = h[i]
        pmat = -(hi.T @ hi)
        pmat[np.diag_indices(n_clusters)] += g_rows[i]
        df[i] = float(np.trace(pmat) ** 2 / np.sum(pmat**2))
    return RobustVcov(vcov=np.asarray(vcov, dtype=np.float64), df=df, n_clusters=n_clusters)
