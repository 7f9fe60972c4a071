"""Fit one group of runs: checks, the fit, plateau, saturation point, backtest and bootstrap."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from transferscope.errors import InputError
from transferscope.frontier import bootstrap as boot
from transferscope.frontier import kernels
from transferscope.frontier.estimators import Estimator, get_estimator
from transferscope.frontier.families import FAMILIES, Family, families_for, get_family
from transferscope.frontier.result import FrontierResult
from transferscope.frontier.settings import FitSettings
from transferscope.frontier.single import CurveFit
from transferscope.rng import make_rng
from transferscope.schema import metric_direction

Array = NDArray[np.float64]

#: Backtest errors closer than this (accuracy units) are a tie, broken by AICc.
AUTO_TIE: Final[float] = 1e-3
#: A group whose downstream score falls as its upstream score improves is degenerate (every family
#: models a frontier that rises) when the fall is clear: a one-sided Kendall test at this level...
FALLING_LEVEL: Final[float] = 0.01
#: ... and a Kendall's tau at or below this, i.e. at least twice as many pairs of runs fall as
#: rise. A weaker fall (a task near chance, a flat relation with noise) is fitted: its flat
#: curve says that more pretraining does not help, which is an answer.
FALLING_TAU: Final[float] = -1.0 / 3.0
#: A plateau interval narrower than this is no interval: the plateau sits at the same value in
#: every resample because the curve or a bound fixes it there, not because the data pin it.
ZERO_WIDTH: Final[float] = 1e-9


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
    family: Family, settings: FitSettings, x: Array, y: Array, status: str, message: str
) -> FrontierResult:
    """Make a result without a fit: the status and why, the points, NaN statistics.

    Parameters
    ----------
    family : Family
        The family that was asked for.
    settings : FitSettings
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
    names = get_estimator(settings.frontier).param_names(family)
    return FrontierResult(
        family=family.family_name,
        frontier=settings.frontier,
        status=status,
        message=message,
        n_points=len(x),
        n_frontier=0,
        params=dict.fromkeys(names, math.nan),
        stderr=dict.fromkeys(names, math.nan),
        ci_level=settings.ci_level,
        options=settings.to_record(),
        x=x,
        y=y,
        on_frontier=np.zeros(len(x), dtype=bool),
    )


def check_group(
    family: Family,
    estimator: Estimator,
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
    estimator : Estimator
        The frontier estimator.
    x, y : numpy.ndarray
        Upstream and downstream scores (finite).
    upstream_metric, downstream_metric : str, optional
        Metric names; their direction (:func:`transferscope.schema.metric_direction`) decides
        whether the family applies.

    Returns
    -------
    tuple of str or None
        ``("degenerate", reason)`` or ``("too_few_points", reason)``. Degenerate: metrics the
        family cannot model, scores out of range, a single upstream or downstream value, or a
        downstream score that falls clearly as the upstream score improves (one-sided Kendall
        test at :data:`FALLING_LEVEL` and tau at most :data:`FALLING_TAU`). Too few points:
        fewer than the estimator needs, or fewer distinct upstream scores than the curve has
        parameters (at least 3), which cannot identify a saturating curve and its plateau.
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
    need = estimator.min_points(family)
    if len(x) == 0:
        return ("too_few_points", "no run has both an upstream and a downstream score")
    if len(x) < need:
        return ("too_few_points", f"{len(x)} points; {name!r} on {estimator.name!r} needs {need}")
    if np.ptp(x) == 0.0:
        return ("degenerate", "all points have the same upstream score (a vertical line)")
    if np.ptp(y) == 0.0:
        return ("degenerate", "all points have the same downstream score")
    distinct = int(np.unique(x).size)
    n_params = len(family.names)
    if distinct < max(3, n_params):
        return (
            "too_few_points",
            f"{distinct} distinct upstream scores; {name!r} has {n_params} curve parameters and "
            f"needs at least {max(3, n_params)} distinct upstream scores to place its plateau",
        )
    return _falling(family, x, y)


def _falling(family: Family, x: Array, y: Array) -> tuple[str, str] | None:
    """Return a degenerate status when downstream falls significantly as upstream improves."""
    better = x if family.upstream == "higher" else -x
    with np.errstate(all="ignore"):
        test = stats.kendalltau(better, y, alternative="less")
    tau, pvalue = float(test.statistic), float(test.pvalue)
    if not (math.isfinite(pvalue) and pvalue < FALLING_LEVEL and tau <= FALLING_TAU):
        return None
    return (
        "degenerate",
        f"the downstream score falls as the upstream score improves (Kendall's tau = {tau:.2f}, "
        f"one-sided p = {pvalue:.2g}); the families model a frontier that rises",
    )


def _backtest(
    family: Family,
    estimator: Estimator,
    x: Array,
    y: Array,
    settings: FitSettings,
    mask: NDArray[np.bool_],
    start: dict[str, float],
) -> tuple[float, Array, Array, Array]:
    """Fit on the models below the upstream quantile; error on the held-out frontier points."""
    loss = family.upstream == "lower"
    q = settings.backtest_quantile
    cut = float(np.quantile(x, 1.0 - q if loss else q))
    train = x > cut if loss else x < cut
    held = ~train
    empty = np.zeros(0)
    need = estimator.min_points(family)
    if train.sum() < need or not held.any():
        return math.nan, empty, empty, empty
    if np.ptp(x[train]) == 0.0 or np.ptp(y[train]) == 0.0:
        return math.nan, empty, empty, empty
    if estimator.select(x[train], y[train]).sum() < need:
        return math.nan, empty, empty, empty
    fit = estimator.fit(family, x[train], y[train], settings, start=start)
    if not fit.converged:
        return math.nan, empty, empty, empty
    target = held & mask
    xt, yt = x[target], y[target]
    if xt.size == 0:
        return math.nan, empty, empty, empty
    predicted = estimator.location(family, fit, settings, xt)
    return float(np.mean(np.abs(predicted - yt))), xt, yt, predicted


def fit_one(
    family: Family,
    x: Array,
    y: Array,
    settings: FitSettings,
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
    settings : FitSettings
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
    estimator = get_estimator(settings.frontier)
    problem = check_group(family, estimator, x, y, upstream_metric, downstream_metric)
    if problem is not None:
        return unfitted(family, settings, x, y, *problem)
    mask = estimator.select(x, y)
    try:
        fit = estimator.fit(family, x, y, settings)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return unfitted(family, settings, x, y, "did_not_converge", f"fit failed: {exc}")
    n_frontier = int(mask.sum())
    base = unfitted(family, settings, x, y, "ok", "")
    need = estimator.min_points(family)
    if n_frontier < need:
        message = (
            f"the {settings.frontier} frontier has {n_frontier} points; "
            f"{family.family_name!r} needs {need}"
        )
        return replace(base, status="too_few_points", message=message, n_frontier=n_frontier)
    if not fit.converged:
        message = fit.message or "the optimizer did not converge"
        return replace(base, status="did_not_converge", message=message, n_frontier=n_frontier)
    p = len(family.names)
    plateau = float(family.plateau(*fit.values[:p]))
    if not math.isfinite(plateau):
        return replace(
            base, status="did_not_converge", message="non-finite plateau", n_frontier=n_frontier
        )
    start = {n: float(v) for n, v in zip(family.names, fit.values[:p], strict=True)}
    mae, bx, by_, bp = _backtest(family, estimator, x, y, settings, mask, start)
    low = high = failed = math.nan
    plateaus = np.zeros(0)
    n_boot = int(settings.bootstrap) if bootstrap else 0
    notes = _bound_notes(family, fit)
    if n_boot > 0:
        indices = kernels.bootstrap_indices(len(x), n_boot, rng)
        fits = boot.refit_resamples(family, estimator, x, y, settings, fit, indices)
        low, high = boot.percentile_interval(fits.plateau, settings.ci_level)
        failed = fits.failed_share
        plateaus = fits.plateau[fits.ok]
        if math.isfinite(low) and high - low <= ZERO_WIDTH:
            notes.append(
                f"no plateau interval: every resample puts the plateau at {low:.6g}, where the "
                "curve or a bound fixes it, so the data do not bound it"
            )
            low = high = math.nan
    return FrontierResult(
        family=family.family_name,
        frontier=settings.frontier,
        status="ok",
        message="note: " + "; ".join(notes) if notes else "",
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


def _bound_notes(family: Family, fit: CurveFit) -> list[str]:
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
    return notes


#: A shortfall scale at or below this share of the noise scale counts as none (the "wrong skew").
_NO_SHORTFALL = 0.01


def _named(fit: CurveFit, values: Array) -> dict[str, float]:
    return {n: float(v) for n, v in zip(fit.names, values, strict=True)}


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


def resolve_families(settings: FitSettings, upstream_metric: str | None) -> list[str]:
    """Family names to fit: the names asked for, or for ``"auto"`` those that suit the metric.

    Parameters
    ----------
    settings : FitSettings
        Its ``family``: a name, ``"auto"`` or several names.
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
    if settings.family == "auto":
        return list(families_for(metric_direction(upstream_metric)))
    names = list(settings.families_asked)
    for n in names:
        if n not in FAMILIES:
            raise InputError(f"unknown family {n!r}; expected 'auto' or one of {tuple(FAMILIES)}")
    return names


def fit_families(
    x: ArrayLike,
    y: ArrayLike,
    settings: FitSettings,
    seed: int | np.random.SeedSequence,
    *,
    upstream_metric: str | None = None,
    downstream_metric: str | None = None,
) -> list[FrontierResult]:
    """Fit one or several families to one group; ``"auto"`` marks (and keeps) the best.

    Parameters
    ----------
    x, y : array_like
        Upstream and downstream scores; pairs with a missing value are dropped.
    settings : FitSettings
        Families, estimator and options. With ``"auto"`` (or several names) and
        ``side_by_side``, every family is returned (bootstrapped), ``selected`` marking the
        choice; otherwise only the chosen one is returned and only it is bootstrapped.
    seed : int or numpy.random.SeedSequence
        Seed of the bootstrap; every family draws the same resamples.
    upstream_metric, downstream_metric : str, optional
        Metric names.

    Returns
    -------
    list of FrontierResult
        One result per family returned.
    """
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        raise InputError(f"x and y differ in length: {xa.size} and {ya.size}")
    keep = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[keep], ya[keep]
    names = resolve_families(settings, upstream_metric)
    many = len(names) > 1 and settings.chooses

    def one(name: str, bootstrap: bool = True) -> FrontierResult:
        return fit_one(
            get_family(name),
            xa,
            ya,
            settings,
            np.random.default_rng(seed),
            upstream_metric=upstream_metric,
            downstream_metric=downstream_metric,
            bootstrap=bootstrap,
        )

    results = [one(n, bootstrap=settings.side_by_side or not many) for n in names]
    if not many:
        return results
    chosen = _auto_order(results)
    marked = [replace(r, selected=(i == chosen)) for i, r in enumerate(results)]
    if settings.side_by_side:
        return marked
    if chosen is None:
        return [replace(marked[0], selected=False)]
    return [one(names[chosen])]


def fit_group(
    x: ArrayLike,
    y: ArrayLike,
    family: str | Sequence[str] = "abnar",
    *,
    upstream_metric: str | None = None,
    downstream_metric: str | None = None,
    settings: FitSettings | None = None,
    rng: np.random.Generator | None = None,
    **options: Any,
) -> FrontierResult:
    """Fit a saturating family to one group of (upstream, downstream) points.

    Parameters
    ----------
    x, y : array_like
        Upstream and downstream scores of the models (pairs with a missing value are dropped).
    family : str or sequence of str
        ``"abnar"``, ``"power"``, ``"logit"``, ``"probit"``, ``"sigmoid"``, ``"loss_exp"``, any
        registered family, or ``"auto"`` (the family with the smallest backtest error; AICc
        breaks ties).
    upstream_metric, downstream_metric : str, optional
        Metric names; a lower-is-better upstream metric needs ``loss_exp``.
    settings : FitSettings, optional
        Every other option at once; ``**options`` override its fields.
    rng : numpy.random.Generator, optional
        Draw the bootstrap seed from this generator instead of ``seed``.
    **options
        Fields of :class:`FitSettings`: ``frontier`` (``"stochastic"`` by default, ``"hull"``,
        ``"pareto"``, ``"quantile"``, ``"all"``), ``bootstrap``, ``ci_level``, ``seed``,
        ``delta``, ``backtest_quantile``, ``tau``, ``inefficiency``, ``smoothing``,
        ``noise_floor``.

    Returns
    -------
    FrontierResult
        The fit (for ``"auto"``, the chosen family's), with a status instead of an exception
        when the group cannot be fitted.

    Raises
    ------
    InputError
        For an unknown family, estimator or option, or an option out of range.
    """
    fit_settings = FitSettings.make(settings, family=family, **options)
    if rng is not None:
        fit_settings = fit_settings.replace(seed=draw_seed(rng))
    get_estimator(fit_settings.frontier)
    results = fit_families(
        x,
        y,
        fit_settings.replace(side_by_side=False),
        fit_settings.seed,
        upstream_metric=upstream_metric,
        downstream_metric=downstream_metric,
    )
    return results[0]


def draw_seed(rng: np.random.Generator) -> int:
    """Draw a seed from a generator, for functions whose resamples derive from one seed.

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator (it advances).

    Returns
    -------
    int
        A non-negative seed below 2**63.
    """
    return int(make_rng(rng=rng).integers(0, 2**63 - 1))
