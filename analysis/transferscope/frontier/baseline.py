"""A fitted curve as a baseline: coefficients, model list and a checksum of its points.

Effective robustness (Taori et al. 2020) and effective transfer are distances from a baseline
fitted to reference models. :class:`Baseline` holds what is needed to compute them anywhere: the
family, the estimator, the loss space, the parameters with standard errors (and, for a line on
transformed axes, intervals of intercept and slope and R^2), the models the baseline was fitted
to and a SHA-256 checksum of their points (:func:`points_checksum`), so that a user can check
that their copy of the data is the one the baseline was fitted on. :meth:`Baseline.residuals`
gives the distance of any point from the baseline on the baseline's axes; :meth:`Baseline.to_json`
and :meth:`Baseline.from_json` write and read it; :func:`baselines_from_fits` turns the rows of
:func:`~transferscope.frontier.fit_frontiers` (or :func:`~transferscope.frontier.fit_store`) into
baselines, and :func:`write_baselines` / :func:`read_baselines` keep a list of them in a file.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from transferscope.errors import InputError
from transferscope.frontier import kernels
from transferscope.frontier.estimators import get_estimator
from transferscope.frontier.families import get_family
from transferscope.frontier.fit import group_key
from transferscope.frontier.result import FrontierResult
from transferscope.frontier.transformed import to_axes
from transferscope.records import Record, json_safe
from transferscope.schema import scored_on_upstream_task

Array = NDArray[np.float64]

#: Version of the baseline file format.
BASELINE_FORMAT: Final[int] = 1


def points_checksum(x: ArrayLike, y: ArrayLike) -> str:
    """SHA-256 of a set of points, independent of their order.

    The finite ``(x, y)`` pairs are sorted by ``x`` then ``y`` and hashed as little-endian
    float64 bytes (``x0 y0 x1 y1 ...``), so the same points in any order give the same checksum.

    Parameters
    ----------
    x, y : array_like
        Upstream and downstream scores.

    Returns
    -------
    str
        Hex SHA-256.
    """
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    keep = np.isfinite(xa) & np.isfinite(ya)
    points = np.column_stack([xa[keep], ya[keep]])
    points = points[np.lexsort((points[:, 1], points[:, 0]))]
    return hashlib.sha256(np.ascontiguousarray(points, dtype="<f8").tobytes()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Baseline(Record):
    """A fitted curve kept as a baseline for residuals (effective robustness / transfer).

    Attributes
    ----------
    group : dict
        The group key the baseline was fitted in (column to value).
    family, frontier, loss_space : str
        The curve, the estimator and where the loss was taken (``"score"``, ``"transformed"``).
    params, stderr : dict
        Parameters and standard errors by name (the estimator's own, e.g. ``sigma_u``, too).
    intercept, slope : float
        For a line on transformed axes: ``a`` and ``b`` of ``axis(y) = a + b axis(x)``; NaN
        otherwise.
    intercept_ci_low, intercept_ci_high, slope_ci_low, slope_ci_high : float
        Their intervals at ``ci_level`` (NaN when not computed).
    r2 : float
        R^2 on the transformed axes (NaN on the scores).
    ci_level : float
        Level of the intervals.
    shift : float
        Mean shortfall subtracted from the curve to give the location of a typical model (0
        except for the stochastic frontier, whose curve is the frontier).
    upstream_metric, downstream_metric : str or None
        The group's metrics.
    n_points : int
        Points the baseline was fitted to.
    models : tuple of str
        The models whose points were fitted (sorted).
    points_sha256 : str
        :func:`points_checksum` of those points.
    options : dict
        The fit settings.
    status, message : str
        The fit's status and message.
    """

    group: dict[str, Any]
    family: str
    frontier: str
    loss_space: str
    params: dict[str, float]
    stderr: dict[str, float]
    intercept: float = math.nan
    slope: float = math.nan
    intercept_ci_low: float = math.nan
    intercept_ci_high: float = math.nan
    slope_ci_low: float = math.nan
    slope_ci_high: float = math.nan
    r2: float = math.nan
    ci_level: float = 0.95
    shift: float = 0.0
    upstream_metric: str | None = None
    downstream_metric: str | None = None
    n_points: int = 0
    models: tuple[str, ...] = ()
    points_sha256: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    message: str = ""

    @property
    def ok(self) -> bool:
        """Whether the baseline was fitted."""
        return self.status == "ok"

    @property
    def axes(self) -> str:
        """Where residuals are measured: ``"<family> axes"`` or ``"scores"``."""
        return f"{self.family} axes" if self.loss_space == "transformed" else "scores"

    def _theta(self) -> Array:
        names = get_family(self.family).names
        return np.array([self.params.get(n, math.nan) for n in names], dtype=np.float64)

    def to_axis(self, scores: ArrayLike) -> Array:
        """Put scores on the baseline's axes (transformed, clipped as in the fit; or unchanged).

        Parameters
        ----------
        scores : array_like
            Upstream or downstream scores.

        Returns
        -------
        numpy.ndarray
            The values residuals are measured in.
        """
        values = np.asarray(scores, dtype=np.float64)
        if self.loss_space != "transformed":
            return values
        out = np.full(values.shape, np.nan)
        ok = np.isfinite(values)
        out[ok] = to_axes(get_family(self.family), values[ok])[0]
        return out

    def location(self, x: ArrayLike) -> Array:
        """Where the baseline puts a typical model at upstream score ``x``, on its axes.

        Parameters
        ----------
        x : array_like
            Upstream scores (as stored: accuracies or losses).

        Returns
        -------
        numpy.ndarray
            ``a + b axis(x) - shift`` for a line on transformed axes, ``f(x) - shift`` on the
            scores (NaN when the baseline was not fitted).
        """
        xa = np.asarray(x, dtype=np.float64)
        if not self.ok:
            return np.full(xa.shape, np.nan)
        if self.loss_space == "transformed":
            return self.intercept + self.slope * self.to_axis(xa) - self.shift
        return get_family(self.family).evaluate(xa, self._theta()) - self.shift

    def residuals(self, x: ArrayLike, y: ArrayLike) -> Array:
        """Distance of points from the baseline, on its axes (positive: above the baseline).

        Parameters
        ----------
        x, y : array_like
            Upstream and downstream scores.

        Returns
        -------
        numpy.ndarray
            ``axis(y) - location(x)``.
        """
        return self.to_axis(y) - self.location(x)

    def check(self, x: ArrayLike, y: ArrayLike) -> bool:
        """Whether ``(x, y)`` are exactly the points the baseline was fitted to.

        Parameters
        ----------
        x, y : array_like
            Points, in any order.

        Returns
        -------
        bool
            True when their checksum equals :attr:`points_sha256`.
        """
        return points_checksum(x, y) == self.points_sha256

    def to_json(self) -> str:
        """Write the baseline as one JSON object (NaN as ``null``).

        Returns
        -------
        str
            JSON text with a ``format`` version.
        """
        return json.dumps({"format": BASELINE_FORMAT, **self.to_record()}, allow_nan=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Baseline:
        """Rebuild a baseline from :meth:`to_record` output (or a parsed :meth:`to_json`).

        Parameters
        ----------
        record : mapping
            The fields.

        Returns
        -------
        Baseline
            The baseline.

        Raises
        ------
        InputError
            For an unknown format or missing fields.
        """
        data = dict(record)
        version = data.pop("format", BASELINE_FORMAT)
        if version != BASELINE_FORMAT:
            raise InputError(f"baseline format {version!r} is not {BASELINE_FORMAT}")
        needed = ("group", "family", "frontier", "loss_space", "params")
        missing = [k for k in needed if k not in data]
        if missing:
            raise InputError(f"a baseline lacks field(s) {missing}")
        get_family(str(data["family"]))  # refuses an unknown family
        floats = (
            "intercept", "slope", "intercept_ci_low", "intercept_ci_high", "slope_ci_low",
            "slope_ci_high", "r2", "ci_level", "shift",
        )  # fmt: skip
        for k in floats:
            if k in data:
                data[k] = math.nan if data[k] is None else float(data[k])
        for k in ("params", "stderr"):
            data[k] = {n: math.nan if v is None else float(v) for n, v in data.get(k, {}).items()}
        data["models"] = tuple(data.get("models", ()))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> Baseline:
        """Read a baseline written by :meth:`to_json`.

        Parameters
        ----------
        text : str
            JSON text.

        Returns
        -------
        Baseline
            The baseline.
        """
        try:
            return cls.from_record(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise InputError(f"not a baseline: {exc}") from None

    def describe(self) -> str:
        """One line: family, estimator, axes, coefficients and R^2.

        Returns
        -------
        str
            E.g. ``probit line (all, transformed axes): a = 0.112 [0.10, 0.12], b = 1.02 ...``.
        """
        if not self.ok:
            return f"{self.family} ({self.frontier}): {self.status} ({self.message})"
        if self.loss_space == "transformed":
            return (
                f"{self.family} line ({self.frontier}, transformed axes): a = {self.intercept:.4g} "
                f"[{self.intercept_ci_low:.4g}, {self.intercept_ci_high:.4g}], b = "
                f"{self.slope:.4g} [{self.slope_ci_low:.4g}, {self.slope_ci_high:.4g}], "
                f"R^2 = {self.r2:.4f}; {self.n_points} points of {len(self.models)} models"
            )
        shown = ", ".join(f"{k} = {v:.4g}" for k, v in self.params.items())
        return f"{self.family} ({self.frontier}, scores): {shown}; {self.n_points} points"

    def summary(self) -> pd.DataFrame:
        """Parameter table.

        Returns
        -------
        pandas.DataFrame
            Columns ``parameter``, ``estimate``, ``se``.
        """
        return pd.DataFrame(
            {
                "parameter": list(self.params),
                "estimate": list(self.params.values()),
                "se": [self.stderr.get(k, math.nan) for k in self.params],
            }
        )


def _number(values: Mapping[str, Any], key: str) -> float:
    """Read a number from a fit's row (NaN when missing)."""
    v = values.get(key)
    return math.nan if v is None or pd.isna(v) else float(v)


def _shift(frontier: str, values: Mapping[str, Any], options: Mapping[str, Any]) -> float:
    """Mean shortfall below a stochastic frontier (0 for the other estimators).

    ``values`` holds the fit's ``param_<name>`` columns and, for fits that record it, its
    ``shortfall`` (the two-part shortfall's tail); older rows fall back to the options.
    """
    if frontier != "stochastic":
        return 0.0
    names = ("sigma_v", "sigma_u", "sigma_c", "pi_c")
    scales = np.array([_number(values, f"param_{k}") for k in names])
    if not math.isfinite(scales[1]):
        return math.nan if "param_sigma_u" in values else 0.0
    kind = str(values.get("shortfall") or options.get("inefficiency") or "half_normal")
    if kind in kernels.TWO_PART.values() and not np.isfinite(scales[2:]).all():
        kind = "half_normal"  # a row without the two-part shortfall's cluster parameters
    return float(kernels.mean_shortfall(scales, kind))  # type: ignore[arg-type]


def baseline_from_values(
    values: Mapping[str, Any],
    group: Mapping[str, Any],
    x: ArrayLike,
    y: ArrayLike,
    models: Sequence[str],
    *,
    upstream_metric: str | None = None,
    downstream_metric: str | None = None,
) -> Baseline:
    """Make a baseline from a fit's output row (``param_<name>`` columns) or result record.

    Parameters
    ----------
    values : mapping
        A row of :func:`~transferscope.frontier.fit_frontiers` (or
        :meth:`FrontierResult.row`), with ``options`` when known.
    group : mapping
        The group key.
    x, y : array_like
        The points the fit was made on.
    models : sequence of str
        Their models.
    upstream_metric, downstream_metric : str, optional
        The group's metrics.

    Returns
    -------
    Baseline
        The baseline.
    """
    family = str(values["family"])
    frontier = str(values["frontier"])
    loss_space = str(values.get("loss_space") or "score")
    names = get_estimator(frontier).param_names(get_family(family))

    params = {n: _number(values, f"param_{n}") for n in names}
    stderr = {n: _number(values, f"param_{n}_se") for n in names}
    options = dict(values.get("options") or {})
    line = loss_space == "transformed"
    return Baseline(
        group=json_safe(dict(group)),
        family=family,
        frontier=frontier,
        loss_space=loss_space,
        params=params,
        stderr=stderr,
        intercept=params.get("a", math.nan) if line else math.nan,
        slope=params.get("b", math.nan) if line else math.nan,
        intercept_ci_low=_number(values, "intercept_ci_low"),
        intercept_ci_high=_number(values, "intercept_ci_high"),
        slope_ci_low=_number(values, "slope_ci_low"),
        slope_ci_high=_number(values, "slope_ci_high"),
        r2=_number(values, "r2"),
        ci_level=_number(values, "ci_level") if values.get("ci_level") is not None else 0.95,
        shift=_shift(frontier, values, options),
        upstream_metric=upstream_metric,
        downstream_metric=downstream_metric,
        n_points=int(np.sum(np.isfinite(np.asarray(x, float)) & np.isfinite(np.asarray(y, float)))),
        models=tuple(sorted({str(m) for m in models})),
        points_sha256=points_checksum(x, y),
        options=json_safe(options),
        status=str(values.get("status", "ok")),
        message=str(values.get("message") or ""),
    )


def baseline_from_result(
    result: FrontierResult,
    group: Mapping[str, Any],
    models: Sequence[str],
    *,
    upstream_metric: str | None = None,
    downstream_metric: str | None = None,
) -> Baseline:
    """Make a baseline from a :class:`FrontierResult` (its points are the fitted ones).

    Parameters
    ----------
    result : FrontierResult
        A fit (e.g. of :func:`~transferscope.frontier.fit_group`).
    group : mapping
        The group key.
    models : sequence of str
        The models of the fit's points.
    upstream_metric, downstream_metric : str, optional
        The group's metrics.

    Returns
    -------
    Baseline
        The baseline.
    """
    values = {**result.row(), "options": result.options}
    return baseline_from_values(
        values,
        group,
        result.x,
        result.y,
        models,
        upstream_metric=upstream_metric,
        downstream_metric=downstream_metric,
    )


def single_value(frame: pd.DataFrame, column: str) -> str | None:
    """Return the one value a column holds in ``frame`` (None when missing or several).

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of one group.
    column : str
        E.g. ``upstream_metric``.

    Returns
    -------
    str or None
        The value.
    """
    if column not in frame:
        return None
    values = frame[column].dropna().unique()
    return str(values[0]) if len(values) == 1 else None


def baselines_from_fits(
    fits: pd.DataFrame, runs: pd.DataFrame, *, by: Sequence[str]
) -> list[Baseline]:
    """Turn fitted rows into baselines, with the models and the checksum of each group's points.

    Parameters
    ----------
    fits : pandas.DataFrame
        Output of :func:`~transferscope.frontier.fit_frontiers` or
        :func:`~transferscope.frontier.fit_store` (rows not ``ok`` are kept, with their status).
    runs : pandas.DataFrame
        The runs the fits were made from.
    by : sequence of str
        The grouping of the fits.

    Returns
    -------
    list of Baseline
        One per row of ``fits``, in order.
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, "model", "upstream_score", "downstream_score"] if c not in runs]
    if missing:
        raise InputError(f"runs lack column(s) {missing}")
    groups: dict[str, pd.DataFrame] = {}
    grouped = runs.groupby(by, dropna=False, sort=False, observed=True) if by else [((), runs)]
    for values, frame in grouped:
        vals = values if isinstance(values, tuple) else (values,)
        own = scored_on_upstream_task(frame)
        if own.any() and not own.all():
            frame = frame[~own]
        key = group_key(by, vals)
        groups[json.dumps(key, sort_keys=True)] = frame
    out = []
    for record in fits.to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        key = group_key(by, [row[c] for c in by])
        frame = groups.get(json.dumps(key, sort_keys=True), runs.iloc[:0])
        x = frame["upstream_score"].to_numpy(dtype=np.float64, na_value=np.nan)
        y = frame["downstream_score"].to_numpy(dtype=np.float64, na_value=np.nan)
        keep = np.isfinite(x) & np.isfinite(y)
        out.append(
            baseline_from_values(
                row,
                key,
                x[keep],
                y[keep],
                frame["model"].astype(str).to_numpy()[keep].tolist(),
                upstream_metric=single_value(frame, "upstream_metric"),
                downstream_metric=single_value(frame, "downstream_metric"),
            )
        )
    return out


def write_baselines(baselines: Sequence[Baseline], path: str | Path) -> Path:
    """Write baselines to a JSON file (an array of :meth:`Baseline.to_json` objects).

    Parameters
    ----------
    baselines : sequence of Baseline
        What to write.
    path : str or pathlib.Path
        The file (overwritten).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    InputError
        When the file cannot be written.
    """
    target = Path(path)
    items = [{"format": BASELINE_FORMAT, **b.to_record()} for b in baselines]
    try:
        target.write_text(json.dumps(items, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", file=str(target)) from None
    return target


def read_baselines(path: str | Path) -> list[Baseline]:
    """Read baselines written by :func:`write_baselines` (or one written by ``to_json``).

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    list of Baseline
        The baselines, in file order.

    Raises
    ------
    InputError
        When the file cannot be read or holds no baselines.
    """
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(source)) from None
    except ValueError as exc:
        raise InputError(f"not JSON: {exc}", file=str(source)) from None
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in items):
        raise InputError("expected a JSON object or an array of objects", file=str(source))
    return [Baseline.from_record(item) for item in items]
