"""Frontier groups in the report: current fits, and what each group's chart and text say.

Fits come from the store (the frontier engine's store-backed fit computes only the groups whose
runs or options changed). A group's chart is a payload of the frontier template
(:mod:`transferscope.report.frontier_charts`): its runs, every fitted curve evaluated from the
stored parameters (solid over the data, dashed where it extrapolates), its plateau and interval.
Backtest points need the fit itself, so only the representative charts of the front page refit
their group (without bootstrap; the point fit is deterministic, hence the stored one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import altair as alt
import numpy as np
import pandas as pd

from transferscope.errors import InputError
from transferscope.frontier.result import FrontierResult
from transferscope.frontier.settings import FitSettings
from transferscope.report import html as H
from transferscope.report.frontier_charts import (
    Curve,
    Marks,
    frontier_payload,
    frontier_template,
    payload,
)
from transferscope.report.labels import (
    lower_is_better,
    metric_unit,
    score_axis_title,
    short_axis_title,
)
from transferscope.report.templates import Names, fill
from transferscope.store import Store

#: Grid points of a drawn curve.
CURVE_POINTS = 100


def current_fits(
    store: Store,
    filters: dict[str, Any],
    *,
    options: Mapping[str, Any],
    progress: bool,
    families: Mapping[str, str | None] | None = None,
) -> tuple[pd.DataFrame, int, tuple[str, ...]]:
    """Fits of every group: stored ones that are current, the others computed (and stored) now.

    Groups are those of ``transferscope fit`` (its default grouping, downstream metric
    included). Without fit options the report shows, for each group, the most recent current
    fit in the store whatever options it was made with (so ``report`` after ``fit`` adds no
    fit and shows the same numbers), and fits the other groups now; with options, only fits
    made with exactly those options.

    Parameters
    ----------
    store : Store
        The store (fits computed now are written to it unless it is read-only).
    filters : dict
        Filters of the runs (as for :meth:`Store.runs`), the same as the report's.
    options : mapping
        Fit options given (fields of :class:`~transferscope.frontier.FitSettings`; ``family``
        may be ``"all"``: every family, side by side); empty for "reuse what is stored".
    progress : bool
        Progress bar on stderr.
    families : mapping of str to str or None, optional
        Without a ``family`` option: the family each source's groups are fitted with when they
        have no stored fit (None: the engine's default), as made by :func:`source_families`.

    Returns
    -------
    (pandas.DataFrame, int, tuple of str)
        Fits in the columns of :func:`transferscope.frontier.fit_store` with their
        ``options``, the number of groups fitted now (the others were reused), and the group
        key columns.
    """
    from transferscope.frontier import DEFAULT_BY, family_filters, fit_store

    by = tuple(DEFAULT_BY)
    given: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    reuse: Literal["same", "any"] = "same" if given else "any"
    if given.get("family") == "all":
        given.update(family="auto", side_by_side=True)
    calls = (
        [(None, dict(filters))]
        if "family" in given or not families
        else family_filters(families, filters)
    )
    parts = [
        fit_store(
            store,
            by=by,
            filters=only,
            progress=progress,
            reuse=reuse,
            with_options=True,
            **(given if family is None else {**given, "family": family}),
        )
        for family, only in calls
    ]
    fits = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    fresh = fits[~fits["reused"].astype(bool)]
    n_now = len(fresh.drop_duplicates(subset=list(by)))
    return fits, n_now, by


def flags_text(flags: Any) -> str:
    """Write a fit's flags as a sentence for a caption (empty when there are none).

    Parameters
    ----------
    flags : Any
        The fit's ``flags`` (comma-separated text, or missing).

    Returns
    -------
    str
        E.g. ``"Flags: not_saturating, extrapolated."``.
    """
    if H._missing(flags) or not str(flags):
        return ""
    return "Flags: " + str(flags).replace(",", ", ") + "."


def frontier_label(row: Any) -> str:
    """Name the estimator a row used, and the one asked for when it fell back.

    Parameters
    ----------
    row : mapping
        A row of the fits.

    Returns
    -------
    str
        ``"stochastic frontier"`` or ``"pareto frontier (fallback from stochastic)"``; with
        the flag ``not_upper``, ``", not upper: models above it"`` is added.
    """
    used = str(row.get("frontier"))
    asked = row.get("requested_frontier")
    label = f"{used} frontier"
    if not H._missing(asked) and asked and str(asked) != used:
        label = f"{used} frontier (fallback from {asked})"
    flags = row.get("flags")
    names = flags if isinstance(flags, list | tuple) else str(flags or "").split(",")
    if not H._missing(flags) and "not_upper" in names:
        label += ", not upper: models above it"
    return label


def stored_settings(row: Any) -> FitSettings | None:
    """Rebuild the settings a fit row was made with, when the store kept them (else None).

    Parameters
    ----------
    row : mapping
        A row of :func:`current_fits` (its ``options`` column, when present, is JSON text).

    Returns
    -------
    FitSettings or None
        The settings.
    """
    import json

    text = row.get("options") if hasattr(row, "get") else None
    if text is None or H._missing(text):
        return None
    try:
        options = json.loads(str(text))
        return FitSettings.make(**{k: v for k, v in options.items() if v is not None})
    except (InputError, TypeError, ValueError):
        return None


def select_rows(frame: pd.DataFrame, keys: dict[str, Any]) -> pd.DataFrame:
    """Rows of ``frame`` whose columns equal ``keys`` (a missing key matches missing values).

    Parameters
    ----------
    frame : pandas.DataFrame
        Any frame with the key columns.
    keys : dict
        Column to value.

    Returns
    -------
    pandas.DataFrame
        The matching rows.
    """
    mask = np.ones(len(frame), dtype=bool)
    for c, v in keys.items():
        col = frame[c]
        mask &= (col.isna() if H._missing(v) else (col == v).fillna(False)).to_numpy(dtype=bool)
    return frame[mask]


def fmt(value: Any, digits: int = 3) -> str:
    """Format a number as text (``n/a`` when missing).

    Parameters
    ----------
    value : Any
        A number.
    digits : int
        Decimals.

    Returns
    -------
    str
        Plain text.
    """
    return H.format_value(value, digits) if not H._missing(value) else "n/a"


def interval_text(low: Any, high: Any, level: Any = None, kind: Any = None) -> str:
    """``"[0.601, 0.652]"`` (with ``" (95%)"`` after it when the level is given).

    Parameters
    ----------
    low, high : Any
        Interval bounds.
    level : Any, optional
        Confidence level.
    kind : Any, optional
        The interval's kind (a fit's ``interval_kind``): ``"one_sided"`` says so.

    Returns
    -------
    str
        Plain text; ``"(no interval)"`` when a bound is missing.
    """
    if H._missing(low) or H._missing(high):
        return "(no interval)"
    pct = f" ({round(100 * float(level))}%)" if level is not None and not H._missing(level) else ""
    if kind == "one_sided":
        pct = (
            f" ({pct.strip(' ()') + ', ' if pct else ''}one-sided: the data do not bound it above)"
        )
    return f"[{fmt(low)}, {fmt(high)}]{pct}"


def saturation_text(row: Mapping[Any, Any]) -> str:
    """One sentence on where a group's fit saturates, how far it extrapolates, or why no fit.

    An ok fit's flags follow the sentence (its message is shown beside it by the callers).

    Parameters
    ----------
    row : dict
        A row of :attr:`transferscope.report.groups.GroupIndex.table`.

    Returns
    -------
    str
        Plain text.
    """
    status = row.get("status")
    if status != "ok":
        return f"No fit ({status}): {row.get('message') or 'no reason recorded'}"
    # the flags only: the cards and captions show the fit's message beside this sentence
    note = flags_text(row.get("flags"))
    return _saturation(row) + (f" {note}" if note else "")


def _saturation(row: Mapping[Any, Any]) -> str:
    ci = interval_text(
        row.get("plateau_ci_low"),
        row.get("plateau_ci_high"),
        row.get("ci_level"),
        row.get("interval_kind"),
    )
    plateau = f"plateau {fmt(row.get('plateau'))} {ci}"
    sat, lower = row.get("saturates"), bool(row.get("upstream_lower"))
    best = row.get("upstream_min") if lower else row.get("upstream_max")
    point = row.get("saturation_point")
    if sat is True:
        return (
            f"Saturates within the data: {plateau}, reached (within 0.01) from upstream "
            f"{fmt(point)}; the best observed upstream score is {fmt(best)}."
        )
    if sat is False:
        where = (
            f"only at upstream {fmt(point)}, {fmt(row.get('extrapolation'))} beyond the best "
            f"observed {fmt(best)}"
            if not H._missing(point)
            else f"nowhere near the best observed upstream score {fmt(best)}"
        )
        return (
            f"No saturation within the data: the curve comes within 0.01 of its {plateau} {where}."
        )
    return f"Fitted: {plateau}."


def slope_text(row: Mapping[Any, Any]) -> str:
    """One sentence on the slope at the top of the data.

    Parameters
    ----------
    row : dict
        A row of the group table.

    Returns
    -------
    str
        Plain text.
    """
    if row.get("slope_status") != "ok":
        return f"Slope at the top: none ({row.get('slope_message') or 'no runs with both scores'})."
    ci = interval_text(row.get("slope_ci_low"), row.get("slope_ci_high"), row.get("ci_level"))
    return (
        f"Slope at the top: {fmt(row.get('slope'))} {ci} over the best {int(row['n_top'])} runs "
        f"(upstream {fmt(row.get('top_upstream_min'))}–{fmt(row.get('top_upstream_max'))})."
    )


def _bounds(metric: Any) -> tuple[float, float] | None:
    unit = metric_unit(metric)
    return (0.0, 1.0) if unit in ("fraction correct", "0 to 1") else None


def _extend(row: Mapping[Any, Any], lo: float, hi: float, lower: bool) -> float:
    """Upstream score up to which a curve is drawn beyond the data (toward better scores)."""
    span = max(hi - lo, 0.05)
    point = _num(row.get("saturation_point"))
    reach = 0.6 * span
    if lower:
        target = lo - reach
        if math.isfinite(point):
            target = max(target, min(lo, point))
        return max(target, 0.0)
    target = hi + reach
    if math.isfinite(point):
        target = min(target, max(hi, point))
    return min(target, 1.0)


def _curves(
    fit_rows: Sequence[Mapping[Any, Any]], lo: float, hi: float, extend: float
) -> list[Curve]:
    from transferscope.frontier import get_family

    a, b = min(lo, extend), max(hi, extend)
    grid = np.union1d(np.linspace(a, b, CURVE_POINTS), [lo, hi])
    out = []
    for row in fit_rows:
        if row.get("status") != "ok":
            continue
        fam = get_family(str(row["family"]))
        theta = np.array([_num(row.get(f"param_{p}")) for p in fam.names], dtype=float)
        with np.errstate(all="ignore"):
            y = np.asarray(fam.evaluate(grid, theta), dtype=float)
        out.append(
            Curve(
                str(row["family"]),
                grid,
                y,
                _num(row.get("plateau")),
                _num(row.get("plateau_ci_low")),
                _num(row.get("plateau_ci_high")),
            )
        )
    return out


def _num(value: Any) -> float:
    return math.nan if H._missing(value) or value is pd.NA else float(value)


def _single(values: np.ndarray) -> Any:
    found = {v for v in values.tolist() if v is not None}
    return next(iter(found)) if len(found) == 1 else None


def group_payload(
    row: Mapping[Any, Any],
    arrays: dict[str, np.ndarray],
    fit_rows: Sequence[Mapping[Any, Any]],
    *,
    names: Names | None = None,
    held_out: Marks | None = None,
    frontier: Marks | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Make the chart payload of one group (see :func:`frontier_charts.payload`).

    Parameters
    ----------
    row : dict
        The group's row of the group table.
    arrays : dict of str to numpy.ndarray
        The group's runs (:meth:`transferscope.report.groups.GroupIndex.group_arrays`).
    fit_rows : sequence of dict
        Its fits, the selected one first.
    names : Names, optional
        The page's list of names (models travel as codes).
    held_out, frontier : Marks, optional
        Backtest and frontier points, when the group was refitted.
    seed : int
        Seed of the sample of runs drawn when there are very many.

    Returns
    -------
    dict
        The payload.
    """
    x, y = arrays["upstream_score"], arrays["downstream_score"]
    keep = np.isfinite(x) & np.isfinite(y) & arrays["pretrained"]
    x, y = x[keep], y[keep]
    up_metric = _single(arrays["upstream_metric"][keep])
    down_metric = _single(arrays["downstream_metric"])
    up_task = _single(arrays["upstream_task"][keep])
    x_lower, y_lower = lower_is_better(up_metric), lower_is_better(down_metric)
    curves: list[Curve] = []
    extend = None
    if x.size and any(r.get("status") == "ok" for r in fit_rows):
        lo, hi = float(x.min()), float(x.max())
        extend = _extend(row, lo, hi, x_lower)
        curves = _curves(fit_rows, lo, hi, extend)
    ups = sorted({str(m) for m in arrays["upstream_metric"][keep] if m is not None})
    downs = sorted({str(m) for m in arrays["downstream_metric"] if m is not None})
    x_title = score_axis_title("Upstream", ups, [up_task] if up_task else [])
    y_title = score_axis_title("Downstream", downs)
    x_short = short_axis_title("upstream", ups) + (f" ({up_task})" if up_task else "")
    y_short = short_axis_title("downstream", downs)
    if x_lower:
        x_title += ", reversed"
    if y_lower:
        y_title += ", reversed"
    n_ok = len(curves)
    chosen = f" (chosen of {n_ok} families)" if n_ok > 1 else ""
    ci = interval_text(
        row.get("plateau_ci_low"),
        row.get("plateau_ci_high"),
        row.get("ci_level"),
        row.get("interval_kind"),
    )
    head = (
        f"{row.get('fit_family')} fit{chosen}, {frontier_label(row)} · plateau "
        f"{fmt(row.get('plateau'))} {ci}"
        if row.get("status") == "ok"
        else f"not fitted: {row.get('status')}"
    )
    return payload(
        x,
        y,
        models=list(arrays["model"][keep]),
        curves=curves,
        frontier=frontier,
        held_out=held_out,
        title=[str(row.get("label", "")), head],
        x_title=x_title,
        y_title=y_title,
        x_lower=x_lower,
        y_lower=y_lower,
        x_bounds=_bounds(up_metric),
        y_bounds=_bounds(down_metric),
        x_extend=extend,
        names=names,
        seed=seed,
        short_titles=(x_short, y_short),
    )


def refit_points(
    row: Mapping[Any, Any], arrays: dict[str, np.ndarray], *, seed: int
) -> tuple[Marks | None, Marks | None]:
    """Frontier points (hull and Pareto fits) and backtest points of a group, by a point refit.

    Parameters
    ----------
    row : dict
        The group's row (its selected family and frontier).
    arrays : dict of str to numpy.ndarray
        The group's runs.
    seed : int
        Seed (the point fit does not resample).

    Returns
    -------
    (Marks or None, Marks or None)
        Frontier points and held-out points, named by model where the scores match one.
    """
    from transferscope.frontier import fit_group

    if row.get("status") != "ok":
        return None, None
    x, y = arrays["upstream_score"], arrays["downstream_score"]
    keep = np.isfinite(x) & np.isfinite(y) & arrays["pretrained"]
    group = pd.DataFrame(
        {"upstream_score": x[keep], "downstream_score": y[keep], "model": arrays["model"][keep]}
    )
    up = _single(arrays["upstream_metric"][keep])
    down = _single(arrays["downstream_metric"])
    result = fit_group(
        group["upstream_score"].to_numpy(dtype=float),
        group["downstream_score"].to_numpy(dtype=float),
        family=str(row["fit_family"]),
        settings=stored_settings(row),
        frontier=str(row["frontier"]),
        fallback="none",
        bootstrap=0,
        interval="bootstrap",
        seed=seed,
        upstream_metric=None if up is None else str(up),
        downstream_metric=None if down is None else str(down),
    )
    front, held = _result_points(result, group)
    return _as_marks(front), _as_marks(held)


def _as_marks(frame: pd.DataFrame | None) -> Marks | None:
    if frame is None or frame.empty:
        return None
    return Marks(
        frame["upstream_score"].to_numpy(dtype=float),
        frame["downstream_score"].to_numpy(dtype=float),
        frame["model"].astype(str).tolist() if "model" in frame else None,
        frame["predicted"].to_numpy(dtype=float) if "predicted" in frame else None,
    )


def _result_points(
    result: FrontierResult, runs: pd.DataFrame | None
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Frontier points (hull and Pareto only) and held-out points, named by model when known."""
    if not result.ok:
        return None, None
    frontier_pts = None
    held = result.backtest_points()
    if result.frontier in ("hull", "pareto"):
        fp = result.frontier_points()
        frontier_pts = fp[fp["on_frontier"]]
    if runs is not None and "model" in runs:
        names = runs[["upstream_score", "downstream_score", "model"]].drop_duplicates(
            subset=["upstream_score", "downstream_score"]
        )
        on = ["upstream_score", "downstream_score"]
        held = held.merge(names, on=on, how="left")
        if frontier_pts is not None:
            frontier_pts = frontier_pts.merge(names, on=on, how="left")
    return frontier_pts, held


def frontier_result_chart(
    result: FrontierResult | Sequence[FrontierResult],
    runs: pd.DataFrame | None = None,
    *,
    title: str | Sequence[str] | None = None,
    x_title: str = "Upstream score",
    y_title: str = "Downstream score",
    seed: int = 0,
) -> alt.LayerChart:
    """Chart of one group's fit(s): runs, frontier points, curves, plateau band and backtest.

    Parameters
    ----------
    result : FrontierResult or sequence of FrontierResult
        Fits of one group (from :func:`transferscope.frontier.fit_group`); with several (e.g.
        one per family), the first gives the frontier and backtest points and every one its
        curve and plateau.
    runs : pandas.DataFrame, optional
        The group's runs (``upstream_score``, ``downstream_score``, optionally ``model`` for the
        tooltips); by default the points stored in the first result.
    title : str or sequence of str, optional
        Chart title (default: family, frontier and plateau of the first result).
    x_title, y_title : str
        Axis titles, with units.
    seed : int
        Seed of the sample drawn when there are more than 5,000 runs.

    Returns
    -------
    altair.LayerChart
        The large frontier chart (see :mod:`transferscope.report.frontier_charts`).
    """
    results = [result] if not isinstance(result, Sequence) else list(result)
    if not results:
        raise InputError("frontier_result_chart needs at least one fit")
    main = results[0]
    points = (
        pd.DataFrame({"upstream_score": main.x, "downstream_score": main.y})
        if runs is None
        else runs[runs["upstream_score"].notna() & runs["downstream_score"].notna()]
    )
    frontier_pts, held = _result_points(main, runs)
    ok = [r for r in results if r.ok]
    curves = (
        pd.concat(
            [
                r.curve(CURVE_POINTS)
                .rename(columns={"predicted": "downstream_score"})
                .assign(family=r.family)
                for r in ok
            ],
            ignore_index=True,
        )
        if ok
        else None
    )
    plateaus = pd.DataFrame(
        {
            "family": [r.family for r in ok],
            "plateau": [r.plateau for r in ok],
            "plateau_ci_low": [r.plateau_ci_low for r in ok],
            "plateau_ci_high": [r.plateau_ci_high for r in ok],
        }
    )
    if title is None:
        used = frontier_label(
            {
                "frontier": main.frontier,
                "requested_frontier": main.requested_frontier,
                "flags": main.flags,
            }
        )
        ci = interval_text(
            main.plateau_ci_low, main.plateau_ci_high, main.ci_level, main.interval_kind
        )
        title = (
            f"{main.family} fit, {used} · plateau {fmt(main.plateau)} {ci}"
            if main.ok
            else f"{main.family} fit, {used}: {main.status} ({main.message})"
        )
    xs = points["upstream_score"].to_numpy(dtype=float)
    extend = float(np.nanmax(xs)) if xs.size else None
    if curves is not None and extend is not None:
        extend = float(curves["upstream_score"].max())
        lo = float(np.nanmin(xs))
        extend = min(extend, float(np.nanmax(xs)) + 0.6 * max(float(np.nanmax(xs)) - lo, 0.05))
    payload = frontier_payload(
        points,
        curves=curves,
        plateaus=plateaus if ok else None,
        frontier=frontier_pts,
        held_out=held,
        title=title,
        x_title=x_title,
        y_title=y_title,
        x_extend=extend,
        seed=seed,
    )
    return alt.LayerChart.from_dict(fill(frontier_template("large"), payload))
