"""Baselines and per-model residuals with intervals, and efficiency relative to a frontier.

A baseline is one fit of a frontier family (through :func:`transferscope.frontier.fit_group`)
to the reference models of a baseline group. Its uncertainty is drawn by resampling the
reference models and refitting (:func:`transferscope.frontier.bootstrap.refit_resamples`, the
frontier engine's batched bootstrap), giving B replicate locations of the baseline at every
model's upstream score. A model's residual is its downstream score minus the baseline's location
on the baseline's axes; its standard error combines the spread of the replicate locations with
the model's own sampling error where the runs publish it (``downstream_stderr``, carried to the
transformed axes by the delta method); the bootstrap variance is scaled by ``n / (n - p)`` (``n``
reference models, ``p`` parameters of the curve: the pairs bootstrap gives the sandwich variance,
biased low by about ``p / n``) and the interval uses t quantiles with ``n - p`` degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special, stats

from transferscope.frontier import Estimator, fit_group, get_estimator, get_family, kernels
from transferscope.frontier import bootstrap as boot
from transferscope.frontier.baseline import Baseline, baseline_from_result
from transferscope.frontier.result import FrontierResult
from transferscope.frontier.settings import FitSettings
from transferscope.frontier.single import CurveFit
from transferscope.frontier.transformed import TRANSFORM_EPSILON, Line
from transferscope.transfer.efficiency import Efficiency, envelope_efficiency, sfa_efficiency

Array = NDArray[np.float64]

#: Replicates needed for an interval (fewer successful refits: the interval is not given).
MIN_REPLICATES = 20
#: A shortfall scale at or below this share of the noise scale counts as none (wrong skew).
NO_SHORTFALL = 0.01


@dataclass
class FittedBaseline:
    """A baseline fit, with what is needed to redraw its uncertainty.

    Attributes
    ----------
    baseline : Baseline
        The exportable baseline.
    result : FrontierResult
        The fit.
    settings : FitSettings
        Its options.
    thetas : numpy.ndarray
        Parameters of the successful bootstrap refits (rows).
    n_bootstrap : int
        Resamples drawn.
    """

    baseline: Baseline
    result: FrontierResult
    settings: FitSettings
    thetas: Array = field(repr=False)
    n_bootstrap: int = 0

    @property
    def curve(self) -> Any:
        """The curve fitted on the baseline's axes (the line, or the family)."""
        if self.settings.loss_space == "transformed":
            return Line()
        return get_family(self.result.family)

    def replicate_locations(self, x: Array) -> Array:
        """Locations of every bootstrap replicate at upstream scores ``x``, shape ``(B, n)``.

        Parameters
        ----------
        x : numpy.ndarray
            Upstream scores as stored.

        Returns
        -------
        numpy.ndarray
            One row per successful replicate (no rows when there are none).
        """
        if self.thetas.shape[0] == 0 or not self.baseline.ok:
            return np.zeros((0, len(x)))
        u = self.baseline.to_axis(x)
        curve = self.curve
        estimator = get_estimator(self.settings.frontier)
        if type(estimator).location is Estimator.location:  # the curve itself: one batched call
            p = len(curve.names)
            loc = np.asarray(curve.evaluate(u, self.thetas[:, :p]), dtype=np.float64)
            return np.broadcast_to(loc, (self.thetas.shape[0], len(x))).copy()
        names = estimator.param_names(curve)[: self.thetas.shape[1]]  # nested model's first
        nan = np.full(len(names), np.nan)
        out = np.empty((self.thetas.shape[0], len(x)))
        for b, theta in enumerate(self.thetas):
            fit = CurveFit(names, theta, nan, True, "", 0, len(names), math.nan, math.nan, theta)
            out[b] = estimator.location(curve, fit, self.settings, u)
        return out


def fit_baseline(
    x: Array,
    y: Array,
    models: Sequence[str],
    key: dict[str, Any],
    settings: FitSettings,
    seed: np.random.SeedSequence,
    *,
    upstream_metric: str | None,
    downstream_metric: str | None,
) -> FittedBaseline:
    """Fit one baseline to reference points and draw its bootstrap replicates.

    Parameters
    ----------
    x, y : numpy.ndarray
        Upstream and downstream scores of the reference models.
    models : sequence of str
        Their names (for the exported baseline).
    key : dict
        The baseline group's key.
    settings : FitSettings
        Family, estimator, loss space, ``bootstrap`` (replicates), ``ci_level``.
    seed : numpy.random.SeedSequence
        Seed of the resamples.
    upstream_metric, downstream_metric : str or None
        The metrics.

    Returns
    -------
    FittedBaseline
        The fit and its replicates (none when the fit is not ok or ``bootstrap`` is 0).
    """
    family = settings.families_asked[0]
    result = fit_group(
        x,
        y,
        family,
        settings=settings.replace(bootstrap=0),
        upstream_metric=upstream_metric,
        downstream_metric=downstream_metric,
    )
    baseline = baseline_from_result(
        result, key, models, upstream_metric=upstream_metric, downstream_metric=downstream_metric
    )
    fitted = FittedBaseline(baseline, result, settings, np.zeros((0, 0)))
    n_boot = int(settings.bootstrap)
    if not result.ok or n_boot == 0:
        return fitted
    curve = fitted.curve
    estimator = get_estimator(settings.frontier)
    u, v = baseline.to_axis(result.x), baseline.to_axis(result.y)
    start = {n: result.params[n] for n in curve.names}
    # the bootstrap refits the model it can resample (for the two-part stochastic shortfall,
    # the half-normal model nested in it; see Estimator.bootstrap_fit)
    full = estimator.bootstrap_fit(estimator.fit(curve, u, v, settings, start=start))
    rng = np.random.default_rng(seed)
    indices = kernels.bootstrap_indices(len(u), n_boot, rng)
    refits = boot.refit_resamples(curve, estimator, u, v, settings, full, indices)
    fitted.thetas = refits.theta[refits.ok]
    fitted.n_bootstrap = n_boot
    return fitted


def axis_stderr(baseline: Baseline, y: Array, stderr: Array) -> Array:
    """Carry the standard errors of downstream scores to the baseline's axes (delta method).

    Parameters
    ----------
    baseline : Baseline
        Whose axes.
    y : numpy.ndarray
        Downstream scores.
    stderr : numpy.ndarray
        Their standard errors (NaN where unknown).

    Returns
    -------
    numpy.ndarray
        Standard errors on the axes.
    """
    if baseline.loss_space != "transformed":
        return stderr
    p = np.clip(y, TRANSFORM_EPSILON, 1.0 - TRANSFORM_EPSILON)
    if baseline.family == "logit":
        slope = 1.0 / (p * (1.0 - p))
    else:
        slope = 1.0 / np.exp(-0.5 * special.ndtri(p) ** 2 - 0.5 * math.log(2.0 * math.pi))
    return np.asarray(stderr * slope, dtype=np.float64)


@dataclass(frozen=True)
class GroupResiduals:
    """Residuals of one group's models with their replicate locations."""

    upstream_axis: Array
    downstream_axis: Array
    location: Array
    residual: Array
    residual_se: Array
    residual_ci_low: Array
    residual_ci_high: Array
    replicates: Array
    message: str


def group_residuals(
    fitted: FittedBaseline, x: Array, y: Array, stderr: Array, level: float
) -> GroupResiduals:
    """Residuals of points from a baseline, with standard errors and intervals.

    Parameters
    ----------
    fitted : FittedBaseline
        The baseline and its replicates.
    x, y : numpy.ndarray
        Upstream and downstream scores of the group's models.
    stderr : numpy.ndarray
        Published standard errors of the downstream scores (NaN where unknown).
    level : float
        Level of the intervals.

    Returns
    -------
    GroupResiduals
        Arrays in the order of the points.
    """
    baseline = fitted.baseline
    location = baseline.location(x)
    down = baseline.to_axis(y)
    residual = down - location
    reps = fitted.replicate_locations(x)
    notes = []
    # the pairs bootstrap's variance of a fitted curve is the sandwich estimate, biased low by
    # about p / n: scale it by n / (n - p) (as HC1 scales HC0) and use t quantiles with n - p
    # degrees of freedom (n reference models, p parameters of the curve)
    n_ref = baseline.n_points
    n_par = len(fitted.curve.names)
    dof = n_ref - n_par
    if reps.shape[0] >= MIN_REPLICATES:
        var_b = np.var(reps, axis=0, ddof=1) * (n_ref / dof if dof > 0 else 1.0)
    else:
        var_b = np.full(len(x), np.nan)
        if baseline.ok:
            notes.append(f"{reps.shape[0]} successful baseline resamples: no residual interval")
    se_y = axis_stderr(baseline, y, stderr)
    measured = np.isfinite(se_y)
    if not measured.all():
        notes.append("intervals without the models' own sampling error (no downstream_stderr)")
    se = np.sqrt(var_b + np.where(measured, se_y, 0.0) ** 2)
    q = float(stats.t.ppf(0.5 + level / 2.0, dof) if dof > 0 else stats.norm.ppf(0.5 + level / 2.0))
    return GroupResiduals(
        upstream_axis=baseline.to_axis(x),
        downstream_axis=down,
        location=location,
        residual=residual,
        residual_se=se,
        residual_ci_low=residual - q * se,
        residual_ci_high=residual + q * se,
        replicates=reps,
        message="; ".join(dict.fromkeys(notes)),
    )


def group_efficiency(
    x: Array,
    y: Array,
    *,
    frontier: str,
    family: str,
    settings: FitSettings,
    loss: bool,
    upstream_metric: str | None,
    downstream_metric: str | None,
    rng: np.random.Generator,
) -> tuple[Efficiency | None, str, str]:
    """Efficiency of a group's models relative to its frontier.

    Parameters
    ----------
    x, y : numpy.ndarray
        Upstream and downstream scores.
    frontier : {"stochastic", "hull", "pareto"}
        The frontier (any other registered estimator that fits an upper frontier gives the
        distance below its curve, without interval).
    family : str
        The family of a fitted frontier (``stochastic``).
    settings : FitSettings
        Options (``ci_level``, ``inefficiency``, ``noise_floor``, seed).
    loss : bool
        Whether the upstream score is a loss (lower is better).
    upstream_metric, downstream_metric : str or None
        The metrics.
    rng : numpy.random.Generator
        Source of the subsamples.

    Returns
    -------
    efficiency : Efficiency or None
        The estimates, or None when there are none.
    status : str
        ``ok``, ``wrong_skew``, ``not_fitted`` or ``not_a_frontier``.
    message : str
        Why, when not ok.
    """
    level = settings.ci_level
    if frontier in ("hull", "pareto"):
        oriented = -x if loss else x
        return envelope_efficiency(oriented, y, frontier, level, rng), "ok", ""
    result = fit_group(
        x,
        y,
        family,
        settings=settings.replace(frontier=frontier, loss_space="score", bootstrap=0),
        upstream_metric=upstream_metric,
        downstream_metric=downstream_metric,
    )
    if not result.ok:
        return None, "not_fitted", f"{family} on {frontier}: {result.status} ({result.message})"
    used = result.frontier
    if used in ("hull", "pareto"):  # a fit that fell back to an envelope estimator
        oriented = -x if loss else x
        return envelope_efficiency(oriented, y, used, level, rng), "ok", f"frontier {used}"
    height = result.predict(x)
    if used == "stochastic":
        sigma_v, sigma_u = result.params["sigma_v"], result.params["sigma_u"]
        if not sigma_u > NO_SHORTFALL * sigma_v:
            return (
                None,
                "wrong_skew",
                "the stochastic frontier finds no shortfall (the runs are not skewed below "
                "the curve): efficiency is not estimable; try frontier 'pareto' or 'hull'",
            )
        # the shortfall's tail (the two-part fit's cluster is left out of the JLMS estimate)
        tail = kernels.tail_of(result.shortfall or settings.inefficiency)
        return (
            sfa_efficiency(y - height, height, sigma_v, sigma_u, tail, level),
            "ok",
            "",
        )
    if not get_estimator(used).upper_frontier:
        return None, "not_a_frontier", f"{used!r} estimates an average curve, not a frontier"
    shortfall = height - y
    with np.errstate(all="ignore"):
        eff = np.where(height > 0, y / height, np.nan)
    nan = np.full(len(x), np.nan)
    return (
        Efficiency(height, shortfall, nan, nan, eff, nan, nan, nan),
        "ok",
        f"distance below the {used} curve; no interval",
    )


def level_summary(
    residual: Array,
    ci_low: Array,
    ci_high: Array,
    replicates: Array,
    labels: pd.Series,
    level: float,
) -> list[dict[str, Any]]:
    """Mean residual per moderator level, with an interval that includes the baseline's error.

    The standard error of a level's mean is ``sqrt(s^2 / n + var_B)``: the spread of the level's
    models around their mean, and the bootstrap variance of the baseline's mean location at the
    level's models; the interval uses t quantiles with ``n - 1`` degrees of freedom.

    Parameters
    ----------
    residual, ci_low, ci_high : numpy.ndarray
        Per-model residuals and their intervals.
    replicates : numpy.ndarray
        Baseline locations of the replicates, shape ``(B, n)``.
    labels : pandas.Series
        Level per model (missing: not counted).
    level : float
        Level of the intervals.

    Returns
    -------
    list of dict
        ``level``, ``n_models``, ``mean_residual``, ``se``, ``ci_low``, ``ci_high``,
        ``share_above`` (models whose interval lies above 0), ``share_below``.
    """
    rows = []
    values = labels.to_numpy(dtype=object)
    for lv in sorted({v for v in values if v is not None and v == v}, key=str):
        idx = np.flatnonzero(values == lv)
        idx = idx[np.isfinite(residual[idx])]
        n = idx.size
        if n == 0:
            continue
        mean = float(np.mean(residual[idx]))
        se = math.nan
        if n >= 2:
            var_b = (
                float(np.var(replicates[:, idx].mean(axis=1), ddof=1))
                if replicates.shape[0] >= MIN_REPLICATES
                else math.nan
            )
            se = math.sqrt(float(np.var(residual[idx], ddof=1)) / n + var_b)
        q = float(stats.t.ppf(0.5 + level / 2.0, n - 1)) if n >= 2 else math.nan
        rows.append(
            {
                "level": str(lv),
                "n_models": int(n),
                "mean_residual": mean,
                "se": se,
                "ci_low": mean - q * se,
                "ci_high": mean + q * se,
                "share_above": float(np.mean(ci_low[idx] > 0)),
                "share_below": float(np.mean(ci_high[idx] < 0)),
            }
        )
    return rows


__all__ = [
    "FittedBaseline",
    "GroupResiduals",
    "axis_stderr",
    "fit_baseline",
    "group_efficiency",
    "group_residuals",
    "level_summary",
]
