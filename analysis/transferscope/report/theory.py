"""Theory figures of the diagonal-network simulator, and the report section of a simulated ladder.

Three chart builders (each returns an Altair chart and never displays it):

- :func:`theory_curve_chart`: normalized generalization error against ``alpha_FT = n / D``, the
  ``D -> inf`` theory as lines (:func:`transferscope.dln.theory_curves`) and simulation means as
  points with bars of two standard errors over seeds;
- :func:`figure3_chart`: the panels of Figure 3 of Anguita et al. (2026) in our parameterization
  (:data:`FIGURE3_PANELS`): the error against ``alpha_FT`` while varying ``c_PT``,
  ``lambda_PT``, ``gamma_FT`` one at a time around a rich, pretraining-dependent setting, and while
  varying the task's mix of shared and new dimensions; data from :func:`figure3_panels`;
- :func:`regime_map_chart`: the regime map of their Figure 2b, the four regimes over
  ``(c_PT, gamma_FT)`` for a few ``lambda_PT`` (:func:`transferscope.dln.regime_grid`), with
  named settings marked.

:func:`theory_section` is the report's section for a ladder written by the simulator (or by
``simulate --theory``): it rebuilds the settings and tasks from the runs' ``hparams``, draws the
theory through the ladder's own points at its best checkpoint, tabulates the differences and
draws the regime map. It is a separate module so that the rest of the report does not depend on
it; :mod:`transferscope.report.build` only calls :func:`theory_section`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from transferscope.dln import (
    REGIME_NAMES,
    InitSetting,
    ScratchSetting,
    TaskSpec,
    default_tasks,
    generalization_curves,
    regime_grid,
    summarize_curves,
    theory_curves,
)
from transferscope.records import NOT_RECORDED, Record
from transferscope.report import html as H
from transferscope.report.charts import PALETTE
from transferscope.report.markdown import md_escape, md_table

__all__ = [
    "FIGURE3_BASE",
    "FIGURE3_PANELS",
    "REGIME_COLORS",
    "TheoryPanel",
    "figure3_chart",
    "figure3_panels",
    "regime_map_chart",
    "theory_curve_chart",
    "theory_section",
]

#: Colours of the four regimes (and of scratch), fixed so that every chart agrees.
REGIME_COLORS: dict[str, str] = {
    "I": "#4c78a8",
    "II": "#f58518",
    "III": "#54a24b",
    "IV": "#e45756",
}
SCRATCH_COLOR = "#555555"
ERROR_TITLE = "Normalized generalization error |β − β*|² / |β*|²"
ALPHA_TITLE = "Fine-tuning samples per dimension α_FT = n / D"

#: The setting every panel of Figure 3 varies around: c_PT = 10, lambda_PT = -1 (a smaller first
#: layer), gamma_FT = 0.01: rich and pretraining-dependent (regime IV), the paper's highlight.
FIGURE3_BASE = InitSetting("base", c_pt=10.0, lam_pt=-1.0, gamma_ft=0.01)
#: Values of each panel of Figure 3 (``task``: default task names, for ``rho_pt`` = 0.1).
FIGURE3_PANELS: dict[str, tuple[Any, ...]] = {
    "c_pt": (1e-3, 1.0, 10.0, 100.0, 1000.0),
    "lam_pt": (-1.0, -0.9, -0.5, 0.0, 0.5),
    "gamma_ft": (0.01, 0.1, 0.3, 1.0, 3.0),
    "task": ("equal", "subset", "partial", "disjoint"),
}
_SYMBOL = {"c_pt": "c_PT", "lam_pt": "λ_PT", "gamma_ft": "γ_FT", "task": "task"}


def _title(title: str | Sequence[str]) -> alt.TitleParams:
    text = [title] if isinstance(title, str) else list(title)
    return alt.TitleParams(text=text, anchor="start", fontSize=13)


@dataclass(frozen=True, kw_only=True)
class TheoryPanel(Record):
    """Data of one panel of Figure 3: theory lines and simulation points per series.

    Attributes
    ----------
    panel : str
        What varies: ``c_pt``, ``lam_pt``, ``gamma_ft`` or ``task``.
    title : str
        Panel title.
    series_title : str
        Legend title.
    series : tuple of str
        Series labels in legend order.
    lines : pandas.DataFrame
        Columns series, alpha_ft, gen_error (theory), regime.
    points : pandas.DataFrame
        Columns series, alpha_ft, gen_error (mean over seeds), gen_error_se, n_seeds; empty when
        the panel was not simulated.
    dim, seeds : int
        Dimension and replicates of the simulation (0 when not simulated).
    """

    panel: str
    title: str
    series_title: str
    series: tuple[str, ...]
    lines: pd.DataFrame = field(metadata=NOT_RECORDED)
    points: pd.DataFrame = field(metadata=NOT_RECORDED)
    dim: int
    seeds: int

    def describe(self) -> str:
        """Return one line: what varies and how many points were simulated."""
        return f"{self.title}: {len(self.series)} series, {len(self.points)} simulated points"


def _label(key: str, value: Any) -> str:
    return str(value) if key == "task" else f"{_SYMBOL[key]} = {value:g}"


def figure3_panels(
    *,
    panels: Sequence[str] = tuple(FIGURE3_PANELS),
    alphas: Sequence[float] = tuple(np.round(np.linspace(0.05, 0.95, 19), 3)),
    simulate: bool = True,
    sim_alphas: Sequence[float] = (0.2, 0.4, 0.6, 0.8),
    dim: int = 300,
    seeds: int = 10,
    task: str = "subset",
    rho_pt: float = 0.1,
    alpha_pt: float = 4.0,
    pt_noise: float = 0.1,
    ft_noise: float = 0.1,
    seed: int = 0,
) -> list[TheoryPanel]:
    """Compute the data of Figure 3: theory curves and, optionally, simulated points.

    Parameters
    ----------
    panels : sequence of str
        Keys of :data:`FIGURE3_PANELS` to compute.
    alphas : sequence of float
        Sample ratios of the theory lines.
    simulate : bool
        Also simulate the points (implicit-bias solver, :func:`generalization_curves`).
    sim_alphas : sequence of float
        Sample ratios of the simulated points.
    dim, seeds : int
        Dimension and replicates of the simulation.
    task : str
        Default task (name in :func:`transferscope.dln.default_tasks`) of the ``c_pt``,
        ``lam_pt`` and ``gamma_ft`` panels.
    rho_pt, alpha_pt, pt_noise, ft_noise : float
        Pretraining density, pretraining samples per dimension and relative label noises.
    seed : int
        Seed of the simulation.

    Returns
    -------
    list of TheoryPanel
        One per panel, in the order asked.
    """
    tasks = {t.name: t for t in default_tasks(rho_pt, 4)}
    out: list[TheoryPanel] = []
    for key in panels:
        values = FIGURE3_PANELS[key]
        if key == "task":
            settings = [FIGURE3_BASE]
            task_list = [tasks[v] for v in values]
        else:
            settings = [
                InitSetting(
                    _label(key, v),
                    **{
                        **{k: getattr(FIGURE3_BASE, k) for k in ("c_pt", "lam_pt", "gamma_ft")},
                        key: float(v),
                    },
                )
                for v in values
            ]
            task_list = [tasks[task]]
        labels = tuple(_label(key, v) for v in values)
        lines = theory_curves(
            settings,
            alphas=alphas,
            tasks=task_list,
            rho_pt=rho_pt,
            alpha_pt=alpha_pt,
            pt_noise=pt_noise,
            ft_noise=ft_noise,
            scratch=None,
        )
        series_col = "task" if key == "task" else "method"
        lines = lines.assign(series=lines[series_col].astype(str))
        if simulate:
            curves = generalization_curves(
                settings,
                dim=dim,
                alphas=sim_alphas,
                seeds=seeds,
                tasks=task_list,
                n_pretrain=round(alpha_pt * dim),
                rho_pt=rho_pt,
                pt_noise=pt_noise,
                ft_noise=ft_noise,
                scratch=None,
                seed=seed,
            )
            points = summarize_curves(curves)
            points = points.assign(series=points[series_col].astype(str))
        else:
            points = pd.DataFrame(
                columns=["series", "alpha_ft", "gen_error", "gen_error_se", "n_seeds"]
            )
        base = FIGURE3_BASE
        fixed = (
            f"c_PT = {base.c_pt:g}, λ_PT = {base.lam_pt:g}, γ_FT = {base.gamma_ft:g}"
            if key == "task"
            else ", ".join(
                f"{_SYMBOL[k]} = {getattr(base, k):g}"
                for k in ("c_pt", "lam_pt", "gamma_ft")
                if k != key
            )
            + f"; task {task}"
        )
        title = (
            "Shared versus new dimensions" if key == "task" else f"Varying {_SYMBOL[key]}"
        ) + f" ({fixed})"
        out.append(
            TheoryPanel(
                panel=key,
                title=title,
                series_title=_SYMBOL[key],
                series=labels,
                lines=lines[["series", "alpha_ft", "gen_error", "regime"]].reset_index(drop=True),
                points=points[
                    ["series", "alpha_ft", "gen_error", "gen_error_se", "n_seeds"]
                ].reset_index(drop=True),
                dim=dim if simulate else 0,
                seeds=seeds if simulate else 0,
            )
        )
    return out


def theory_curve_chart(
    lines: pd.DataFrame,
    points: pd.DataFrame | None = None,
    *,
    series_order: Sequence[str] | None = None,
    series_title: str = "method",
    colors: Sequence[str] | None = None,
    title: str | Sequence[str] = "",
    x_title: str = ALPHA_TITLE,
    y_title: str = ERROR_TITLE,
    log_y: bool = True,
    facet: str | None = None,
    columns: int = 2,
    width: int = 300,
    height: int = 210,
) -> alt.LayerChart | alt.FacetChart:
    """Error against ``alpha``: theory as lines, simulation means as points with two-SE bars.

    Parameters
    ----------
    lines : pandas.DataFrame
        Columns series, alpha_ft, gen_error (and ``facet`` when given).
    points : pandas.DataFrame, optional
        Columns series, alpha_ft, gen_error, gen_error_se (and ``facet``); bars span
        ``gen_error +- 2 gen_error_se`` (none where the standard error is missing).
    series_order : sequence of str, optional
        Legend order (default: order of appearance in ``lines``).
    series_title : str
        Legend title.
    colors : sequence of str, optional
        One colour per series (default: the report's palette).
    title : str or sequence of str
        Chart title.
    x_title, y_title : str
        Axis titles.
    log_y : bool
        Logarithmic error axis.
    facet : str, optional
        Column to draw one panel per value of (e.g. ``task``).
    columns : int
        Panels per row when faceted.
    width, height : int
        Size of one panel.

    Returns
    -------
    altair.LayerChart or altair.FacetChart
        Lines (theory), points and rules (simulation).
    """
    keep = ["series", "alpha_ft", "gen_error"] + ([facet] if facet else [])
    ln = lines[keep].copy()
    ln["kind"] = "theory"
    ln["lo"] = np.nan
    ln["hi"] = np.nan
    ln["gen_error_se"] = np.nan
    frames = [ln]
    if points is not None and len(points):
        pt = points[[*keep, "gen_error_se"]].copy()
        pt["kind"] = "simulation"
        se = pt["gen_error_se"].astype(float)
        pt["lo"] = pt["gen_error"] - 2 * se
        pt["hi"] = pt["gen_error"] + 2 * se
        if log_y:  # a bar reaching below zero is cut at the smallest positive value drawn
            floor = float(np.nanmin(pd.concat([ln["gen_error"], pt["gen_error"]]))) / 2
            pt["lo"] = pt["lo"].clip(lower=floor)
        frames.append(pt)
    data = pd.concat(frames, ignore_index=True)
    data["series"] = data["series"].astype(str)
    order = list(series_order) if series_order is not None else list(dict.fromkeys(ln["series"]))
    palette = list(colors) if colors is not None else list(PALETTE)
    color = alt.Color(
        "series:N",
        title=series_title,
        scale=alt.Scale(domain=order, range=[palette[i % len(palette)] for i in range(len(order))]),
        legend=alt.Legend(orient="right", labelLimit=220),
    )
    x = alt.X("alpha_ft:Q", title=x_title, scale=alt.Scale(domain=[0, 1], nice=False))
    y_scale = alt.Scale(type="log") if log_y else alt.Scale(zero=True)
    y = alt.Y("gen_error:Q", title=y_title, scale=y_scale)
    tooltip = [
        alt.Tooltip("series:N", title=series_title),
        alt.Tooltip("alpha_ft:Q", title="α_FT", format=".3f"),
        alt.Tooltip("gen_error:Q", title="error", format=".4g"),
        alt.Tooltip("gen_error_se:Q", title="standard error", format=".2g"),
    ]
    is_theory = alt.datum.kind == "theory"
    is_sim = alt.datum.kind == "simulation"
    layer = alt.layer(
        alt.Chart()
        .transform_filter(is_theory)
        .mark_line(strokeWidth=1.8)
        .encode(x=x, y=y, color=color, order="alpha_ft:Q"),
        alt.Chart()
        .transform_filter(is_sim)
        .transform_filter("isValid(datum.lo) && isValid(datum.hi)")
        .mark_rule(strokeWidth=1.2)
        .encode(x=x, y=alt.Y("lo:Q", scale=y_scale), y2="hi:Q", color=color),
        alt.Chart()
        .transform_filter(is_sim)
        .mark_point(size=40, filled=True, opacity=1, stroke="white", strokeWidth=0.5)
        .encode(x=x, y=y, color=color, tooltip=tooltip),
        data=data,
    ).properties(width=width, height=height)
    if facet:
        return layer.facet(
            facet=alt.Facet(f"{facet}:N", title=None, header=alt.Header(labelFontSize=12)),
            columns=columns,
        ).properties(title=_title(title))
    return layer.properties(title=_title(title))


def figure3_chart(panels: Sequence[TheoryPanel], *, columns: int = 2) -> alt.ConcatChart:
    """Figure 3: one error-against-alpha chart per panel, side by side.

    Parameters
    ----------
    panels : sequence of TheoryPanel
        From :func:`figure3_panels`.
    columns : int
        Panels per row.

    Returns
    -------
    altair.ConcatChart
        Each panel with its own legend (the varied parameter).
    """
    charts = []
    for p in panels:
        sub = (
            f"lines: theory (D → ∞); points: mean of {p.seeds} runs at D = {p.dim}, "
            "bars: ± 2 standard errors"
            if p.seeds
            else "lines: theory (D → ∞)"
        )
        charts.append(
            theory_curve_chart(
                p.lines,
                p.points,
                series_order=p.series,
                series_title=p.series_title,
                title=[p.title, sub],
            )
        )
    return (
        alt.concat(*charts, columns=columns)
        .resolve_scale(color="independent")
        .properties(title=_title("Generalization error of fine-tuning against α_FT"))
    )


def regime_map_chart(
    grid: pd.DataFrame,
    *,
    settings: pd.DataFrame | None = None,
    title: str | Sequence[str] = "Fine-tuning regimes over the initialization",
    width: int = 260,
    height: int = 220,
) -> alt.FacetChart:
    """Regime map: the regime of every ``(c_PT, gamma_FT)`` cell, one panel per ``lambda_PT``.

    Parameters
    ----------
    grid : pandas.DataFrame
        From :func:`transferscope.dln.regime_grid` over a log-spaced grid of ``c_pt`` and
        ``gamma_ft`` (columns c_pt, lam_pt, gamma_ft, regime, description, order_pretrained,
        dependence).
    settings : pandas.DataFrame, optional
        Named settings to mark: columns name, c_pt, lam_pt, gamma_ft, regime (settings whose
        ``lam_pt`` has no panel are not drawn).
    title : str or sequence of str
        Chart title.
    width, height : int
        Size of one panel.

    Returns
    -------
    altair.FacetChart
        Rectangles coloured by regime (log axes), the settings as labelled points.
    """
    g = grid.copy()
    data = []
    for lam, part in g.groupby("lam_pt", sort=True):
        cx = np.sort(part["c_pt"].unique())
        gy = np.sort(part["gamma_ft"].unique())
        ex, ey = _log_edges(cx), _log_edges(gy)
        part = part.assign(
            c_lo=part["c_pt"].map(dict(zip(cx, ex[:-1], strict=True))),
            c_hi=part["c_pt"].map(dict(zip(cx, ex[1:], strict=True))),
            g_lo=part["gamma_ft"].map(dict(zip(gy, ey[:-1], strict=True))),
            g_hi=part["gamma_ft"].map(dict(zip(gy, ey[1:], strict=True))),
            panel=f"λ_PT = {lam:g}",
            kind="cell",
        )
        data.append(part)
    cells = pd.concat(data, ignore_index=True)
    cells["label"] = cells["regime"].map(lambda r: f"{r}: {REGIME_NAMES[r]}")
    domain = [f"{r}: {REGIME_NAMES[r]}" for r in REGIME_COLORS]
    color = alt.Color(
        "label:N",
        title="regime",
        scale=alt.Scale(domain=domain, range=list(REGIME_COLORS.values())),
        legend=alt.Legend(orient="bottom", columns=2, labelLimit=260),
    )
    x_scale = alt.Scale(type="log", domain=[float(cells["c_lo"].min()), float(cells["c_hi"].max())])
    y_scale = alt.Scale(type="log", domain=[float(cells["g_lo"].min()), float(cells["g_hi"].max())])
    frames = [cells]
    if settings is not None and len(settings):
        marks = settings[["name", "c_pt", "lam_pt", "gamma_ft", "regime"]].copy()
        marks["panel"] = [f"λ_PT = {v:g}" for v in marks["lam_pt"]]
        marks["kind"] = "setting"
        marks = marks[marks["panel"].isin(set(cells["panel"]))]
        frames.append(marks)
    data_all = pd.concat(frames, ignore_index=True)
    is_cell = alt.datum.kind == "cell"
    is_set = alt.datum.kind == "setting"
    tooltip = [
        alt.Tooltip("c_pt:Q", title="c_PT", format=".3g"),
        alt.Tooltip("gamma_ft:Q", title="γ_FT", format=".3g"),
        alt.Tooltip("label:N", title="regime"),
        alt.Tooltip("order_pretrained:Q", title="order (pretrained dims)", format=".2f"),
        alt.Tooltip("dependence:Q", title="dependence", format=".2f"),
    ]
    layer = alt.layer(
        alt.Chart()
        .transform_filter(is_cell)
        .mark_rect(opacity=0.85)
        .encode(
            x=alt.X("c_lo:Q", title="c_PT (absolute scale of pretraining init)", scale=x_scale),
            x2="c_hi:Q",
            y=alt.Y("g_lo:Q", title="γ_FT (readout scale at fine-tuning)", scale=y_scale),
            y2="g_hi:Q",
            color=color,
            tooltip=tooltip,
        ),
        alt.Chart()
        .transform_filter(is_set)
        .mark_point(shape="diamond", size=90, filled=True, color="black", stroke="white")
        .encode(
            x=alt.X("c_pt:Q", scale=x_scale),
            y=alt.Y("gamma_ft:Q", scale=y_scale),
            tooltip=[alt.Tooltip("name:N", title="setting"), alt.Tooltip("regime:N")],
        ),
        alt.Chart()
        .transform_filter(is_set)
        .mark_text(align="left", dx=7, dy=-7, fontSize=10, color="black")
        .encode(
            x=alt.X("c_pt:Q", scale=x_scale), y=alt.Y("gamma_ft:Q", scale=y_scale), text="name:N"
        ),
        data=data_all,
    ).properties(width=width, height=height)
    panel_order = [f"λ_PT = {v:g}" for v in sorted(set(cells["lam_pt"]))]
    return layer.facet(
        column=alt.Column(
            "panel:N", title=None, sort=panel_order, header=alt.Header(labelFontSize=12)
        ),
    ).properties(title=_title(title))


def _log_edges(values: np.ndarray) -> np.ndarray:
    lv = np.log10(values)
    if lv.size == 1:
        return 10.0 ** np.array([lv[0] - 0.5, lv[0] + 0.5])
    mids = (lv[1:] + lv[:-1]) / 2
    return np.asarray(
        10.0 ** np.concatenate([[lv[0] - (mids[0] - lv[0])], mids, [lv[-1] + (lv[-1] - mids[-1])]])
    )


# -- the report section -----------------------------------------------------------------------

_ARCHITECTURE = "diagonal_linear_network"
_NEEDED = ("c_pt", "lam_pt", "gamma_ft", "dim", "rho_pt", "pt_noise", "ft_noise", "n_pretrain")


def _hparams(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for text in frame["hparams"]:
        try:
            value = json.loads(text) if isinstance(text, str) else {}
        except ValueError:
            value = {}
        out.append(value if isinstance(value, dict) else {})
    return out


@dataclass(frozen=True)
class _Ladder:
    settings: list[InitSetting]
    tasks: dict[str, TaskSpec]  # run table task name -> spec
    scratch: ScratchSetting | None
    dim: int
    n_pretrain: int
    rho_pt: float
    pt_noise: float
    ft_noise: float
    theory: bool
    points: pd.DataFrame  # method, task, alpha_ft, gen_error, gen_error_se, n_seeds


def _read_ladder(runs: pd.DataFrame) -> _Ladder | None:
    """Read the settings, tasks and best-checkpoint points of a simulator ladder (or None)."""
    if "architecture" not in runs or "hparams" not in runs:
        return None
    sim = runs[runs["architecture"].astype(str) == _ARCHITECTURE]
    if sim.empty:
        return None
    sim = sim.assign(_hp=pd.Series(_hparams(sim), index=sim.index, dtype=object))
    pre = sim[sim["pretrained"].fillna(True).astype(bool)]
    ok = pre["_hp"].map(lambda h: all(k in h for k in _NEEDED))
    pre = pre[ok]
    if pre.empty:
        return None
    first = pre["_hp"].iloc[0]
    keys = ("dim", "rho_pt", "pt_noise", "ft_noise")
    same = pre["_hp"].map(lambda h: tuple(h[k] for k in keys) == tuple(first[k] for k in keys))
    pre = pre[same]
    dim = int(first["dim"])
    n_pt = int(pre["_hp"].map(lambda h: h["n_pretrain"]).max())
    settings: dict[str, InitSetting] = {}
    for method, h in zip(pre["method"].astype(str), pre["_hp"], strict=True):
        if method not in settings:
            settings[method] = InitSetting(
                method,
                c_pt=float(h["c_pt"]),
                lam_pt=float(h["lam_pt"]),
                gamma_ft=float(h["gamma_ft"]),
                readout=h.get("readout", "balanced"),
                rescale=float(h.get("rescale", 1.0)),
            )
    names = sorted(set(pre["task"].astype(str)))
    defaults = {f"dln_{t.name}": t for t in default_tasks(float(first["rho_pt"]), len(names))}
    tasks: dict[str, TaskSpec] = {}
    for task, h in zip(pre["task"].astype(str), pre["_hp"], strict=True):
        if task in tasks:
            continue
        if "task_shared" in h and "task_new" in h:
            tasks[task] = TaskSpec(task, float(h["task_shared"]), float(h["task_new"]))
        elif task in defaults:
            tasks[task] = TaskSpec(task, defaults[task].shared, defaults[task].new)
    if not tasks:
        return None
    theory = bool(first.get("theory", False))
    best = pre[pre["_hp"].map(lambda h: int(h["n_pretrain"]) == n_pt)]
    scr = sim[~sim["pretrained"].fillna(True).astype(bool)]
    scratch = None
    if len(scr):
        hs = _hparams(scr.iloc[:1])[0]
        if "c" in hs and "jitter" in hs:
            scratch = ScratchSetting(c=float(hs["c"]), jitter=float(hs["jitter"]))
    rows = []
    for frame, is_scratch in ((best, False), (scr, True)):
        if frame.empty:
            continue
        hp = _hparams(frame) if "_hp" not in frame else list(frame["_hp"])
        err = [
            float(h["error"]) if "error" in h else 1.0 - float(s)
            for h, s in zip(hp, frame["downstream_score"], strict=True)
        ]
        part = pd.DataFrame(
            {
                "method": "scratch" if is_scratch else frame["method"].astype(str).to_numpy(),
                "task": frame["task"].astype(str).to_numpy(),
                "shots": frame["shots"].astype(float).to_numpy(),
                "error": err,
            }
        )
        if is_scratch:  # one baseline per task and shots, repeated under every method name
            part = part.drop_duplicates()
        rows.append(part)
    pts = pd.concat(rows, ignore_index=True)
    pts = pts[pts["task"].isin(set(tasks))]
    stat = (
        pts.groupby(["method", "task", "shots"])["error"]
        .agg(gen_error="mean", sd="std", n_seeds="count")
        .reset_index()
    )
    stat["gen_error_se"] = stat["sd"] / np.sqrt(stat["n_seeds"])
    stat["alpha_ft"] = stat["shots"] / dim
    return _Ladder(
        settings=list(settings.values()),
        tasks=tasks,
        scratch=scratch,
        dim=dim,
        n_pretrain=n_pt,
        rho_pt=float(first["rho_pt"]),
        pt_noise=float(first["pt_noise"]),
        ft_noise=float(first["ft_noise"]),
        theory=theory,
        points=stat.drop(columns="sd"),
    )


def theory_section(
    runs: pd.DataFrame,
    add: Callable[[str, alt.TopLevelMixin, str], H.Figure],
    *,
    max_tasks: int = 6,
) -> tuple[H.Section, str] | None:
    """Build the report section comparing a simulated ladder with the theory.

    Parameters
    ----------
    runs : pandas.DataFrame
        The report's runs; the section is drawn when some come from the diagonal-network
        simulator (architecture ``diagonal_linear_network`` with the simulator's ``hparams``).
    add : callable
        The report's figure collector ``add(name, chart, caption)``.
    max_tasks : int
        Panels at most (tasks in name order).

    Returns
    -------
    tuple of (Section, str) or None
        The HTML section and its Markdown, or None when no run comes from the simulator.
    """
    ladder = _read_ladder(runs)
    if ladder is None:
        return None
    task_names = sorted(ladder.tasks)[:max_tasks]
    specs = [ladder.tasks[t] for t in task_names]
    shot_alphas = sorted(set(ladder.points["alpha_ft"].round(6)))
    alphas = sorted(set(np.round(np.linspace(0.04, 0.96, 24), 4)) | set(shot_alphas))
    alpha_pt = ladder.n_pretrain / ladder.dim
    lines = theory_curves(
        ladder.settings,
        alphas=alphas,
        tasks=specs,
        rho_pt=ladder.rho_pt,
        alpha_pt=alpha_pt,
        pt_noise=ladder.pt_noise,
        ft_noise=ladder.ft_noise,
        scratch=ladder.scratch,
        dim=ladder.dim,
    )
    lines = lines[lines["converged"]]
    order = [s.name for s in ladder.settings] + (["scratch"] if ladder.scratch else [])
    regimes = {s.name: s.regime().regime for s in ladder.settings}
    colors = [REGIME_COLORS.get(regimes.get(m, ""), SCRATCH_COLOR) for m in order]
    if len(set(colors)) < len(colors):  # two methods in one regime: fall back to the palette
        colors = [PALETTE[i % len(PALETTE)] for i in range(len(order))]
    lines = lines.assign(series=lines["method"])
    pts = ladder.points[ladder.points["task"].isin(task_names)].assign(
        series=ladder.points["method"]
    )
    if ladder.theory:
        pts = pts.assign(gen_error_se=np.nan)
    what = (
        "the theory ladder's own values (expectations: no bars)"
        if ladder.theory
        else "means over seeds of the ladder's runs at that checkpoint, bars ± 2 standard errors"
    )
    chart = theory_curve_chart(
        lines,
        pts,
        series_order=order,
        colors=colors,
        facet="task",
        columns=2 if len(task_names) in (2, 4) else 3,
        width=280,
        height=190,
        y_title="normalized error",
        title=[
            "Simulator against theory at the best checkpoint",
            f"n_pretrain = {ladder.n_pretrain} (α_PT = {alpha_pt:.3g}), D = {ladder.dim}",
        ],
    )
    fig = add(
        "theory-curves",
        chart,
        "One panel per task. Lines: the D → ∞ prediction of the normalized generalization error "
        "|β − β*|² / |β*|² of each method (state evolution of the minimum-penalty interpolator "
        f"that gradient flow reaches); points: {what}. Colours follow the regimes (I blue, "
        "II orange, III green, IV red; scratch grey).",
    )
    table = pts.merge(
        lines[["method", "task", "alpha_ft", "gen_error", "gen_error_sd"]].rename(
            columns={"gen_error": "theory", "gen_error_sd": "sd_one_run"}
        ),
        on=["method", "task", "alpha_ft"],
        how="left",
    )
    table["z"] = (table["gen_error"] - table["theory"]) / table["gen_error_se"]
    table = table.sort_values(["task", "method", "shots"], ignore_index=True)
    table["shots"] = table["shots"].round().astype("Int64")
    table["n_seeds"] = table["n_seeds"].astype("Int64")
    cols = {
        "task": "task",
        "method": "method",
        "shots": "shots",
        "alpha_ft": "α_FT",
        "gen_error": "ladder error (mean)",
        "gen_error_se": "standard error",
        "n_seeds": "seeds",
        "theory": "theory (D → ∞)",
        "z": "z = (mean − theory) / se",
    }
    grid = regime_grid(
        np.logspace(-3, 3, 25),
        sorted({s.lam_pt for s in ladder.settings})[:3],
        np.logspace(-2.5, 0.5, 25),
    )
    marks = pd.DataFrame(
        [
            {
                "name": s.name,
                "c_pt": s.c_pt,
                "lam_pt": s.lam_pt,
                "gamma_ft": s.gamma_ft,
                "regime": regimes[s.name],
            }
            for s in ladder.settings
        ]
    )
    fig_map = add(
        "regime-map",
        regime_map_chart(grid, settings=marks),
        "The regime of each initialization (c_PT, γ_FT) for the ladder's relative scales λ_PT, "
        "read from the penalty at a fine-tuning coordinate of size 1 on a pretrained coordinate "
        "of size 1 (lazy when the local order of the penalty is at least 1.5, "
        "pretraining-dependent when pretrained coordinates are at least twice as cheap). "
        "Diamonds: the ladder's methods.",
    )
    n = int(table["z"].notna().sum())
    within = int((table["z"].abs() <= 2).sum())
    intro = (
        "The ladder comes from the diagonal-linear-network simulator, for which the error of "
        "fine-tuning has an exact D → ∞ prediction. "
        + (
            f"{within} of {n} simulated cells lie within two standard errors of it at D = "
            f"{ladder.dim} (finite-D effects grow where few dimensions are active)."
            if n
            else "This is a theory ladder: its scores are the prediction itself."
        )
    )
    body = (
        H.paragraph(intro),
        fig.html().replace('class="chart"', 'class="chart wide"'),
        H.table(table, cols, digits=4),
        fig_map.html().replace('class="chart"', 'class="chart wide"'),
    )
    md = (
        "## Theory of the simulated ladder\n\n"
        + md_escape(intro)
        + "\n\n"
        + md_table(table, cols, digits=4)
        + "\n"
    )
    return H.Section("theory", "Theory of the simulated ladder", body), md
