"""Profile-likelihood intervals of a plateau, one-sided where the plateau can reach its bound.

The plateau of the families that have one is a parameter, or a monotone function of one
(:attr:`Family.plateau_param`: ``1 - e_ir`` for ``abnar``, ``ceiling`` for ``sigmoid``). Its
profile deviance ``D(c) = 2 (max loglik - max loglik with the parameter held at c)`` is computed
on a grid by the batched solver (every grid value is a row, the parameter held fixed, the others
refitted from the fit to all data and from its other maximum), and the interval is the set of
values whose deviance lies below the ``chi2(1)`` quantile of the level, found by interpolating
the signed root of the deviance and refining it once.

Two corrections make the interval honest where the textbook one is not:

- **Bounds.** When the parameter's bound (``e_ir = 0``: plateau 1, no saturation) is not rejected
  (its deviance is below the ``chi2(1)`` quantile of ``1 - 2 alpha``, the critical value of the
  50:50 chi-bar-squared distribution of a test on a boundary), the interval runs to the bound: a
  one-sided interval, never one of zero width.
- **Misspecification.** The deviance is divided by ``kappa = max(1, v_robust / v_model)``: the
  ratio of the sandwich (Huber-White) variance of the plateau to the model-based one (inverse
  observed information), so that a likelihood whose shortfall distribution is wrong gives an
  interval as wide as the sampling variability it actually has (Royall and Tsou 2003; Chandler and
  Bate 2007). ``kappa`` is never below 1: the correction only widens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from transferscope.frontier import kernels
from transferscope.frontier.families import Family

Array = NDArray[np.float64]
IntArray = NDArray[np.intp]


#: Rounds of narrowing a crossing's bracket whose deviances are far from the threshold.
REFINE_ROUNDS = 8
#: Signed-root deviances within this of the threshold's root interpolate linearly.
CLOSE = 0.25


class Fixed:
    """A batched problem with one parameter held at a given value per row.

    Parameters
    ----------
    problem : kernels.Problem
        The full problem (data shared by all rows, shape ``(1, n)``).
    index : int
        Position of the held parameter.
    values : numpy.ndarray
        Shape ``(k,)``: its value in each row.
    """

    def __init__(self, problem: Any, index: int, values: Array) -> None:
        self.problem = problem
        self.index = index
        self.values = np.asarray(values, dtype=np.float64)
        self.lower = np.delete(problem.lower, index)
        self.upper = np.delete(problem.upper, index)

    def full(self, theta: Array, rows: IntArray) -> Array:
        """Insert the held values into the free parameters of rows ``rows``."""
        return np.insert(theta, self.index, self.values[rows], axis=1)

    def objective(self, theta: Array, rows: IntArray) -> Array:
        """Objective of the full problem."""
        return np.asarray(self.problem.objective(self.full(theta, rows), rows), np.float64)

    def derivatives(self, theta: Array, rows: IntArray) -> tuple[Array, Array, Array]:
        """Objective, gradient and curvature without the held parameter."""
        obj, grad, hess = self.problem.derivatives(self.full(theta, rows), rows)
        keep = np.delete(np.arange(grad.shape[1]), self.index)
        return obj, grad[:, keep], hess[:, keep[:, None], keep[None, :]]

    def accept(self, mask: Any) -> None:
        """Forward :meth:`kernels.StochasticFrontier.accept`."""
        accept = getattr(self.problem, "accept", None)
        if accept is not None:
            accept(mask)


@dataclass(frozen=True)
class ProfileInterval:
    """A profile-likelihood interval of the plateau.

    Attributes
    ----------
    low, high : float
        The interval (NaN when it could not be computed).
    one_sided : bool
        The interval runs to the largest possible plateau (the parameter's bound is not
        rejected).
    bound_not_rejected : bool
        The plateau's bound (no saturation) is inside the confidence set.
    kappa : float
        Variance inflation applied to the deviance (1: none).
    message : str
        Why the interval is missing, when it is.
    """

    low: float
    high: float
    one_sided: bool
    bound_not_rejected: bool
    kappa: float
    message: str = ""

    @property
    def ok(self) -> bool:
        """Whether both ends are finite."""
        return math.isfinite(self.low) and math.isfinite(self.high)


def sandwich_ratio(
    problem: Any, theta: Array, index: int, plateau_of: Any, lower: Array, upper: Array
) -> float:
    """Ratio of the sandwich variance of the plateau to the model-based one.

    Parameters
    ----------
    problem : kernels.StochasticFrontier or kernels.ClusterFrontier
        The full-data problem (needs ``loglik_terms``).
    theta : numpy.ndarray
        The maximum, shape ``(P,)``.
    index : int
        Position of the plateau's parameter.
    plateau_of : callable
        ``plateau_of(theta) -> float``.
    lower, upper : numpy.ndarray
        Bounds of the parameters.

    Returns
    -------
    float
        ``a' H^-1 J H^-1 a / a' H^-1 a`` over the parameters not held on a bound (the plateau's
        parameter always included), with ``J`` the outer product of the per-observation scores,
        ``H`` the observed information and ``a`` the gradient of the plateau; NaN when a matrix
        is singular.
    """
    k = len(theta)
    row = np.zeros(1, dtype=np.intp)
    steps = 1e-5 * np.maximum(np.abs(theta), 1e-3)
    scores = []
    grads = []
    for j in range(k):
        up, down = theta.copy(), theta.copy()
        up[j] = min(theta[j] + steps[j], upper[j])
        down[j] = max(theta[j] - steps[j], lower[j])
        width = up[j] - down[j]
        if width <= 0:
            scores.append(np.zeros(problem.loglik_terms(theta[None, :], row).shape[1]))
            grads.append(np.zeros(k))
            continue
        terms = problem.loglik_terms(np.stack([up, down]), np.zeros(2, dtype=np.intp))
        scores.append((terms[0] - terms[1]) / width)
        g_up = problem.derivatives(up[None, :], row)[1][0]
        g_down = problem.derivatives(down[None, :], row)[1][0]
        grads.append((g_up - g_down) / width)
    s = np.column_stack(scores)  # (n, k): scores of the log-likelihood
    h = np.array(grads).T  # Hessian of the negative log-likelihood
    h = 0.5 * (h + h.T)
    at_bound = (theta <= lower + 1e-12) | (theta >= upper - 1e-12)
    free = ~at_bound
    free[index] = True
    a = np.zeros(k)
    for j in (int(i) for i in np.nonzero(free)[0]):
        up = theta.copy()
        step = steps[j] if theta[j] + steps[j] <= upper[j] else -steps[j]
        up[j] += step
        a[j] = (plateau_of(up) - plateau_of(theta)) / step
    idx = np.nonzero(free)[0]
    try:
        h_inv = np.linalg.inv(h[np.ix_(idx, idx)])
    except np.linalg.LinAlgError:
        return math.nan
    j_mat = s[:, idx].T @ s[:, idx]
    av = a[idx]
    model = float(av @ h_inv @ av)
    robust = float(av @ h_inv @ j_mat @ h_inv @ av)
    if not (model > 0 and math.isfinite(robust)):
        return math.nan
    return robust / model


def profile_interval(
    family: Family,
    problem: Any,
    theta: Array,
    starts: list[Array],
    level: float,
    *,
    kappa: float = 1.0,
    deviance_scale: float = 2.0,
    log_objective: int = 0,
) -> ProfileInterval:
    """Profile-likelihood interval of the plateau of a fit.

    Parameters
    ----------
    family : Family
        The curve; needs :attr:`Family.plateau_param`.
    problem : kernels.Problem
        The full-data objective (one row; negative log-likelihood, or half the residual sum of
        squares when ``log_objective`` is the number of fitted points).
    theta : numpy.ndarray
        The fit to all data (the minimum of ``problem``).
    starts : list of numpy.ndarray
        Starting points of every profile refit (the fit and, e.g., the likelihood's other
        maximum); each grid value keeps its best.
    level : float
        Confidence level.
    kappa : float
        Variance inflation of the deviance (>= 1).
    deviance_scale : float
        ``D = deviance_scale * (objective - minimum)``: 2 for a negative log-likelihood.
    log_objective : int
        For least squares, the number of points ``m``: ``D = m log(objective / minimum)``.

    Returns
    -------
    ProfileInterval
        The interval, or NaN ends with a message.
    """
    name = family.plateau_param
    if name is None:
        return ProfileInterval(
            math.nan, math.nan, False, False, kappa, "the family has no plateau parameter"
        )
    j = family.names.index(name)
    lo, hi = float(problem.lower[j]), float(problem.upper[j])
    v_hat = float(theta[j])
    row = np.zeros(1, dtype=np.intp)
    best = float(problem.objective(theta[None, :], row)[0])
    if not math.isfinite(best):
        return ProfileInterval(math.nan, math.nan, False, False, kappa, "no finite likelihood")
    two_sided = float(stats.chi2.ppf(level, 1)) * kappa
    boundary = float(stats.chi2.ppf(1.0 - 2.0 * (1.0 - level), 1)) * kappa

    def plateau_at(v: Array) -> Array:
        t = np.tile(theta, (len(v), 1))
        t[:, j] = v
        return np.asarray(family.plateau(*[t[:, i] for i in range(len(family.names))]), float)

    def deviance(values: Array) -> Array:
        fixed = Fixed(problem, j, values)
        found = None
        for start in starts:
            t0 = np.delete(np.tile(start, (len(values), 1)), j, axis=1)
            result = kernels.solve(fixed, t0, max_iter=200, ftol=1e-7, xtol=1e-5)
            found = result if found is None else kernels.best_of(found, result)[0]
        assert found is not None
        obj = np.where(np.isfinite(found.objective), found.objective, np.inf)
        obj = np.maximum(obj, best)
        if log_objective:
            return np.asarray(log_objective * np.log(obj / max(best, 1e-300)), dtype=np.float64)
        return np.asarray(deviance_scale * (obj - best), dtype=np.float64)

    span = hi - lo if math.isfinite(hi - lo) else max(abs(v_hat), 1.0)
    fractions = np.array([0.004, 0.012, 0.03, 0.07, 0.15, 0.3, 0.6, 1.0])
    sides = (-1, 1)
    edges = {-1: lo, 1: hi}
    room = {
        side: ((v_hat - edges[side]) * -side if math.isfinite(edges[side]) else span)
        for side in sides
    }
    # one batch: a grid on each side of the maximum, out to the bounds
    grids = {
        side: v_hat + side * np.minimum(fractions * min(room[side], span), room[side])
        for side in sides
        if room[side] > 1e-12
    }
    values = np.concatenate([grids[side] for side in grids]) if grids else np.zeros(0)
    devs = deviance(values) if values.size else np.zeros(0)
    ends: dict[int, float] = {}
    on_bound: dict[int, bool] = {}
    brackets: dict[int, tuple[float, float, float, float]] = {}
    offset = 0
    for side in sides:
        if side not in grids:  # the fit is on this bound
            ends[side], on_bound[side] = v_hat, True
            continue
        grid = grids[side]
        dev = devs[offset : offset + grid.size]
        offset += grid.size
        inside = dev <= two_sided
        if inside.all():  # the whole way to the bound lies in the set
            edge = edges[side]
            ends[side] = float(edge) if math.isfinite(edge) else float(grid[-1])
            on_bound[side] = math.isfinite(edge)
            continue
        k = int(np.argmax(~inside))
        inner = v_hat if k == 0 else float(grid[k - 1])
        d_in = 0.0 if k == 0 else float(dev[k - 1])
        brackets[side] = (inner, d_in, float(grid[k]), float(dev[k]))
        on_bound[side] = False
    target = math.sqrt(two_sided)

    def cross(inner: float, d_in: float, outer: float, d_out: float) -> float:
        """Where the signed root of the deviance (nearly linear) reaches the threshold."""
        r_in, r_out = math.sqrt(max(d_in, 0.0)), math.sqrt(max(d_out, 0.0))
        frac = (target - r_in) / max(r_out - r_in, 1e-12)
        return inner + min(max(frac, 0.0), 1.0) * (outer - inner)

    final: dict[int, tuple[float, float, float, float]] = {}
    if brackets:
        # one batch refines every crossing: the interpolated point and two beside it
        trials = {}
        for side, (inner, d_in, outer, d_out) in brackets.items():
            guess = cross(inner, d_in, outer, d_out)
            width = abs(outer - inner)
            pts = np.clip(
                guess + np.array([-0.1, 0.0, 0.1]) * width, min(inner, outer), max(inner, outer)
            )
            trials[side] = np.unique(pts)
        d_trial = deviance(np.concatenate([trials[side] for side in trials]))
        offset = 0
        for side, (inner, d_in, outer, d_out) in brackets.items():
            pts = trials[side]
            ds = d_trial[offset : offset + pts.size]
            offset += pts.size
            allp = np.concatenate([[inner], pts, [outer]])
            alld = np.concatenate([[d_in], ds, [d_out]])
            order = np.argsort(side * allp)
            allp, alld = allp[order], alld[order]
            k = int(np.argmax(alld > two_sided))
            k = max(k, 1)
            final[side] = (float(allp[k - 1]), float(alld[k - 1]), float(allp[k]), float(alld[k]))
            ends[side] = cross(*final[side])
        # the interpolation is trusted only between deviances close to the threshold: a refit
        # that fails further out (a deviance of thousands beside one of 1) would put the end
        # next to the inner point, an interval too narrow. Such brackets are narrowed, by the
        # interpolated point where it lies inside the bracket's middle, else by bisection.
        for _ in range(REFINE_ROUNDS):
            live = {
                side: b
                for side, b in final.items()
                if abs(b[2] - b[0]) > 1e-7 * max(1.0, abs(b[0]))
                and not (
                    math.sqrt(max(b[3], 0.0)) - target <= CLOSE
                    and target - math.sqrt(max(b[1], 0.0)) <= CLOSE
                )
            }
            if not live:
                break
            trial: dict[int, float] = {}
            for side, (inner, d_in, outer, d_out) in live.items():
                guess = cross(inner, d_in, outer, d_out)
                frac = (guess - inner) / (outer - inner)
                trial[side] = guess if 0.1 <= frac <= 0.9 else 0.5 * (inner + outer)
            d_new = deviance(np.array(list(trial.values())))
            for (side, point), d_point in zip(trial.items(), d_new, strict=True):
                inner, d_in, outer, d_out = final[side]
                if d_point <= two_sided:
                    final[side] = (point, float(d_point), outer, d_out)
                else:
                    final[side] = (inner, d_in, point, float(d_point))
                ends[side] = cross(*final[side])
    # is the bound where the plateau is largest (e.g. e_ir = 0) inside the confidence set?
    plateaus = plateau_at(np.array([ends[-1], ends[1]]))
    top_side = -1 if plateaus[0] >= plateaus[1] else 1
    top_edge = edges[top_side]
    bound_ok = False
    if math.isfinite(top_edge) and on_bound[top_side]:
        # the end reached the bound: test the bound at the boundary critical value
        d_edge = 0.0 if abs(v_hat - top_edge) <= 1e-12 else float(deviance(np.array([top_edge]))[0])
        bound_ok = d_edge <= boundary
        if not bound_ok:  # rejected by the one-sided test: the end lies before the bound
            grid = v_hat + (top_edge - v_hat) * np.linspace(0.0, 1.0, 9)[1:]
            dev = deviance(grid)
            k = int(np.argmax(dev > boundary))
            inner = v_hat if k == 0 else float(grid[k - 1])
            d_in = 0.0 if k == 0 else float(dev[k - 1])
            r_in, r_out = math.sqrt(d_in), math.sqrt(float(dev[k]))
            frac = (math.sqrt(boundary) - r_in) / max(r_out - r_in, 1e-12)
            ends[top_side] = inner + min(max(frac, 0.0), 1.0) * (float(grid[k]) - inner)
    plateaus = plateau_at(np.array([ends[-1], ends[1]]))
    low, high = float(np.min(plateaus)), float(np.max(plateaus))
    if bound_ok:
        high = float(plateau_at(np.array([top_edge]))[0])
    return ProfileInterval(low, high, bound_ok, bound_ok, kappa)
