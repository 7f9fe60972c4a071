"""Fit one group of runs: checks, the fit, plateau, saturation point, backtest and bootstrap."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from transferscope.errors import InputError
from transferscope.frontier import bootstrap as boot_mod
from transferscope.frontier import families as families_mod
from transferscope.frontier import kernels
from transferscope.frontier.estimators import Estimator, get_estimator, shortfall_kind
from transferscope.frontier.families import FAMILIES, Family, families_for, get_family
from transferscope.frontier.profile import ProfileInterval, profile_interval, sandwich_ratio
from transferscope.frontier.result import FLAGS, FrontierResult
from transferscope.frontier.settings import FitSettings
from transferscope.frontier.single import CurveFit
from transferscope.rng import make_rng
from transferscope.schema import MetricInfo, metric_info

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
    names = get_estimator(settings.frontier).param_names(family, settings)
    return FrontierResult(
        family=family.family_name,
        frontier=settings.frontier,
        requested_frontier=settings.frontier,
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


MetricLike = MetricInfo | str | None


def as_metric(metric: MetricLike) -> MetricInfo | None:
    """Make a metric definition from a definition, a name (looked up in the registry) or None.

    Parameters
    ----------
    metric : MetricInfo, str or None
        What a group knows about its metric.

    Returns
    -------
    MetricInfo or None
        None when no metric is named.
    """
    if metric is None or isinstance(metric, MetricInfo):
        return metric
    return metric_info(str(metric))


@dataclass(frozen=True)
class Oriented:
    """A group's points turned so that higher is better on both axes (where the family needs it).

    Attributes
    ----------
    x, y : numpy.ndarray
        The points as fitted.
    flags : tuple of str
        ``flipped``, ``metric_assumed``.
    notes : tuple of str
        What was done, for the message.
    """

    x: Array
    y: Array
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def check_group(
    family: Family,
    estimator: Estimator,
    x: Array,
    y: Array,
    upstream_metric: MetricLike = None,
    downstream_metric: MetricLike = None,
) -> tuple[str, str] | Oriented:
    """Say why a group cannot be fitted, or turn its points the right way round.

    A lower-is-better metric whose scores are fractions in [0, 1] (an error rate) is fitted as
    ``1 - score`` (flag ``flipped``); a lower-is-better metric without that range (a loss, a
    perplexity) or a metric with no better end (a bias percentage) cannot be a downstream
    score of these families (status ``unsupported_metric``); an upstream loss needs a family
    for losses (``loss_exp``).

    Parameters
    ----------
    family : Family
        The curve to fit.
    estimator : Estimator
        The frontier estimator.
    x, y : numpy.ndarray
        Upstream and downstream scores (finite).
    upstream_metric, downstream_metric : MetricInfo or str, optional
        The metrics (names are looked up with :func:`transferscope.schema.metric_info`).

    Returns
    -------
    tuple of str or Oriented
        ``(status, reason)`` when the group cannot be fitted, else the points to fit (turned).
        ``unsupported_metric``: a metric that cannot be a score of these families.
        ``degenerate``: metrics the family cannot model, scores out of range, a single
        upstream or downstream value, or a downstream score that falls clearly as the upstream
        score improves (one-sided Kendall test at :data:`FALLING_LEVEL` and tau at most
        :data:`FALLING_TAU`). ``too_few_points``: fewer than the estimator needs, or fewer
        distinct upstream scores than the curve has parameters (at least 3), which cannot
        identify a saturating curve and its plateau.
    """
    name = family.family_name
    up, down = as_metric(upstream_metric), as_metric(downstream_metric)
    flags: list[str] = []
    notes: list[str] = []
    if down is not None:
        if down.direction == "none":
            text = f" ({down.description})" if down.description else ""
            return (
                "unsupported_metric",
                f"downstream metric {down.name!r} has no better end{text}; a frontier needs "
                "a score where higher (or lower) is better",
            )
        if down.direction == "lower":
            if not down.is_fraction:
                return (
                    "unsupported_metric",
                    f"downstream metric {down.name!r} is lower-is-better and not a fraction in "
                    "[0, 1] (a loss or perplexity); the families model an accuracy-type score",
                )
            y = 1.0 - y
            flags.append("flipped")
            notes.append(f"{down.name} is lower-is-better: fitted as 1 - {down.name}")
        elif not down.known:
            flags.append("metric_assumed")
            notes.append(
                f"metric {down.name!r} is not in the registry: assumed higher-is-better "
                "(record it with --metric to say otherwise)"
            )
    if up is not None:
        if up.direction == "none":
            return (
                "unsupported_metric",
                f"upstream metric {up.name!r} has no better end; it cannot order the models",
            )
        if family.upstream == "higher" and up.direction == "lower":
            if not up.is_fraction:
                return (
                    "degenerate",
                    f"upstream metric {up.name!r} is lower-is-better; family {name!r} needs an "
                    "accuracy (use 'loss_exp' or 'auto')",
                )
            x = 1.0 - x
            flags.append("flipped")
            notes.append(f"upstream {up.name} is lower-is-better: used as 1 - {up.name}")
        if family.upstream == "lower" and up.direction == "higher" and up.known:
            return (
                "degenerate",
                f"family {name!r} needs a loss as upstream score, got {up.name!r}",
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
    falling = _falling(family, x, y)
    if falling is not None:
        return falling
    return Oriented(x=x, y=y, flags=tuple(flags), notes=tuple(notes))


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


#: A shortfall scale at or below this share of the noise scale counts as none (the "wrong skew").
_NO_SHORTFALL = 0.01
#: "Beyond noise": more than this many noise standard deviations.
BEYOND_NOISE = 3.0
#: An upper frontier's plateau this far below the best observed score is flagged ``below_best``.
BELOW_BEST = 0.01


@dataclass(frozen=True)
class Diagnosis:
    """Whether a fit is an upper frontier: skew, models above the curve and above the plateau."""

    noise: float
    share_above: float
    frontier_above: float
    n_above_plateau: int
    most_above_plateau: float
    wrong_skew: bool
    plateau: float


def _diagnose(
    family: Family,
    estimator: Estimator,
    fit: CurveFit,
    x: Array,
    y: Array,
    settings: FitSettings,
    mask: NDArray[np.bool_],
) -> Diagnosis:
    p = len(family.names)
    theta = fit.values[:p]
    plateau = float(family.plateau(*theta))
    estimated = estimator.noise(fit, x, y)
    noise = (
        max(estimated, settings.noise_floor) if math.isfinite(estimated) else settings.noise_floor
    )
    with np.errstate(all="ignore"):
        resid = y - family.evaluate(x, theta)
    beyond = resid > BEYOND_NOISE * noise
    share = float(np.mean(beyond)) if len(y) else math.nan
    # the frontier's own points: a curve below the best models is no upper frontier even when
    # they are few among many models far below it
    on = beyond[mask] if mask.shape == beyond.shape else beyond
    frontier_share = float(np.mean(on)) if on.size else math.nan
    above = y > plateau + BEYOND_NOISE * noise
    wrong = False
    if math.isfinite(estimated) and len(fit.values) > p + 1:
        # the shortfall's scale: sigma_u, or the two-part mixture's share-weighted scales
        s = fit.values[p:]
        two_part = shortfall_kind(fit, p, settings) in kernels.TWO_PART.values()
        scale = float(s[3] * s[2] + (1.0 - s[3]) * s[1]) if two_part else float(s[1])
        wrong = scale <= _NO_SHORTFALL * estimated
    return Diagnosis(
        noise=noise,
        share_above=share,
        frontier_above=frontier_share,
        n_above_plateau=int(above.sum()),
        most_above_plateau=float(np.max(y - plateau)) if above.any() else 0.0,
        wrong_skew=wrong,
        plateau=plateau,
    )


@dataclass(frozen=True)
class Failure:
    """Why a fit could not be made: a status and a message."""

    status: str
    message: str


def _fit_estimator(
    family: Family, estimator: Estimator, x: Array, y: Array, settings: FitSettings
) -> tuple[CurveFit, NDArray[np.bool_]] | Failure:
    """Fit, or say why not."""
    mask = estimator.select(x, y)
    need = estimator.min_points(family)
    if int(mask.sum()) < need:
        return Failure(
            "too_few_points",
            f"the {estimator.name} frontier has {int(mask.sum())} points; "
            f"{family.family_name!r} needs {need}",
        )
    try:
        fit = estimator.fit(family, x, y, settings)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return Failure("did_not_converge", f"fit failed: {exc}")
    if not fit.converged:
        return Failure("did_not_converge", fit.message or "the optimizer did not converge")
    p = len(family.names)
    if not math.isfinite(float(family.plateau(*fit.values[:p]))):
        return Failure("did_not_converge", "non-finite plateau")
    return fit, mask


@dataclass(frozen=True)
class Interval:
    """A plateau interval with its kind, Monte Carlo errors and the bootstrap behind it."""

    low: float = math.nan
    high: float = math.nan
    kind: str = "none"
    se_low: float = math.nan
    se_high: float = math.nan
    inflation: float = math.nan
    not_saturating: bool = False
    n_boot: int = 0
    failed_share: float = math.nan
    plateaus: Array = field(default_factory=lambda: np.zeros(0))
    capped: bool = False
    notes: tuple[str, ...] = ()


def _profile(
    family: Family, estimator: Estimator, fit: CurveFit, x: Array, y: Array, settings: FitSettings
) -> ProfileInterval | None:
    if family.plateau_param is None:
        return None
    found = estimator.likelihood(family, x, y, settings, fit)
    if found is None:
        return None
    problem, m = found
    kappa = 1.0
    p = len(family.names)
    if m == 0 and hasattr(problem, "loglik_terms"):
        index = family.names.index(family.plateau_param)

        def plateau_of(theta: Array) -> float:
            return float(family.plateau(*theta[:p]))

        with np.errstate(all="ignore"):
            ratio = sandwich_ratio(
                problem, fit.theta, index, plateau_of, problem.lower, problem.upper
            )
        kappa = max(1.0, ratio) if math.isfinite(ratio) else 1.0
    starts = [fit.theta]
    if fit.alternative is not None and fit.alternative.shape == fit.theta.shape:
        # the likelihood's other maximum matters only when it is nearly as high
        row = np.zeros(1, dtype=np.intp)
        values = problem.objective(np.stack([fit.theta, fit.alternative]), np.zeros(2, np.intp))
        scale = 1.0 if m == 0 else float(values[0]) / max(m, 1)
        if np.isfinite(values).all() and values[1] - values[0] <= 10.0 * scale:
            starts.append(fit.alternative)
        del row
    with np.errstate(all="ignore"):
        return profile_interval(
            family, problem, fit.theta, starts, settings.ci_level, kappa=kappa, log_objective=m
        )


#: The two-part shortfall's other tail shape counts as supported when its log-likelihood is at
#: most this far below the chosen one's (both have the same number of parameters, so this is an
#: Akaike difference of 4; Burnham and Anderson 2002 read differences up to 4 as support).
TAIL_SUPPORT: Final[float] = 2.0
#: ... unless its plateau lies this close to the chosen one's (the tail's shape does not matter).
TAIL_SAME: Final[float] = 5e-4


def _tail_name(fit: CurveFit) -> str:
    """Name the tail shape of a two-part fit ("half-normal" or "exponential")."""
    return kernels.tail_of(fit.shortfall).replace("_", "-")


def _with_rival(
    family: Family,
    estimator: Estimator,
    fit: CurveFit,
    x: Array,
    y: Array,
    settings: FitSettings,
    prof: ProfileInterval,
    notes: list[str],
) -> ProfileInterval:
    """Widen a profile interval to the rival tail's when the data hardly prefer either tail.

    The two-part stochastic frontier chooses its tail (half-normal or exponential) by the
    likelihood. When the other tail fits nearly as well, choosing one is a coin toss the
    interval of one model does not see; the union of the two models' profile intervals covers
    the plateau under either (a model-uncertainty interval).
    """
    rival = fit.rival
    if rival is None or not rival.converged or not fit.loglik - rival.loglik <= TAIL_SUPPORT:
        return prof
    p = len(family.names)
    theirs = float(family.plateau(*rival.values[:p]))
    if not abs(theirs - float(family.plateau(*fit.values[:p]))) > TAIL_SAME:
        return prof  # the tail's shape does not move the plateau (e.g. no tail: pi_c = 1)
    other = _profile(family, estimator, rival, x, y, settings)
    if other is None or not other.ok:
        return prof
    notes.append(
        f"the shortfall's tail is {_tail_name(fit)}, but the {_tail_name(rival)} tail fits "
        "nearly as well (log-likelihood "
        f"{fit.loglik - rival.loglik:.1f} lower; plateau {theirs:.3f}): the interval covers both"
    )
    return replace(
        prof,
        low=min(prof.low, other.low),
        high=max(prof.high, other.high),
        one_sided=prof.one_sided or other.one_sided,
        bound_not_rejected=prof.bound_not_rejected or other.bound_not_rejected,
        kappa=max(prof.kappa, other.kappa),
    )


def _interval(
    family: Family,
    estimator: Estimator,
    fit: CurveFit,
    x: Array,
    y: Array,
    settings: FitSettings,
    rng: np.random.Generator,
    plateau: float,
) -> Interval:
    """Compute the plateau interval asked for by ``settings.interval`` (see FitSettings)."""
    notes: list[str] = []

    def profile() -> ProfileInterval | None:
        """Compute the profile-likelihood interval (with the rival tail's); None on failure."""
        found = _profile(family, estimator, fit, x, y, settings)
        if found is not None and not found.ok:
            notes.append(f"no profile-likelihood interval ({found.message})")
            return None
        return (
            None
            if found is None
            else _with_rival(family, estimator, fit, x, y, settings, found, notes)
        )

    tried = settings.interval in ("auto", "profile")
    prof = profile() if tried else None
    boot = None
    use_boot = settings.bootstrap > 0 and (
        settings.interval in ("auto", "bootstrap") or prof is None
    )
    if use_boot:
        outer = (prof.low, prof.high) if prof is not None and settings.interval == "auto" else None
        boot = boot_mod.grow_bootstrap(
            family,
            estimator,
            x,
            y,
            settings,
            estimator.bootstrap_fit(fit),
            rng,
            outer=outer,
            at=_best_upstream(family, x),
            low_at_level=bool(prof is not None and prof.bound_not_rejected),
        )
    lows: list[tuple[float, float]] = []
    highs: list[tuple[float, float]] = []
    kinds: list[str] = []
    if prof is not None and settings.interval != "bootstrap":
        lows.append((prof.low, 0.0))
        highs.append((prof.high, 0.0))
        kinds.append("profile")
    if (
        boot is not None
        and math.isfinite(boot.low)
        and (settings.interval != "profile" or prof is None)
    ):
        lows.append((boot.low, boot.se_low))
        highs.append((boot.high, boot.se_high))
        kinds.append("bootstrap")
    elif boot is not None and not math.isfinite(boot.low):
        notes.append(
            f"no bootstrap interval: only {boot.plateaus.size} of {boot.n_boot} refits succeeded"
        )
    base = Interval(
        inflation=prof.kappa if prof is not None else math.nan,
        not_saturating=bool(prof is not None and prof.bound_not_rejected),
        n_boot=boot.n_boot if boot is not None else 0,
        failed_share=boot.failed_share if boot is not None else math.nan,
        plateaus=boot.plateaus if boot is not None else np.zeros(0),
        capped=bool(boot is not None and boot.capped),
    )
    if not lows:
        return replace(base, notes=tuple(notes))
    low, se_low = min(lows, key=lambda t: t[0])
    high, se_high = max(highs, key=lambda t: t[0])
    if not high - low > ZERO_WIDTH and not tried:
        # the bootstrap piled up on a bound: the profile likelihood handles the bound
        prof = profile()
        if prof is not None and prof.high - prof.low > ZERO_WIDTH:
            notes.append(
                "the resamples all gave the same plateau (its parameter on a bound): the "
                "interval is the profile likelihood's"
            )
            low, high, se_low, se_high = prof.low, prof.high, 0.0, 0.0
            kinds = ["profile"]
            base = replace(base, inflation=prof.kappa, not_saturating=bool(prof.bound_not_rejected))
    if not high - low > ZERO_WIDTH:
        # one rule for every estimator and family: a zero-width interval is never reported
        notes.append(
            f"no plateau interval: every resample puts the plateau at {low:.6g}, where the "
            "curve or a bound fixes it, so the data do not bound it (and no profile likelihood "
            "does)"
        )
        return replace(base, notes=tuple(notes))
    kind = "+".join(kinds)
    if prof is not None and prof.one_sided and "profile" in kinds and high >= prof.high:
        kind = "one_sided"
    if base.not_saturating:
        reached = _reached(family, fit, x, boot, settings.ci_level)
        if reached[0] < low:
            low, se_low = reached
            notes.append(
                f"the plateau's lower bound is {low:.3f}, what the data reach (the curve at the "
                "best observed upstream score): without saturation in the data the family's "
                "shape alone sets a higher one, which an extrapolation cannot support"
            )
    if not (low <= plateau <= high):  # the estimate always lies in its interval
        low, high = min(low, plateau), max(high, plateau)
    return replace(
        base, low=low, high=high, kind=kind, se_low=se_low, se_high=se_high, notes=tuple(notes)
    )


def _best_upstream(family: Family, x: Array) -> float:
    """Return the best observed upstream score (the smallest loss, the largest accuracy)."""
    return float(np.min(x) if family.upstream == "lower" else np.max(x))


def _reached(
    family: Family,
    fit: CurveFit,
    x: Array,
    boot: boot_mod.GrownBootstrap | None,
    level: float,
) -> tuple[float, float]:
    """Return the lowest plateau the data support without saturation, and its MC error.

    A frontier rises with the upstream score, so its plateau is at least the curve's level at
    the best observed upstream score; how much it rises beyond is what the family's shape
    extrapolates, and data that do not reject "no saturation" do not support that. The level's
    lower confidence limit is the bootstrap percentile (``(1 - level) / 2``) of the refits'
    curves there, or the fitted curve's level without a bootstrap.
    """
    at = np.array([_best_upstream(family, x)])
    point = float(family.evaluate(at, fit.values[: len(family.names)])[0])
    levels = boot.levels if boot is not None else np.zeros(0)
    levels = levels[np.isfinite(levels)]
    if levels.size < 20:
        return point, 0.0
    q = (1.0 - level) / 2.0
    low = float(np.quantile(levels, q))
    return min(low, point), boot_mod.quantile_mc_se(levels, q)


def fit_one(
    family: Family,
    x: Array,
    y: Array,
    settings: FitSettings,
    rng: np.random.Generator,
    *,
    upstream_metric: MetricLike = None,
    downstream_metric: MetricLike = None,
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
    upstream_metric, downstream_metric : MetricInfo or str, optional
        The metrics (see :func:`check_group`).
    bootstrap : bool
        Whether to compute the plateau interval (``False``: it is left empty).

    Returns
    -------
    FrontierResult
        The fit, or a status saying why there is none.
    """
    requested = get_estimator(settings.frontier)
    checked = check_group(family, requested, x, y, upstream_metric, downstream_metric)
    if not isinstance(checked, Oriented):
        return unfitted(family, settings, x, y, *checked)
    x, y = checked.x, checked.y
    flags: list[str] = list(checked.flags)
    notes: list[str] = list(checked.notes)
    if settings.loss_space == "transformed":
        # imported here: transformed.py builds on this module's helpers
        from transferscope.frontier.transformed import fit_transformed

        base = unfitted(family, settings, x, y, "ok", "")
        line = fit_transformed(family, x, y, settings, rng, base, bootstrap=bootstrap)
        return _with_orientation(line, flags, notes)
    estimator = requested
    found = _fit_estimator(family, estimator, x, y, settings)
    if isinstance(found, Failure):
        return unfitted(family, settings, x, y, found.status, found.message)
    fit, mask = found
    diag = _diagnose(family, estimator, fit, x, y, settings, mask)
    fallback_reason = ""
    not_upper = diag.share_above > settings.above_tolerance
    if estimator.checked_upper and (diag.wrong_skew or not_upper):
        reason = (
            "the runs are not skewed below the curve (no shortfall: the stochastic frontier is "
            "the average curve)"
            if diag.wrong_skew
            else f"{diag.share_above:.1%} of the models lie above the curve beyond noise "
            f"(more than {settings.above_tolerance:.0%})"
        )
        if settings.fallback != "none":
            other = get_estimator(settings.fallback)
            second = _fit_estimator(family, other, x, y, settings)
            if not isinstance(second, Failure):
                fit, mask = second
                estimator = other
                diag = _diagnose(family, estimator, fit, x, y, settings, mask)
                fallback_reason = reason
                flags.append("fallback")
                notes.append(
                    f"the {requested.name} frontier is no upper frontier here ({reason}); "
                    f"fitted by {other.name} instead"
                )
            else:
                notes.append(
                    f"the {requested.name} frontier is no upper frontier here ({reason}) and "
                    f"the fallback {other.name} could not be fitted ({second.message})"
                )
        else:
            notes.append(f"the {requested.name} frontier is no upper frontier here ({reason})")
        if diag.wrong_skew and not flags.count("fallback"):
            flags.append("wrong_skew")
    not_upper = diag.share_above > settings.above_tolerance
    frontier_not_upper = diag.frontier_above > settings.above_tolerance
    if (not_upper or frontier_not_upper) and estimator.upper_frontier:
        flags.append("not_upper")
        where = (
            f"{diag.share_above:.1%} of the models"
            if not_upper
            else f"{diag.frontier_above:.0%} of the {estimator.name} frontier's points "
            f"({diag.share_above:.1%} of all models)"
        )
        notes.append(
            f"{where} lie above the curve by more than {BEYOND_NOISE:g} noise sd (sd "
            f"{diag.noise:.3f}): read it as a typical, not an upper, frontier"
        )
    p = len(family.names)
    plateau = diag.plateau
    start = fit.as_dict()  # the curve's and the estimator's parameters: a warm start
    mae, bx, by_, bp = _backtest(family, estimator, x, y, settings, mask, start)
    interval = (
        _interval(family, estimator, fit, x, y, settings, rng, plateau) if bootstrap else Interval()
    )
    notes.extend(interval.notes)
    # identification: how far the plateau is read beyond the data
    loss = family.upstream == "lower"
    best_up = _best_upstream(family, x)
    sat = saturation_point(family, fit.values[:p], settings.delta, float(np.max(x)))
    extrapolation = (best_up - sat) if loss else (sat - best_up)
    gap = float(plateau - family.evaluate(np.array([best_up]), fit.values[:p])[0])
    if math.isfinite(extrapolation) and extrapolation > 0:
        flags.append("extrapolated")
        notes.append(
            f"the plateau is read beyond the data: the curve still rises by {gap:.3f} after the "
            f"best observed upstream score {best_up:.3f} and comes within {settings.delta:g} of "
            f"its plateau only at {sat:.3f}"
        )
    if interval.not_saturating:
        flags.insert(0, "not_saturating")
        notes.insert(
            0,
            "the data do not show saturation: a curve rising to the largest possible plateau "
            f"is not rejected at the {settings.ci_level:.0%} level, so the interval is one-sided",
        )
    elif family.plateau_param is None and family.upstream == "higher":
        flags.insert(0, "not_saturating")
        notes.insert(0, f"{family.family_name} has no saturation: its plateau is 1 by assumption")
    elif loss and plateau >= 1.0 - 1e-9:
        flags.insert(0, "not_saturating")
        notes.insert(0, "the curve reaches 1 before the best possible upstream score (capped)")
    bound = _bound_notes(family, fit)
    if bound:
        flags.append("on_bound")
        notes.extend(bound)
    if diag.n_above_plateau:
        flags.append("above_plateau")
        notes.append(
            f"{diag.n_above_plateau} model(s) lie above the plateau by more than "
            f"{BEYOND_NOISE:g} noise sd (up to {diag.most_above_plateau:.3f})"
            + (
                "; the contaminated likelihood treats them as gross errors"
                if estimator.name == "stochastic" and settings.contamination > 0
                else ""
            )
        )
    best = float(np.max(y)) if len(y) else math.nan
    if estimator.upper_frontier and not diag.n_above_plateau and diag.plateau < best - BELOW_BEST:
        flags.append("below_best")
        notes.append(
            f"the plateau lies {best - diag.plateau:.3f} below the best observed score "
            f"{best:.3f}, within {BEYOND_NOISE:g} noise sd (sd {diag.noise:.3f}) of the curve: "
            "the frontier is the best models' expected score, the best observed one is above it "
            "by noise"
        )
    if interval.capped:
        flags.append("mc_capped")
        notes.append(
            f"the bootstrap stopped at {interval.n_boot} resamples (bootstrap_max) before its "
            f"endpoints were stable to {settings.mc_tolerance:g}"
        )
    if family.clips_upstream:
        edge = families_mod.CLIP_EPSILON
        clipped = int(np.sum((x < edge) | (x > 1.0 - edge)))
        if clipped:
            flags.append("clipped")
            notes.append(
                f"{clipped} upstream score(s) of 0 or 1 clipped to [{edge:g}, 1 - {edge:g}] "
                "for the transform"
            )
    flags = _ordered(flags)
    return FrontierResult(
        family=family.family_name,
        frontier=estimator.name,
        requested_frontier=requested.name,
        fallback_reason=fallback_reason,
        shortfall=fit.shortfall,
        status="ok",
        message="note: " + "; ".join(notes) if notes else "",
        flags=tuple(flags),
        n_points=len(x),
        n_frontier=int(mask.sum()),
        params=_named(fit, fit.values),
        stderr=_named(fit, fit.stderr),
        plateau=plateau,
        plateau_ci_low=interval.low,
        plateau_ci_high=interval.high,
        ci_level=settings.ci_level,
        interval_kind=interval.kind,
        mc_se_low=interval.se_low,
        mc_se_high=interval.se_high,
        interval_inflation=interval.inflation,
        saturation_point=sat,
        upstream_best=best_up,
        extrapolation=extrapolation,
        plateau_gap=gap,
        best_observed=float(np.max(y)),
        share_above=diag.share_above,
        noise_sd=diag.noise,
        aicc=fit.aicc,
        rmse=fit.rmse,
        backtest_mae=mae,
        bootstrap_failed_share=interval.failed_share,
        n_bootstrap=interval.n_boot,
        selected=True,
        options=settings.to_record(),
        x=x,
        y=y,
        on_frontier=mask,
        backtest_x=bx,
        backtest_y=by_,
        backtest_predicted=bp,
        bootstrap_plateaus=interval.plateaus,
    )


def _ordered(flags: Sequence[str]) -> list[str]:
    """Return the flags without repeats, in the order of :data:`FLAGS` (unknown ones last)."""
    order = {f: i for i, f in enumerate(FLAGS)}
    return sorted(dict.fromkeys(flags), key=lambda f: order.get(f, len(order)))


def _with_orientation(
    result: FrontierResult, flags: Sequence[str], notes: Sequence[str]
) -> FrontierResult:
    """Add the orientation's flags (``flipped``, ``metric_assumed``) and notes to an ok fit."""
    if result.status != "ok" or not (flags or notes):
        return result
    merged = _ordered([*result.flags, *flags])
    own = result.message.removeprefix("note: ")
    text = "; ".join([*notes, own] if own else list(notes))
    return replace(result, flags=tuple(merged), message="note: " + text if text else "")


def _bound_notes(family: Family, fit: CurveFit) -> list[str]:
    """Say which of the curve's parameters ended on a bound (e.g. ``e_ir`` at 0)."""
    notes = []
    for name, value in zip(family.names, fit.values, strict=False):
        low, high = family.bounds[name]
        if value <= low + 1e-9 * max(1.0, abs(low)):
            notes.append(f"{name} at its lower bound {low:g}")
        elif value >= high - 1e-9 * max(1.0, abs(high)):
            notes.append(f"{name} at its upper bound {high:g}")
    return notes


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


def resolve_families(settings: FitSettings, upstream_metric: MetricLike) -> list[str]:
    """Family names to fit: the names asked for, or for ``"auto"`` those that suit the metric.

    Parameters
    ----------
    settings : FitSettings
        Its ``family``: a name, ``"auto"`` or several names.
    upstream_metric : MetricInfo or str, optional
        For ``"auto"``: accuracies (and error rates, fitted as ``1 - error``) get the accuracy
        families, losses ``loss_exp``.

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
        info = as_metric(upstream_metric)
        loss = info is not None and info.direction == "lower" and not info.is_fraction
        return list(families_for("lower" if loss else "higher"))
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
    upstream_metric: MetricLike = None,
    downstream_metric: MetricLike = None,
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
    upstream_metric: MetricLike = None,
    downstream_metric: MetricLike = None,
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
