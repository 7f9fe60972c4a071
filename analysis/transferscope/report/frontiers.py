"""The frontier part of the report: current fits, per-group charts, the plateau and status tables.

Fits come from the store (the frontier engine's store-backed fit computes only the groups whose
runs or options changed). For the groups that get a chart, the group is fitted once more without
bootstrap to recover its frontier points and backtest (the point fit is deterministic, so it is
the stored one); curves, plateaus and intervals are drawn from the stored rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import altair as alt
import numpy as np
import pandas as pd

from transferscope.errors import InputError
from transferscope.frontier.result import FrontierResult
from transferscope.frontier.settings import FitSettings
from transferscope.report import charts
from transferscope.report import html as H
from transferscope.report.labels import group_label, score_axis_title
from transferscope.report.markdown import md_escape, md_table
from transferscope.store import Store

#: Plateau overview rows drawn at most (the same order as the group charts).
MAX_OVERVIEW_ROWS = 40
#: Rows of the plateau table in summary.md at most (the page has all).
MAX_MARKDOWN_ROWS = 200

AddChart = Callable[[str, alt.TopLevelMixin, str], H.Figure]


@dataclass(frozen=True)
class FrontierSection:
    """The frontier sections of a report and what they hold.

    Parameters
    ----------
    sections : tuple of Section
        Page sections (frontiers, plateau table, groups not fitted).
    markdown : str
        The same as Markdown.
    by : tuple of str
        Group key columns.
    n_groups, n_ok, n_charted, n_fitted_now : int
        Groups; fitted with status ok; drawn; fitted by this build.
    choice : str
        Sentence saying which groups are drawn.
    fits : pandas.DataFrame
        The current fits (columns of ``fit_frontiers``).
    notes : tuple of str
        Anything the reader should know (e.g. groups whose chart could not be redrawn).
    """

    sections: tuple[H.Section, ...]
    markdown: str
    by: tuple[str, ...]
    n_groups: int
    n_ok: int
    n_charted: int
    n_fitted_now: int
    choice: str
    fits: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()


def current_fits(
    store: Store,
    filters: dict[str, Any],
    *,
    options: dict[str, Any],
    progress: bool,
) -> tuple[pd.DataFrame, int, tuple[str, ...]]:
    """Fits of every group: stored ones that are current, the others computed (and stored) now.

    Groups are those of ``transferscope fit`` (its default grouping, downstream metric
    included). Without fit options the report shows, for each group, the most recent current
    fit in the store whatever options it was made with (so ``report`` after ``fit`` adds no
    fit and shows the same numbers); with options, only fits made with exactly those options.

    Parameters
    ----------
    store : Store
        The store (fits computed now are written to it unless it is read-only).
    filters : dict
        Filters of the runs (as for :meth:`Store.runs`), the same as the report's.
    options : dict
        Fit options given (fields of :class:`~transferscope.frontier.FitSettings`; ``family``
        may be ``"all"``: every family, side by side); empty for "reuse what is stored".
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    (pandas.DataFrame, int, tuple of str)
        Fits in the columns of :func:`transferscope.frontier.fit_store`, the number of groups
        fitted now (the others were reused), and the group key columns.
    """
    from transferscope.frontier import DEFAULT_BY, fit_store

    by = tuple(DEFAULT_BY)
    given = {k: v for k, v in options.items() if v is not None}
    if given.get("family") == "all":
        given.update(family="auto", side_by_side=True)
    reuse: Literal["same", "any"] = "same" if given else "any"
    fits = fit_store(
        store, by=by, filters=filters, progress=progress, reuse=reuse, with_options=True, **given
    )
    fresh = fits[~fits["reused"].astype(bool)]
    n_now = len(fresh.drop_duplicates(subset=list(by)))
    return fits, n_now, by


def fit_note(row: Any) -> str:
    """Write the fit's flags and message as one line for a caption or a table cell.

    Parameters
    ----------
    row : mapping
        A row of the fits (``flags``, ``message``, ``frontier``, ``requested_frontier``).

    Returns
    -------
    str
        E.g. ``flags: not_saturating, extrapolated. note: the data do not show ...``; empty
        when there is nothing to say.
    """
    flags = str(row.get("flags") or "") if not H._missing(row.get("flags")) else ""
    message = str(row.get("message") or "") if not H._missing(row.get("message")) else ""
    parts = []
    if flags:
        parts.append("flags: " + flags.replace(",", ", ") + ".")
    if message:
        parts.append(message[0].upper() + message[1:] + ("" if message.endswith(".") else "."))
    return " ".join(parts)


def frontier_label(row: Any) -> str:
    """Name the estimator a row used, and the one asked for when it fell back.

    Parameters
    ----------
    row : mapping
        A row of the fits.

    Returns
    -------
    str
        ``"stochastic frontier"`` or ``"pareto frontier (fallback from stochastic)"``.
    """
    used = str(row.get("frontier"))
    asked = row.get("requested_frontier")
    if not H._missing(asked) and asked and str(asked) != used:
        return f"{used} frontier (fallback from {asked})"
    return f"{used} frontier"


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


def _keys_of(row: pd.Series | dict[str, Any], by: tuple[str, ...]) -> dict[str, Any]:
    return {c: row[c] for c in by}


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


def _fmt(value: Any) -> str:
    return H.format_value(value) if not H._missing(value) else "n/a"


def _interval(row: Any) -> str:
    lo, hi = row["plateau_ci_low"], row["plateau_ci_high"]
    if H._missing(lo) or H._missing(hi):
        return "no interval"
    level = row["ci_level"]
    pct = f"{round(100 * float(level))}% " if not H._missing(level) else ""
    kind = row.get("interval_kind") if hasattr(row, "get") else None
    side = " one-sided" if kind == "one_sided" else ""
    return f"{pct}{side.strip() + ' ' if side else ''}interval {_fmt(lo)}–{_fmt(hi)}"


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
        # name the models behind the points (matched on their two scores)
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
        See :func:`transferscope.report.charts.frontier_chart`.
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
                r.curve(120)
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
        row: dict[str, Any] = {
            "plateau_ci_low": main.plateau_ci_low,
            "plateau_ci_high": main.plateau_ci_high,
            "ci_level": main.ci_level,
        }
        used = frontier_label(
            {"frontier": main.frontier, "requested_frontier": main.requested_frontier}
        )
        row["interval_kind"] = main.interval_kind
        title = (
            f"{main.family} fit, {used} · plateau {_fmt(main.plateau)} ({_interval(row)})"
            if main.ok
            else f"{main.family} fit, {used}: {main.status} ({main.message})"
        )
    return charts.frontier_chart(
        points,
        frontier=frontier_pts,
        curves=curves,
        plateaus=plateaus if ok else None,
        held_out=held,
        title=title,
        x_title=x_title,
        y_title=y_title,
        seed=seed,
    )


def _group_chart(
    runs: pd.DataFrame,
    rows: pd.DataFrame,
    keys: dict[str, Any],
    *,
    seed: int,
) -> tuple[alt.LayerChart, str]:
    """Chart and caption of one group (``rows``: its fits, the selected one first)."""
    from transferscope.frontier import fit_group, frontier_curves

    group = select_rows(runs, keys)
    group = group[group["upstream_score"].notna() & group["downstream_score"].notna()]
    main = rows.iloc[0]
    up_metrics = group["upstream_metric"].dropna().unique().tolist()
    down_metrics = group["downstream_metric"].dropna().unique().tolist()
    up_metric = str(up_metrics[0]) if len(up_metrics) == 1 else None
    down_metric = str(down_metrics[0]) if len(down_metrics) == 1 else None
    # the point fit again (deterministic), with the estimator the stored fit used, for the
    # frontier and backtest points; no interval
    result = fit_group(
        group["upstream_score"].to_numpy(dtype=float),
        group["downstream_score"].to_numpy(dtype=float),
        family=str(main["family"]),
        settings=stored_settings(main),
        frontier=str(main["frontier"]),
        fallback="none",
        bootstrap=0,
        interval="bootstrap",
        upstream_metric=up_metric,
        downstream_metric=down_metric,
    )
    frontier_pts, held = _result_points(result, group)
    ok_rows = rows[rows["status"] == "ok"]
    curves = frontier_curves(ok_rows, n=120).rename(columns={"predicted": "downstream_score"})
    plateaus = ok_rows[["family", "plateau", "plateau_ci_low", "plateau_ci_high"]]
    label = group_label(keys)
    chosen = f" (chosen of {len(ok_rows)} families)" if len(ok_rows) > 1 else ""
    flags = str(main.get("flags") or "")
    title = [
        label,
        f"{main['family']} fit{chosen}, {frontier_label(main)} · plateau "
        f"{_fmt(main['plateau'])} ({_interval(main)})",
    ]
    if flags:
        title.append("flags: " + flags.replace(",", ", "))
    chart = charts.frontier_chart(
        group[["model", "upstream_score", "downstream_score"]],
        frontier=frontier_pts,
        curves=curves,
        plateaus=plateaus,
        held_out=held,
        title=title,
        x_title=score_axis_title("Upstream", up_metrics, group["upstream_task"].dropna().tolist()),
        y_title=score_axis_title("Downstream", down_metrics),
        seed=seed,
    )
    parts = [f"{len(group)} runs."]
    if frontier_pts is not None:
        parts.append(f"{len(frontier_pts)} frontier points.")
    if held is not None and not held.empty:
        parts.append(
            f"Backtest: the {len(held)} highest frontier points were held out and predicted "
            f"with mean absolute error {_fmt(main['backtest_mae'])}."
        )
    parts.append(
        f"Within 0.01 of the plateau from an upstream score of {_fmt(main['saturation_point'])}."
    )
    note = fit_note(main)
    if note:
        parts.append(note)
    return chart, " ".join(parts)


def frontier_section(
    store: Store,
    runs: pd.DataFrame,
    add: AddChart,
    *,
    filters: dict[str, Any],
    options: dict[str, Any],
    seed: int,
    max_group_charts: int,
    progress: bool,
) -> FrontierSection:
    """Fit what is missing and build the frontier sections.

    Parameters
    ----------
    store : Store
        The store.
    runs : pandas.DataFrame
        Runs in the report.
    filters : dict
        The filters that selected ``runs`` (as for :meth:`Store.runs`).
    add : callable
        ``add(name, chart, caption) -> Figure`` registers a chart.
    options : dict
        Fit options given (see :func:`current_fits`); ``family="all"`` draws every family
        side by side; empty to show the fits in the store.
    seed : int
        Seed of the sample of points drawn in large charts.
    max_group_charts : int
        Groups drawn at most.
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    FrontierSection
        Sections, Markdown and counts.
    """
    fits, n_now, by = current_fits(store, filters, options=dict(options), progress=progress)
    by_list = list(by)
    groups = fits.drop_duplicates(subset=by_list)
    n_groups = len(groups)
    selected = fits[fits["selected"].astype(bool)] if "selected" in fits else fits
    selected = selected.drop_duplicates(subset=by_list)
    ok = selected[selected["status"] == "ok"]
    order = ok.assign(_label=[group_label(_keys_of(r, by)) for _, r in ok.iterrows()])
    order = order.sort_values(["n_points", "_label"], ascending=[False, True], kind="stable")
    # take the first key (the task) in turn, so that the charts cover as many tasks as they can
    first = order[by_list[0]].astype("string").fillna("")
    order = order.assign(_turn=first.groupby(first).cumcount().to_numpy())
    order = order.sort_values(["_turn", "n_points", "_label"], ascending=[True, False, True])
    charted = order.head(max_group_charts)
    choice = (
        f"Frontier charts are drawn for {len(charted)} of the {len(ok)} fitted groups: the "
        f"groups with the most runs, taking each {by_list[0]} in turn; every group is in the "
        "plateau table."
        if len(ok) > len(charted)
        else f"Frontier charts are drawn for all {len(charted)} fitted group(s)."
    )

    notes: list[str] = []
    figures: list[H.Figure] = []
    for i, (_, row) in enumerate(charted.iterrows()):
        keys = _keys_of(row, by)
        rows = select_rows(fits, keys)
        rows = pd.concat(
            [rows[rows["selected"].astype(bool)], rows[~rows["selected"].astype(bool)]]
        )
        chart, caption = _group_chart(runs, rows, keys, seed=seed)
        figures.append(add(f"frontier-{i:03d}", chart, caption))

    body: list[str] = [
        H.paragraph(
            "Each group of runs (" + " × ".join(by) + ") is fitted with a saturating curve of "
            "downstream on upstream score. The plateau is where the curve tends as the upstream "
            "score approaches its best value: beyond it, more pretraining stops paying off. The "
            "backtest fits the models below the 80th upstream percentile and predicts the others."
        ),
        H.paragraph(
            "How to read a group chart: grey dots are runs (one per model and seed); black dots, "
            "when drawn, are the frontier points a hull or Pareto fit uses (the stochastic and "
            "quantile estimators use every point and run the curve above most of them); the "
            "coloured line is the fitted frontier, the best achievable downstream score at each "
            "upstream score, extended to a perfect upstream score; the dashed line and shaded "
            "band are the plateau and its bootstrap interval; red diamonds are the points held "
            "out of the backtest fit."
        ),
        H.paragraph(choice, "note"),
    ]
    if len(order) > 1:
        overview = (
            order.head(MAX_OVERVIEW_ROWS)
            .assign(group=lambda f: f["_label"])
            .sort_values("_label", kind="stable")
        )
        down_metrics = runs["downstream_metric"].dropna().unique().tolist()
        fig = add(
            "plateaus",
            charts.plateau_overview_chart(
                overview,
                title="Plateau per group",
                x_title="Plateau: "
                + score_axis_title("downstream", down_metrics)
                + " as upstream → best",
            ),
            "Each row is one group: the dot is its plateau, the line its bootstrap interval. "
            + (
                f"{MAX_OVERVIEW_ROWS} groups, chosen as for the charts below, in name order."
                if len(order) > MAX_OVERVIEW_ROWS
                else "All fitted groups, in name order."
            ),
        )
        body.append(fig.html())
    body.append('<div class="charts">' + "".join(f.html() for f in figures) + "</div>")
    frontier_sec = H.Section("frontiers", "Frontiers and plateaus", tuple(body))

    table_cols: dict[str, str] = {c: c for c in by}
    table_cols.update(
        {
            "family": "family", "frontier": "frontier", "selected": "chosen",
            "n_points": "runs", "n_frontier": "frontier points", "plateau": "plateau",
            "plateau_ci_low": "ci low", "plateau_ci_high": "ci high", "ci_level": "ci level",
            "interval_kind": "interval", "saturation_point": "saturation point",
            "extrapolation": "extrapolation", "best_observed": "best model",
            "share_above": "share above curve", "backtest_mae": "backtest error (MAE)",
            "aicc": "AICc", "rmse": "RMSE", "bootstrap_failed_share": "failed resamples",
            "n_bootstrap": "resamples", "flags": "flags", "note": "note",
        }
    )  # fmt: skip
    ok_all = fits[fits["status"] == "ok"]
    ok_all = ok_all.assign(note=[fit_note(r) for r in ok_all.to_dict("records")])
    if options.get("family") != "all":
        table_cols.pop("selected")
    table_sec = H.Section(
        "plateaus",
        "Plateau and backtest table",
        (
            H.paragraph(
                "Every fitted group. Frontier: the estimator used (a fallback says so). Interval: "
                "profile+bootstrap (the default: profile likelihood joined with the bootstrap "
                "percentile interval), one_sided (the data do not bound the plateau from above), "
                "bootstrap, profile or none. Saturation point: the smallest upstream score whose "
                "predicted downstream score is within 0.01 of the plateau; extrapolation: how far "
                "beyond the best observed upstream score that lies. Share above curve: models "
                "above the curve by more than three noise sd. Backtest error: mean absolute error "
                "on the held-out highest frontier points. Failed resamples: share of bootstrap "
                "refits that did not converge. Flags and note: how to read the fit."
            ),
            H.table(ok_all, table_cols, table_id="plateau-table", filterable=True),
        ),
    )
    failed = fits[fits["status"] != "ok"]
    fail_cols: dict[str, str] = {c: c for c in by}
    fail_cols.update(
        {"family": "family", "status": "status", "message": "reason", "n_points": "runs"}
    )
    fail_body: tuple[str, ...]
    if failed.empty:
        fail_body = (H.paragraph("Every group could be fitted."),)
    else:
        fail_body = (
            H.paragraph(
                f"{len(failed.drop_duplicates(subset=by_list))} group(s) could not be fitted. "
                "too_few_points: fewer points than the family needs; did_not_converge: the "
                "optimizer failed; degenerate: the points cannot determine a curve (e.g. one "
                "upstream score, or mixed metrics)."
            ),
            H.table(failed, fail_cols, table_id="failed-table", filterable=True),
        )
    fail_sec = H.Section("not-fitted", "Groups that could not be fitted", fail_body)

    md = ["## Frontiers and plateaus\n", f"{md_escape(choice)}\n"]
    md_rows = ok_all.head(MAX_MARKDOWN_ROWS)
    md.append(md_table(md_rows, table_cols))
    if len(ok_all) > MAX_MARKDOWN_ROWS:
        md.append(f"\n(first {MAX_MARKDOWN_ROWS} of {len(ok_all)} rows; all are in index.html)\n")
    md.append("\n## Groups that could not be fitted\n")
    md.append(md_table(failed, fail_cols) if not failed.empty else "None.\n")
    return FrontierSection(
        sections=(frontier_sec, table_sec, fail_sec),
        markdown="\n".join(md) + "\n",
        by=by,
        n_groups=n_groups,
        n_ok=len(ok),
        n_charted=len(charted),
        n_fitted_now=n_now,
        choice=choice,
        fits=fits,
        notes=tuple(notes),
    )


def _finite(value: Any) -> bool:
    return not H._missing(value) and math.isfinite(float(value))
