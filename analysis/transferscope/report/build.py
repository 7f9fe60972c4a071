"""Build the report of a store: ``index.html``, ``summary.md`` and every chart as PNG and SVG.

:func:`build_report` reads the runs and sources of a store, shows the current fits of the
frontier groups (those ``transferscope fit`` stored; the others are fitted now), ranks
the methods by their dependence on pretraining, and writes

- ``index.html``: one self-contained page (the Vega libraries inlined; no request leaves it);
- ``summary.md``: the same findings as Markdown tables;
- ``charts/<name>.png`` and ``charts/<name>.svg``: every chart of the page, rendered by vl-convert.

Chart files are named by their position (``frontier-003``), never by user text. With many groups
the page stays usable: frontier charts are drawn for the ``max_group_charts`` fitted groups with
the most runs, and every group is listed in a filterable table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

from transferscope._version import __version__
from transferscope.errors import InputError
from transferscope.paths import check_output_folder
from transferscope.records import Record
from transferscope.report import charts
from transferscope.report import html as H
from transferscope.report.frontiers import FrontierSection, frontier_section, select_rows
from transferscope.report.knowledge_ladder import knowledge_ladder_section
from transferscope.report.labels import label_value, score_axis_title
from transferscope.report.markdown import md_escape, md_table
from transferscope.report.theory import theory_section
from transferscope.rng import check_resamples, check_seed
from transferscope.store import Store

#: Frontier charts drawn by default (the fitted groups with the most runs).
DEFAULT_MAX_GROUP_CHARTS = 12
#: Ladder panels (tasks) drawn by default.
DEFAULT_MAX_LADDER_TASKS = 12
#: A line of a ladder plot has at most this many checkpoints (more is not a ladder).
MAX_LADDER_CHECKPOINTS = 200
#: Points of the ladder chart at most (panels are dropped beyond it).
MAX_LADDER_POINTS = 4000
#: Models ranked at most when models stand in for pretraining methods (see choose_entity).
MAX_RANKED_MODELS = 40
#: Entities drawn at most in a forest plot or critical-difference diagram (the table has all).
MAX_CHART_ENTITIES = 30
#: Ranking contexts (downstream metric x shots) drawn by default.
DEFAULT_MAX_CONTEXTS = 4

_RANK_AXIS = {
    "gain": "Gain over training from scratch (downstream score; mean over checkpoints)",
    "slope": "Slope of logit(downstream) on logit(upstream) across checkpoints",
    "retention": "Retention: share of the best checkpoint's gain kept by the others",
}
_RANK_MEANING = {
    "gain": (
        "how much pretraining adds over training from scratch (higher = more dependent on "
        "pretraining)"
    ),
    "slope": (
        "how strongly downstream accuracy follows the checkpoint's quality "
        "(higher = more dependent on a good checkpoint)"
    ),
    "retention": (
        "how much of the benefit survives a worse checkpoint (lower = more dependent on a good "
        "checkpoint)"
    ),
}


@dataclass(frozen=True, kw_only=True)
class ReportResult(Record):
    """What :func:`build_report` wrote.

    Parameters
    ----------
    out_dir : pathlib.Path
        Folder of the report.
    index_html, summary_md : pathlib.Path
        The page and the Markdown summary.
    charts : tuple of pathlib.Path
        Every exported chart file (PNG and SVG).
    n_runs, n_sources, n_groups, n_groups_ok, n_groups_charted, n_fitted_now : int
        Runs and sources in the report; frontier groups (all, fitted with status ``ok``, drawn);
        fits computed by this build (the others were current in the store).
    n_methods_ranked : int
        Methods in the ranking (summed over contexts).
    seconds : float
        Wall time of the build.
    """

    out_dir: Path
    index_html: Path
    summary_md: Path
    charts: tuple[Path, ...]
    n_runs: int
    n_sources: int
    n_groups: int
    n_groups_ok: int
    n_groups_charted: int
    n_fitted_now: int
    n_methods_ranked: int
    seconds: float
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> pd.DataFrame:
        """Return one row of counts and paths.

        Returns
        -------
        pandas.DataFrame
            Columns ``index_html``, ``summary_md``, ``n_charts``, ``n_runs``, ``n_sources``,
            ``n_groups``, ``n_groups_ok``, ``n_groups_charted``, ``n_fitted_now``,
            ``n_methods_ranked``, ``seconds``.
        """
        rec = self.to_record()
        rec["n_charts"] = len(self.charts)
        cols = [
            "index_html", "summary_md", "n_charts", "n_runs", "n_sources", "n_groups",
            "n_groups_ok", "n_groups_charted", "n_fitted_now", "n_methods_ranked", "seconds",
        ]  # fmt: skip
        return pd.DataFrame([{c: rec[c] for c in cols}])


# -- the build -----------------------------------------------------------------------------


@dataclass
class _Charts:
    """Collects figures and exports each as PNG and SVG."""

    out_dir: Path
    formats: tuple[str, ...]
    figures: list[H.Figure] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def add(self, name: str, chart: alt.TopLevelMixin, caption: str) -> H.Figure:
        chart_id = f"chart-{len(self.figures):03d}"
        stem = f"{len(self.figures):03d}-{name}"
        spec = chart.to_dict()
        rel: list[str] = []
        if self.formats:
            import vl_convert as vlc

            folder = self.out_dir / "charts"
            folder.mkdir(parents=True, exist_ok=True)
            svg = vlc.vegalite_to_svg(spec)
            if "svg" in self.formats:
                (folder / f"{stem}.svg").write_text(svg, encoding="utf-8")
                rel.append(f"charts/{stem}.svg")
            if "png" in self.formats:
                (folder / f"{stem}.png").write_bytes(vlc.svg_to_png(svg, scale=2.0))
                rel.append(f"charts/{stem}.png")
            self.files.extend(self.out_dir / r for r in rel)
        fig = H.Figure(chart_id, spec, caption, tuple(sorted(rel)))
        self.figures.append(fig)
        return fig


def _filters(tasks: Sequence[str] | None, methods: Sequence[str] | None) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if tasks:
        filters["task"] = list(tasks)
    if methods:
        filters["method"] = list(methods)
    return filters


def _sources_section(sources: pd.DataFrame, runs: pd.DataFrame) -> tuple[H.Section, str]:
    counts = runs.groupby("source", sort=True).agg(
        n_runs_in_report=("source", "size"),
        n_tasks=("task", "nunique"),
        n_methods=("method", "nunique"),
        n_models=("model", "nunique"),
    )
    table = sources.merge(counts, left_on="name", right_index=True, how="inner")
    cols = {
        "name": "source",
        "title": "title",
        "n_runs_in_report": "runs in report",
        "n_tasks": "tasks",
        "n_methods": "methods",
        "n_models": "models",
        "license": "license",
        "url": "published at",
        "commit": "commit",
        "sha256": "sha256",
        "citation": "citation",
        "ingested_at": "ingested (UTC)",
    }
    body = (
        H.paragraph(
            "Where the runs come from: each source is one ingest, with the address and commit it "
            "was published at and the checksum of the files that were read."
        ),
        H.table(table, cols, links=("url",), table_id="sources"),
    )
    md = "## Sources\n\n" + md_table(table, {k: cols[k] for k in list(cols)[:8]}) + "\n"
    return H.Section("sources", "Sources and provenance", body), md


def _context_columns(frame: pd.DataFrame, entity: str = "method") -> list[str]:
    cols = list(frame.columns)
    return cols[: cols.index(entity)] if entity in cols else []


def choose_entity(runs: pd.DataFrame, metric: str = "gain") -> str:
    """Column to rank: ``method``, or ``model`` when every context has a single method.

    Tables such as VTAB-1k compare pretraining methods (stored as models, with a
    ``From-Scratch`` baseline) under one adaptation method; ranking the one method would say
    nothing, so their models are ranked instead (when there are at most
    :data:`MAX_RANKED_MODELS`; a checkpoint ladder of hundreds of models is not a comparison of
    pretraining methods). A slope or a retention is measured along a ladder of checkpoints, which
    a single model is not: for those the methods are always ranked.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    metric : {"gain", "slope", "retention"}, default "gain"
        The metric ranked on.

    Returns
    -------
    str
        ``"method"`` or ``"model"``.
    """
    if metric != "gain":
        return "method"
    contexts = runs.groupby(["downstream_metric", "shots"], dropna=False)
    one_method = int(contexts["method"].nunique().max()) <= 1
    pre = runs[runs["pretrained"].fillna(True).astype(bool)]
    n_models = int(pre["model"].nunique())
    return "model" if one_method and 2 <= n_models <= MAX_RANKED_MODELS else "method"


def _ranking_section(
    runs: pd.DataFrame,
    add: Callable[[str, alt.TopLevelMixin, str], H.Figure],
    *,
    metric: str,
    entity: str | None,
    bootstrap: int,
    seed: int,
    max_contexts: int,
) -> tuple[H.Section, str, int]:
    from transferscope.dependence.metrics import task_values
    from transferscope.dependence.ranking import rank_methods
    from transferscope.dependence.stability import friedman_nemenyi

    ent = choose_entity(runs, metric) if entity is None else entity
    noun = "methods" if ent == "method" else f"{ent}s"
    title = "Method ranking: dependence on pretraining"
    text = (
        f"The {noun} are ranked by their {metric} ({_RANK_MEANING[metric]}), computed per task "
        + ("against the runs without pretraining " if metric != "slope" else "")
        + "and pooled across tasks by random-effects "
        "meta-analysis (tasks of one suite, such as MMLU's subjects, by a three-level model with "
        "cluster-robust errors; the 'pooled by' column says which). The most dependent on "
        "pretraining comes first, rank 1. p_best is the probability of ranking first, and the "
        "rank interval the range of ranks, over draws from the joint sampling distribution of "
        "the pooled estimates."
    )
    if ent != "method" and entity is None:
        text += (
            " Each context has a single adaptation method, so the pretrained models (for a table "
            "such as VTAB-1k, the pretraining methods) are ranked instead."
        )
    intro = H.paragraph(text)
    try:
        ranking = rank_methods(runs, metric, entity=ent, bootstrap=bootstrap, seed=seed)
        values = task_values(runs, metric, entity=ent)
        fried = friedman_nemenyi(runs, metric, entity=ent)
    except InputError as exc:
        note = f"No ranking could be made: {exc}"
        return (
            H.Section("ranking", title, (intro, H.paragraph(note))),
            f"## Ranking\n\n{md_escape(note)}\n\n",
            0,
        )
    if not ranking["estimate"].notna().any():
        reasons = ranking["message"].dropna().astype(str)
        need = (
            "runs without pretraining (pretrained = false) as the scratch baseline, and "
            "pretrained checkpoints of the same task"
            if metric != "slope"
            else "at least three checkpoints with upstream scores per task"
        )
        note = f"No ranking: a {metric} ranking needs {need}." + (
            f" ({reasons.iloc[0]})" if not reasons.empty else ""
        )
        return (
            H.Section("ranking", title, (intro, H.paragraph(note))),
            f"## Ranking\n\n{md_escape(note)}\n\n",
            0,
        )
    if ent != "method":  # the chart builders name the ranked column "method"
        ranking = ranking.drop(columns=["method"], errors="ignore").rename(columns={ent: "method"})
        values = values.drop(columns=["method"], errors="ignore").rename(columns={ent: "method"})
        fried = fried.drop(columns=["method"], errors="ignore").rename(columns={ent: "method"})
    context = _context_columns(ranking)
    groups = list(ranking.groupby(context, dropna=False, sort=True)) if context else [((), ranking)]
    body: list[str] = [intro]
    md = [f"## Ranking of {md_escape(noun)} ({md_escape(metric)})\n"]
    if len(groups) > max_contexts:
        body.append(
            H.paragraph(
                f"{len(groups)} contexts (downstream metric × shots); charts for the first "
                f"{max_contexts}, every context in the tables.",
                "note",
            )
        )
    cols = {
        "method": ent, "rank": "rank", "rank_low": "rank low", "rank_high": "rank high",
        "estimate": "pooled estimate", "se": "se", "ci_low": "ci low", "ci_high": "ci high",
        "diff_from_best": "behind first", "diff_se": "se of difference", "p_best": "p_best",
        "n_tasks": "tasks", "n_suites": "suites", "tau2": "tau²", "pool_model": "pooled by",
        "status": "status", "message": "note",
    }  # fmt: skip
    n_ranked = 0
    for i, (key, table) in enumerate(groups):
        keys = dict(zip(context, key if isinstance(key, tuple) else (key,), strict=True))
        label = (
            ", ".join(f"{c.replace('_', ' ')}: {label_value(c, v)}" for c, v in keys.items())
            if keys
            else "all runs"
        )
        n_ranked += len(table)
        body.append(f"<h3>{H.escape(label)}</h3>")
        body.append(H.table(table, cols))
        md.append(f"### {md_escape(label)}\n\n" + md_table(table, cols) + "\n")
        valued = table[table["estimate"].notna()]
        if i >= max_contexts or valued.empty:
            continue  # a context without values (e.g. no scratch baseline) has only its notes
        drawn = valued.head(MAX_CHART_ENTITIES)
        per_task = select_rows(values, keys)
        per_task = per_task[per_task["method"].isin(drawn["method"])]
        if len(table) > len(drawn):
            body.append(
                H.paragraph(
                    f"The charts show the best {len(drawn)} of {len(table)} {noun}.", "note"
                )
            )
        figs = []
        chart = charts.forest_chart(
            drawn,
            per_task,
            title=[f"Pooled {metric} per {ent}", label],
            x_title=_RANK_AXIS[metric],
            reference=0.0 if metric == "gain" else None,
        )
        figs.append(
            add(
                f"forest-{i}",
                chart,
                f"Forest plot. Black diamond: the pooled estimate per {ent} with its "
                f"{round(100 * float(drawn['ci_level'].iloc[0]))}% interval (thick line); "
                "grey points and thin lines: the per-task values and their intervals, one row "
                f"per task inside the {ent}'s band. The most dependent on pretraining comes first."
                + (" The dashed line marks no gain over scratch." if metric == "gain" else ""),
            )
        )
        fr = select_rows(fried, {c: v for c, v in keys.items() if c in fried})
        if not fr.empty and (fr["status"] == "ok").all() and len(fr) <= MAX_CHART_ENTITIES:
            cd = float(fr["critical_difference"].iloc[0])
            chart = charts.cd_diagram(
                fr[["method", "mean_rank"]],
                cd,
                alpha=float(fr["alpha"].iloc[0]),
                title=["Critical-difference diagram", label],
            )
            figs.append(
                add(
                    f"cd-{i}",
                    chart,
                    f"Mean rank of each {ent} across {int(fr['n_tasks'].iloc[0])} tasks "
                    "(1 = most dependent on pretraining, left; the table's rank counts the same "
                    f"way). {noun.capitalize()} joined by a red bar are not "
                    "significantly "
                    "different (Nemenyi test); the bar at the top is the critical difference. "
                    f"Friedman test: chi² = {float(fr['statistic'].iloc[0]):.2f}, "
                    f"p = {float(fr['pvalue'].iloc[0]):.3g}; Kendall's W = "
                    f"{float(fr['kendall_w'].iloc[0]):.2f} (agreement of the tasks' orders).",
                )
            )
        body.append('<div class="charts">' + "".join(f.html() for f in figs) + "</div>")
        if len(figs) < 2:
            body.append(
                H.paragraph(
                    f"No critical-difference diagram: it needs two to {MAX_CHART_ENTITIES} "
                    f"{noun} with values on at least two common tasks.",
                    "note",
                )
            )
    return H.Section("ranking", title, tuple(body)), "\n".join(md) + "\n", n_ranked


def _ladder_section(
    runs: pd.DataFrame,
    add: Callable[[str, alt.TopLevelMixin, str], H.Figure],
    max_tasks: int,
) -> H.Section | None:
    pre = runs["pretrained"].fillna(True).astype(bool)
    x = "upstream_score"
    if runs.loc[pre, x].notna().sum() == 0:
        x = "pretrain_steps"
        if runs.loc[pre, x].notna().sum() == 0:
            return None
    frame = runs.copy()
    frame[x] = frame[x].astype("float64")
    contexts = frame[["downstream_metric", "shots"]].drop_duplicates()
    if len(contexts) > 1:
        frame["task"] = [
            f"{t} · {m} · {label_value('shots', s)}"
            for t, m, s in zip(
                frame["task"], frame["downstream_metric"], frame["shots"], strict=True
            )
        ]
    # a ladder: checkpoints of one pretraining run, or compared against training from scratch
    is_ladder = (~pre) | frame["pretrain_steps"].notna()
    ladder_like = set(frame.loc[is_ladder, "task"].astype(str))
    frame = frame[frame["task"].astype(str).isin(ladder_like)]
    if frame.empty:
        return None
    ck, base = charts.ladder_frame(frame, x=x)
    n_ck = ck.groupby(["task", "method"]).size().reset_index(name="n")
    fits = n_ck.groupby("task")["n"].agg(["min", "max"])
    ladder_tasks = sorted(
        str(t) for t, r in fits.iterrows() if r["max"] >= 2 and r["max"] <= MAX_LADDER_CHECKPOINTS
    )
    if not ladder_tasks:
        return None
    shown: list[str] = []
    n_rows = 0
    for task in ladder_tasks[:max_tasks]:  # keep the chart's data small enough to embed
        size = int((ck["task"].astype(str) == task).sum())
        if shown and n_rows + size > MAX_LADDER_POINTS:
            break
        shown.append(task)
        n_rows += size
    ck = ck[ck["task"].astype(str).isin(shown)]
    base = base[base["task"].astype(str).isin(shown)]
    x_long = (
        score_axis_title(
            "upstream",
            runs.loc[pre, "upstream_metric"].tolist(),
            runs.loc[pre, "upstream_task"].tolist(),
        )
        if x == "upstream_score"
        else "pretraining steps"
    )
    x_title = "Checkpoint's upstream score" if x == "upstream_score" else "Pretraining steps"
    y_title = score_axis_title("Downstream", runs["downstream_metric"].tolist())
    chart = charts.ladder_chart(
        ck,
        base,
        title="Downstream score along the checkpoint ladder",
        x_title=x_title,
        y_title=y_title,
    )
    caption = (
        "One panel per task. Each line follows one adaptation method along checkpoints of "
        f"increasing pretraining quality (x: the checkpoint's {x_long}; y: mean over seeds, "
        "bars: ± one standard error). Dashed "
        "horizontal lines: the same task trained without pretraining (scratch baseline), in the "
        "colour of its method. The gap between a line and the dashed line is the gain from "
        "pretraining; a steep line depends strongly on the checkpoint's quality."
    )
    fig = add("ladder", chart, caption)
    body = [fig.html().replace('class="chart"', 'class="chart wide"')]
    if len(ladder_tasks) > len(shown):
        body.insert(
            0,
            H.paragraph(
                f"{len(ladder_tasks)} tasks have a ladder; the first {len(shown)} by name are "
                "drawn (at most "
                f"{max_tasks} panels of at most {MAX_LADDER_POINTS} points in all).",
                "note",
            ),
        )
    return H.Section("ladders", "Checkpoint ladders", tuple(body))


def _mean_over_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a knowledge table that average over inputs (scope ``input_mean``) when scoped."""
    if "scope" in frame.columns:
        return frame[frame["scope"] == "input_mean"]
    return frame


def _comparisons(store: Store, extra: Sequence[Any]) -> list[Any]:
    """Return the stored knowledge comparisons, with those passed in replacing same names."""
    from transferscope.knowledge import load_knowledge

    by_name = {c.comparison: c for c in load_knowledge(store)}
    by_name.update({c.comparison: c for c in extra})
    return [by_name[name] for name in sorted(by_name)]


def _knowledge_section(
    comparisons: Sequence[Any],
    add: Callable[[str, alt.TopLevelMixin, str], H.Figure],
) -> tuple[H.Section, str] | None:
    if not comparisons:
        return None
    body: list[str] = [
        H.paragraph(
            "Harsanyi interactions of a pretrained, a fine-tuned and a from-scratch model on the "
            "same inputs. Preserved: salient in both the pretrained and the fine-tuned model; "
            "discarded: salient in the pretrained model only; newly learned: salient in the "
            "fine-tuned model only; exclusive: preserved but never learned from scratch. Counts "
            "and shares are means over the inputs analysed."
        )
    ]
    md = ["## Interactions (knowledge kept, discarded and learned)\n"]
    cols = {
        "set": "set",
        "n_interactions": "salient interactions (mean per input)",
        "share_of_p": "strength share of pretrained",
        "share_of_f": "strength share of fine-tuned",
        "share_of_r": "strength share of scratch",
    }
    for i, comp in enumerate(comparisons):
        summary = _mean_over_inputs(comp.summary())
        summary = summary[
            summary["set"].isin(["preserved", "discarded", "newly_learned", "exclusive"])
        ]
        label = f"{comp.comparison} (task {comp.task}, tau = {comp.tau:g})"
        body.append(f"<h3>{H.escape(label)}</h3>")
        body.append(H.table(summary, cols))
        md.append(f"### {md_escape(label)}\n\n" + md_table(summary, cols) + "\n")
        prof = _mean_over_inputs(comp.order_profile())
        rows = []
        for name, share in (
            ("preserved", "share_of_f"),
            ("newly_learned", "share_of_f"),
            ("discarded", "share_of_p"),
        ):
            part = prof[prof["set"] == name]
            rows.append(
                pd.DataFrame(
                    {
                        "order": part["interaction_order"].astype(int).to_numpy(),
                        "category": name.replace("_", " "),
                        "value": part[share].to_numpy(dtype=float),
                    }
                )
            )
        profile = pd.concat(rows, ignore_index=True)
        profile = profile[profile["order"] > 0]
        chart = charts.interaction_profile_chart(
            profile,
            title=["Knowledge by interaction order", label],
            y_title="Share of the model's salient strength",
        )
        fig = add(
            f"knowledge-{i}",
            chart,
            "Bars: the share of salient interaction strength in each set, by the number of "
            "variables that interact. Preserved and newly learned are shares of the fine-tuned "
            "model's strength (they add up to 1 over all orders); discarded is a share of the "
            "pretrained model's.",
        )
        body.append(fig.html())
    return H.Section(
        "knowledge", "Interactions: knowledge kept, discarded and learned", tuple(body)
    ), "\n".join(md)


def build_report(
    store: Store,
    out_dir: str | Path,
    *,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    family: str | None = None,
    max_group_charts: int = DEFAULT_MAX_GROUP_CHARTS,
    max_ladder_tasks: int = DEFAULT_MAX_LADDER_TASKS,
    max_contexts: int = DEFAULT_MAX_CONTEXTS,
    rank_metric: str = "gain",
    rank_entity: str | None = None,
    rank_bootstrap: int = 1000,
    fit_bootstrap: int | None = None,
    fit_options: Mapping[str, Any] | None = None,
    seed: int | None = None,
    knowledge: Sequence[Any] = (),
    image_formats: Sequence[str] = ("png", "svg"),
    title: str = "transferscope report",
    progress: bool = False,
) -> ReportResult:
    """Write the report of a store to ``out_dir``.

    Parameters
    ----------
    store : Store
        An open store (writable, so that missing fits can be stored; read-only works when all
        fits are current).
    out_dir : str or pathlib.Path
        Folder to write; created if needed; files of an earlier report are overwritten.
    tasks, methods : sequence of str, optional
        Keep only these tasks / methods.
    family : str, optional
        Saturating family to fit and draw (the frontier engine's default when omitted);
        ``"all"`` draws every family side by side.
    max_group_charts : int
        Frontier charts to draw: the fitted groups with the most runs (all are in the table).
    max_ladder_tasks : int
        Ladder panels to draw (tasks in name order).
    max_contexts : int
        Ranking contexts (downstream metric × shots) that get charts.
    rank_metric : {"gain", "slope", "retention"}
        Dependence metric the methods are ranked on.
    rank_entity : str, optional
        Column ranked; by default ``method``, or ``model`` when every context has a single
        method (see :func:`choose_entity`).
    rank_bootstrap : int
        Bootstrap resamples of tasks for ``p_best``.
    fit_bootstrap : int, optional
        Bootstrap resamples of the plateau intervals.
    fit_options : mapping, optional
        Other fit options (fields of :class:`transferscope.frontier.FitSettings`).
    seed : int, optional
        Seed of every resampling (0 when omitted).

    Without ``family``, ``fit_bootstrap``, ``fit_options`` and ``seed``, the report shows for
    each group the most recent current fit in the store, whatever options it was made with
    (``report`` after ``fit`` refits nothing and shows ``fit``'s numbers), and fits the other
    groups with the defaults; with any of them, it shows (and makes) fits with exactly these
    options.
    knowledge : sequence of KnowledgeComparison
        Interaction comparisons to report besides those stored in the store's table
        ``interactions`` (see :func:`transferscope.knowledge.save_knowledge`); one passed here
        replaces a stored one of the same name.
    image_formats : sequence of {"png", "svg"}
        Files written per chart; empty to skip the exports.
    title : str
        Title of the page.
    progress : bool
        Show a progress bar of the frontier fits on stderr.

    Returns
    -------
    ReportResult
        Paths written and counts.

    Raises
    ------
    InputError
        When the store holds no runs (after the filters), or for an unknown option.
    """
    start = time.perf_counter()
    formats = tuple(image_formats)
    unknown = [f for f in formats if f not in ("png", "svg")]
    if unknown:
        raise InputError(f"unknown image format(s) {unknown}; expected png and/or svg")
    if rank_metric not in _RANK_AXIS:
        raise InputError(
            f"unknown ranking metric {rank_metric!r}; expected one of {list(_RANK_AXIS)}"
        )
    if max_group_charts < 0 or max_ladder_tasks < 0 or max_contexts < 0:
        raise InputError("the numbers of charts to draw must be >= 0")
    if seed is not None:
        check_seed(seed)
    check_resamples(rank_bootstrap, "rank_bootstrap")
    if fit_bootstrap is not None:
        check_resamples(fit_bootstrap, "fit_bootstrap")
    out = Path(out_dir)
    filters = _filters(tasks, methods)
    runs = store.runs(**filters)
    if runs.empty:
        what = " matching the filters" if tasks or methods else ""
        raise InputError(f"no runs{what} in the store; ingest a table first", file=store.label)
    check_output_folder(out)  # creates it; refuses a file, the root, or a place not writable
    collector = _Charts(out, formats)
    sources = store.sources()

    sections: list[H.Section] = []
    md: list[str] = []
    src_section, src_md = _sources_section(sources, runs)

    given = {k: v for k, v in dict(fit_options or {}).items() if v is not None}
    if family is not None:
        given["family"] = family
    if fit_bootstrap is not None:
        given["bootstrap"] = fit_bootstrap
    if seed is not None:
        given["seed"] = seed
    front: FrontierSection = frontier_section(
        store,
        runs,
        collector.add,
        filters=filters,
        options=given,
        seed=0 if seed is None else seed,
        max_group_charts=max_group_charts,
        progress=progress,
    )
    rank_section, rank_md, n_ranked = _ranking_section(
        runs,
        collector.add,
        metric=rank_metric,
        entity=rank_entity,
        bootstrap=rank_bootstrap,
        seed=0 if seed is None else seed,
        max_contexts=max_contexts,
    )
    ladder = _ladder_section(runs, collector.add, max_ladder_tasks)
    theory = theory_section(runs, collector.add)  # a ladder from the simulator, if any
    know_ladder = knowledge_ladder_section(runs, collector.add)
    know = _knowledge_section(_comparisons(store, knowledge), collector.add)

    overview = [
        f"{len(runs)} runs from {runs['source'].nunique()} source(s): {runs['task'].nunique()} "
        f"task(s), {runs['method'].nunique()} method(s), {runs['model'].nunique()} model(s).",
        f"{front.n_groups} frontier group(s) ({' × '.join(front.by)}): {front.n_ok} fitted, "
        f"{front.n_groups - front.n_ok} could not be fitted; {front.n_fitted_now} fit(s) "
        "computed for this report, the others were current in the store.",
        front.choice,
    ]
    if tasks:
        overview.append("Tasks kept: " + ", ".join(str(t) for t in tasks) + ".")
    if methods:
        overview.append("Methods kept: " + ", ".join(str(m) for m in methods) + ".")
    sections.append(H.Section("overview", "Overview", (H.bullet_list(overview),)))
    sections.append(src_section)
    sections.extend(front.sections)
    sections.append(rank_section)
    if ladder is not None:
        sections.append(ladder)
    if theory is not None:
        sections.append(theory[0])
    if know_ladder is not None:
        sections.append(know_ladder[0])
    if know is not None:
        sections.append(know[0])

    generated = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    subtitle = [
        f"Store: {store.label} · generated {generated} by transferscope {__version__}",
        "How much does downstream performance depend on pretraining, where does more "
        "pretraining stop paying off, and which adaptation methods lean on it most?",
    ]
    page = H.render_page(title, subtitle, sections, collector.figures)
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")

    md.append(f"# {md_escape(title)}\n")
    md.append("\n".join(f"- {md_escape(line)}" for line in overview) + "\n")
    md.append(src_md)
    md.append(front.markdown)
    md.append(rank_md)
    if theory is not None:
        md.append(theory[1])
    if know_ladder is not None:
        md.append(know_ladder[1])
    if know is not None:
        md.append(know[1])
    md.append(
        "The full report with charts is in index.html; charts are in charts/ as PNG and SVG.\n"
    )
    summary = out / "summary.md"
    summary.write_text("\n".join(md), encoding="utf-8")
    return ReportResult(
        out_dir=out,
        index_html=index,
        summary_md=summary,
        charts=tuple(collector.files),
        n_runs=len(runs),
        n_sources=int(runs["source"].nunique()),
        n_groups=front.n_groups,
        n_groups_ok=front.n_ok,
        n_groups_charted=front.n_charted,
        n_fitted_now=front.n_fitted_now,
        n_methods_ranked=n_ranked,
        seconds=time.perf_counter() - start,
        notes=tuple(front.notes),
    )


def _finite(value: Any) -> bool:
    return not H._missing(value) and math.isfinite(float(value))
