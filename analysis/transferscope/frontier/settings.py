"""One settings object for a fit: what the API, the command line, the bootstrap and the store use.

:class:`FitSettings` holds every choice a frontier fit depends on besides the data. It is frozen
and checked when made, so a bad option is refused before any group is fitted; its
:meth:`~FitSettings.to_record` is what a stored fit's fingerprint hashes and what every
:class:`~transferscope.frontier.FrontierResult` carries as ``options``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from transferscope.errors import InputError
from transferscope.frontier.kernels import NOISE_FLOOR, Inefficiency
from transferscope.records import Record
from transferscope.rng import MAX_RESAMPLES

#: The default frontier estimator: the one whose plateau interval is calibrated (see README).
DEFAULT_FRONTIER: Final[str] = "stochastic"
#: Largest number of bootstrap resamples per group (each costs a refit); the package-wide bound.
MAX_BOOTSTRAP: Final[int] = MAX_RESAMPLES
#: Inefficiency distributions of the stochastic frontier.
INEFFICIENCIES: Final[tuple[str, ...]] = ("cluster", "half_normal", "exponential")
#: Kinds of plateau interval (see FitSettings.interval).
INTERVALS: Final[tuple[str, ...]] = ("auto", "bootstrap", "profile")
#: Where a family's loss is taken: on the scores, or (logit, probit) on the transformed axes.
LOSS_SPACES: Final[tuple[str, ...]] = ("score", "transformed")


@dataclass(frozen=True, kw_only=True)
class FitSettings(Record):
    """Every option of a frontier fit (part of a stored fit's fingerprint).

    Parameters
    ----------
    family : str or tuple of str
        A registered family name, ``"auto"`` (the family with the smallest backtest error;
        AICc breaks ties) or several names.
    frontier : str
        A registered frontier estimator (see :data:`transferscope.frontier.ESTIMATORS`).
    bootstrap : int
        Resamples the plateau's bootstrap starts from, per group and family (they grow up to
        ``bootstrap_max``; 0: no bootstrap, the interval is then the profile likelihood's where
        the estimator has one).
    ci_level : float
        Level of the plateau interval.
    seed : int
        Seed; each group's resamples derive from it and the group key.
    delta : float
        Tolerance of the saturation point (downstream units).
    backtest_quantile : float
        The backtest trains on the models below this upstream quantile.
    tau : float
        Quantile level of the ``quantile`` estimator.
    inefficiency : {"cluster", "half_normal", "exponential"}
        Shortfall distribution of the ``stochastic`` estimator. ``"cluster"`` (default): a
        two-part mixture, a share ``pi_c`` of models in a half-normal cluster close to the
        frontier (scale ``sigma_c``) and a tail (``sigma_u``); it contains the half-normal
        and, as ``sigma_c`` goes to 0, a share of models exactly on the frontier. The tail is
        half-normal (scale ``sigma_u``) or exponential (mean ``sigma_u``), whichever the
        likelihood prefers (the result's ``shortfall`` says which); when the other fits
        nearly as well (log-likelihood within 2), the plateau interval covers both. Its
        bootstrap refits the nested half-normal model (see ``interval``).
    smoothing : float
        Half-width of the quadratic zone of the smoothed pinball loss (``quantile``).
    noise_floor : float
        Smallest noise standard deviation of ``stochastic`` (accuracy units; 0.001 is about the
        sampling error of an accuracy of 0.95 measured on 50,000 examples). With less noise the
        likelihood approaches that of a deterministic frontier through the top points, which has
        many local maxima.
    side_by_side : bool
        With ``"auto"`` or several families: return every family's row (``selected`` marks the
        choice) instead of only the chosen one.
    contamination : float
        Prior share of gross errors in the ``stochastic`` likelihood (a model far above the
        frontier, or far below any plausible shortfall, costs a bounded log-likelihood instead of
        pulling the curve; 0: the plain likelihood).
    fallback : str
        Estimator used instead when the ``stochastic`` frontier is no upper frontier (its
        residuals are not skewed below the curve, or more than ``above_tolerance`` of the models
        lie above it beyond noise); ``"none"`` keeps the stochastic fit and flags it.
    above_tolerance : float
        Largest share of models above an upper frontier by more than three noise standard
        deviations.
    bootstrap_max : int
        Largest number of resamples: from ``bootstrap``, resamples are added until both
        interval endpoints are stable to ``mc_tolerance`` or this cap is reached (equal to
        ``bootstrap`` or below it: a fixed number).
    mc_tolerance : float
        Monte Carlo stability asked of bootstrap endpoints: 1.96 Monte Carlo standard errors.
    interval : {"auto", "bootstrap", "profile"}
        The plateau interval: ``"bootstrap"`` is the percentile interval; ``"profile"`` the
        profile-likelihood interval of the estimator's likelihood (its deviance divided by the
        sandwich-to-model variance ratio when that exceeds 1; one-sided when the largest
        possible plateau is not rejected); ``"auto"`` (default) joins the two (for the
        two-part ``cluster`` shortfall, the bootstrap refits the half-normal model it contains:
        an interval that holds under either shortfall model; see README, "Plateau
        intervals"). An interval is never of zero width: where one cannot be computed
        honestly its ends are NaN (``interval_kind`` ``none``).
    loss_space : {"score", "transformed"}
        ``"score"``: the family's curve is fitted to the scores. ``"transformed"``: a family
        that is a straight line on transformed axes (``logit``, ``probit``) is fitted as that
        line, ``axis(y) = a + b * axis(x)``, to the transformed points (least squares with
        ``frontier="all"``, as Taori et al., Miller et al. and Kornblith et al. fit it), with
        ``r2`` and intervals for intercept and slope (see
        :mod:`transferscope.frontier.transformed`).

    Raises
    ------
    InputError
        For an option out of range (checked when the object is made).
    """

    family: str | tuple[str, ...] = field(
        default="abnar", metadata={"help": "family name(s), or auto (smallest backtest error)"}
    )
    frontier: str = field(default=DEFAULT_FRONTIER, metadata={"help": "frontier estimator"})
    bootstrap: int = field(
        default=1000, metadata={"help": "resamples per group to start from (0: no bootstrap)"}
    )
    ci_level: float = field(default=0.95, metadata={"help": "level of the plateau interval"})
    seed: int = field(default=0, metadata={"help": "seed of the resamples"})
    delta: float = field(default=0.01, metadata={"help": "tolerance of the saturation point"})
    backtest_quantile: float = field(
        default=0.8, metadata={"help": "backtest trains below this upstream quantile"}
    )
    tau: float = field(default=0.9, metadata={"help": "quantile level of the quantile estimator"})
    inefficiency: Inefficiency = field(
        default="cluster", metadata={"help": "shortfall distribution of stochastic"}
    )
    smoothing: float = field(
        default=1e-3, metadata={"help": "smoothing of the pinball loss (quantile)"}
    )
    noise_floor: float = field(
        default=NOISE_FLOOR, metadata={"help": "smallest noise sd of stochastic"}
    )
    side_by_side: bool = field(
        default=False, metadata={"help": "with auto or several families: a row per family"}
    )
    contamination: float = field(
        default=0.01, metadata={"help": "share of gross errors in the stochastic likelihood"}
    )
    fallback: str = field(
        default="pareto",
        metadata={"help": "estimator used when stochastic is no upper frontier (none: keep)"},
    )
    above_tolerance: float = field(
        default=0.05, metadata={"help": "largest share of models above an upper frontier"}
    )
    bootstrap_max: int = field(
        default=4000, metadata={"help": "cap of resamples grown for stable endpoints"}
    )
    mc_tolerance: float = field(
        default=0.002, metadata={"help": "stability of bootstrap endpoints (1.96 MC SE)"}
    )
    interval: str = field(
        default="auto", metadata={"help": "plateau interval: auto, bootstrap or profile"}
    )
    loss_space: str = field(
        default="score",
        metadata={"help": "score, or transformed: logit/probit as lines on the transformed axes"},
    )

    def __post_init__(self) -> None:
        if not isinstance(self.family, str):
            object.__setattr__(self, "family", tuple(self.family))
        _check_int("bootstrap", self.bootstrap, 0, MAX_BOOTSTRAP)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("bootstrap_max", self.bootstrap_max, 0, MAX_BOOTSTRAP)
        for name in ("ci_level", "tau", "backtest_quantile"):
            value = getattr(self, name)
            if not _real(value) or not 0.0 < value < 1.0:
                raise InputError(f"{name} must lie strictly between 0 and 1, got {value!r}")
        for name in ("contamination", "above_tolerance"):
            value = getattr(self, name)
            if not _real(value) or not 0.0 <= value < 1.0:
                raise InputError(f"{name} must lie in [0, 1), got {value!r}")
        if self.interval not in INTERVALS:
            raise InputError(f"unknown interval {self.interval!r}; expected one of {INTERVALS}")
        for name in ("delta", "smoothing", "noise_floor", "mc_tolerance"):
            value = getattr(self, name)
            if not _real(value) or not value > 0.0:
                raise InputError(f"{name} must be a positive number, got {value!r}")
        if self.inefficiency not in INEFFICIENCIES:
            raise InputError(
                f"unknown inefficiency {self.inefficiency!r}; expected one of {INEFFICIENCIES}"
            )
        if isinstance(self.family, tuple) and not self.family:
            raise InputError("no family given")
        if self.loss_space not in LOSS_SPACES:
            raise InputError(
                f"unknown loss_space {self.loss_space!r}; expected one of {LOSS_SPACES}"
            )

    @property
    def families_asked(self) -> tuple[str, ...]:
        """The family names as given (``("auto",)`` for auto)."""
        return (self.family,) if isinstance(self.family, str) else self.family

    @property
    def chooses(self) -> bool:
        """Whether a family is chosen among several (``"auto"`` or a list of names)."""
        return not isinstance(self.family, str) or self.family == "auto"

    def replace(self, **changes: Any) -> FitSettings:
        """Return a copy with some options changed (checked again).

        Parameters
        ----------
        **changes
            New values of fields.

        Returns
        -------
        FitSettings
            The new settings.
        """
        return dataclasses.replace(self, **changes)

    @classmethod
    def make(cls, settings: FitSettings | None = None, **options: Any) -> FitSettings:
        """Build settings from an optional base and keyword options (the API's ``**options``).

        Parameters
        ----------
        settings : FitSettings, optional
            Base settings (defaults when omitted).
        **options
            Field values that override the base; ``None`` values are ignored.

        Returns
        -------
        FitSettings
            The checked settings.

        Raises
        ------
        InputError
            For an unknown option name or an option out of range.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise InputError(f"unknown fit option(s) {unknown}; expected some of {sorted(known)}")
        given = {k: v for k, v in options.items() if v is not None}
        base = settings if settings is not None else cls()
        return dataclasses.replace(base, **given) if given else base


def _real(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise InputError(f"{name} must lie in [{low}, {high:,}], got {int(value):,}")


def options_from(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Pick the :class:`FitSettings` fields out of a mapping (e.g. parsed command-line options).

    Parameters
    ----------
    mapping : mapping
        Any names to values.

    Returns
    -------
    dict
        The entries whose name is a field of :class:`FitSettings`.
    """
    known = {f.name for f in dataclasses.fields(FitSettings)}
    return {k: v for k, v in mapping.items() if k in known}
