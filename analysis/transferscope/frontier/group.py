"""Fit one group of runs: checks, the fit, plateau, saturation point, backtest and bootstrap."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from transferscope.errors import InputError
from transferscope.frontier import bootstrap as boot
from transferscope.frontier import kernels
from transferscope.frontier.estimators import (
    FRONTIERS,
    POINT_FRONTIERS,
    CurveFit,
    FitOptions,
    fit_estimator,
    location,
)
from transferscope.frontier.families import FAMILIES, Family, families_for, get_family
from transferscope.frontier.kernels import NOISE_FLOOR, Inefficiency
from transferscope.frontier.result import FrontierResult
from transferscope.schema import metric_direction

Array = NDArray[np.float64]

#: The default frontier estimator: the one whose plateau interval is calibrated (see README).
DEFAULT_FRONTIER: Final[str] = "stochastic"
#: Backtest errors closer than this (accuracy units) are a tie, broken by AICc.
AUTO_TIE: Final[float] = 1e-3


@dataclass(frozen=True)
class Settings:
    """Everything a group fit depends on besides the data (part of the store's fingerprint).

    Parameters
    ----------
    frontier : str
        Frontier estimator.
    bootstrap : int
        Resamples (0: no interval).
    ci_level : float
        Interval level.
    delta : float
        Tolerance of the saturation point.
    backtest_quantile : float
        Upstream quantile below which the backtest trains.
    options : FitOptions
        ``tau``, ``inefficiency``, smoothing and noise floor.
    """

    frontier: str = DEFAULT_FRONTIER
    bootstrap: int = 1000
    ci_level: float = 0.95
    delta: float = 0.01
    backtest_quantile: float = 0.8
    options: FitOptions = field(default_factory=FitOptions)

    def check(self) -> None:
        """Raise :class:`InputError` for an option out of range."""
        if self.frontier not in FRONTIERS:
            raise InputError(f"unknown frontier {self.frontier!r}; expected one of {FRONTIERS}")
        if not isinstance(self.bootstrap, int | np.integer) or self.bootstrap < 0:
            raise InputError(f"bootstrap must be a non-negative integer, got {self.bootstrap!r}")
        if not 0.0 < self.ci_level < 1.0:
            raise InputError(f"ci_level must lie in (0, 1), got {self.ci_level!r}")
        if not 0.0 < self.options.tau < 1.0:
            raise InputError(f"tau must lie in (0, 1), got {self.options.tau!r}")
        if not 0.0 < self.backtest_quantile < 1.0:
            raise InputError(
                f"backtest_quantile must lie in (0, 1), got {self.backtest_quantile!r}"
            )
        if not self.delta > 0.0:
            raise InputError(f"delta must be positive, got {self.delta!r}")
        if self.options.inefficiency not in ("half_normal", "exponential"):
            raise InputError(
                f"unknown inefficiency {self.options.inefficiency!r}; "
                "expected 'half_normal' or 'exponential'"
            )

    def to_record(self) -> dict[str, object]:
        """JSON-safe dict of the settings."""
        return {
            "frontier": self.frontier,
            "bootstrap": int(self.bootstrap),
            "ci_level": float(self.ci_level),
            "delta": float(self.delta),
            "backtest_quantile": float(self.backtest_quantile),
            **self.options.to_record(),
        }


def saturation_point(
    family: Family, theta: Array, delta: float, upstream_max: float = 1.0
) -> float:
    """Where the curve comes within ``delta`` of its plateau and stays there.

    Parameters
    ----------
    family : Family
        The curve.
    theta : numpy.ndarray
        Its parameters.
    delta : float
        Tolerance in downstream units.
    upstream_max : float
        For a loss: the largest observed loss (the search runs to ten times it).

    Returns
    -------
    float
        For accuracies, the smallest ``x`` in [0, 1] with ``|plateau - f(x')| <= delta`` for every
        ``x' >= x``; for losses, the largest ``L`` with that property for every ``L' <= L``
        (NaN when the curve stays within ``delta`` over the whole search range).
    """
    plateau = float(family.plateau(*theta))
    if not math.isfinite(plateau):
        return math.nan
    loss = family.upstream == "lower"
    low, high = (0.0, 10.0 * max(upstream_max, 1e-9)) if loss else (0.0, 1.0)
    grid = np.linspace(low, high, 2001)
    if loss:
        grid = grid[::-1]  # walk from the worst upstream score towards the best

    def gap(v: ArrayLike) -> Array:
        return np.asarray(np.abs(plateau - family.evaluate(v, theta)), dtype=np.float64)

    outside = ~(gap(grid) <= delta)
    outside[-1] = False  # the best end is the plateau itself
    if not outside.any():
        return math.nan if loss else float(grid[0])
    last = int(np.nonzero(outside)[0][-1])
    a, b = float(grid[last]), float(grid[last + 1])
    for _ in range(60):  # bisection: gap(a) > delta >= gap(b)
        mid = 0.5 * (a + b)
        if gap(mid) > delta:
            a = mid
        else:
            b = mid
    return b


def unfitted(
    family: Family, settings: Settings, x: Array, y: Array, status: str, message: str
) -> FrontierResult:
    """Make a result without a fit: the status and why, the points, NaN statistics.

    Parameters
    ----------
    family : Family
        The family that was asked for.
    settings : Settings
        Estimator and options.
    x, y : numpy.ndarray
        The group's points.
    status, message : str
        Why there is no fit.

    Returns
    -------
    FrontierResult
        With NaN parameters and statistics.
    """
    return FrontierResult(
        family=family.family_name,
        frontier=settings.frontier,
        status=status,
        message=message,
        n_points=len(x),
        n_frontier=0,
        params=dict.fromkeys(_param_names(family, settings.frontier), math.nan),
        stderr=dict.fromkeys(_param_names(family, settings.frontier), math.nan),
        ci_level=settings.ci_level,
        options=settings.to_record(),
        x=x,
        y=y,
        on_frontier=np.zeros(len(x), dtype=bool),
    )


def _param_names(family: Family, frontier: str) -> tuple[str, ...]:
    extra = ("sigma_v", "sigma_u") if frontier == "stochastic" else ()
    return (*family.names, *extra)


def check_group(
    family: Family,
    frontier: str,
    x: Array,
    y: Array,
    upstream_metric: str | None = None,
    downstream_metric: str | None = None,
) -> tuple[str, str] | None:
    """Why a group cannot be fitted, as ``(status, message)``, or ``None`` when it can.

    Parameters
    ----------
    family : Family
        The curve to fit.
    frontier : str
        The estimator.
    x, y : numpy.ndarray
        Upstream and downstream scores (finite).
    upstream_metric, downstream_metric : str, optional
        Metric names; their direction (:func:`transferscope.schema.metric_direction`) decides
        whether the family applies.

    Returns
    -------
    tuple of str or None
        ``("degenerate", reason)`` or ``("too_few_points", reason)``.
    """
    name = family.family_name
    up = metric_direction(upstream_metric)
    if family.upstream == "higher" and up == "lower":
        return (
            "degenerate",
            f"upstream metric {upstream_metric!r} is lower-is-better; family {name!r} needs an "
            "accuracy (use 'loss_exp' or 'auto')",
        )
    if family.upstream == "lower" and up == "higher" and upstream_metric is not None:
        return (
            "degenerate",
            f"family {name!r} needs a loss as upstream score, got {upstream_metric!r}",
        )
    if metric_direction(downstream_metric) == "lower":
        return (
            "degenerate",
            f"downstream metric {downstream_metric!r} is lower-is-better; the families model "
            "an accuracy",
        )
    if len(y) and (np.min(y) < 0.0 or np.max(y) > 1.0):
        return ("degenerate", "downstream scores outside [0, 1]; the families model a fraction")
    if family.upstream == "higher" and len(x) and (np.min(x) < 0.0 or np.max(x) > 1.0):
        return ("degenerate", "upstream scores outside [0, 1]; the family needs a fraction")
    if family.upstream == "lower" and len(x) and np.min(x) < 0.0:
        return ("degenerate", "negative upstream losses")
    need = boot.min_points(family, frontier)
    if len(x) == 0:
        return ("too_few_points", "no run has both an upstream and a downstream score")
    if len(x) < need:
        return ("too_few_points", f"{len(x)} points; {name!r} on {frontier!r} needs {need}")
    if np.ptp(x) == 0.0:
        return ("degenerate", "all points have the same upstream score (a vertical line)")
    if np.ptp(y) == 0.0:
        return ("degenerate", "all points have the same downstream score")
    return None


def _backtest(
    family: Family,
    x: Array,
    y: Array,
    settings: Settings,
    mask: NDArray[np.bool_],
    start: dict[str, float],
) -> tuple[float, Array, Array, Array]:
    loss = family.upstream == "lower"
    q = settings.backtest_quantile
    cut = float(np.quantile(x, 1.0 - q if loss else q))
    train = x > cut if loss else x < cut
    held = ~train
    empty = np.zeros(0)
    if train.sum() < boot.min_points(family, settings.frontier) or not held.any():
        return math.nan, empty, empty, empty
    if np.ptp(x[train]) == 0.0 or np.ptp(y[train]) == 0.0:
        return math.nan, empty, empty, empty
    fit, train_mask = fit_estimator(
        family, x[train], y[train], settings.frontier, settings.options, start=start
    )
    if not fit.converged:
        return math.nan, empty, empty, empty
    if settings.frontier in POINT_FRONTIERS:
        if train_mask.sum() < boot.min_points(family, settings.frontier):
            return math.nan, empty, empty, empty
        target = held & mask
    else:
        target = held
    xt, yt = x[target], y[target]
    if xt.size == 0:
        return math.nan, empty, empty, empty
    predicted = location(family, fit, settings.frontier, settings.options, xt)
    return float(np.mean(np.abs(predicted - yt))), xt, yt, predicted


def fit_one(
    family: Family,
    x: Array,
    y: Array,
    settings: Settings,
    rng: np.random.Generator,
    *,
    upstream_metric: str | None = None,
    downstream_metric: str | None = None,
    bootstrap: bool = True,
) -> FrontierResult:
    """Fit one family to one group (the work behind :func:`fit_group`).

    Parameters
    ----------
    family : Family
        The curve.
    x, y : numpy.ndarray
        Finite upstream and downstream scores.
    settings : Settings
        Estimator and options.
    rng : numpy.random.Generator
        Source of the bootstrap resamples.
    upstream_metric, downstream_metric : str, optional
        Metric names (see :func:`check_group`).
    bootstrap : bool
        Whether to draw the bootstrap (``False``: the interval is left empty).

    Returns
    -------
    FrontierResult
        The fit, or a status saying why there is none.
    """
    problem = check_group(family, settings.frontier, x, y, upstream_metric, downstream_metric)
    if problem is not None:
        return unfitted(family, settings, x, y, *problem)
    try:
        fit, mask = fit_estimator(family, x, y, settings.frontier, settings.options)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return unfitted(family, settings, x, y, "did_not_converge", f"fit failed: {exc}")
    n_frontier = int(mask.sum())
    base = unfitted(family, settings, x, y, "ok", "")
    need = boot.min_points(family, settings.frontier)
    if n_frontier < need:
        message = (
            f"the {settings.frontier} frontier has {n_frontier} points; "
            f"{family.family_name!r} needs {need}"
        )
        return _replace(base, status="too_few_points", message=message, n_frontier=n_frontier)
    if not fit.converged:
        message = fit.message or "the optimizer did not converge"
        return _replace(base, status="did_not_converge", message=message, n_frontier=n_frontier)
    p = len(family.names)
    plateau = float(family.plateau(*fit.values[:p]))
    if not math.isfinite(plateau):
        return _replace(
            base, status="did_not_converge", message="non-finite plateau", n_frontier=n_frontier
        )
    start = {n: float(v) for n, v in zip(family.names, fit.values[:p], strict=True)}
    mae, bx, by_, bp = _backtest(family, x, y, settings, mask, start)
    low = high = failed = math.nan
    plateaus = np.zeros(0)
    n_boot = int(settings.bootstrap) if bootstrap else 0
    if n_boot > 0:
        indices = kernels.bootstrap_indices(len(x), n_boot, rng)
        fits = boot.refit_resamples(family, x, y, settings.frontier, settings.options, fit, indices)
        low, high = boot.percentile_interval(fits.plateau, settings.ci_level)
        failed = fits.failed_share
        plateaus = fits.plateau[fits.ok]
    return FrontierResult(
        family=family.family_name,
        frontier=settings.frontier,
        status="ok",
        message=_bound_note(family, fit),
        n_points=len(x),
        n_frontier=n_frontier,
        params=_named(fit, fit.values),
        stderr=_named(fit, fit.stderr),
        plateau=plateau,
        plateau_ci_low=low,
        plateau_ci_high=high,
        ci_level=settings.ci_level,
        saturation_point=saturation_point(family, fit.values[:p], settings.delta, float(np.max(x))),
        aicc=fit.aicc,
        rmse=fit.rmse,
        backtest_mae=mae,
        bootstrap_failed_share=failed,
        n_bootstrap=n_boot,
        selected=True,
        options=settings.to_record(),
        x=x,
        y=y,
        on_frontier=mask,
        backtest_x=bx,
        backtest_y=by_,
        backtest_predicted=bp,
        bootstrap_plateaus=plateaus,
    )


def _bound_note(family: Family, fit: CurveFit) -> str:
    """Say which of the curve's parameters ended on a bound (e.g. ``e_ir`` at 0: no saturation)."""
    notes = []
    for name, value in zip(family.names, fit.values, strict=False):
        low, high = family.bounds[name]
        if value <= low:
            notes.append(f"{name} at its lower bound {low:g}")
        elif value >= high:
            notes.append(f"{name} at its upper bound {high:g}")
    named = dict(zip(fit.names, fit.values, strict=True))
    shortfall, noise = named.get("sigma_u"), named.get("sigma_v")
    if shortfall is not None and noise is not None and shortfall <= _NO_SHORTFALL * noise:
        # the "wrong skew" of stochastic frontier analysis: the maximum likelihood puts no
        # inefficiency below the curve, so the fit is the average curve, not an upper frontier
        notes.append(
            "sigma_u near 0: the runs are not skewed below the curve, so this stochastic frontier "
            "is the average curve (least squares), not an upper frontier"
        )
    return "note: " + "; ".join(notes) if notes else ""


#: A shortfall scale at or below this share of the noise scale counts as none (the "wrong skew").
_NO_SHORTFALL = 0.01


def _named(fit: CurveFit, values: Array) -> dict[str, float]:
    return {n: float(v) for n, v in zip(fit.names, values, strict=True)}


def _replace(result: FrontierResult, **changes: Any) -> FrontierResult:
    return replace(result, **changes)


def _auto_order(results: Sequence[FrontierResult]) -> int | None:
    """Index of the family ``auto`` picks: smallest backtest error, ties within AUTO_TIE by AICc."""
    ok = [i for i, r in enumerate(results) if r.ok]
    if not ok:
        return None
    with_backtest = [i for i in ok if math.isfinite(results[i].backtest_mae)]
    pool = with_backtest or ok
    if with_backtest:
        best = min(results[i].backtest_mae for i in pool)
        pool = [i for i in pool if results[i].backtest_mae <= best + AUTO_TIE]

    def aicc(i: int) -> float:
        v = results[i].aicc
        return v if math.isfinite(v) else math.inf

    return min(pool, key=lambda i: (aicc(i), results[i].backtest_mae, i))


def resolve_families(family: str | Sequence[str], upstream_metric: str | None) -> list[str]:
    """Family names to fit for ``family`` (a name, ``"auto"`` or a list of names).

    Parameters
    ----------
    family : str or sequence of str
        As given by the user.
    upstream_metric : str, optional
        For ``"auto"``: accuracies get the accuracy families, losses ``loss_exp``.

    Returns
    -------
    list of str
        Registered names.

    Raises
    ------
    InputError
        For an unknown name.
    """
    if isinstance(family, str):
        if family == "auto":
            return list(families_for(metric_direction(upstream_metric)))
        names = [family]
    else:
        names = list(family)
    for n in names:
        if n not in FAMILIES:
            raise InputError(f"unknown family {n!r}; expected 'auto' or one of {tuple(FAMILIES)}")
    return names


def fit_families(
    x: ArrayLike,
    y: ArrayLike,
    family: str | Sequence[str],
    settings: Settings,
    rng_seed: int | np.random.SeedSequence,
    *,
    upstream_metric: str | None = None,
    downstream_metric: str | None = None,
    side_by_side: bool = False,
) -> list[FrontierResult]:
    """Fit one or several families to one group; ``"auto"`` marks (and keeps) the best.

    Parameters
    ----------
    x, y : array_like
        Upstream and downstream scores; pairs with a missing value are dropped.
    family : str or sequence of str
        A family name, ``"auto"``, or several names.
    settings : Settings
        Estimator and options.
    rng_seed : int or numpy.random.SeedSequence
        Seed of the bootstrap; every family draws the same resamples.
    upstream_metric, downstream_metric : str, optional
        Metric names.
    side_by_side : bool
        With ``"auto"`` (or several names), return every family (bootstrapped), with
        ``selected`` marking the choice; otherwise only the chosen one is returned and only it is
        bootstrapped.

    Returns
    -------
    list of FrontierResult
        One result per family returned.
    """
    settings.check()
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        raise InputError(f"x and y differ in length: {xa.size} and {ya.size}")
    keep = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[keep], ya[keep]
    names = resolve_families(family, upstream_metric)
    choose = family == "auto" or not isinstance(family, str)
    many = len(names) > 1 and choose

    def rng() -> np.random.Generator:
        return np.random.default_rng(rng_seed)

    results = [
        fit_one(
            get_family(n),
            xa,
            ya,
            settings,
            rng(),
            upstream_metric=upstream_metric,
            downstream_metric=downstream_metric,
            bootstrap=side_by_side or not many,
        )
        for n in names
    ]
    if not many:
        return results
    chosen = _auto_order(results)
    marked = [_replace(r, selected=(i == chosen)) for i, r in enumerate(results)]
    if side_by_side:
        return marked
    if chosen is None:
        return [_replace(marked[0], selected=False)]
    best = fit_one(
        get_family(names[chosen]),
        xa,
        ya,
        settings,
        rng(),
        upstream_metric=upstream_metric,
        downstream_metric=downstream_metric,
    )
    return [best]


def fit_group(
    x: ArrayLike,
    y: ArrayLike,
    family: str = "abnar",
    frontier: str = DEFAULT_FRONTIER,
    *,
    bootstrap: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    tau: float = 0.9,
    inefficiency: Inefficiency = "half_normal",
    noise_floor: float = NOISE_FLOOR,
    delta: float = 0.01,
    backtest_quantile: float = 0.8,
    upstream_metric: str | None = None,
    downstream_metric: str | None = None,
) -> FrontierResult:
    """Fit a saturating family to one group of (upstream, downstream) points.

    Parameters
    ----------
    x, y : array_like
        Upstream and downstream scores of the models (pairs with a missing value are dropped).
    family : str
        ``"abnar"``, ``"power"``, ``"logit"``, ``"probit"``, ``"sigmoid"``, ``"loss_exp"`` or
        ``"auto"`` (the family with the smallest backtest error; AICc breaks ties).
    frontier : str
        ``"stochastic"`` (default), ``"hull"``, ``"pareto"``, ``"quantile"`` or ``"all"``.
    bootstrap : int
        Bootstrap resamples for the plateau interval (0: none).
    ci_level : float
        Level of the interval.
    seed : int
        Seed of the resamples.
    tau : float
        Quantile level of ``"quantile"``.
    inefficiency : {"half_normal", "exponential"}
        Shortfall distribution of ``"stochastic"``.
    noise_floor : float
        Smallest noise standard deviation of ``"stochastic"``.
    delta : float
        Tolerance of the saturation point.
    backtest_quantile : float
        The backtest trains on models below this upstream quantile.
    upstream_metric, downstream_metric : str, optional
        Metric names; a lower-is-better upstream metric needs ``loss_exp``.

    Returns
    -------
    FrontierResult
        The fit (for ``"auto"``, the chosen family's), with a status instead of an exception
        when the group cannot be fitted.

    Raises
    ------
    InputError
        For an unknown family or estimator, or an option out of range.
    """
    settings = Settings(
        frontier=frontier,
        bootstrap=bootstrap,
        ci_level=ci_level,
        delta=delta,
        backtest_quantile=backtest_quantile,
        options=FitOptions(tau=tau, inefficiency=inefficiency, noise_floor=noise_floor),
    )
    return fit_families(
        x,
        y,
        family,
        settings,
        seed,
        upstream_metric=upstream_metric,
        downstream_metric=downstream_metric,
    )[0]
