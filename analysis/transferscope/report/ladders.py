"""Report section: checkpoint ladders, from the data wherever checkpoints exist.

Two kinds of ladder:

- **Training-step ladders** (Pythia): runs with ``pretrain_steps`` along series of checkpoints
  (one series per ``architecture`` and ``pretrain_data``; at least :data:`MIN_STEPS` steps).
  Per task and downstream metric, one panel per model size: the downstream score against the
  training step and against the checkpoint's upstream score, a line per method and pretraining
  data, and the step-0 model (no pretraining) as a dotted baseline where the data have one. The
  front page shows each task family's mean; a page per source has every task.
- **Ladders ordered by upstream score** (the simulator, your own ladders): checkpoints without
  steps but with runs of the same tasks trained from scratch, one panel per task.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from transferscope.report import charts
from transferscope.report import html as H
from transferscope.report.context import Page
from transferscope.report.labels import (
    label_value,
    lower_is_better,
    metric_name,
    score_axis_title,
    short_axis_title,
    task_families,
)
from transferscope.report.templates import Names, compact

#: Distinct training steps a series needs to count as a ladder.
MIN_STEPS = 3
#: A ladder ordered by upstream score has at most this many checkpoints per line.
MAX_LADDER_CHECKPOINTS = 200
#: Points of the front page's upstream-ordered ladder chart at most (panels are dropped beyond).
MAX_LADDER_POINTS = 4000

STEPS = "ladder-steps"
UPSTREAM = "ladder-upstream"


def _series(runs: pd.DataFrame) -> pd.Series:
    arch = runs["architecture"].astype("string")
    model = runs["model"].astype("string").str.split("@").str[0]
    base = arch.fillna(model)
    data = runs["pretrain_data"].astype("string").fillna("")
    return base + "|" + data


def step_ladder_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Keep the runs of training-step ladders, with ``size``, ``data`` and ``series`` added.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.

    Returns
    -------
    pandas.DataFrame
        The runs of series with at least :data:`MIN_STEPS` distinct ``pretrain_steps``, with
        columns ``size`` (architecture, or the model name before ``@``), ``data`` (pretraining
        data) and ``series`` added; empty when there are none.
    """
    have = runs[runs["pretrain_steps"].notna()]
    if have.empty:
        return have
    series = _series(have)
    steps = have.groupby(series.to_numpy())["pretrain_steps"].nunique()
    keep = series.isin(steps[steps >= MIN_STEPS].index).to_numpy()
    cols = ["source", "task", "method", "model", "pretrained", "pretrain_steps", "params",
            "pretrain_data",
            "upstream_metric", "upstream_task", "upstream_score", "downstream_metric",
            "downstream_score"]  # fmt: skip
    out = have.loc[keep, cols]
    if out.empty:
        return out
    for c in ("source", "task", "method", "model", "upstream_metric", "upstream_task",
              "downstream_metric"):  # fmt: skip
        out[c] = out[c].astype(object)  # plain text: fast to group and slice
    s = series[keep]
    return out.assign(
        size=s.str.split("|").str[0].to_numpy(),
        data=out["pretrain_data"].astype("string").fillna("(unnamed)").to_numpy(),
        series=s.to_numpy(),
    )


def _size_order(frame: pd.DataFrame) -> list[str]:
    params = frame.groupby("size")["params"].max() if "params" in frame else None
    sizes = sorted(frame["size"].unique().tolist())
    if params is not None and params.notna().all():
        return [str(s) for s in params.sort_values(kind="stable").index]
    return [str(s) for s in sizes]


def _y_scale(values: np.ndarray, metric: Any) -> dict[str, Any]:
    scale: dict[str, Any] = {"reverse": lower_is_better(metric), "zero": False, "nice": True}
    finite = values[np.isfinite(values)]
    if (
        lower_is_better(metric)
        and finite.size
        and finite.min() > 0
        and (finite.max() / finite.min() > 50)
    ):
        scale["type"] = "log"  # perplexities span orders of magnitude between steps
    return scale


def ladder_payload(
    frame: pd.DataFrame,
    names: Names,
    *,
    title: str,
    metric: Any,
    upstream_title: str,
    methods: list[str],
    data_values: list[str],
    sizes: list[str],
) -> dict[str, Any]:
    """Make the payload of a training-step ladder (both templates share it).

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of one task (or a family's means) and metric: ``size``, ``data``, ``series``,
        ``method``, ``model``, ``pretrain_steps``, ``pretrained``, ``upstream_score``,
        ``downstream_score``.
    names : Names
        The page's list of names.
    title : str
        Chart title.
    metric : Any
        The downstream metric.
    upstream_title : str
        Title of the upstream axis.
    methods, data_values, sizes : list of str
        Domains of colour, dash and facet order (the same on every chart of a page).

    Returns
    -------
    dict
        Values and the dataset ``rows``.
    """
    steps = frame["pretrain_steps"].to_numpy(dtype=float)
    base = (steps == 0) | ~frame["pretrained"].fillna(True).astype(bool).to_numpy()
    kind = np.where(base, "baseline", "checkpoint")
    y = frame["downstream_score"].to_numpy(dtype=float)
    rows = {
        "kind": names.codes(kind),
        "size": names.codes(frame["size"]),
        "method": names.codes(frame["method"]),
        "data": names.codes(frame["data"]),
        "series": names.codes(frame["series"].astype(str) + "|" + frame["method"].astype(str)),
        "model": names.codes(frame["model"]),
        "step": compact(np.where(base, np.nan, steps)),
        "upstream_score": compact(frame["upstream_score"]),
        "downstream_score": compact(y),
    }
    colors = [charts.PALETTE[i % len(charts.PALETTE)] for i in range(len(methods))]
    dashes = [[1, 0], [5, 3], [2, 2], [8, 3, 2, 3]]
    y_title = f"{metric_name(metric)}" + (" (lower is better, reversed)" if lower_is_better(
        metric) else "")  # fmt: skip
    values = {
        "title": title,
        "x_title": "training step (log)",
        "y_title": y_title,
        "y_scale": _y_scale(y, metric),
        "color_scale": {"domain": methods, "range": colors},
        "dash_scale": {"domain": data_values, "range": dashes[: len(data_values)] or [[1, 0]]},
        "facet_order": sizes,
        "upstream_title": upstream_title,
    }
    return {"values": values, "datasets": {"rows": rows}}


def _family_means(frame: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Mean over a family's tasks per checkpoint and method (checkpoints with every task)."""
    part = frame[frame["task"].isin(tasks)]
    keys = ["size", "data", "series", "method", "model"]
    agg = (
        part.groupby(keys, sort=True, dropna=False)
        .agg(
            pretrain_steps=("pretrain_steps", "first"),
            pretrained=("pretrained", "first"),
            upstream_score=("upstream_score", "mean"),
            downstream_score=("downstream_score", "mean"),
            n_tasks=("task", "nunique"),
        )
        .reset_index()
    )
    full = agg.groupby("method")["n_tasks"].transform("max")
    return agg[agg["n_tasks"] == full]


@functools.lru_cache(maxsize=1)
def _templates() -> tuple[tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]:
    steps = charts.step_ladder_template("step")
    up = charts.step_ladder_template("upstream")
    up = _retitle(up)
    return (STEPS, steps), (UPSTREAM, up)


def _retitle(spec: Any) -> Any:
    """Point the upstream template's x title at its own placeholder."""
    if isinstance(spec, dict):
        return {
            k: ("@@upstream_title" if k == "title" and v == "@@x_title" else _retitle(v))
            for k, v in spec.items()
        }
    if isinstance(spec, list):
        return [_retitle(v) for v in spec]
    return spec


def _step_caption(frame: pd.DataFrame, what: str) -> str:
    ups = frame.loc[frame["pretrained"].fillna(True).astype(bool), "upstream_metric"].dropna()
    up_tasks = frame["upstream_task"].dropna().unique().tolist()
    upstream = score_axis_title("", ups.unique().tolist(), up_tasks).strip()
    base_methods = sorted(
        frame.loc[frame["pretrain_steps"].eq(0) | ~frame["pretrained"].fillna(True).astype(bool),
                  "method"].astype(str).unique()
    )  # fmt: skip
    baseline = (
        f"Dotted horizontal lines: the step-0 model (no pretraining) of each series, for "
        f"{', '.join(base_methods)} (the data have no step 0 for the other methods)."
        if base_methods
        else "The data have no step-0 model, so no baseline is drawn."
    )
    return (
        f"{what} One panel per model size; a line per method (colour) and pretraining data "
        f"(dash) along the checkpoints: against the training step (log scale), and against the "
        f"checkpoint's upstream score ({upstream}). {baseline}"
    )


def _ladder_figures(
    charts_page: Any, frame: pd.DataFrame, title: str, metric: Any, up_title: str,
    domains: tuple[list[str], list[str], list[str]], caption: str, *, lazy: bool, export: bool,
) -> str:  # fmt: skip
    (steps_name, steps_t), (up_name, up_t) = _templates()
    payload = ladder_payload(
        frame, charts_page.names, title=title, metric=metric, upstream_title=up_title,
        methods=domains[0], data_values=domains[1], sizes=domains[2],
    )  # fmt: skip
    a = charts_page.add_payload("ladder-steps", (steps_name, steps_t), payload, caption,
                                lazy=lazy, export=export)  # fmt: skip
    b = charts_page.add_payload("ladder-upstream", (up_name, up_t), payload, "", lazy=lazy,
                                export=export)  # fmt: skip
    files = " ".join(
        [
            *(H.link(f, "steps " + f.rsplit(".", 1)[-1].upper()) for f in a.files),
            *(H.link(f, "upstream " + f.rsplit(".", 1)[-1].upper()) for f in b.files),
        ]
    )
    return (
        '<figure class="chart wide"><div class="charts">'
        f"{a.container()}{b.container()}</div><figcaption>{H.escape(caption)} "
        f'<span class="files">{files}</span></figcaption></figure>'
    )


def _step_ladders(ctx: Any, steps: pd.DataFrame) -> tuple[list[str], list[Page], str]:
    body: list[str] = []
    pages: list[Page] = []
    md: list[str] = []
    budget = ctx.options.max_ladder_tasks
    for n_source, (source, part) in enumerate(steps.groupby("source", sort=True)):
        methods = sorted(part["method"].astype(str).unique())
        datas = sorted(part["data"].astype(str).unique())
        sizes = _size_order(part)
        domains = (methods, datas, sizes)
        up_metric = part["upstream_metric"].dropna().unique().tolist()
        up_title = short_axis_title("upstream", up_metric)
        families = task_families(part["task"].unique().tolist())
        body.append(f"<h3>{H.escape(str(source))}</h3>")
        n_series = part["series"].nunique()
        n_steps = part["pretrain_steps"].nunique()
        body.append(
            H.paragraph(
                f"{n_series} series of checkpoints ({len(sizes)} model sizes × "
                f"{len(datas)} pretraining data), {n_steps} training steps, "
                f"{part['task'].nunique()} tasks. Each task family's mean score is shown here; "
                "the ladder page has every task."
            )
        )
        by_family: dict[str, list[str]] = {}
        for task, fam in families.items():
            by_family.setdefault(fam, []).append(task)
        for fam, tasks in sorted(by_family.items()):
            if budget <= 0:
                break
            sub = part[part["task"].isin(tasks)]
            metric = sub["downstream_metric"].value_counts().index[0]
            sub = sub[sub["downstream_metric"] == metric]
            means = _family_means(sub, tasks)
            what = (
                f"{source} · {fam}: mean {metric_name(metric)} over {sub['task'].nunique()} tasks"
            )
            body.append(
                _ladder_figures(
                    ctx.charts, means, what, metric, up_title, domains,
                    _step_caption(sub, what + "."), lazy=False, export=True,
                )
            )  # fmt: skip
            md.append(f"- {what}")
            budget -= 1
        page = _step_ladder_page(ctx, str(source), part, domains, up_title, n_source)
        pages.append(page)
        body.append(f"<p>{H.link(page.file, f'Every task of {source} along its ladders')}</p>")
    return body, pages, "\n".join(md)


def _step_ladder_page(
    ctx: Any, source: str, part: pd.DataFrame, domains: Any, up_title: str, n: int
) -> Page:
    file = f"ladders-{n + 1}.html"
    charts_page = ctx.new_page(file.removesuffix(".html") + "-")
    families = task_families(part["task"].unique().tolist())
    sections = [
        H.Section(
            "about",
            f"{source}: every task along its checkpoint ladders",
            (
                H.paragraph(
                    "One figure per task and downstream metric. "
                    + _step_caption(part, "")
                    + " Charts are drawn as they scroll into view."
                ),
            ),
        )
    ]
    by_family: dict[str, list[str]] = {}
    for task, fam in families.items():
        by_family.setdefault(fam, []).append(task)
    for i, (fam, tasks) in enumerate(sorted(by_family.items())):
        figures = []
        sub = part[part["task"].isin(tasks)]
        for key, frame in sub.groupby(["task", "downstream_metric"], sort=True):
            task_name, metric = key
            title = f"{task_name} · {metric_name(metric)}"
            figures.append(
                _ladder_figures(
                    charts_page, frame, title, metric, up_title, domains, title, lazy=True,
                    export=False,
                )
            )  # fmt: skip
        sections.append(H.Section(f"family-{i + 1}", str(fam), tuple(figures)))
    return Page(
        file=file,
        label=f"{source} ladders",
        title=f"{source}: checkpoint ladders",
        subtitle=(),
        sections=tuple(sections),
        charts=charts_page,
    )


def _context_text(column: str, value: Any) -> str:
    return metric_name(value) if column == "downstream_metric" else label_value(column, value)


def _upstream_ladders(ctx: Any, runs: pd.DataFrame) -> list[str]:
    """Draw the ladder of tasks whose checkpoints are ordered by upstream score."""
    pre = runs["pretrained"].fillna(True).astype(bool)
    if runs.loc[pre, "upstream_score"].notna().sum() == 0:
        return []
    frame = runs.copy()
    # a panel per task and context; its label names only what differs between the panels
    several = [c for c in ("downstream_metric", "shots") if frame[c].nunique(dropna=False) > 1]
    if several:
        frame["task"] = [
            " · ".join([str(t), *(_context_text(c, v) for c, v in zip(several, rest, strict=True))])
            for t, *rest in zip(frame["task"], *(frame[c] for c in several), strict=True)
        ]
    # compared against training from scratch: tasks with runs without pretraining
    scratch_tasks = set(frame.loc[~pre, "task"].astype(str))
    frame = frame[frame["task"].astype(str).isin(scratch_tasks)]
    if frame.empty:
        return []
    ck, base = charts.ladder_frame(frame, x="upstream_score")
    n_ck = ck.groupby(["task", "method"]).size().reset_index(name="n")
    widths = n_ck.groupby("task")["n"].max()
    tasks = sorted(str(t) for t, n in widths.items() if 2 <= n <= MAX_LADDER_CHECKPOINTS)
    if not tasks:
        return []
    shown: list[str] = []
    n_rows = 0
    for task in tasks[: ctx.options.max_ladder_tasks]:
        size = int((ck["task"].astype(str) == task).sum())
        if shown and n_rows + size > MAX_LADDER_POINTS:
            break
        shown.append(task)
        n_rows += size
    ck = ck[ck["task"].astype(str).isin(shown)]
    base = base[base["task"].astype(str).isin(shown)]
    ups = runs.loc[pre, "upstream_metric"].tolist()
    x_long = score_axis_title("upstream", ups, runs.loc[pre, "upstream_task"].tolist())
    y_long = score_axis_title("downstream", runs["downstream_metric"].tolist())
    shared = bool((base["method"] == charts.SCRATCH_LABEL).any())
    per_method = bool((base["method"] != charts.SCRATCH_LABEL).any())
    if shared and per_method:
        baseline = (
            "Dashed horizontal lines: the same task trained without pretraining (grey where one "
            "baseline serves every method, in a method's colour where it has its own)."
        )
    elif shared:
        baseline = (
            "Grey dashed horizontal line: the same task trained without pretraining, one "
            "baseline shared by every method."
        )
    else:
        baseline = (
            "Dashed horizontal lines: the same task trained without pretraining, in the colour "
            "of its method."
        )
    caption = (
        "One panel per task. Each line follows one adaptation method along checkpoints of "
        f"increasing pretraining quality (x: the checkpoint's {x_long}; y: {y_long}, mean "
        f"over seeds, bars: ± one standard error). {baseline} The gap between a line and its "
        "baseline is the gain from pretraining; a steep line depends strongly on the "
        "checkpoint's quality."
    )
    chart = charts.ladder_chart(
        ck,
        base,
        title="Downstream score along the checkpoint ladder",
        x_title="checkpoint's upstream score",
        y_title=short_axis_title("downstream", runs["downstream_metric"].tolist()),
    )
    fig = ctx.charts.add("ladder", chart, caption)
    body = [fig.html().replace('class="chart"', 'class="chart wide"')]
    if len(tasks) > len(shown):
        body.insert(
            0,
            H.paragraph(
                f"{len(tasks)} tasks have a ladder; the first {len(shown)} by name are drawn (at "
                f"most {ctx.options.max_ladder_tasks} panels of at most {MAX_LADDER_POINTS} "
                "points in all).",
                "note",
            ),
        )
    return body


def ladder_section(ctx: Any) -> Any:
    """Build the checkpoint ladder section (and a ladder page per source of step ladders).

    Parameters
    ----------
    ctx : ReportContext
        The report being built.

    Returns
    -------
    SectionOutput or None
        None when the runs hold no ladder.
    """
    from transferscope.report.sections import SectionOutput

    steps = step_ladder_runs(ctx.runs)
    body: list[str] = []
    pages: list[Page] = []
    md = ""
    if not steps.empty:
        body_s, pages, md = _step_ladders(ctx, steps)
        body += body_s
    rest = ctx.runs[~ctx.runs["source"].isin(set(steps["source"]))] if len(steps) else ctx.runs
    if len(rest):
        body += _upstream_ladders(ctx, rest)
    if not body:
        return None
    section = H.Section("ladders", "Checkpoint ladders", tuple(body))
    markdown = f"## Checkpoint ladders\n\n{md}\n" if md else ""
    return SectionOutput(sections=(section,), markdown=markdown, pages=tuple(pages))
