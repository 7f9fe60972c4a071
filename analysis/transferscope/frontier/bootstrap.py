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

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import stats

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


def quantile_mc_se(values: Array, q: float) -> float:
    """Monte Carlo standard error of the ``q`` quantile of bootstrap replicates.

    The Maritz-Jarrett estimator: the ``q`` quantile of ``m`` replicates is close to the order
    statistic of rank ``m q``, whose distribution over resamples is that of the replicates'
    distribution function at a Beta(``m q``, ``m (1 - q)``) variable; weighting the sorted
    replicates by that Beta distribution's mass on ``((i - 1) / m, i / m]`` gives the first
    two moments of the order statistic, and so its standard deviation (Maritz and Jarrett
    1978; Wilcox, "Introduction to Robust Estimation"). That estimate is itself noisy (about
    30% at the 2.5% quantile), so the larger of it and the normal-theory value
    ``sqrt(q (1 - q) / m) / density`` (with the spread from the interquartile range) is
    returned.

    Parameters
    ----------
    values : numpy.ndarray
        Replicates (NaN for failed ones are ignored).
    q : float
        Quantile level.

    Returns
    -------
    float
        The standard error (NaN with fewer than 20 finite replicates).
    """
    v = np.sort(values[np.isfinite(values)])
    m = v.size
    if m < 20:
        return float("nan")
    rank = int(np.clip(np.floor(m * q + 0.5), 1, m))
    edges = stats.beta.cdf(np.arange(m + 1) / m, rank, m - rank + 1)
    w = np.diff(edges)
    first = float(w @ v)
    second = float(w @ (v * v))
    jarrett = math.sqrt(max(second - first * first, 0.0))
    if jarrett <= 1e-12 * max(1.0, abs(first)):
        return 0.0  # the replicates pile up at this value (a parameter on its bound)
    # the normal-theory value with a robust spread is far less noisy; the larger of the two is
    # kept, so that the growth of the resamples never stops on an estimate that came out small
    iqr = float(np.subtract(*np.quantile(v, [0.75, 0.25])))
    z = float(stats.norm.ppf(q))
    normal = math.sqrt(q * (1.0 - q) / m) * (iqr / 1.349) / float(stats.norm.pdf(z))
    return float(max(jarrett, normal))


@dataclass(frozen=True)
class GrownBootstrap:
    """A percentile interval whose number of resamples grew until its endpoints were stable.

    Attributes
    ----------
    plateaus : numpy.ndarray
        Plateaus of the successful refits.
    n_boot : int
        Resamples drawn.
    failed_share : float
        Share of refits that failed.
    low, high : float
        Percentile interval (NaN with fewer than 20 successful refits).
    se_low, se_high : float
        Monte Carlo standard errors of the endpoints (:func:`quantile_mc_se`).
    capped : bool
        Whether the growth stopped at ``bootstrap_max`` with an endpoint not yet stable.
    levels : numpy.ndarray
        The curve at the upstream score ``at`` of every successful refit (empty without it).
    """

    plateaus: Array
    n_boot: int
    failed_share: float
    low: float
    high: float
    se_low: float
    se_high: float
    capped: bool
    levels: Array = field(default_factory=lambda: np.zeros(0))


#: Margin on the number of resamples projected to make an endpoint stable.
GROWTH_MARGIN = 1.2


def _more(drawn: int, tol: float, errors: list[float]) -> int:
    """Resamples to add so that the unstable endpoints' Monte Carlo errors reach ``tol``.

    A quantile's Monte Carlo error falls as ``1 / sqrt(B)``: an error ``se`` at ``B`` resamples
    needs about ``B (se / tol)**2`` of them. The projection (with :data:`GROWTH_MARGIN`) is drawn
    at once instead of doubling B, at least a quarter of ``B`` more and at most ``3 B`` more
    (the error estimate is itself noisy); without a finite error, ``B`` more.
    """
    finite = [e for e in errors if math.isfinite(e)]
    if len(finite) < len(errors) or not finite:
        return drawn
    need = drawn * (max(finite) / tol) ** 2 * GROWTH_MARGIN
    return int(min(max(math.ceil(need) - drawn, math.ceil(drawn / 4)), 3 * drawn))


def grow_bootstrap(
    family: Family,
    estimator: Estimator,
    x: Array,
    y: Array,
    settings: FitSettings,
    full: CurveFit,
    rng: np.random.Generator,
    *,
    needed: tuple[bool, bool] | None = None,
    outer: tuple[float, float] | None = None,
    at: float | None = None,
    low_at_level: bool = False,
) -> GrownBootstrap:
    """Bootstrap the plateau, adding resamples until the endpoints are stable.

    Starts with ``settings.bootstrap`` resamples and adds as many as the unstable endpoints'
    Monte Carlo errors project (:func:`_more`; new resamples drawn from the same generator and
    joined to those already refitted) until 1.96 Monte Carlo standard errors of each endpoint
    are at most ``settings.mc_tolerance``, or ``settings.bootstrap_max`` resamples are
    reached.

    Parameters
    ----------
    family, estimator, x, y, settings, full
        As for :func:`refit_resamples` (``full`` is the fit the resamples start from).
    rng : numpy.random.Generator
        Source of the resamples.
    needed : tuple of bool, optional
        Which endpoints (low, high) must be stable (default both).
    outer : tuple of float, optional
        Another interval this one is joined with: an endpoint more than three Monte Carlo
        standard errors inside it cannot become an end of the union and need not be stable.
    at : float, optional
        An upstream score at which the curve of every refit is also returned (``levels``).
    low_at_level : bool
        The interval's low end will be the lower percentile of ``levels`` wherever that lies
        below the plateau's (data that show no saturation): then its Monte Carlo error, not the
        plateau's, decides whether the low end is stable.

    Returns
    -------
    GrownBootstrap
        Replicates, the interval and its Monte Carlo standard errors.
    """
    level = settings.ci_level
    alpha = 1.0 - level
    start = int(settings.bootstrap)
    cap = max(start, int(settings.bootstrap_max))
    want = needed if needed is not None else (True, True)
    parts: list[Array] = []
    level_parts: list[Array] = []
    drawn = 0
    failed = 0
    batch = start
    while True:
        indices = kernels.bootstrap_indices(len(x), batch, rng)
        fits = refit_resamples(family, estimator, x, y, settings, full, indices)
        parts.append(fits.plateau[fits.ok])
        if at is not None:
            theta = fits.theta[fits.ok][:, : len(family.names)]
            level_parts.append(family.evaluate(np.array([at]), theta)[:, 0])
        drawn += batch
        failed += int((~fits.ok).sum())
        values = np.concatenate(parts)
        low, high = percentile_interval(values, level)
        se_low = quantile_mc_se(values, alpha / 2.0)
        se_high = quantile_mc_se(values, 1.0 - alpha / 2.0)
        tol = settings.mc_tolerance / 1.96
        unstable_low = want[0] and not (se_low <= tol)
        unstable_high = want[1] and not (se_high <= tol)
        err_low = se_low
        if outer is not None:
            if math.isfinite(outer[0]) and low - 3.0 * se_low > outer[0]:
                unstable_low = False
            if math.isfinite(outer[1]) and high + 3.0 * se_high < outer[1]:
                unstable_high = False
        if low_at_level and level_parts:
            reached = np.concatenate(level_parts)
            reached = reached[np.isfinite(reached)]
            if reached.size >= 20 and float(np.quantile(reached, alpha / 2.0)) < low:
                err_low = quantile_mc_se(reached, alpha / 2.0)
                unstable_low = want[0] and not (err_low <= tol)
        if not (unstable_low or unstable_high) or drawn >= cap:
            break
        batch = min(
            _more(drawn, tol, [err_low] * unstable_low + [se_high] * unstable_high), cap - drawn
        )
    return GrownBootstrap(
        plateaus=values,
        n_boot=drawn,
        failed_share=failed / drawn if drawn else float("nan"),
        low=low,
        high=high,
        se_low=se_low,
        se_high=se_high,
        capped=bool(unstable_low or unstable_high),
        levels=np.concatenate(level_parts) if level_parts else np.zeros(0),
    )
