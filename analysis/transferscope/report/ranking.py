"""Report section: which methods depend most on pretraining, ranked within each source.

Rankings pool each entity's per-task dependence across the tasks of one source (sources do not
share tasks, metrics or baselines, so they are never pooled together). The answers at the top
of the report quote the first entity of each source's ranking; this section shows every
ranking table with a forest plot and a critical-difference diagram per context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import pandas as pd

from transferscope.errors import InputError
from transferscope.report import charts
from transferscope.report import html as H
from transferscope.report.frontiers import interval_text, select_rows
from transferscope.report.labels import label_value
from transferscope.report.markdown import md_escape, md_table

#: Models ranked at most when models stand in for pretraining methods (see choose_entity).
MAX_RANKED_MODELS = 40
#: Entities drawn at most in a forest plot or critical-difference diagram (the table has all).
MAX_CHART_ENTITIES = 30

#: The metrics a report ranks on, with their axis titles (``auto``: each source's own).
RANK_METRICS: dict[str, str] = {
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

AddChart = Callable[[str, alt.TopLevelMixin, str], H.Figure]


def choose_entity(runs: pd.DataFrame, metric: str = "gain") -> str:
    """Column to rank: ``method``, or ``model`` when every context has a single method.

    Tables such as VTAB-1k compare pretraining methods (stored as models, with a
    ``From-Scratch`` baseline) under one adaptation method; ranking the one method would say
    nothing, so their models are ranked instead (when there are at most
    :data:`MAX_RANKED_MODELS`, and not along training steps: the checkpoints of a ladder are
    not a comparison of pretraining methods). A slope or a retention is measured along a
    ladder of checkpoints, which a single model is not: for those the methods are always ranked.

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
    ladder = "pretrain_steps" in pre and bool(pre["pretrain_steps"].notna().any())
    few = 2 <= n_models <= MAX_RANKED_MODELS
    return "model" if one_method and not ladder and few else "method"


@dataclass(frozen=True)
class SourceRanking:
    """The ranking of one source.

    Parameters
    ----------
    source : str
        Source name.
    metric : str
        Dependence metric ranked on.
    reason : str
        Why this metric (when the report chose it).
    entity : str
        Column ranked (``method`` or ``model``).
    table : pandas.DataFrame
        The ranking (columns of :func:`transferscope.dependence.rank_methods`; the ranked column
        renamed ``entity``), or empty.
    values : pandas.DataFrame
        Per-task values (``entity`` column), for the forest plot.
    friedman : pandas.DataFrame
        Friedman test and mean ranks (``entity`` column).
    context : tuple of str
        Columns that separate contexts in ``table``.
    note : str
        Why there is no ranking, when there is none.
    short : str
        The same in a few words (for the answers table).
    """

    source: str
    metric: str
    reason: str
    entity: str
    table: pd.DataFrame = field(repr=False)
    values: pd.DataFrame = field(repr=False)
    friedman: pd.DataFrame = field(repr=False)
    context: tuple[str, ...] = ()
    note: str = ""
    short: str = ""

    def first(self, metric: Any) -> dict[str, Any] | None:
        """Return the first-ranked entity of the context of one downstream metric.

        Parameters
        ----------
        metric : Any
            A downstream metric.

        Returns
        -------
        dict or None
            ``entity``, ``p_best``, ``estimate``, ``ci_low``, ``ci_high``, ``n_entities``
            (ranked with a value in that context) and ``n_contexts`` (contexts of that metric);
            None when the source has no ranking for the metric.
        """
        if self.table.empty or "downstream_metric" not in self.table:
            return None
        part = self.table[self.table["downstream_metric"] == metric]
        part = part[part["estimate"].notna()]
        if part.empty:
            return None
        ctx = [c for c in self.context if c != "downstream_metric"]
        n_contexts = int(part.groupby(ctx, dropna=False).ngroups) if ctx else 1
        # the context with most entities speaks for the metric
        sizes = part.groupby(ctx, dropna=False)["entity"].transform("size") if ctx else None
        if sizes is not None:
            part = part[sizes == sizes.max()]
            first_key = part[ctx].iloc[0]
            part = select_rows(part, dict(first_key))
        top = part.iloc[0]
        return {
            "entity": str(top["entity"]),
            "p_best": top.get("p_best"),
            "estimate": top.get("estimate"),
            "ci_low": top.get("ci_low"),
            "ci_high": top.get("ci_high"),
            "n_entities": len(part),
            "n_contexts": n_contexts,
            "context": {c: top[c] for c in ctx},
        }


@dataclass(frozen=True)
class Rankings:
    """Rankings of every source of a report.

    Parameters
    ----------
    metric : str
        The dependence metric asked for (``auto``: each source's own, see
        :func:`transferscope.dependence.metrics.default_metric`).
    by_source : dict of str to SourceRanking
        One per source.
    """

    metric: str
    by_source: dict[str, SourceRanking]

    @property
    def n_ranked(self) -> int:
        """Entities with a value, summed over sources and contexts."""
        return sum(int(r.table["estimate"].notna().sum()) for r in self.by_source.values()
                   if not r.table.empty)  # fmt: skip


def _rank_source(runs: pd.DataFrame, source: str, ctx: Any) -> SourceRanking:
    from transferscope.dependence.metrics import default_metric, task_values
    from transferscope.dependence.ranking import rank_methods
    from transferscope.dependence.stability import friedman_nemenyi

    o = ctx.options
    metric, reason = default_metric(runs) if o.rank_metric == "auto" else (o.rank_metric, "")
    ent = choose_entity(runs, metric) if o.rank_entity is None else o.rank_entity
    empty = pd.DataFrame()

    def none(note: str, short: str) -> SourceRanking:
        return SourceRanking(source, metric, reason, ent, empty, empty, empty, note=note,
                             short=short)  # fmt: skip

    try:
        table = rank_methods(
            runs, metric, entity=ent, bootstrap=o.rank_bootstrap, seed=o.resample_seed
        )
    except InputError as exc:
        return none(f"No ranking: {exc}", f"No ranking: {exc}")
    if table.empty or not table["estimate"].notna().any():
        need = (
            "runs without pretraining (pretrained = false) as the scratch baseline, and "
            "pretrained checkpoints of the same task"
            if metric != "slope"
            else "at least three checkpoints with upstream scores per task"
        )
        note = f"No ranking: a {metric} ranking needs {need}."
        if "message" in table and table["message"].notna().any():
            note += f" ({table['message'].dropna().iloc[0]})"
        short = (
            "No ranking: no runs without pretraining (scratch baseline) to compare with."
            if metric != "slope"
            else "No ranking: too few checkpoints with upstream scores per task."
        )
        return none(note, short)
    # per-task values and mean ranks are drawn only for contexts with something to rank
    cols = list(table.columns)
    context = [c for c in cols[: cols.index(ent)] if ent == "method" or c != "method"]
    sizes = (
        table[table["estimate"].notna()].groupby(context, dropna=False)[ent].size()
        if context
        else pd.Series([int(table["estimate"].notna().sum())])
    )
    values, fried = empty, empty
    if (sizes >= 2).any():
        drawn = runs
        if "downstream_metric" in context:
            ranked = sizes[sizes >= 2].reset_index()["downstream_metric"].unique()
            drawn = runs[runs["downstream_metric"].isin(ranked).to_numpy()]
        try:
            values = task_values(drawn, metric, entity=ent)
            fried = friedman_nemenyi(drawn, metric, entity=ent)
        except InputError:
            values, fried = empty, empty

    def named(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return frame
        if ent != "method":
            frame = frame.drop(columns=["method"], errors="ignore")
        return frame.rename(columns={ent: "entity"})

    return SourceRanking(
        source, metric, reason, ent, named(table), named(values), named(fried), tuple(context)
    )


def rankings(ctx: Any) -> Rankings:
    """Rank within each source of the report.

    Parameters
    ----------
    ctx : ReportContext
        The report being built.

    Returns
    -------
    Rankings
        One ranking per source.
    """
    by_source = {}
    for source, part in ctx.runs.groupby("source", sort=True):
        by_source[str(source)] = _rank_source(part, str(source), ctx)
    return Rankings(ctx.options.rank_metric, by_source)


def _context_label(keys: dict[str, Any]) -> str:
    if not keys:
        return "all runs"
    return ", ".join(f"{c.replace('_', ' ')}: {label_value(c, v)}" for c, v in keys.items())


def _source_body(r: SourceRanking, add: AddChart, max_contexts: int) -> tuple[list[str], list[str]]:
    metric = r.metric
    noun = "methods" if r.entity == "method" else f"{r.entity}s"
    body: list[str] = [f"<h3>{H.escape(r.source)}: ranked by {H.escape(metric)}</h3>"]
    md = [f"### {md_escape(r.source)} (ranked by {md_escape(metric)})\n"]
    meaning = f"{metric.capitalize()}: {_RANK_MEANING[metric]}"
    if r.reason:
        meaning += f". Chosen because {r.reason}."
    body.append(H.paragraph(meaning, "note"))
    md.append(md_escape(meaning) + "\n")
    if r.table.empty:
        body.append(H.paragraph(r.note, "note"))
        md.append(md_escape(r.note) + "\n")
        return body, md
    if r.entity != "method":
        body.append(
            H.paragraph(
                f"Each context of {r.source} has a single adaptation method, so its pretrained "
                "models (for a table such as VTAB-1k, the pretraining methods) are ranked.",
                "note",
            )
        )
    table = r.table.assign(
        pooled=[
            f"{H.format_value(e)} {interval_text(lo, hi)}"
            for e, lo, hi in zip(r.table["estimate"], r.table["ci_low"], r.table["ci_high"],
                                 strict=True)
        ]
    )  # fmt: skip
    table = table.assign(
        ranks=[
            "" if H._missing(lo) or H._missing(hi) else f"{int(lo)}–{int(hi)}"
            for lo, hi in zip(table.get("rank_low", table["rank"]),
                              table.get("rank_high", table["rank"]), strict=True)
        ]
    )  # fmt: skip
    cols = {
        "entity": r.entity, "rank": "rank", "ranks": "rank interval",
        "pooled": "pooled estimate [95% interval]", "diff_from_best": "behind first",
        "diff_se": "se of difference", "p_best": "p_best", "n_tasks": "tasks",
        "n_suites": "suites", "tau2": "tau²", "pool_model": "pooled by", "status": "status",
        "message": "note",
    }  # fmt: skip
    groups = (
        list(table.groupby(list(r.context), dropna=False, sort=True))
        if r.context
        else [((), table)]
    )
    for i, (key, part) in enumerate(groups):
        keys = dict(zip(r.context, key if isinstance(key, tuple) else (key,), strict=True))
        label = _context_label(keys)
        body.append(f"<h4>{H.escape(label)}</h4>")
        valued = part[part["estimate"].notna()]
        if len(valued) == 1:
            only = valued.iloc[0]
            text = (
                f"Nothing to rank here: {only['entity']} is the only {r.entity} with a value in "
                f"this context ({H.format_value(only['estimate'])} "
                f"{interval_text(only['ci_low'], only['ci_high'])})."
            )
            body.append(H.paragraph(text, "note"))
            md.append(md_escape(text) + "\n")
        elif valued.empty:
            text = f"No {r.entity} has a value in this context; the table says why."
            body.append(H.paragraph(text, "note"))
        body.append(
            H.table(
                part, cols, sort_values={"pooled": "estimate", "ranks": "rank"}, drop_empty=True,
                nowrap=("pooled", "ranks", "pool_model"), wide=("entity", "message"),
            )
        )  # fmt: skip
        md.append(f"#### {md_escape(label)}\n\n" + md_table(part, cols) + "\n")
        if i >= max_contexts or len(valued) < 2:
            continue  # nothing to rank: the table and its notes say why
        drawn = valued.head(MAX_CHART_ENTITIES).rename(columns={"entity": "method"})
        per_task = select_rows(r.values, keys) if not r.values.empty else r.values
        if not per_task.empty:
            per_task = per_task.rename(columns={"entity": "method"})
            per_task = per_task[per_task["method"].isin(drawn["method"])]
        if len(part) > len(drawn):
            body.append(
                H.paragraph(f"The charts show the first {len(drawn)} of {len(part)} {noun}.",
                            "note")
            )  # fmt: skip
        figs = [
            add(
                "forest",
                charts.forest_chart(
                    drawn,
                    per_task if not per_task.empty else None,
                    title=[f"{r.source}: pooled {metric} per {r.entity}", label],
                    x_title=RANK_METRICS[metric],
                    reference=0.0 if metric == "gain" else None,
                ),
                f"Forest plot. Black diamond: the pooled estimate per {r.entity} with its "
                f"{round(100 * float(part['ci_level'].iloc[0]))}% interval (thick line); grey "
                f"points and thin lines: the per-task values and their intervals, one row per "
                f"task inside the {r.entity}'s band. The most dependent on pretraining comes "
                "first."
                + (" The dashed line marks no gain over scratch." if metric == "gain" else ""),
            )
        ]
        fr = (
            select_rows(r.friedman, {c: v for c, v in keys.items() if c in r.friedman})
            if not r.friedman.empty
            else r.friedman
        )
        if not fr.empty and (fr["status"] == "ok").all() and len(fr) <= MAX_CHART_ENTITIES:
            fr = fr.rename(columns={"entity": "method"})
            figs.append(
                add(
                    "cd",
                    charts.cd_diagram(
                        fr[["method", "mean_rank"]],
                        float(fr["critical_difference"].iloc[0]),
                        alpha=float(fr["alpha"].iloc[0]),
                        title=[f"{r.source}: critical-difference diagram", label],
                    ),
                    f"Mean rank of each {r.entity} across {int(fr['n_tasks'].iloc[0])} tasks "
                    "(1 = most dependent on pretraining, left; the table's rank counts the same "
                    f"way). {noun.capitalize()} joined by a red bar are not significantly "
                    "different (Nemenyi test); the bar at the top is the critical difference. "
                    f"Friedman test: chi² = {float(fr['statistic'].iloc[0]):.2f}, "
                    f"p = {float(fr['pvalue'].iloc[0]):.3g}; Kendall's W = "
                    f"{float(fr['kendall_w'].iloc[0]):.2f} (agreement of the tasks' orders).",
                )
            )
        body.append('<div class="charts">' + "".join(f.html() for f in figs) + "</div>")
    return body, md


def ranking_section(ctx: Any) -> Any:
    """Build the ranking section: every source's ranking tables and charts.

    Parameters
    ----------
    ctx : ReportContext
        The report being built.

    Returns
    -------
    SectionOutput
        One front-page section.
    """
    from transferscope.report.sections import SectionOutput

    ranks: Rankings = ctx.rankings
    metric = ranks.metric
    which = (
        "each source's own metric: the gain over training from scratch where every pretrained "
        "run has a scratch baseline, else the slope along the checkpoints"
        if metric == "auto"
        else f"their {metric} ({_RANK_MEANING[metric]})"
    )
    body: list[str] = [
        H.paragraph(
            f"Within each source, the methods are ranked by {which}, computed per task and "
            "pooled across the source's tasks by random-effects meta-analysis (tasks "
            "of one suite, such as MMLU's subjects, by a three-level model with cluster-robust "
            "errors; the 'pooled by' column says which). The most dependent on pretraining "
            "comes first, rank 1. p_best is the probability of ranking first, and the rank "
            "interval the range of ranks, over draws from the joint sampling distribution of "
            "the pooled estimates. Sources are never pooled together: they share neither tasks "
            "nor baselines."
        )
    ]
    md = [f"## Ranking ({md_escape(metric)})\n"]

    def add(name: str, chart: alt.TopLevelMixin, caption: str) -> H.Figure:
        return ctx.charts.add(name, chart, caption)

    for r in ranks.by_source.values():
        part, text = _source_body(r, add, ctx.options.max_contexts)
        body += part
        md += text
    section = H.Section("ranking", "Which methods depend most on pretraining", tuple(body))
    return SectionOutput(sections=(section,), markdown="\n".join(md) + "\n")
