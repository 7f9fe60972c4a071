"""Chart builders: each takes tidy DataFrames and returns an Altair chart, never displays it.

The builders know nothing about the store or the fitting engines; :mod:`transferscope.report.build`
turns their results into the frames these functions take. User-supplied names (tasks, methods,
models) only ever travel as data values, never as field names or expressions, so Vega renders them
as text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import altair as alt
import numpy as np
import pandas as pd

#: Categorical palette (Tableau 10), used in a fixed order so that colours are stable.
PALETTE: tuple[str, ...] = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
    "#eeca3b",
)

#: Method label of a scratch baseline shared by all methods of a task.
SCRATCH_LABEL = "no pretraining (all methods)"

#: Width of the plotting area of a single chart, in pixels.
WIDTH = 420
HEIGHT = 280


def frontier_chart(
    points: pd.DataFrame,
    *,
    frontier: pd.DataFrame | None = None,
    curves: pd.DataFrame | None = None,
    plateaus: pd.DataFrame | None = None,
    held_out: pd.DataFrame | None = None,
    title: str | Sequence[str] = "",
    x_title: str = "Upstream score",
    y_title: str = "Downstream score",
    x_lower: bool = False,
    y_lower: bool = False,
    max_points: int = 5000,
    seed: int = 0,
    size: Literal["small", "large"] = "large",
) -> alt.LayerChart:
    """Scatter of one group's runs with its frontier, fitted curves, plateaus and backtest.

    The chart of :mod:`transferscope.report.frontier_charts` (the report draws every group
    with it), filled with these frames.

    Parameters
    ----------
    points : pandas.DataFrame
        Runs of the group: ``upstream_score``, ``downstream_score`` and optionally ``model``.
    frontier : pandas.DataFrame, optional
        Frontier points the curves were fitted to: ``upstream_score``, ``downstream_score`` and
        optionally ``model``.
    curves : pandas.DataFrame, optional
        Fitted curves: ``family``, ``upstream_score``, ``downstream_score`` (predictions on a
        grid). The part within the runs' upstream range is drawn solid, the rest dashed.
    plateaus : pandas.DataFrame, optional
        One row per family: ``family``, ``plateau``, ``plateau_ci_low``, ``plateau_ci_high``
        (the interval may be missing); the first row is the selected fit.
    held_out : pandas.DataFrame, optional
        Points held out by the backtest: ``upstream_score``, ``downstream_score`` and
        optionally ``predicted`` and ``model``.
    title : str or sequence of str
        Chart title (a sequence gives several lines).
    x_title, y_title : str
        Axis titles, with units.
    x_lower, y_lower : bool
        The axis' metric is better when lower (the axis is reversed).
    max_points : int
        At most this many runs are drawn (a seeded sample when there are more).
    seed : int
        Seed of that sample.
    size : {"small", "large"}
        The template drawn.

    Returns
    -------
    altair.LayerChart
        Layers, in order: the plateau interval (a bar at the right edge), plateau rules, runs,
        fitted curves over the data, their extrapolation, frontier points, held-out points and
        a note when the plateau lies off the chart. Colour and shape encode the series
        (``runs``, ``frontier points``, ``held out (backtest)``, ``<family> fit``) on one legend.
    """
    from transferscope.report.frontier_charts import frontier_payload, frontier_template
    from transferscope.report.templates import fill

    xs = points["upstream_score"].to_numpy(dtype=float)
    extend = None
    if curves is not None and not curves.empty and np.isfinite(xs).any():
        edge = float(np.nanmin(xs)) if x_lower else float(np.nanmax(xs))
        far = curves["upstream_score"].min() if x_lower else curves["upstream_score"].max()
        extend = float(far) if np.isfinite(far) else edge
    payload = frontier_payload(
        points,
        curves=curves,
        plateaus=plateaus,
        frontier=frontier,
        held_out=held_out,
        title=title,
        x_title=x_title,
        y_title=y_title,
        x_lower=x_lower,
        y_lower=y_lower,
        x_extend=extend,
        max_points=max_points,
        seed=seed,
    )
    return alt.LayerChart.from_dict(fill(frontier_template(size), payload))


def _title(title: str | Sequence[str]) -> alt.TitleParams:
    text: str | list[str] = title if isinstance(title, str) else [str(t) for t in title]
    return alt.TitleParams(text=text, anchor="start", fontSize=13)


def forest_chart(
    pooled: pd.DataFrame,
    per_task: pd.DataFrame | None = None,
    *,
    title: str | Sequence[str] = "",
    x_title: str = "Pooled estimate",
    reference: float | None = None,
) -> alt.LayerChart:
    """Forest plot: the pooled estimate per method with its interval, and the per-task values.

    Parameters
    ----------
    pooled : pandas.DataFrame
        One row per method, best first: ``method``, ``estimate``, ``ci_low``, ``ci_high``.
    per_task : pandas.DataFrame, optional
        ``method``, ``task``, ``estimate`` and optionally ``ci_low``, ``ci_high``: the values that
        were pooled, drawn as thin grey rows inside each method's band.
    title : str or sequence of str
        Chart title.
    x_title : str
        Title of the estimate axis, with units.
    reference : float, optional
        Draw a vertical reference line here (e.g. 0 for "no gain over scratch").

    Returns
    -------
    altair.LayerChart
        Methods on the y axis in the order of ``pooled``; pooled estimates as black diamonds with
        their interval, per-task values as grey points (offset by task) with theirs.
    """
    order = [str(m) for m in pooled["method"].tolist()]
    y = alt.Y("method:N", title=None, sort=order, axis=alt.Axis(labelLimit=220))
    n_tasks = 0 if per_task is None else int(per_task["task"].nunique())
    band = max(30, min(6 * n_tasks + 14, 90))
    layers: list[alt.Chart] = []
    if reference is not None:
        layers.append(
            alt.Chart(pd.DataFrame({"reference": [float(reference)]}))
            .mark_rule(color="#888888", strokeDash=[4, 3])
            .encode(x="reference:Q")
        )
    if per_task is not None and not per_task.empty:
        pt = per_task.copy()
        cols = ["method", "task", "estimate"] + [c for c in ("ci_low", "ci_high") if c in pt]
        pt = pt[cols]
        y_offset = alt.YOffset("task:N", scale=alt.Scale(paddingOuter=0.3))
        tooltip = [
            alt.Tooltip("method:N", title="method"),
            alt.Tooltip("task:N", title="task"),
            alt.Tooltip("estimate:Q", title="estimate", format=".3f"),
        ]
        with_ci = (
            pt.dropna(subset=["ci_low", "ci_high"]) if {"ci_low", "ci_high"} <= set(pt) else pt[:0]
        )
        if not with_ci.empty:  # an empty layer would leave Vega an infinite extent to warn about
            layers.append(
                alt.Chart(with_ci)
                .mark_rule(color="#b0b0b0")
                .encode(x="ci_low:Q", x2="ci_high:Q", y=y, yOffset=y_offset, tooltip=tooltip)
            )
        layers.append(
            alt.Chart(pt)
            .mark_circle(color="#7f7f7f", size=18)
            .encode(x="estimate:Q", y=y, yOffset=y_offset, tooltip=tooltip)
        )
    pool = pooled[["method", "estimate", "ci_low", "ci_high"]].copy()
    pool_tooltip = [
        alt.Tooltip("method:N", title="method"),
        alt.Tooltip("estimate:Q", title="pooled estimate", format=".3f"),
        alt.Tooltip("ci_low:Q", title="interval low", format=".3f"),
        alt.Tooltip("ci_high:Q", title="interval high", format=".3f"),
    ]
    x_enc = alt.X(
        "estimate:Q",
        title=x_title,
        scale=alt.Scale(zero=False, nice=True),
        axis=alt.Axis(tickCount=8, labelOverlap=True),
    )
    layers.append(
        alt.Chart(pool)
        .mark_rule(color="#000000", strokeWidth=2.5)
        .encode(x=alt.X("ci_low:Q", title=x_title), x2="ci_high:Q", y=y, tooltip=pool_tooltip)
    )
    layers.append(
        alt.Chart(pool)
        .mark_point(shape="diamond", filled=True, size=140, color="#000000")
        .encode(x=x_enc, y=y, tooltip=pool_tooltip)
    )
    return alt.LayerChart(layer=layers).properties(
        title=_title(title), width=WIDTH, height=band * len(order)
    )


def cd_layout(mean_ranks: pd.DataFrame, cd: float) -> dict[str, pd.DataFrame]:
    """Coordinates of a critical-difference diagram (Demšar 2006).

    Parameters
    ----------
    mean_ranks : pandas.DataFrame
        ``method`` and ``mean_rank`` (1 = first), one row per method.
    cd : float
        Nemenyi critical difference of mean ranks.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``methods``: method, mean_rank, side ("left"/"right"), y (height of its label line),
        x_label (where the label line ends); ``cliques``: clique, x_start, x_end, y (groups of
        methods whose mean ranks differ by less than ``cd``, maximal, two or more members);
        ``ticks``: rank (integer positions of the axis).
    """
    mr = mean_ranks[["method", "mean_rank"]].copy()
    mr["mean_rank"] = mr["mean_rank"].astype(float)
    mr = mr.sort_values("mean_rank", kind="stable").reset_index(drop=True)
    k = len(mr)
    ranks = mr["mean_rank"].to_numpy()
    lo = 1.0
    hi = float(max(k, math.ceil(float(ranks.max())) if k else 1))
    cliques: list[tuple[int, int]] = []
    for i in range(k):
        j = i
        while j + 1 < k and ranks[j + 1] - ranks[i] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in cliques):
            cliques.append((i, j))
    clique_rows = [
        {
            "clique": n,
            "x_start": float(ranks[a]) - 0.03,
            "x_end": float(ranks[b]) + 0.03,
            "y": -0.35 - 0.3 * n,
        }
        for n, (a, b) in enumerate(cliques)
    ]
    first_line = -0.35 - 0.3 * len(cliques) - 0.45
    half = math.ceil(k / 2)
    sides, ys, xl = [], [], []
    for i in range(k):
        if i < half:
            sides.append("left")
            ys.append(first_line - 0.55 * i)
            xl.append(lo - 0.25)
        else:
            sides.append("right")
            ys.append(first_line - 0.55 * (k - 1 - i))
            xl.append(hi + 0.25)
    mr["side"] = sides
    mr["y"] = ys
    mr["x_label"] = xl
    ticks = pd.DataFrame({"rank": np.arange(1, int(hi) + 1, dtype=float)})
    clique_frame = (
        pd.DataFrame(clique_rows)
        if clique_rows
        else pd.DataFrame(
            {
                "clique": pd.Series(dtype="int64"),
                "x_start": pd.Series(dtype="float64"),
                "x_end": pd.Series(dtype="float64"),
                "y": pd.Series(dtype="float64"),
            }
        )
    )
    return {"methods": mr, "cliques": clique_frame, "ticks": ticks}


def cd_diagram(
    mean_ranks: pd.DataFrame,
    cd: float,
    *,
    title: str | Sequence[str] = "",
    alpha: float = 0.05,
    first: str = "most dependent",
) -> alt.LayerChart:
    """Critical-difference diagram of mean ranks across tasks (Friedman test, Nemenyi CD).

    Parameters
    ----------
    mean_ranks : pandas.DataFrame
        ``method`` and ``mean_rank`` (1 = first in the ranking's order, as the ranking table's
        ``rank``), one row per method.
    cd : float
        Nemenyi critical difference of mean ranks at level ``alpha``.
    title : str or sequence of str
        Chart title.
    alpha : float
        Level of the test, shown in the CD label.
    first : str, default "most dependent"
        What rank 1 means, in the axis label ``mean rank (1 = FIRST)``.

    Returns
    -------
    altair.LayerChart
        An axis of mean ranks (rank 1 on the left), each method's label joined to its rank by an
        elbow line, thick bars joining methods not significantly different, and a bar of length
        CD above the axis.
    """
    lay = cd_layout(mean_ranks, cd)
    methods, cliques, ticks = lay["methods"], lay["cliques"], lay["ticks"]
    k = len(methods)
    hi = float(ticks["rank"].max()) if not ticks.empty else 1.0
    x_scale = alt.Scale(domain=[1.0, hi], nice=False, zero=False)
    x = alt.X("x:Q", scale=x_scale, axis=None)
    y_min = float(methods["y"].min()) - 0.4 if k else -1.0
    y_scale = alt.Scale(domain=[y_min, 1.3], nice=False, zero=False)
    y = alt.Y("y:Q", scale=y_scale, axis=None)

    axis_line = pd.DataFrame({"x": [1.0], "x2": [hi], "y": [0.0]})
    tick_frame = ticks.assign(x=ticks["rank"], y=0.0, y2=0.12, label=ticks["rank"].astype(int))
    cd_ok = math.isfinite(cd) and cd > 0
    cd_frame = pd.DataFrame(
        {
            "x": [1.0],
            "x2": [1.0 + (cd if cd_ok else 0.0)],
            "y": [0.85],
            "label": [f"CD = {cd:.2f} (α = {alpha:g})" if cd_ok else "CD not available"],
        }
    )
    vertical = methods.assign(x=methods["mean_rank"], y0=0.0)
    horizontal = methods.assign(x=methods["mean_rank"], x2=methods["x_label"])
    tooltip = [
        alt.Tooltip("method:N", title="method"),
        alt.Tooltip("mean_rank:Q", title="mean rank", format=".2f"),
    ]
    layers: list[alt.Chart] = [
        alt.Chart(axis_line).mark_rule(color="#000000").encode(x=x, x2="x2:Q", y=y),
        alt.Chart(tick_frame).mark_rule(color="#000000").encode(x=x, y=y, y2="y2:Q"),
        alt.Chart(tick_frame)
        .mark_text(dy=-10, fontSize=11)
        .encode(x=x, y=alt.Y("y2:Q", scale=y_scale, axis=None), text="label:N"),
        alt.Chart(cd_frame).mark_rule(color="#000000", strokeWidth=2).encode(x=x, x2="x2:Q", y=y),
        alt.Chart(cd_frame)
        .mark_text(align="left", dx=4, dy=-9, fontSize=11)
        .encode(x=x, y=y, text="label:N"),
        alt.Chart(pd.DataFrame({"x": [hi], "y": [0.0], "label": [f"mean rank (1 = {first})"]}))
        .mark_text(align="left", dx=10, fontSize=11, color="#555555")
        .encode(x=x, y=y, text="label:N"),
        alt.Chart(vertical).mark_rule(color="#444444").encode(x=x, y=y, y2="y0:Q", tooltip=tooltip),
        alt.Chart(horizontal)
        .mark_rule(color="#444444")
        .encode(x=x, x2="x2:Q", y=y, tooltip=tooltip),
    ]
    sides: tuple[tuple[str, Literal["left", "right"], int], ...] = (
        ("left", "right", -4),
        ("right", "left", 4),
    )
    for side, align, dx in sides:
        part = methods[methods["side"] == side]
        if part.empty:
            continue
        labelled = part.assign(
            x=part["x_label"],
            text=[f"{m} ({r:.2f})" for m, r in zip(part["method"], part["mean_rank"], strict=True)],
        )
        layers.append(
            alt.Chart(labelled)
            .mark_text(align=align, dx=dx, fontSize=12, limit=260)
            .encode(x=x, y=y, text="text:N", tooltip=tooltip)
        )
    if not cliques.empty:
        layers.append(
            alt.Chart(cliques.assign(x=cliques["x_start"]))
            .mark_rule(color="#d62728", strokeWidth=5, strokeCap="round")
            .encode(x=x, x2="x_end:Q", y=y)
        )
    height = int(40 * (1.3 - y_min))
    return (
        alt.LayerChart(layer=layers)
        .properties(title=_title(title), width=WIDTH, height=max(height, 120))
        .configure_view(stroke=None)
    )


def ladder_frame(
    runs: pd.DataFrame, x: str = "upstream_score"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Means over seeds of each method at each checkpoint, and the scratch baselines.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs: ``task``, ``method``, ``model``, ``pretrained``, ``downstream_score``
        and the checkpoint column ``x`` (``upstream_score`` or ``pretrain_steps``).
    x : str
        Column that orders the checkpoints.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Checkpoints: task, method, model, x (mean of ``x`` over the checkpoint's rows), mean, se
        (standard error over seeds; missing with one seed), n. Baselines: task, method, mean, se,
        n, from the rows with ``pretrained`` false; when a task's baseline is the same under
        every method name, one row with method :data:`SCRATCH_LABEL`.
    """
    pre = runs["pretrained"].fillna(True).astype(bool)
    ck = runs[pre & runs[x].notna()]
    stat = (
        ck.groupby(["task", "method", "model"], sort=True, dropna=False)
        .agg(
            x=(x, "mean"),
            mean=("downstream_score", "mean"),
            sd=("downstream_score", "std"),
            n=("downstream_score", "size"),
        )
        .reset_index()
    )
    stat["se"] = stat["sd"] / np.sqrt(stat["n"])
    stat = stat.drop(columns="sd").sort_values(["task", "method", "x"], kind="stable")
    base = (
        runs[~pre]
        .groupby(["task", "method"], sort=True, dropna=False)
        .agg(
            mean=("downstream_score", "mean"),
            sd=("downstream_score", "std"),
            n=("downstream_score", "size"),
        )
        .reset_index()
    )
    base["se"] = base["sd"] / np.sqrt(base["n"])
    base = base.drop(columns="sd")
    # one baseline repeated under every method name (as the simulator writes it) is drawn once
    parts = []
    for _task, part in base.groupby("task", sort=True, dropna=False):
        same = len(part) > 1 and part["mean"].nunique() == 1 and part["n"].nunique() == 1
        parts.append(part.iloc[[0]].assign(method=SCRATCH_LABEL) if same else part)
    if parts:
        base = pd.concat(parts, ignore_index=True)
    return stat.reset_index(drop=True), base.reset_index(drop=True)


def ladder_chart(
    checkpoints: pd.DataFrame,
    baselines: pd.DataFrame,
    *,
    title: str | Sequence[str] = "",
    x_title: str = "Checkpoint's upstream score",
    y_title: str = "Downstream score",
    columns: int = 3,
) -> alt.FacetChart:
    """Ladder plot: downstream score versus checkpoint per method, with scratch baselines.

    Parameters
    ----------
    checkpoints : pandas.DataFrame
        From :func:`ladder_frame`: task, method, model, x, mean, se, n.
    baselines : pandas.DataFrame
        From :func:`ladder_frame`: task, method, mean, se, n (rows without pretraining).
    title : str or sequence of str
        Chart title.
    x_title, y_title : str
        Axis titles, with units.
    columns : int
        Panels per row (one panel per task).

    Returns
    -------
    altair.FacetChart
        One panel per task; lines and points per method (colour), error bars of one standard error
        over seeds, and each scratch baseline as a dashed horizontal line in its method's colour.
    """
    ck = checkpoints[["task", "method", "model", "x", "mean", "se", "n"]].copy()
    ck["kind"] = "checkpoint"
    ck["lo"] = ck["mean"] - ck["se"].fillna(0.0)
    ck["hi"] = ck["mean"] + ck["se"].fillna(0.0)
    bl = baselines[["task", "method", "mean", "se", "n"]].copy()
    bl["kind"] = "baseline"
    bl["model"] = "(no pretraining)"
    data = pd.concat([ck, bl], ignore_index=True)
    methods = sorted({str(m) for m in data["method"]} - {SCRATCH_LABEL})
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(methods))]
    if (data["method"] == SCRATCH_LABEL).any():
        methods.append(SCRATCH_LABEL)
        colors.append("#555555")
    color = alt.Color(
        "method:N",
        title="method",
        scale=alt.Scale(domain=methods, range=colors),
        legend=alt.Legend(orient="bottom", columns=4, labelLimit=200),
    )
    x = alt.X(
        "x:Q",
        title=x_title,
        scale=alt.Scale(zero=False, nice=True),
        axis=alt.Axis(tickCount=5, labelOverlap=True),
    )
    y = alt.Y("mean:Q", title=y_title, scale=alt.Scale(zero=False, nice=True))
    tooltip = [
        alt.Tooltip("method:N", title="method"),
        alt.Tooltip("model:N", title="checkpoint"),
        alt.Tooltip("x:Q", title="upstream", format=".3f"),
        alt.Tooltip("mean:Q", title="downstream (mean)", format=".3f"),
        alt.Tooltip("se:Q", title="standard error", format=".3f"),
        alt.Tooltip("n:Q", title="seeds"),
    ]
    base_tooltip = [
        alt.Tooltip("method:N", title="scratch baseline of"),
        alt.Tooltip("mean:Q", title="downstream (mean)", format=".3f"),
        alt.Tooltip("se:Q", title="standard error", format=".3f"),
        alt.Tooltip("n:Q", title="runs"),
    ]
    is_ck = alt.datum.kind == "checkpoint"
    is_base = alt.datum.kind == "baseline"
    layer = alt.layer(
        alt.Chart()
        .transform_filter(is_base)
        .mark_rule(strokeDash=[6, 4], strokeWidth=1.5)
        .encode(y=y, color=color, tooltip=base_tooltip),
        alt.Chart()
        .transform_filter(is_ck)
        .mark_rule(strokeWidth=1)
        .encode(x=x, y=alt.Y("lo:Q"), y2="hi:Q", color=color),
        alt.Chart()
        .transform_filter(is_ck)
        .mark_line(strokeWidth=1.8)
        .encode(x=x, y=y, color=color, order="x:Q"),
        alt.Chart()
        .transform_filter(is_ck)
        .mark_circle(size=36, opacity=1)
        .encode(x=x, y=y, color=color, tooltip=tooltip),
        data=data,
    ).properties(width=260, height=180)
    return layer.facet(
        facet=alt.Facet("task:N", title=None, header=alt.Header(labelFontSize=12, labelLimit=250)),
        columns=columns,
    ).properties(title=_title(title))


def plateau_overview_chart(
    fits: pd.DataFrame,
    *,
    title: str | Sequence[str] = "",
    x_title: str = "Plateau (downstream score as upstream → 1)",
) -> alt.LayerChart:
    """Plateau with its interval for each fitted group: one row per group.

    Parameters
    ----------
    fits : pandas.DataFrame
        ``group`` (a label), ``plateau``, ``plateau_ci_low``, ``plateau_ci_high`` and optionally
        ``family``; rows in the order to show.
    title : str or sequence of str
        Chart title.
    x_title : str
        Axis title.

    Returns
    -------
    altair.LayerChart
        Groups on the y axis in the given order, the interval as a rule and the plateau as a point.
    """
    frame = fits[["group", "plateau", "plateau_ci_low", "plateau_ci_high"]].copy()
    order = list(dict.fromkeys(str(g) for g in frame["group"]))
    y = alt.Y("group:N", title=None, sort=order, axis=alt.Axis(labelLimit=300))
    tooltip = [
        alt.Tooltip("group:N", title="group"),
        alt.Tooltip("plateau:Q", title="plateau", format=".3f"),
        alt.Tooltip("plateau_ci_low:Q", title="interval low", format=".3f"),
        alt.Tooltip("plateau_ci_high:Q", title="interval high", format=".3f"),
    ]
    x = alt.X(
        "plateau:Q",
        title=x_title,
        scale=alt.Scale(zero=False, nice=True),
        axis=alt.Axis(tickCount=6, labelOverlap=True),
    )
    rules = (
        alt.Chart(frame.dropna(subset=["plateau_ci_low", "plateau_ci_high"]))
        .mark_rule(color="#4c78a8", strokeWidth=2)
        .encode(
            x=alt.X("plateau_ci_low:Q", title=x_title), x2="plateau_ci_high:Q", y=y, tooltip=tooltip
        )
    )
    points = (
        alt.Chart(frame.dropna(subset=["plateau"]))
        .mark_point(filled=True, color="#000000", size=40)
        .encode(x=x, y=y, tooltip=tooltip)
    )
    return alt.LayerChart(layer=[rules, points]).properties(
        title=_title(title), width=WIDTH, height=max(60, 16 * len(order))
    )


def interaction_profile_chart(
    profile: pd.DataFrame,
    *,
    title: str | Sequence[str] = "",
    y_title: str = "Share of interaction strength",
) -> alt.Chart:
    """Bars of interaction strength by order, one colour per category (preserved, discarded, ...).

    Parameters
    ----------
    profile : pandas.DataFrame
        ``order`` (int, the size of the interaction's variable set), ``category`` and ``value``.
    title : str or sequence of str
        Chart title.
    y_title : str
        Axis title of ``value``.

    Returns
    -------
    altair.Chart
        Grouped bars: x = order, y = value, colour and x offset = category.
    """
    frame = profile[["order", "category", "value"]].copy()
    cats = list(dict.fromkeys(str(c) for c in frame["category"]))
    color = alt.Color(
        "category:N",
        title=None,
        scale=alt.Scale(domain=cats, range=[PALETTE[i % len(PALETTE)] for i in range(len(cats))]),
        legend=alt.Legend(orient="bottom"),
    )
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("order:O", title="Interaction order |S| (number of variables)"),
            xOffset=alt.XOffset("category:N", sort=cats),
            y=alt.Y("value:Q", title=y_title),
            color=color,
            tooltip=[
                alt.Tooltip("category:N", title="category"),
                alt.Tooltip("order:O", title="order"),
                alt.Tooltip("value:Q", title=y_title, format=".3f"),
            ],
        )
        .properties(title=_title(title), width=WIDTH, height=HEIGHT - 60)
    )


def step_ladder_template(x: Literal["step", "upstream"] = "step", *, columns: int = 4) -> dict:
    """Template of a checkpoint ladder from the data: one panel per model size.

    Lines follow each method (colour) and pretraining data (dash) along the checkpoints of one
    size; dotted horizontal rules mark the step-0 model (no pretraining), where the data have
    one. Filled from a payload (see :mod:`transferscope.report.templates`) whose dataset
    ``rows`` has ``kind`` (``checkpoint`` or ``baseline``), ``size``, ``method``, ``data``,
    ``series``, ``step``, ``upstream_score``, ``downstream_score`` and ``model``.

    Parameters
    ----------
    x : {"step", "upstream"}
        The x axis: the training step (log scale) or the checkpoint's upstream score.
    columns : int
        Panels per row.

    Returns
    -------
    dict
        Vega-Lite specification with placeholders ``title``, ``x_title``, ``y_title``,
        ``y_scale``, ``color_scale``, ``dash_scale`` and ``facet_order``.
    """
    from transferscope.report.templates import placeholder

    field_x = "step" if x == "step" else "upstream_score"
    x_enc = alt.X(
        f"{field_x}:Q",
        title=placeholder("x_title"),
        scale=alt.Scale(type="log") if x == "step" else alt.Scale(zero=False, nice=True),
        axis=alt.Axis(tickCount=4, labelOverlap=True, format="~s" if x == "step" else ".2f"),
    )
    y_enc = alt.Y("downstream_score:Q", title=placeholder("y_title"))
    color = alt.Color("method:N", title="method", legend=alt.Legend(orient="bottom"))
    dash = alt.StrokeDash("data:N", title="pretraining data", legend=alt.Legend(orient="bottom"))
    tooltip = [
        alt.Tooltip("model:N", title="checkpoint"),
        alt.Tooltip("method:N", title="method"),
        alt.Tooltip("step:Q", title="step", format=","),
        alt.Tooltip("upstream_score:Q", title="upstream", format=".3f"),
        alt.Tooltip("downstream_score:Q", title="downstream", format=".3f"),
    ]
    is_ck = alt.datum.kind == "checkpoint"
    is_base = alt.datum.kind == "baseline"
    layer = alt.layer(
        alt.Chart()
        .transform_filter(is_base)
        .mark_rule(strokeDash=[2, 3], strokeWidth=1.4, opacity=0.9)
        .encode(y=y_enc, color=color, tooltip=tooltip),
        alt.Chart()
        .transform_filter(is_ck)
        .mark_line(strokeWidth=1.5, clip=True)
        .encode(x=x_enc, y=y_enc, color=color, strokeDash=dash, detail="series:N",
                order=f"{field_x}:Q"),
        alt.Chart()
        .transform_filter(is_ck)
        .mark_circle(size=14, opacity=0.8, clip=True)
        .encode(x=x_enc, y=y_enc, color=color, tooltip=tooltip),
        data=alt.NamedData(name="rows"),
    ).properties(width=125, height=95)  # fmt: skip
    chart = (
        layer.facet(
            facet=alt.Facet("size:N", title=None, header=alt.Header(labelFontSize=11)),
            columns=columns,
            spacing=8,
        )
        .properties(title=alt.TitleParams(text=placeholder("title"), anchor="start", fontSize=13))
        .configure_axis(titleFontSize=10, labelFontSize=9, titleFontWeight="normal")
        # a y title longer than a panel is cut (the figure's title names the metric in full)
        .configure_axisY(titleLimit=95)
    )
    spec = chart.to_dict()
    spec.pop("datasets", None)
    spec["facet"]["sort"] = placeholder("facet_order")
    for lay in spec["spec"]["layer"]:
        enc = lay.get("encoding", {})
        if "y" in enc:
            enc["y"]["scale"] = placeholder("y_scale")
        if "color" in enc:
            enc["color"]["scale"] = placeholder("color_scale")
        if "strokeDash" in enc:
            enc["strokeDash"]["scale"] = placeholder("dash_scale")
    return spec


def model_scores_template(*, large: bool = False) -> dict:
    """Template of a group without upstream scores: each model's downstream score, best first.

    For tables such as VTAB-1k, whose models are pretraining methods with no upstream score
    published: one row per model (its mean over seeds), runs without pretraining in red.
    Filled from a payload whose dataset ``rows`` has ``model``, ``downstream_score`` and
    ``kind`` (``pretrained`` or ``no pretraining``).

    Parameters
    ----------
    large : bool
        The enlarged form (wider rows, labels not cut).

    Returns
    -------
    dict
        Vega-Lite specification with placeholders ``x_title``, ``x_scale`` and ``order`` (the
        models, best first).
    """
    from transferscope.report.templates import placeholder

    kind = alt.Color(
        "kind:N",
        title=None,
        scale=alt.Scale(domain=["pretrained", "no pretraining"], range=["#4c78a8", "#d62728"]),
        legend=alt.Legend(orient="bottom") if large else None,
    )
    chart = (
        alt.Chart(alt.NamedData(name="rows"))
        .mark_point(filled=True, size=40 if large else 22, opacity=0.9)
        .encode(
            x=alt.X("downstream_score:Q", title=placeholder("x_title")),
            y=alt.Y(
                "model:N",
                title=None,
                axis=alt.Axis(labelLimit=260 if large else 90, labelFontSize=11 if large else 9),
            ),
            color=kind,
            tooltip=[
                alt.Tooltip("model:N", title="model"),
                alt.Tooltip("downstream_score:Q", title="downstream (mean)", format=".3f"),
                alt.Tooltip("n:Q", title="runs"),
            ],
        )
        .properties(width=380 if large else 130, height=alt.Step(14 if large else 8))
    )
    spec = chart.to_dict()
    spec.pop("datasets", None)
    spec["encoding"]["x"]["scale"] = placeholder("x_scale")
    spec["encoding"]["y"]["sort"] = placeholder("order")
    return spec
