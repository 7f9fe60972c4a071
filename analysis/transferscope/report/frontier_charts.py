"""The frontier chart of one group, as a template (built once) and a payload (one per group).

What a group chart shows, layer by layer: the plateau's interval as a bar at the right edge and
the plateau as a dashed rule (both clipped to the plotting area), the runs as grey dots, the
fitted frontier as a solid line over the range of the data and dashed where it extrapolates
beyond the best observed upstream score, frontier points (hull and Pareto fits), held-out
backtest points as red diamonds, and a note in the corner when the plateau lies outside the
plotted range. Colour and shape encode the series on one legend, so that the legend draws what
the chart draws.

The axes are the metrics' own: their range is the data's (padded, and kept inside [0, 1] for
fractions), not the interval's, and an axis whose metric is better when lower is reversed, so
that up and right are always better.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import altair as alt
import numpy as np
import pandas as pd

from transferscope.report.templates import Names, compact, placeholder

#: Series that are not fitted curves, with colour and shape.
RUNS_SERIES = "runs"
FRONTIER_SERIES = "frontier points"
HELD_OUT_SERIES = "held out (backtest)"
_POINT_STYLE = {
    RUNS_SERIES: ("#9a9a9a", "circle"),
    FRONTIER_SERIES: ("#222222", "circle"),
    HELD_OUT_SERIES: ("#d62728", "diamond"),
}
CURVE_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#9d755d", "#e45756")
#: Dataset names of the template, in layer order.
DATASETS = ("band", "plateau", "runs", "curve", "extrapolated", "frontier", "held", "notes")

Size = Literal["small", "large"]
_SIZES: dict[str, tuple[int, int]] = {"small": (230, 150), "large": (420, 280)}
_FMT = ".3f"


def curve_label(family: str) -> str:
    """Legend label of a fitted family's curve, e.g. ``"abnar fit"``.

    Parameters
    ----------
    family : str
        Name of the saturating family.

    Returns
    -------
    str
        The label of the curve, its plateau rule and its interval band.
    """
    return f"{family} fit"


@functools.lru_cache(maxsize=4)
def _template(size: str) -> dict[str, Any]:
    width, height = _SIZES[size]
    small = size == "small"
    x_title = placeholder("x_short" if small else "x_title")
    y_title = placeholder("y_short" if small else "y_title")
    x = alt.X("upstream_score:Q", title=x_title)
    y = alt.Y("downstream_score:Q", title=y_title)
    color = alt.Color("series:N", title=None)
    shape = alt.Shape("series:N", title=None)
    tip_runs = [
        alt.Tooltip("model:N", title="model"),
        alt.Tooltip("upstream_score:Q", title="upstream", format=_FMT),
        alt.Tooltip("downstream_score:Q", title="downstream", format=_FMT),
    ]
    tip_plateau = [
        alt.Tooltip("series:N", title="curve"),
        alt.Tooltip("plateau:Q", title="plateau", format=_FMT),
        alt.Tooltip("plateau_ci_low:Q", title="interval low", format=_FMT),
        alt.Tooltip("plateau_ci_high:Q", title="interval high", format=_FMT),
    ]
    tip_curve = [
        alt.Tooltip("series:N", title="curve"),
        alt.Tooltip("upstream_score:Q", title="upstream", format=_FMT),
        alt.Tooltip("downstream_score:Q", title="predicted", format=_FMT),
    ]
    tip_held = [
        alt.Tooltip("model:N", title="model"),
        alt.Tooltip("upstream_score:Q", title="upstream", format=_FMT),
        alt.Tooltip("downstream_score:Q", title="observed", format=_FMT),
        alt.Tooltip("predicted:Q", title="predicted by the fit", format=_FMT),
    ]

    def data(name: str) -> alt.NamedData:
        return alt.NamedData(name=name)

    layers = [
        # the plateau's interval: a bar at the right edge (the best upstream side), so that a
        # wide interval never covers the data
        alt.Chart(data("band"))
        .mark_rule(strokeWidth=5 if small else 7, opacity=0.45, clip=True, strokeCap="butt")
        .encode(x=alt.XValue(alt.ExprRef(expr="width - 4")),
                y=alt.Y("plateau_ci_low:Q", title=y_title),
                y2="plateau_ci_high:Q", color=color, tooltip=tip_plateau),
        alt.Chart(data("plateau"))
        .mark_rule(strokeDash=[6, 4], strokeWidth=1.5, clip=True)
        .encode(y=alt.Y("plateau:Q", title=y_title), color=color,
                tooltip=tip_plateau),
        alt.Chart(data("runs"))
        .mark_point(filled=True, size=16 if small else 22, opacity=0.45, clip=True)
        .encode(x=x, y=y, color=color, shape=shape, tooltip=tip_runs),
        alt.Chart(data("curve"))
        .mark_line(strokeWidth=2, clip=True)
        .encode(x=x, y=y, color=color, detail="series:N", order="upstream_score:Q",
                tooltip=tip_curve),
        alt.Chart(data("extrapolated"))
        .mark_line(strokeWidth=2, strokeDash=[4, 3], clip=True)
        .encode(x=x, y=y, color=color, detail="series:N", order="upstream_score:Q",
                tooltip=tip_curve),
        alt.Chart(data("frontier"))
        .mark_point(filled=True, size=40, opacity=1, clip=True)
        .encode(x=x, y=y, color=color, shape=shape, tooltip=tip_runs),
        alt.Chart(data("held"))
        .mark_point(filled=True, size=30 if small else 36, opacity=0.55, clip=True)
        .encode(x=x, y=y, color=color, shape=shape, tooltip=tip_held),
        alt.Chart(data("notes"))
        .mark_text(align="left", baseline="top", fontSize=10 if small else 11, color="#555555",
                   dx=4, dy=4)
        .encode(x=alt.value(0), y=alt.value(0), text="text:N"),
    ]  # fmt: skip
    chart = alt.LayerChart(layer=layers).properties(width=width, height=height)
    if not small:
        chart = chart.properties(
            title=alt.TitleParams(text=placeholder("title"), anchor="start", fontSize=13)
        )
    if small:
        chart = chart.configure_legend(disable=True).configure_axis(
            titleFontSize=10, labelFontSize=9, titleFontWeight="normal"
        )
    else:
        chart = chart.configure_legend(
            orient="bottom", columns=3, symbolLimit=0, symbolOpacity=1, labelLimit=220
        )
    spec = chart.to_dict()
    spec.pop("datasets", None)
    for layer in spec["layer"]:
        enc = layer.get("encoding", {})
        for channel, name in (("x", "x_scale"), ("y", "y_scale"), ("color", "color_scale"),
                              ("shape", "shape_scale")):  # fmt: skip
            if channel in enc and "field" in enc[channel]:
                enc[channel]["scale"] = placeholder(name)
        if "x" in enc and "field" in enc["x"]:
            enc["x"]["axis"] = {"tickCount": 5 if small else 6, "labelOverlap": True}
    return spec


def frontier_template(size: Size = "large") -> dict[str, Any]:
    """Return the frontier chart's template (Vega-Lite with placeholders), built once per size.

    Parameters
    ----------
    size : {"small", "large"}
        ``small``: 230 x 150 pixels, short axis titles, no title, no legend (a panel of small
        multiples);
        ``large``: 420 x 280 pixels, title and legend.

    Returns
    -------
    dict
        A fresh copy; placeholders ``x_title``, ``y_title``, ``title`` (large), ``x_short``,
        ``y_short`` (small),
        ``x_scale``, ``y_scale``, ``color_scale``, ``shape_scale``; datasets :data:`DATASETS`.
    """
    import copy

    return copy.deepcopy(_template(size))


def _pad(lo: float, hi: float, bounds: tuple[float, float] | None) -> list[float]:
    span = hi - lo
    if not math.isfinite(span) or span <= 0:
        span = max(abs(hi), 1.0) * 0.1
    lo, hi = lo - 0.04 * span, hi + 0.04 * span
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return [float(f"{lo:.5g}"), float(f"{hi:.5g}")]


@dataclass(frozen=True)
class Curve:
    """One fitted curve on a grid, with its plateau and interval (for a payload).

    Parameters
    ----------
    family : str
        The family's name.
    x, y : numpy.ndarray
        Grid of upstream scores and the curve's values.
    plateau, plateau_ci_low, plateau_ci_high : float
        Plateau and interval (NaN when missing).
    """

    family: str
    x: np.ndarray
    y: np.ndarray
    plateau: float = math.nan
    plateau_ci_low: float = math.nan
    plateau_ci_high: float = math.nan


@dataclass(frozen=True)
class Marks:
    """Points drawn over the runs: frontier points or held-out backtest points.

    Parameters
    ----------
    x, y : numpy.ndarray
        Upstream and downstream scores.
    models : sequence of str, optional
        Their model names.
    predicted : numpy.ndarray, optional
        The backtest's predictions.
    """

    x: np.ndarray
    y: np.ndarray
    models: Sequence[str] | None = None
    predicted: np.ndarray | None = None


def _columns(x: Any, y: Any, series: Any, models: Any, names: Names | None) -> dict[str, Any]:
    cols: dict[str, Any] = {
        "upstream_score": compact(x),
        "downstream_score": compact(y),
        "series": series,
    }
    if models is not None and len(models):
        labels = [str(m) for m in models]
        cols["model"] = names.codes(labels) if names is not None else labels
    return cols


def payload(
    x: np.ndarray,
    y: np.ndarray,
    *,
    models: Sequence[str] | None = None,
    curves: Sequence[Curve] = (),
    frontier: Marks | None = None,
    held_out: Marks | None = None,
    title: str | Sequence[str] = "",
    x_title: str = "Upstream score",
    y_title: str = "Downstream score",
    x_lower: bool = False,
    y_lower: bool = False,
    x_bounds: tuple[float, float] | None = (0.0, 1.0),
    y_bounds: tuple[float, float] | None = (0.0, 1.0),
    x_extend: float | None = None,
    names: Names | None = None,
    max_points: int = 5000,
    seed: int = 0,
    short_titles: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Make the values and datasets of one group's chart (see :func:`frontier_template`).

    Parameters
    ----------
    x, y : numpy.ndarray
        Upstream and downstream scores of the group's runs (pairs with a missing score are
        left out).
    models : sequence of str, optional
        The runs' model names (tooltips).
    curves : sequence of Curve
        Fitted curves (the selected fit first). The part of a curve within the data's upstream
        range is drawn solid, the part beyond it (up to ``x_extend``) dashed.
    frontier, held_out : Marks, optional
        Frontier points (hull, Pareto) and held-out backtest points.
    title : str or sequence of str
        Title lines (large charts).
    x_title, y_title : str
        Axis titles.
    x_lower, y_lower : bool
        The metric is better when lower: the axis is reversed (better is right / up).
    x_bounds, y_bounds : (float, float) or None
        Range the axis may not leave (``(0, 1)`` for fractions; None for losses); ignored when
        the scores do not lie within it.
    x_extend : float, optional
        Upstream score up to which extrapolated curves are drawn (beyond the best observed).
    names : Names, optional
        The page's list of names: models are sent as codes into it.
    max_points : int
        At most this many runs are drawn (a seeded sample when there are more).
    seed : int
        Seed of that sample.
    short_titles : (str, str), optional
        Axis titles of the small chart (default: the axis titles).

    Returns
    -------
    dict
        ``{"values": {...}, "datasets": {...}}`` for :func:`transferscope.report.templates.fill`.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    idx = np.nonzero(keep)[0]
    if idx.size > max_points:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(idx, size=max_points, replace=False))
    xs, ys = x[idx], y[idx]
    run_models = [models[int(i)] for i in idx] if models is not None else None
    x_lo, x_hi = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0)
    y_lo, y_hi = (float(ys.min()), float(ys.max())) if ys.size else (0.0, 1.0)
    # bounds hold only scores that respect them (a loss passed as a fraction keeps its axis)
    if x_bounds is not None and not (x_bounds[0] <= x_lo and x_hi <= x_bounds[1]):
        x_bounds = None
    if y_bounds is not None and not (y_bounds[0] <= y_lo and y_hi <= y_bounds[1]):
        y_bounds = None
    view_x = [x_lo, x_hi]
    if x_extend is not None and math.isfinite(x_extend):
        view_x = [min(x_lo, x_extend), max(x_hi, x_extend)]
    x_dom = _pad(view_x[0], view_x[1], x_bounds)

    series: list[str] = [RUNS_SERIES]
    datasets: dict[str, dict[str, Any]] = {name: {} for name in DATASETS}
    datasets["runs"] = _columns(xs, ys, RUNS_SERIES, run_models, names)
    for what, marks, name in (("frontier", frontier, FRONTIER_SERIES),
                              ("held", held_out, HELD_OUT_SERIES)):  # fmt: skip
        if marks is None or len(marks.x) == 0:
            continue
        series.append(name)
        datasets[what] = _columns(marks.x, marks.y, name, marks.models, names)
        if marks.predicted is not None:
            datasets[what]["predicted"] = compact(marks.predicted)

    view_y = [y_lo, y_hi]
    notes: list[str] = []
    solid_parts, dashed_parts = [], []
    span = max(y_hi - y_lo, 0.02)
    for c in curves:
        cx, cy = np.asarray(c.x, dtype=float), np.asarray(c.y, dtype=float)
        show = (cx >= x_dom[0]) & (cx <= x_dom[1]) & np.isfinite(cy)
        inside = show & (cx >= x_lo) & (cx <= x_hi)
        # the extrapolated part starts where the data end, so that the two lines join
        edge = np.isclose(cx, x_lo if x_lower else x_hi)
        outside = show & (~inside | edge)
        label = curve_label(c.family)
        solid_parts.append((cx[inside], cy[inside], label))
        dashed_parts.append((cx[outside], cy[outside], label))
        near = cy[inside][(cy[inside] >= y_lo - 0.25 * span) & (cy[inside] <= y_hi + 0.25 * span)]
        if near.size:
            view_y = [min(view_y[0], float(near.min())), max(view_y[1], float(near.max()))]
    for name, parts in (("curve", solid_parts), ("extrapolated", dashed_parts)):
        if parts:
            datasets[name] = {
                "upstream_score": compact(np.concatenate([p[0] for p in parts])),
                "downstream_score": compact(np.concatenate([p[1] for p in parts])),
                "series": [p[2] for p in parts for _ in range(len(p[0]))],
            }
    if curves:
        main = curves[0]
        p = float(main.plateau)
        span = max(view_y[1] - view_y[0], 0.02)
        if math.isfinite(p):
            if view_y[0] - span <= p <= view_y[1] + span:
                view_y = [min(view_y[0], p), max(view_y[1], p)]
            else:
                where = "above" if (p > view_y[1]) != y_lower else "below"
                notes.append(f"plateau {p:.3f} lies {where} the chart")
        plat = [c for c in curves if math.isfinite(float(c.plateau))]
        band = [c for c in plat if math.isfinite(float(c.plateau_ci_low))
                and math.isfinite(float(c.plateau_ci_high))]  # fmt: skip
        for name, chosen in (("plateau", plat), ("band", band)):
            datasets[name] = {
                "plateau": compact([c.plateau for c in chosen]),
                "plateau_ci_low": compact([c.plateau_ci_low for c in chosen]),
                "plateau_ci_high": compact([c.plateau_ci_high for c in chosen]),
                "series": [curve_label(c.family) for c in chosen],
            }
    y_dom = _pad(view_y[0], view_y[1], y_bounds)
    if notes:
        datasets["notes"] = {"text": notes}
    families = list(dict.fromkeys(c.family for c in curves))
    domain = list(series)
    colors = [_POINT_STYLE[s][0] for s in series]
    shapes = [_POINT_STYLE[s][1] for s in series]
    for i, fam in enumerate(families):
        domain.append(curve_label(fam))
        colors.append(CURVE_COLORS[i % len(CURVE_COLORS)])
        shapes.append("stroke")
    values = {
        "title": [str(t) for t in ([title] if isinstance(title, str) else title)],
        "x_title": x_title,
        "y_title": y_title,
        "x_short": (short_titles or (x_title, y_title))[0],
        "y_short": (short_titles or (x_title, y_title))[1],
        "x_scale": {"domain": x_dom, "reverse": bool(x_lower), "nice": False, "zero": False},
        "y_scale": _y_scale(y_dom, ys, y_lower),
        "color_scale": {"domain": domain, "range": colors},
        "shape_scale": {"domain": domain, "range": shapes},
    }
    return {"values": values, "datasets": datasets}


def _y_scale(domain: list[float], ys: np.ndarray, lower: bool) -> dict[str, Any]:
    """Scale the y axis linearly, or by logarithm for a wide-ranging perplexity-like metric."""
    scale: dict[str, Any] = {"domain": domain, "reverse": bool(lower), "nice": False,
                             "zero": False}  # fmt: skip
    if lower and ys.size and float(ys.min()) > 0 and float(ys.max()) / float(ys.min()) > 100:
        lo, hi = float(ys.min()), float(ys.max())
        scale.update(type="log", domain=[float(f"{lo / 1.2:.5g}"), float(f"{hi * 1.2:.5g}")])
    return scale


def _num(value: Any) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


def _marks(frame: pd.DataFrame | None) -> Marks | None:
    if frame is None or frame.empty:
        return None
    return Marks(
        frame["upstream_score"].to_numpy(dtype=float),
        frame["downstream_score"].to_numpy(dtype=float),
        frame["model"].astype(str).tolist() if "model" in frame else None,
        frame["predicted"].to_numpy(dtype=float) if "predicted" in frame else None,
    )


def frontier_payload(
    points: pd.DataFrame,
    *,
    curves: pd.DataFrame | None = None,
    plateaus: pd.DataFrame | None = None,
    frontier: pd.DataFrame | None = None,
    held_out: pd.DataFrame | None = None,
    **options: Any,
) -> dict[str, Any]:
    """:func:`payload` from DataFrames.

    Parameters
    ----------
    points : pandas.DataFrame
        Runs: ``upstream_score``, ``downstream_score`` and optionally ``model``.
    curves : pandas.DataFrame, optional
        ``family``, ``upstream_score``, ``downstream_score``: each fitted curve on a grid.
    plateaus : pandas.DataFrame, optional
        ``family``, ``plateau``, ``plateau_ci_low``, ``plateau_ci_high`` (the selected fit
        first).
    frontier, held_out : pandas.DataFrame, optional
        ``upstream_score``, ``downstream_score``, optionally ``model`` and ``predicted``.
    **options
        The keyword options of :func:`payload`.

    Returns
    -------
    dict
        The payload.
    """
    plats = {} if plateaus is None else {str(r["family"]): r for r in plateaus.to_dict("records")}
    order = list(plats)
    if curves is not None:
        order += [str(f) for f in curves["family"].unique() if str(f) not in plats]
    made = []
    for fam in order:
        part = (
            curves[curves["family"].astype(str) == fam].sort_values("upstream_score")
            if curves is not None
            else None
        )
        row = plats.get(fam, {})
        made.append(
            Curve(
                fam,
                part["upstream_score"].to_numpy(dtype=float) if part is not None else np.zeros(0),
                part["downstream_score"].to_numpy(dtype=float) if part is not None else np.zeros(0),
                _num(row.get("plateau")),
                _num(row.get("plateau_ci_low")),
                _num(row.get("plateau_ci_high")),
            )
        )
    return payload(
        points["upstream_score"].to_numpy(dtype=float),
        points["downstream_score"].to_numpy(dtype=float),
        models=points["model"].astype(str).tolist() if "model" in points else None,
        curves=made,
        frontier=_marks(frontier),
        held_out=_marks(held_out),
        **options,
    )
