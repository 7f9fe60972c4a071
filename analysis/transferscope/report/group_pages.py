"""Report sections for the frontier groups: representative charts, the index, a page per source.

- :func:`representative_section`: on the front page, the largest groups of every source, each
  chart with its fit's message, where it saturates and the slope at the top of the data;
- :func:`group_index_section`: a searchable, sortable table of every group, each linking to its
  chart on its source's page; and one page per source with every group as a small multiple
  (drawn as it scrolls into view, enlarged on request), grouped by task family.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from transferscope.report import html as H
from transferscope.report.charts import model_scores_template
from transferscope.report.context import Page, PageCharts
from transferscope.report.frontier_charts import frontier_template
from transferscope.report.frontiers import (
    fmt,
    group_payload,
    interval_text,
    refit_points,
    saturation_text,
    slope_text,
)
from transferscope.report.labels import lower_is_better, score_axis_title
from transferscope.report.markdown import md_table
from transferscope.report.templates import compact

SMALL = "frontier-small"
LARGE = "frontier-large"
SCORES_SMALL = "scores-small"
SCORES_LARGE = "scores-large"

_KEY = (
    ("grey dots", "runs: one per model (and seed), upstream against downstream score"),
    ("solid line", "the fitted frontier over the range of the data"),
    ("dashed line", "the same curve extrapolated beyond the best observed upstream score"),
    ("dashed rule", "the plateau: where the frontier tends as the upstream score nears its best"),
    ("bar at the right edge", "the plateau's bootstrap interval (cut at the chart's edge)"),
    (
        "red diamonds",
        "the runs with the highest upstream scores, held out of a backtest fit that "
        "predicts them (front-page charts)",
    ),
    ("reversed axis", "the metric is better when lower, so up and right are always better"),
)


def _key_html() -> str:
    items = "".join(f"<dt>{H.escape(a)}</dt><dd>{H.escape(b)}</dd>" for a, b in _KEY)
    return f'<dl class="key">{items}</dl>'


def _caption(row: Mapping[Any, Any]) -> str:
    parts = [f"{row['label']} ({row['source']}). {int(row['n_runs'])} runs.",
             saturation_text(row), slope_text(row)]  # fmt: skip
    message = row.get("message")
    if row.get("status") == "ok" and not H._missing(message) and str(message):
        parts.append(f"Fit's message: {message}")
    return " ".join(parts)


def _diverse(part: pd.DataFrame, limit: int) -> list[str]:
    """Order a source's groups so that each next one shows what the earlier ones did not.

    Each step takes the group whose task family, task, method and metric were shown least
    (in that order of importance), the largest first among equals; ``limit`` groups at most.
    """
    rows = part.sort_values(["n_runs", "label"], ascending=[False, True], kind="stable")
    left: list[dict[Any, Any]] = rows.to_dict("records")
    shown: dict[str, dict[Any, int]] = {c: {} for c in ("family", "task", "method", "metric")}
    order: list[str] = []
    while left and len(order) < limit:

        def novelty(r: dict[Any, Any]) -> tuple[int, ...]:
            keys = (r["family"], r["task"], r["method"], r.get("downstream_metric"))
            return tuple(shown[c].get(k, 0) for c, k in zip(shown, keys, strict=True))

        best = min(range(len(left)), key=lambda i: novelty(left[i]))
        row = left.pop(best)
        keys = (row["family"], row["task"], row["method"], row.get("downstream_metric"))
        for c, k in zip(shown, keys, strict=True):
            shown[c][k] = shown[c].get(k, 0) + 1
        order.append(str(row["group_id"]))
    return order


def _representatives(table: pd.DataFrame, n: int) -> list[str]:
    """Group ids: one source after the other, each time its next most novel large group."""
    ok = table[table["status"] == "ok"]
    queues: dict[str, list[str]] = {}
    for source, part in ok.groupby("source", sort=True):
        queues[str(source)] = _diverse(part, n)
    chosen: list[str] = []
    while len(chosen) < n and any(queues.values()):
        for source in sorted(queues):
            if queues[source] and len(chosen) < n:
                chosen.append(queues[source].pop(0))
    return chosen


def representative_section(ctx: Any) -> Any:
    """Front-page charts of the largest groups of every source.

    Parameters
    ----------
    ctx : ReportContext
        The report being built.

    Returns
    -------
    SectionOutput
        The section (no Markdown: the answers and the index carry the numbers).
    """
    from transferscope.report.sections import SectionOutput

    groups = ctx.groups
    table = groups.table
    chosen = _representatives(table, ctx.options.max_group_charts)
    charts: PageCharts = ctx.charts
    large = frontier_template("large")
    figures = []
    for gid in chosen:
        row = table[table["group_id"] == gid].iloc[0].to_dict()
        arrays = groups.group_arrays(gid)
        frontier, held = refit_points(row, arrays, seed=ctx.options.resample_seed)
        payload = group_payload(
            row,
            arrays,
            groups.fit_records.get(gid, []),
            names=charts.names,
            held_out=held,
            frontier=frontier,
            seed=ctx.options.resample_seed,
        )
        fig = charts.add_payload(
            "frontier",
            (LARGE, large),
            payload,
            _caption(row),
            export=True,
        )
        link = H.link(f"{row['page']}#{gid}", "all groups of this source")
        figures.append(fig.html().replace("</figcaption>", f" {link}</figcaption>"))
    body: list[str] = [
        H.paragraph(
            "Fitted groups of every source, one source after the other, chosen to show as many "
            "task families, tasks, methods and metrics as they can (the largest first). Every "
            "other group has its chart on its source's page; the index below finds any of them."
        ),
        _key_html(),
    ]
    missing = sorted(set(table["source"]) - set(table.loc[table["status"] == "ok", "source"]))
    for source in missing:
        part = table[table["source"] == source]
        reasons = part["message"].dropna()
        why = str(reasons.iloc[0]) if len(reasons) else "no reason recorded"
        body.append(
            H.paragraph(
                f"{source}: none of its {len(part)} groups could be fitted ({why}).", "note"
            )
        )
    body.append('<div class="charts">' + "".join(figures) + "</div>")
    section = H.Section("charts", "Representative charts", tuple(body))
    return SectionOutput(sections=(section,))


_INDEX_COLUMNS = {
    "group": "group",
    "source": "source",
    "n_runs": "runs",
    "status": "fit",
    "plateau_text": "plateau [95% interval]",
    "saturation": "saturates within the data?",
    "slope_text": "slope at the top [95%]",
    "note": "message",
}
_INDEX_HELP = {
    "saturation": (
        "yes: the fitted frontier comes within 0.01 of its plateau within the observed upstream "
        "scores; no: only beyond them, by the distance in brackets"
    ),
    "slope_text": "least-squares slope over the group's best quarter of checkpoints",
}


def _saturation_word(row: Mapping[Any, Any]) -> str:
    if row.get("status") != "ok":
        return ""
    sat = row.get("saturates")
    if sat is True:
        return "yes"
    if sat is False:
        ext = row.get("extrapolation")
        return "no" + (f" (+{fmt(ext)})" if not H._missing(ext) else "")
    return ""


def index_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Add to the group table what the index shows: links, texts and their sort keys.

    Parameters
    ----------
    table : pandas.DataFrame
        The group table.

    Returns
    -------
    pandas.DataFrame
        The table with ``group`` (a link to the group's card), ``plateau_text``,
        ``saturation``, ``slope_text`` and ``note`` added.
    """
    records = table.to_dict("records")
    return table.assign(
        group=[H.link(f"{r['page']}#{r['group_id']}", str(r["label"])) for r in records],
        plateau_text=[
            fmt(r["plateau"])
            + " "
            + interval_text(r["plateau_ci_low"], r["plateau_ci_high"], None, r.get("interval_kind"))
            if r.get("status") == "ok"
            else ""
            for r in records
        ],
        saturation=[_saturation_word(r) for r in records],
        slope_text=[
            f"{fmt(r['slope'])} {interval_text(r['slope_ci_low'], r['slope_ci_high'])}"
            if r.get("slope_status") == "ok"
            else ""
            for r in records
        ],
        note=[_note(r) for r in records],
    )


def scores_payload(arrays: dict[str, np.ndarray], names: Any) -> dict[str, Any] | None:
    """Payload of the model-scores chart of a group without upstream scores (None if empty).

    Parameters
    ----------
    arrays : dict of str to numpy.ndarray
        The group's runs.
    names : Names
        The page's list of names.

    Returns
    -------
    dict or None
        Values (``x_title``, ``x_scale``, ``order``) and the dataset ``rows``: each model's
        mean downstream score, best first (lowest first for a better-lower metric).
    """
    y = arrays["downstream_score"]
    keep = np.isfinite(y)
    if not keep.any():
        return None
    frame = pd.DataFrame(
        {"model": arrays["model"][keep], "y": y[keep], "pre": arrays["pretrained"][keep]}
    )
    means = frame.groupby("model", sort=False).agg(
        downstream_score=("y", "mean"), n=("y", "size"), pre=("pre", "all")
    )
    metric = _single_value(arrays["downstream_metric"])
    lower = lower_is_better(metric)
    means = means.sort_values("downstream_score", ascending=lower, kind="stable")
    lo, hi = float(means["downstream_score"].min()), float(means["downstream_score"].max())
    pad = max(hi - lo, 0.02) * 0.06
    return {
        "values": {
            "x_title": score_axis_title("Downstream", [metric] if metric else []),
            "x_scale": {"domain": [lo - pad, hi + pad], "reverse": lower, "zero": False,
                        "nice": False},
            "order": [str(m) for m in means.index],
        },
        "datasets": {
            "rows": {
                "model": names.codes(means.index),
                "downstream_score": compact(means["downstream_score"]),
                "n": [int(v) for v in means["n"]],
                "kind": ["pretrained" if p else "no pretraining" for p in means["pre"]],
            }
        },
    }  # fmt: skip


def _single_value(values: np.ndarray) -> Any:
    found = {v for v in values.tolist() if v is not None}
    return next(iter(found)) if len(found) == 1 else None


def _note(row: Mapping[Any, Any]) -> str:
    slope = row.get("slope_message") if row.get("status") == "ok" else None
    return "; ".join(str(x) for x in (row.get("message"), slope) if not H._missing(x) and str(x))


def _card(row: Mapping[Any, Any], fig: H.Figure | None) -> str:
    gid = H.escape(row["group_id"])
    status = row.get("status")
    cls = "" if status == "ok" else ' class="bad"'
    counts = f"{int(row['n_runs'])} runs · {int(row['n_models'])} models" + (
        f" · sources: {H.escape(row['sources'])}" if "+" in str(row["sources"]) else ""
    )
    button = (
        f' <button type="button" class="enlarge" data-enlarge="{gid}">enlarge</button>'
        if fig is not None
        else ""
    )
    lines = [f"<h4>{H.escape(row['label'])}</h4>", f"<p>{counts}{button}</p>"]
    if fig is not None:
        lines.append(fig.container())
    lines += [
        f"<p{cls}>{H.escape(saturation_text(row))}</p>",
        f"<p>{H.escape(slope_text(row))}</p>",
    ]
    message = row.get("message")
    if status == "ok" and not H._missing(message) and str(message):
        lines.append(f'<p class="message">Fit: {H.escape(message)}</p>')
    return f'<div class="card" id="{gid}">' + "".join(lines) + "</div>"


def _source_page(ctx: Any, source: str, file: str, part: pd.DataFrame) -> Page:
    groups = ctx.groups
    charts = ctx.new_page(file.removesuffix(".html") + "-")
    small, large = frontier_template("small"), frontier_template("large")
    scores_small = model_scores_template()
    scores_large = model_scores_template(large=True)
    sections: list[H.Section] = []
    info = ctx.sources[ctx.sources["name"] == source]
    title_text = str(info["title"].iloc[0]) if len(info) and not H._missing(
        info["title"].iloc[0]) else source  # fmt: skip
    n_ok = int((part["status"] == "ok").sum())
    intro = [
        H.paragraph(
            f"{len(part)} groups of {source}: {n_ok} fitted, {len(part) - n_ok} not. Each "
            "panel is one group; its chart is drawn as it scrolls into view, and 'enlarge' "
            "shows it with its legend. Axes are each group's own metrics."
        ),
    ]
    with_points = any(
        bool(np.isfinite(groups.group_arrays(g)["upstream_score"]).any()) for g in part["group_id"]
    )
    if with_points:
        intro.append(_key_html())
    if not with_points or n_ok < len(part):
        intro.append(
            H.paragraph(
                "A group without upstream scores shows its models' downstream scores instead "
                "(mean over seeds, best first; red: trained without pretraining).",
                "note",
            )
        )
    families = list(dict.fromkeys(part["family"]))
    if len(families) > 1:
        intro.append(
            H.paragraph("Task families: " + ", ".join(
                f"{f} ({int((part['family'] == f).sum())} groups)" for f in families))
        )  # fmt: skip
    sections.append(H.Section("about", f"{source}: every group", tuple(intro)))
    for i, family in enumerate(families):
        fam = part[part["family"] == family]
        cards = []
        for row in fam.to_dict("records"):
            gid = row["group_id"]
            arrays = groups.group_arrays(gid)
            has_points = bool(
                (
                    np.isfinite(arrays["upstream_score"]) & np.isfinite(arrays["downstream_score"])
                ).any()
            )
            fig = None
            if not has_points:
                scores = scores_payload(arrays, charts.names)
                if scores is not None:
                    fig = charts.add_payload(
                        "scores", (SCORES_SMALL, scores_small), scores, "",
                        large=(SCORES_LARGE, scores_large), chart_id=gid, lazy=True,
                    )  # fmt: skip
            if has_points:
                payload = group_payload(
                    row, arrays, groups.fit_records.get(gid, []), names=charts.names,
                    seed=ctx.options.resample_seed,
                )  # fmt: skip
                fig = charts.add_payload(
                    "group", (SMALL, small), payload, "", large=(LARGE, large), chart_id=gid,
                    lazy=True,
                )  # fmt: skip
            cards.append(_card(row, fig))
        sections.append(
            H.Section(f"family-{i + 1}", str(family),
                      (f'<div class="cards">{"".join(cards)}</div>',))
        )  # fmt: skip
    return Page(
        file=file,
        label=source,
        title=f"{source}: every group",
        subtitle=(title_text,),
        sections=tuple(sections),
        charts=charts,
    )


def group_index_section(ctx: Any) -> Any:
    """Build the index of every group on the front page, and a page per source.

    Parameters
    ----------
    ctx : ReportContext
        The report being built.

    Returns
    -------
    SectionOutput
        The index section, its Markdown, and the source pages.
    """
    from transferscope.report.sections import SectionOutput

    groups = ctx.groups
    table = groups.table
    shown = index_frame(table)
    pages = [
        _source_page(ctx, str(r["source"]), str(r["page"]), table[table["source"] == r["source"]])
        for r in groups.pages.to_dict("records")
    ]
    page_links = ", ".join(
        H.link(str(r["page"]), f"{r['source']} ({int(r['n_groups'])} groups)")
        for r in groups.pages.to_dict("records")
    )
    body = [
        H.paragraph(
            f"All {len(table):,} groups. Type any part of a name to find a group (words may come "
            "in any order: 'mmlu five acc'), click a column to sort, and follow a group's name "
            "to its chart."
        ),
        f"<p>Pages per source: {page_links}</p>",
        H.table(
            shown,
            _INDEX_COLUMNS,
            raw_html=("group",),
            wide=("note", "group"),
            nowrap=("source", "status", "plateau_text", "saturation", "slope_text"),
            titles=_INDEX_HELP,
            table_id="group-index",
            filterable=True,
            full_width=True,
            sort_values={"plateau_text": "plateau", "slope_text": "slope", "group": "label"},
        ),
    ]
    md_cols = {
        "label": "group", "source": "source", "n_runs": "runs", "status": "fit",
        "plateau_text": "plateau", "saturation": "saturates", "slope_text": "slope at the top",
        "note": "message",
    }  # fmt: skip
    md = "## Every group\n\n" + md_table(shown, md_cols) + "\n"
    failed = table[table["status"] != "ok"]
    if not failed.empty:
        counts = failed.groupby(["source", "status"]).size().reset_index(name="groups")
        md += "\n### Groups that could not be fitted\n\n" + md_table(counts) + "\n"
    section = H.Section("index", "Every group", tuple(body))
    return SectionOutput(sections=(section,), markdown=md, pages=tuple(pages))
