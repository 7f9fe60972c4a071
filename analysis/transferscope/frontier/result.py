"""The result of one frontier fit: a frozen record with its points, curve and backtest."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from transferscope.frontier.families import get_family
from transferscope.records import Record, json_safe

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Status of a fit.
STATUSES: Final[tuple[str, ...]] = (
    "ok",
    "too_few_points",
    "did_not_converge",
    "degenerate",
    "unsupported_metric",
)

#: Flags an ok fit can carry (how to read it), in the order they are listed.
FLAGS: Final[tuple[str, ...]] = (
    "not_saturating",
    "extrapolated",
    "on_bound",
    "wrong_skew",
    "fallback",
    "not_upper",
    "above_plateau",
    "mc_capped",
    "clipped",
    "flipped",
    "metric_assumed",
)

#: Kinds of plateau interval.
INTERVAL_KINDS: Final[tuple[str, ...]] = (
    "bootstrap",
    "profile",
    "profile+bootstrap",
    "one_sided",
    "none",
)

#: Statistics columns of a fit, in output order (parameters go between n_frontier and plateau).
HEAD_COLUMNS: Final[tuple[str, ...]] = (
    "family",
    "frontier",
    "status",
    "message",
    "flags",
    "n_points",
    "n_frontier",
)
TAIL_COLUMNS: Final[tuple[str, ...]] = (
    "plateau",
    "plateau_ci_low",
    "plateau_ci_high",
    "ci_level",
    "interval_kind",
    "mc_se_low",
    "mc_se_high",
    "interval_inflation",
    "saturation_point",
    "upstream_best",
    "extrapolation",
    "plateau_gap",
    "best_observed",
    "share_above",
    "noise_sd",
    "aicc",
    "rmse",
    "backtest_mae",
    "bootstrap_failed_share",
    "n_bootstrap",
    "selected",
    "requested_frontier",
    "fallback_reason",
    "shortfall",
    "upstream_min",
    "upstream_max",
    "loss_space",
    "r2",
    "intercept_ci_low",
    "intercept_ci_high",
    "slope_ci_low",
    "slope_ci_high",
)


def _empty() -> Array:
    return np.zeros(0)


@dataclass(frozen=True, kw_only=True)
class FrontierResult(Record):
    """One family fitted to one group of runs with one frontier estimator.

    Attributes
    ----------
    family, frontier : str
        What was fitted, and by which estimator (after a fallback, the estimator used; the one
        asked for is ``requested_frontier``).
    status : str
        ``ok``, ``too_few_points``, ``did_not_converge``, ``degenerate`` or
        ``unsupported_metric`` (a metric the families cannot model: lower-is-better and
        unbounded, like a perplexity, or with no better end, like a bias percentage).
    message : str
        Why, when the status is not ``ok``; for an ``ok`` fit, one note per flag (how far the
        plateau is extrapolated, a parameter on its bound, a fallback and why, ...), else empty.
    flags : tuple of str
        How to read an ok fit (:data:`FLAGS`): ``not_saturating`` (the data do not reject a
        curve without saturation: the largest possible plateau is inside the interval, or the
        family fixes the plateau at 1), ``extrapolated`` (the curve comes within ``delta`` of
        its plateau only beyond the best observed upstream score), ``on_bound`` (a curve
        parameter ended on its bound), ``wrong_skew`` (the stochastic frontier found no
        shortfall below the curve), ``fallback`` (the estimator asked for gave no upper frontier
        and ``settings.fallback`` was used), ``not_upper`` (more than ``above_tolerance`` of
        the models, or of the frontier points, lie above the curve beyond noise),
        ``above_plateau`` (some models lie above the plateau beyond noise), ``mc_capped``
        (the bootstrap stopped at ``bootstrap_max`` before its endpoints were stable),
        ``clipped`` (upstream scores of 0 or 1 clipped for a logit/probit), ``flipped`` (a
        lower-is-better metric in [0, 1] fitted as 1 - score), ``metric_assumed`` (a metric
        not in the registry, assumed higher-is-better).
    n_points : int
        Runs with both scores in the group.
    n_frontier : int
        Points that define the frontier (all points for ``quantile``, ``stochastic``, ``all``).
    params, stderr : dict
        Estimates and standard errors by parameter name (NaN where not available).
    plateau, plateau_ci_low, plateau_ci_high : float
        The plateau and its interval (NaN ends: no honest interval, see ``interval_kind``).
    ci_level : float
        Nominal level of the interval.
    interval_kind : str
        ``bootstrap`` (percentile), ``profile`` (profile likelihood), ``profile+bootstrap``
        (the two joined, the default), ``one_sided`` (the data do not bound the plateau from
        above: the interval runs to the largest possible plateau) or ``none``.
    mc_se_low, mc_se_high : float
        Monte Carlo standard errors of the endpoints (0 for an endpoint of the profile
        likelihood, which involves no resampling; NaN without an interval).
    interval_inflation : float
        The factor the profile deviance was divided by (the sandwich-to-model variance ratio of
        the plateau, at least 1; 1 when not computed).
    saturation_point : float
        Smallest upstream score whose predicted downstream score is within ``delta`` of the
        plateau (largest, for a loss).
    upstream_best : float
        Best observed upstream score (largest; smallest for a loss).
    extrapolation : float
        How far beyond the data the curve comes within ``delta`` of its plateau, in upstream
        units: ``saturation_point - upstream_best`` (for a loss, ``upstream_best -
        saturation_point``); 0 or less when the data reach the plateau.
    plateau_gap : float
        Plateau minus the curve at ``upstream_best``: what the curve still promises beyond the
        best observed model (downstream units).
    best_observed : float
        Best observed downstream score of the group.
    share_above : float
        Share of models above the curve by more than three times ``noise_sd``.
    noise_sd : float
        The noise standard deviation used to judge "beyond noise" (at least ``noise_floor``):
        the stochastic frontier's ``sigma_v``; for ``hull`` and ``pareto`` the scatter of the
        frontier points about their neighbours (not about the curve, which would count its
        lack of fit as noise); else ``noise_floor``.
    aicc, rmse : float
        Fit statistics.
    backtest_mae : float
        Mean absolute error on the held-out frontier of a fit to the models below the upstream
        quantile ``backtest_quantile``.
    bootstrap_failed_share : float
        Share of bootstrap refits that failed.
    n_bootstrap : int
        Resamples drawn (grown from ``bootstrap`` until the endpoints were stable).
    selected : bool
        Whether ``family="auto"`` chose this family (True for a family asked for by name).
    requested_frontier : str
        The estimator asked for.
    fallback_reason : str
        Why ``frontier`` differs from ``requested_frontier`` (empty when it does not).
    shortfall : str
        For ``stochastic``: the shortfall distribution fitted, ``"cluster"`` (two-part, with a
        half-normal tail), ``"cluster_exponential"`` (two-part, exponential tail; the default
        chooses the tail by the likelihood), ``"half_normal"`` or ``"exponential"``; empty for
        the other estimators.
    options : dict
        The options of the fit (JSON-safe).
    loss_space : str
        ``"score"`` (the curve fitted to the scores) or ``"transformed"`` (a straight line fitted
        to the transformed points; see :mod:`transferscope.frontier.transformed`).
    r2 : float
        For ``loss_space="transformed"``: share of the variance of the transformed downstream
        scores of the fitted points explained by the fitted location (the usual R^2 for the
        least-squares estimators); NaN otherwise.
    intercept_ci_low, intercept_ci_high, slope_ci_low, slope_ci_high : float
        For ``loss_space="transformed"``: intervals of the line's intercept ``a`` and slope ``b``
        at ``ci_level``; NaN otherwise.
    x, y : numpy.ndarray
        The points of the group.
    on_frontier : numpy.ndarray
        Which points define the frontier.
    backtest_x, backtest_y, backtest_predicted : numpy.ndarray
        Held-out frontier points of the backtest and their predictions.
    bootstrap_plateaus : numpy.ndarray
        Plateaus of the successful bootstrap refits.
    """

    family: str
    frontier: str
    status: str
    message: str
    n_points: int
    n_frontier: int
    params: dict[str, float]
    stderr: dict[str, float]
    flags: tuple[str, ...] = ()
    plateau: float = math.nan
    plateau_ci_low: float = math.nan
    plateau_ci_high: float = math.nan
    ci_level: float = 0.95
    interval_kind: str = "none"
    mc_se_low: float = math.nan
    mc_se_high: float = math.nan
    interval_inflation: float = math.nan
    saturation_point: float = math.nan
    upstream_best: float = math.nan
    extrapolation: float = math.nan
    plateau_gap: float = math.nan
    best_observed: float = math.nan
    share_above: float = math.nan
    noise_sd: float = math.nan
    aicc: float = math.nan
    rmse: float = math.nan
    backtest_mae: float = math.nan
    bootstrap_failed_share: float = math.nan
    n_bootstrap: int = 0
    selected: bool = True
    requested_frontier: str = ""
    fallback_reason: str = ""
    shortfall: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    loss_space: str = "score"
    r2: float = math.nan
    intercept_ci_low: float = math.nan
    intercept_ci_high: float = math.nan
    slope_ci_low: float = math.nan
    slope_ci_high: float = math.nan
    x: Array = field(default_factory=_empty, repr=False)
    y: Array = field(default_factory=_empty, repr=False)
    on_frontier: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    backtest_x: Array = field(default_factory=_empty, repr=False)
    backtest_y: Array = field(default_factory=_empty, repr=False)
    backtest_predicted: Array = field(default_factory=_empty, repr=False)
    bootstrap_plateaus: Array = field(default_factory=_empty, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the fit succeeded."""
        return self.status == "ok"

    def _theta(self) -> Array:
        names = get_family(self.family).names
        return np.array([self.params.get(n, math.nan) for n in names], dtype=np.float64)

    def predict(self, x: ArrayLike) -> Array:
        """Evaluate the fitted frontier curve at upstream scores ``x`` (NaN when the fit failed).

        Parameters
        ----------
        x : array_like
            Upstream scores.

        Returns
        -------
        numpy.ndarray
            Predicted best achievable downstream score.
        """
        xa = np.asarray(x, dtype=np.float64)
        if not self.ok:
            return np.full(xa.shape, np.nan)
        return get_family(self.family).evaluate(xa, self._theta())

    def curve_range(self) -> tuple[float, float]:
        """Upstream range a curve is drawn over: the data up to the best possible score."""
        fam = get_family(self.family)
        if self.x.size == 0:
            return (0.0, 1.0)
        if fam.upstream == "lower":
            return (fam.best_upstream, float(np.max(self.x)))
        return (float(np.min(self.x)), fam.best_upstream)

    def curve(self, n: int = 200) -> pd.DataFrame:
        """Evaluate the fitted curve on a grid, for charts.

        Parameters
        ----------
        n : int
            Number of grid points.

        Returns
        -------
        pandas.DataFrame
            Columns ``upstream_score`` and ``predicted`` (NaN when the fit failed).
        """
        low, high = self.curve_range()
        grid = np.linspace(low, high, n)
        return pd.DataFrame({"upstream_score": grid, "predicted": self.predict(grid)})

    def frontier_points(self) -> pd.DataFrame:
        """List the points of the group, marked whether they define the frontier.

        Returns
        -------
        pandas.DataFrame
            Columns ``upstream_score``, ``downstream_score``, ``on_frontier`` (bool), ``predicted``
            (the curve at the point).
        """
        return pd.DataFrame(
            {
                "upstream_score": self.x,
                "downstream_score": self.y,
                "on_frontier": self.on_frontier.astype(bool),
                "predicted": self.predict(self.x),
            }
        )

    def backtest_points(self) -> pd.DataFrame:
        """Held-out frontier points of the backtest with their predictions.

        Returns
        -------
        pandas.DataFrame
            Columns ``upstream_score``, ``downstream_score``, ``predicted``, ``error``
            (predicted minus observed).
        """
        return pd.DataFrame(
            {
                "upstream_score": self.backtest_x,
                "downstream_score": self.backtest_y,
                "predicted": self.backtest_predicted,
                "error": self.backtest_predicted - self.backtest_y,
            }
        )

    def row(self, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """One output row: statistics and ``param_<name>``, ``param_<name>_se`` (NaN kept).

        Parameters
        ----------
        names : tuple of str, optional
            Parameter names to give columns for (default: this fit's).

        Returns
        -------
        dict
            Column name to value, in output order.
        """
        out: dict[str, Any] = {c: getattr(self, c) for c in HEAD_COLUMNS}
        out["flags"] = ",".join(self.flags)
        for name in names if names is not None else tuple(self.params):
            out[f"param_{name}"] = self.params.get(name, math.nan)
            out[f"param_{name}_se"] = self.stderr.get(name, math.nan)
        for c in TAIL_COLUMNS:
            if c == "upstream_min":
                out[c] = float(np.min(self.x)) if self.x.size else math.nan
            elif c == "upstream_max":
                out[c] = float(np.max(self.x)) if self.x.size else math.nan
            else:
                out[c] = getattr(self, c)
        return out

    def to_record(self) -> dict[str, Any]:
        """JSON-safe record of the fit (one row of the store; NaN becomes ``None``).

        Returns
        -------
        dict
            The output row plus ``options``.
        """
        return {**json_safe(self.row()), "options": json_safe(self.options)}

    def summary(self) -> pd.DataFrame:
        """Parameter table.

        Returns
        -------
        pandas.DataFrame
            Columns ``parameter``, ``estimate``, ``se``; one row per parameter, then ``plateau``
            with its interval bounds in ``ci_low`` and ``ci_high``.
        """
        rows = [
            {"parameter": n, "estimate": v, "se": self.stderr.get(n, math.nan)}
            for n, v in self.params.items()
        ]
        rows.append(
            {
                "parameter": "plateau",
                "estimate": self.plateau,
                "se": math.nan,
                "ci_low": self.plateau_ci_low,
                "ci_high": self.plateau_ci_high,
            }
        )
        frame = pd.DataFrame(rows)
        for c in ("ci_low", "ci_high"):
            if c not in frame:
                frame[c] = math.nan
        return frame[["parameter", "estimate", "se", "ci_low", "ci_high"]]

    def describe(self) -> str:
        """One line: what was fitted, its status and, for an ok fit, the plateau and its fit.

        Returns
        -------
        str
            E.g. ``abnar on the stochastic frontier: ok; 120 points, 120 on the frontier;
            plateau 0.9312 [0.9104, 0.9550] (95% bootstrap, 0.2% of 1000 resamples failed) ...``.
        """
        line = (
            f"{self.family} on the {self.frontier} frontier: {self.status}"
            + (f" [{', '.join(self.flags)}]" if self.flags else "")
            + (f" ({self.message})" if self.message else "")
            + f"; {self.n_points} points, {self.n_frontier} on the frontier"
        )
        if not self.ok:
            return line
        boot = (
            f", {self.bootstrap_failed_share:.1%} of {self.n_bootstrap} resamples failed"
            if self.n_bootstrap
            else ""
        )
        return line + (
            f"; plateau {self.plateau:.4f} [{self.plateau_ci_low:.4f}, "
            f"{self.plateau_ci_high:.4f}] ({self.ci_level:.0%} {self.interval_kind}{boot}); "
            f"saturation point {self.saturation_point:.4f} (extrapolation "
            f"{self.extrapolation:.4f}); AICc {self.aicc:.2f}; "
            f"RMSE {self.rmse:.4f}; backtest MAE {self.backtest_mae:.4f}"
        )
