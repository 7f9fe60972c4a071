"""Bootstrap a frontier fit: resample models, rebuild the frontier, refit (all at once).

Every resample is a row of model multiplicities. The estimator turns a chunk of rows into one
batched objective (:meth:`Estimator.resample_problem`: ``hull`` and ``pareto`` rebuild the frontier
of every row with the vectorized scans of :mod:`transferscope.frontier.kernels`, the others weight
all points by their multiplicities). All rows are refitted together by :func:`kernels.solve`,
warm-started at the fit to all data (and at every other start the estimator names, e.g. the
likelihood's other maximum); each row keeps its best solution. Resamples are processed in chunks
so that memory stays bounded for large groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from transferscope.frontier import kernels
from transferscope.frontier.estimators import Estimator
from transferscope.frontier.families import Family
from transferscope.frontier.settings import FitSettings
from transferscope.frontier.single import CurveFit

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]

#: Elements of a ``(rows, n)`` chunk of resamples processed at once.
CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class BootstrapFits:
    """Refits of B resamples.

    Attributes
    ----------
    theta : numpy.ndarray
        Shape ``(B, P)``: solver parameters of every resample (log scales for ``stochastic``).
    plateau : numpy.ndarray
        Shape ``(B,)``: plateau of every resample (NaN where it failed).
    ok : numpy.ndarray
        Shape ``(B,)``: the refit converged on enough frontier points and gave a finite plateau.
    n_iter : numpy.ndarray
        Shape ``(B,)``: solver iterations.
    """

    theta: Array
    plateau: Array
    ok: BoolArray
    n_iter: NDArray[np.int64]

    @property
    def failed_share(self) -> float:
        """Share of resamples whose refit failed."""
        return float(1.0 - self.ok.mean()) if self.ok.size else float("nan")


def refit_resamples(
    family: Family,
    estimator: Estimator,
    x: Array,
    y: Array,
    settings: FitSettings,
    full: CurveFit,
    indices: IntArray,
    *,
    max_iter: int = 500,
    ftol: float = 1e-9,
    xtol: float = 1e-6,
) -> BootstrapFits:
    """Refit every resample of a group.

    Parameters
    ----------
    family : Family
        The curve.
    estimator : Estimator
        The frontier estimator.
    x, y : numpy.ndarray
        All points of the group, shape ``(n,)``.
    settings : FitSettings
        Options.
    full : CurveFit
        The fit to all data (the warm start).
    indices : numpy.ndarray
        Shape ``(B, n)``: the models drawn for every resample (:func:`kernels.bootstrap_indices`).
    max_iter : int
        Largest number of solver iterations per resample.
    ftol, xtol : float
        Convergence tolerances of :func:`kernels.solve` (a relative change of 1e-6 in the
        parameters is far below the plateau's sampling error).

    Returns
    -------
    BootstrapFits
        Parameters, plateaus and success flags of every resample.
    """
    n = len(x)
    n_boot = indices.shape[0]
    p = len(family.names)
    need = estimator.min_points(family)
    starts = estimator.warm_starts(full)
    theta = np.full((n_boot, full.theta.shape[0]), np.nan)
    ok = np.zeros(n_boot, dtype=bool)
    n_iter = np.zeros(n_boot, dtype=np.int64)
    step = max(1, CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, n_boot, step):
        rows = slice(start, min(start + step, n_boot))
        counts = kernels.counts_from_indices(indices[rows], n)
        problem, n_fit = estimator.resample_problem(family, x, y, counts, settings)
        tiled = [np.tile(warm, (counts.shape[0], 1)) for warm in starts]
        found = [
            kernels.solve(problem, t0, max_iter=max_iter, ftol=ftol, xtol=xtol) for t0 in tiled
        ]
        result = found[0]
        for other in found[1:]:
            result = kernels.best_of(result, other)[0]
        theta[rows] = result.theta
        ok[rows] = result.converged & (n_fit >= need)
        n_iter[rows] = result.n_iter
    with np.errstate(all="ignore"):
        plateau = np.asarray(family.plateau(*[theta[:, j] for j in range(p)]), dtype=np.float64)
    plateau = np.broadcast_to(plateau, (n_boot,)).copy()
    ok &= np.isfinite(plateau) & np.isfinite(theta).all(axis=1)
    plateau[~ok] = np.nan
    return BootstrapFits(theta=theta, plateau=plateau, ok=ok, n_iter=n_iter)


def percentile_interval(values: Array, level: float) -> tuple[float, float]:
    """Equal-tailed percentile interval of the finite values.

    Parameters
    ----------
    values : numpy.ndarray
        Bootstrap replicates (NaN for failed ones).
    level : float
        Coverage level, e.g. 0.95.

    Returns
    -------
    tuple of float
        ``(low, high)``; NaN when fewer than 20 replicates are finite.
    """
    v = values[np.isfinite(values)]
    if v.size < 20:
        return float("nan"), float("nan")
    alpha = 1.0 - level
    low, high = np.quantile(v, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)
