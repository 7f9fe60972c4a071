"""Straight lines on transformed axes: "accuracy on the line" (``loss_space="transformed"``).

Taori et al. (2020) and Miller et al. (2021) fit ``probit(y) = a + b * probit(x)``, Kornblith
et al. (2019) ``logit(y) = a + b * logit(x)``, by least squares *on the transformed axes*: every
model counts alike there, whereas a least-squares fit of the same curve to the scores weighs the
models near 0.5 most. With ``loss_space="transformed"`` a family that is a straight line on
transformed axes (:attr:`Family.linear_axes`: ``logit``, ``probit``) is fitted that way:

- both scores are clipped to ``[TRANSFORM_EPSILON, 1 - TRANSFORM_EPSILON]`` (the number of
  clipped scores is counted in the fit's message), then transformed with :meth:`Family.axis`;
- the estimator (``all``: ordinary least squares; ``hull``, ``pareto``: least squares on the
  frontier points of the transformed cloud; ``quantile``, ``stochastic``: their objectives) fits
  the line ``v = a + b u`` to the transformed points ``(u, v)``;
- ``r2`` is ``1 - sum (v - location)^2 / sum (v - mean v)^2`` over the fitted points (the usual
  R^2 for the least-squares estimators);
- the intervals of ``a`` and ``b``: for ``all``, the classical t interval with ``n - 2`` degrees
  of freedom (exact for a line with Gaussian errors, as the papers report); for the other
  estimators, whose points are selected from the data or whose objective is not least squares,
  the bootstrap percentile interval over resampled models (``bootstrap > 0``), else the Wald
  t interval from the standard errors;
- the plateau is that of the family (1 when ``b > 0``: a line does not saturate), so no plateau
  interval is drawn; the backtest error is measured on the scores, ``rmse`` and ``aicc`` on the
  transformed axes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, ClassVar, Final

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from transferscope.frontier import bootstrap as boot
from transferscope.frontier import kernels
from transferscope.frontier.estimators import get_estimator
from transferscope.frontier.families import Bounds, Family
from transferscope.frontier.group import _backtest, _bound_notes, saturation_point
from transferscope.frontier.result import FrontierResult
from transferscope.frontier.settings import FitSettings

Array = NDArray[np.float64]

#: Scores are clipped to [TRANSFORM_EPSILON, 1 - TRANSFORM_EPSILON] before the transform (a
#: score of 0 or 1 has no logit or probit). 1e-3 is one error in a thousand test examples.
TRANSFORM_EPSILON: Final[float] = 1e-3


class Line(Family):
    """The straight line ``v = a + b u`` on transformed axes (not registered: used internally)."""

    family_name = "line"
    bounds: ClassVar[Bounds] = {"a": (-np.inf, np.inf), "b": (-np.inf, np.inf)}
    upstream = "higher"

    @staticmethod
    def curve(x: Any, a: Any, b: Any) -> Any:
        """Return ``a + b * x``."""
        return a + b * x

    def jacobian(self, x: Array, *theta: Array) -> list[Array]:
        """Return ``[1, x]``."""
        return [np.ones_like(x * theta[1]), x + 0.0 * theta[1]]

    def plateau(self, *theta: Any) -> Any:
        """Sign of the slope (the plateau of the line's family on the scores)."""
        b = np.asarray(theta[1], dtype=np.float64)
        return np.where(b > 0, 1.0, np.where(b < 0, 0.0, np.nan))[()]

    def initial(self, x: Array, y: Array) -> dict[str, float]:
        """Ordinary least squares."""
        if len(x) < 2 or np.ptp(x) == 0:
            return {"a": float(np.mean(y)) if len(y) else 0.0, "b": 1.0}
        b, a = np.polyfit(x, y, 1)
        return {"a": float(a), "b": float(b)}


_LINE = Line()


def to_axes(family: Family, scores: Array) -> tuple[Array, int]:
    """Clip scores to ``[TRANSFORM_EPSILON, 1 - TRANSFORM_EPSILON]`` and transform them.

    Parameters
    ----------
    family : Family
        A family with :attr:`Family.linear_axes`.
    scores : numpy.ndarray
        Scores in [0, 1].

    Returns
    -------
    values : numpy.ndarray
        ``family.axis`` of the clipped scores.
    n_clipped : int
        How many scores were moved by the clipping.
    """
    clipped = np.clip(scores, TRANSFORM_EPSILON, 1.0 - TRANSFORM_EPSILON)
    n_clipped = int(np.sum(clipped != scores))
    return family.axis(clipped), n_clipped


def _line_interval(
    values: Array, stderr: Array, df: int, level: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    q = float(stats.t.ppf(0.5 + level / 2.0, df)) if df > 0 else math.nan
    out = []
    for v, s in zip(values[:2], stderr[:2], strict=True):
        ok = math.isfinite(s) and math.isfinite(q)
        out.append((v - q * s, v + q * s) if ok else (math.nan, math.nan))
    return out[0], out[1]


def fit_transformed(
    family: Family,
    x: Array,
    y: Array,
    settings: FitSettings,
    rng: np.random.Generator,
    base: FrontierResult,
    *,
    bootstrap: bool = True,
) -> FrontierResult:
    """Fit ``family`` as a straight line on its transformed axes (see the module's text).

    Parameters
    ----------
    family : Family
        The family (``logit``, ``probit`` or any with :attr:`Family.linear_axes`).
    x, y : numpy.ndarray
        The group's scores in [0, 1] (checked by the caller).
    settings : FitSettings
        Estimator and options (``loss_space="transformed"``).
    rng : numpy.random.Generator
        Source of the bootstrap resamples (estimators other than ``all``).
    base : FrontierResult
        The unfitted result of the group (points, options), completed here.
    bootstrap : bool
        Whether to draw the bootstrap.

    Returns
    -------
    FrontierResult
        Parameters ``a``, ``b`` (and the estimator's), ``r2``, intervals of intercept and slope,
        or a status saying why there is no fit.
    """
    if not family.linear_axes:
        return replace(
            base,
            status="degenerate",
            message=(
                f"family {family.family_name!r} is not a straight line on transformed axes; "
                "loss_space='transformed' needs logit or probit"
            ),
        )
    estimator = get_estimator(settings.frontier)
    u, clipped_x = to_axes(family, x)
    v, clipped_y = to_axes(family, y)
    if np.ptp(u) == 0.0:
        return replace(base, status="degenerate", message="all transformed upstream scores equal")
    mask = estimator.select(u, v)
    n_frontier = int(mask.sum())
    need = estimator.min_points(_LINE)
    if n_frontier < need:
        message = f"the {settings.frontier} frontier has {n_frontier} points; a line needs {need}"
        return replace(base, status="too_few_points", message=message, n_frontier=n_frontier)
    try:
        fit = estimator.fit(_LINE, u, v, settings)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return replace(base, status="did_not_converge", message=f"fit failed: {exc}")
    if not fit.converged:
        message = fit.message or "the optimizer did not converge"
        return replace(base, status="did_not_converge", message=message, n_frontier=n_frontier)
    theta = fit.values[:2]
    location = estimator.location(_LINE, fit, settings, u[mask])
    resid = v[mask] - location
    total = float(np.sum((v[mask] - np.mean(v[mask])) ** 2))
    r2 = 1.0 - float(resid @ resid) / total if total > 0 else math.nan
    df = n_frontier - len(fit.names)
    (a_low, a_high), (b_low, b_high) = _line_interval(fit.values, fit.stderr, df, settings.ci_level)
    notes = []
    n_boot = 0
    failed = math.nan
    if settings.frontier != "all" and bootstrap and settings.bootstrap > 0:
        n_boot = int(settings.bootstrap)
        indices = kernels.bootstrap_indices(len(u), n_boot, rng)
        # the model the bootstrap refits (the half-normal one nested in a two-part fit)
        refit = estimator.bootstrap_fit(fit)
        refits = boot.refit_resamples(_LINE, estimator, u, v, settings, refit, indices)
        failed = refits.failed_share
        a_low, a_high = boot.percentile_interval(refits.theta[refits.ok, 0], settings.ci_level)
        b_low, b_high = boot.percentile_interval(refits.theta[refits.ok, 1], settings.ci_level)
        notes.append("intervals of a and b: bootstrap percentile")
    elif settings.frontier != "all":
        notes.append("intervals of a and b: Wald t (no bootstrap)")
    if clipped_x or clipped_y:
        notes.append(
            f"{clipped_x + clipped_y} score(s) clipped to [{TRANSFORM_EPSILON:g}, "
            f"{1 - TRANSFORM_EPSILON:g}] before the transform"
        )
    flags = ["not_saturating"]
    bound = _bound_notes(_LINE, fit)
    if bound:
        flags.append("on_bound")
        notes.extend(bound)
    if clipped_x or clipped_y:
        flags.append("clipped")
    notes.insert(0, "a line on transformed axes does not saturate: no plateau interval")
    start = {"a": float(theta[0]), "b": float(theta[1])}
    mae, bx, by_, bp = _backtest(_LINE, estimator, u, v, settings, mask, start)
    if bx.size:
        bx, by_, bp = family.from_axis(bx), family.from_axis(by_), family.from_axis(bp)
        mae = float(np.mean(np.abs(bp - by_)))
    names = fit.names
    return replace(
        base,
        status="ok",
        message="note: " + "; ".join(notes),
        flags=tuple(flags),
        n_frontier=n_frontier,
        interval_kind="none",
        upstream_best=float(np.max(x)),
        best_observed=float(np.max(y)),
        params={n: float(val) for n, val in zip(names, fit.values, strict=True)},
        stderr={n: float(val) for n, val in zip(names, fit.stderr, strict=True)},
        plateau=float(family.plateau(*theta)),
        saturation_point=saturation_point(family, theta, settings.delta, float(np.max(x))),
        aicc=fit.aicc,
        rmse=fit.rmse,
        backtest_mae=mae,
        bootstrap_failed_share=failed,
        n_bootstrap=n_boot,
        loss_space="transformed",
        shortfall=fit.shortfall,
        r2=r2,
        intercept_ci_low=a_low,
        intercept_ci_high=a_high,
        slope_ci_low=b_low,
        slope_ci_high=b_high,
        on_frontier=mask,
        backtest_x=bx,
        backtest_y=by_,
        backtest_predicted=bp,
    )
