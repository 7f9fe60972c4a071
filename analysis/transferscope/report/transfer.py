"""Report section: effective transfer (who sits above the line, how consistently, and why).

Runs :func:`transferscope.transfer.effective_transfer` on the report's runs, grouped by source as
well (a context never mixes tables), and shows for the largest contexts:

- residual by moderator: each level's mean residual per task with its interval (the moderator
  is the first categorical one with two levels or more, e.g. the pretraining data);
- a models x tasks heat map of residuals for the models seen on most tasks;
- the consistency of residuals across tasks: the ICC of every context with its interval, and the
  rank correlations between the tasks of the largest one;

with tables of the moderator tests, the consistency and the groups whose best models transfer
worse (non-monotone).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import altair as alt
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from transferscope.report import html as H
from transferscope.report.charts import _title
from transferscope.report.labels import group_label, shots_label
from transferscope.report.markdown import md_escape, md_table
from transferscope.transfer import EffectiveTransfer, effective_transfer
from transferscope.transfer.points import upstream_is_loss

#: Contexts that get charts (the ones with the most residuals).
MAX_CONTEXTS: Final[int] = 3
#: Models drawn in a heat map (those seen on most tasks, then the largest mean |residual|).
MAX_HEATMAP_MODELS: Final[int] = 40
#: Tasks drawn in a heat map or a correlation matrix.
MAX_TASKS: Final[int] = 24


def _context_label(row: pd.Series | dict[str, Any], columns: list[str]) -> str:
    return group_label({c: row[c] for c in columns})


def residual_level_chart(
    levels: pd.DataFrame, *, title: str, axis: str, columns: int = 5
) -> alt.TopLevelMixin:
    """Mean residual per moderator level, one panel per task, with intervals.

    Parameters
    ----------
    levels : pandas.DataFrame
        Rows of :attr:`EffectiveTransfer.levels` for one context and moderator.
    title : str
        Chart title.
    axis : str
        Where residuals are measured (e.g. ``probit axes``).
    columns : int
        Panels per row.

    Returns
    -------
    altair.FacetChart
        One panel per task: y the level, x the mean residual with its interval, a rule at 0
        (the baseline).
    """
    data = levels[["task", "level", "n_models", "mean_residual", "ci_low", "ci_high"]].copy()
    order = sorted(data["level"].unique(), key=str)
    y = alt.Y("level:N", title=None, sort=order, axis=alt.Axis(labelLimit=160))
    tooltip = [
        alt.Tooltip("task:N"),
        alt.Tooltip("level:N"),
        alt.Tooltip("n_models:Q", title="models"),
        alt.Tooltip("mean_residual:Q", title="mean residual", format=".3f"),
        alt.Tooltip("ci_low:Q", title="ci low", format=".3f"),
        alt.Tooltip("ci_high:Q", title="ci high", format=".3f"),
    ]
    x = alt.X("mean_residual:Q", title=f"mean residual ({axis})")
    data["zero"] = 0.0
    layer = alt.layer(
        alt.Chart().mark_rule(color="#888", strokeDash=[4, 3]).encode(x="zero:Q"),
        alt.Chart().mark_rule(color="#4c78a8").encode(x="ci_low:Q", x2="ci_high:Q", y=y,
                                                      tooltip=tooltip),
        alt.Chart().mark_circle(size=40, opacity=1, color="#4c78a8").encode(x=x, y=y,
                                                                           tooltip=tooltip),
        data=data,
    ).properties(width=170, height=max(40, 15 * len(order)))  # fmt: skip
    return layer.facet(
        facet=alt.Facet("task:N", title=None, header=alt.Header(labelFontSize=11, labelLimit=165)),
        columns=columns,
    ).properties(title=_title(title))


def residual_heatmap(
    residuals: pd.DataFrame, *, title: str, axis: str, loss: bool = False
) -> alt.Chart:
    """Residuals of the models seen on most tasks, models x tasks.

    Parameters
    ----------
    residuals : pandas.DataFrame
        Rows of :attr:`EffectiveTransfer.residuals` for one context.
    title : str
        Chart title.
    axis : str
        Where residuals are measured.
    loss : bool
        Whether the upstream score is a loss (then the lowest are the best).

    Returns
    -------
    altair.Chart
        Rect marks: x task, y model (the models seen on most tasks, then those with the best
        upstream scores; sorted by mean residual), colour the residual (blue above the
        baseline, red below).
    """
    frame = residuals[np.isfinite(residuals["residual"].to_numpy(dtype=float))]
    counts = frame.groupby("unit_key")["task"].nunique()
    upstream = frame.groupby("unit_key")["upstream_score"].mean()
    ranked = pd.DataFrame({"n": counts, "best": -upstream if loss else upstream}).sort_values(
        ["n", "best"], ascending=False
    )
    keep = ranked.index[:MAX_HEATMAP_MODELS]
    tasks = frame["task"].value_counts().index[:MAX_TASKS]
    data = frame[frame["unit_key"].isin(keep) & frame["task"].isin(tasks)]
    data = data[["unit_key", "task", "upstream_score", "residual", "residual_ci_low",
                 "residual_ci_high"]]  # fmt: skip
    order = data.groupby("unit_key")["residual"].mean().sort_values(ascending=False).index
    bound = float(np.nanquantile(np.abs(data["residual"]), 0.95)) if len(data) else 1.0
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("task:N", title=None, axis=alt.Axis(labelAngle=-40, labelLimit=160)),
            y=alt.Y("unit_key:N", title=None, sort=list(order), axis=alt.Axis(labelLimit=260)),
            color=alt.Color(
                "residual:Q",
                title=f"residual ({axis})",
                scale=alt.Scale(scheme="redblue", domain=[-bound, bound], clamp=True),
            ),
            tooltip=[
                alt.Tooltip("unit_key:N", title="model"),
                alt.Tooltip("task:N"),
                alt.Tooltip("upstream_score:Q", title="upstream", format=".4f"),
                alt.Tooltip("residual:Q", format=".3f"),
                alt.Tooltip("residual_ci_low:Q", title="ci low", format=".3f"),
                alt.Tooltip("residual_ci_high:Q", title="ci high", format=".3f"),
            ],
        )
        .properties(
            title=_title(title),
            width=max(160, 22 * len(tasks)),
            height=max(80, 13 * len(order)),
        )
    )


def consistency_chart(consistency: pd.DataFrame, pairs: pd.DataFrame, *, title: str) -> Any:
    """ICC of every context with its interval, beside the pairwise rank correlations of one.

    Parameters
    ----------
    consistency : pandas.DataFrame
        :attr:`EffectiveTransfer.consistency` with a ``context`` label column.
    pairs : pandas.DataFrame
        The :attr:`EffectiveTransfer.pairs` rows of the context to draw as a matrix.
    title : str
        Chart title.

    Returns
    -------
    altair.HConcatChart
        Left: ICC per context (point and interval, with a rule at 0). Right: Spearman's rho per
        pair of tasks.
    """
    ok = consistency[consistency["status"] == "ok"]
    y = alt.Y("context:N", title=None, axis=alt.Axis(labelLimit=260))
    tip = [
        alt.Tooltip("context:N"),
        alt.Tooltip("icc:Q", title="ICC", format=".3f"),
        alt.Tooltip("ci_low:Q", title="ci low", format=".3f"),
        alt.Tooltip("ci_high:Q", title="ci high", format=".3f"),
        alt.Tooltip("n_models:Q", title="models"),
        alt.Tooltip("n_tasks:Q", title="tasks"),
    ]
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="#888", strokeDash=[4, 3])
    icc = alt.layer(
        zero.encode(x="x:Q"),
        alt.Chart(ok)
        .mark_rule(strokeWidth=2)
        .encode(x="ci_low:Q", x2="ci_high:Q", y=y, tooltip=tip),
        alt.Chart(ok)
        .mark_point(filled=True, size=80, color="#000")
        .encode(
            x=alt.X(
                "icc:Q", title="ICC of residuals across tasks", scale=alt.Scale(domain=[-0.2, 1.0])
            ),
            y=y,
            tooltip=tip,
        ),
    ).properties(width=300, height=max(40, 26 * len(ok)), title="intraclass correlation")
    both = pd.concat([pairs, pairs.rename(columns={"task_a": "task_b", "task_b": "task_a"})])
    tasks = pd.Index(both["task_a"]).value_counts().index[:MAX_TASKS]
    both = both[both["task_a"].isin(tasks) & both["task_b"].isin(tasks)]
    matrix = (
        alt.Chart(both)
        .mark_rect()
        .encode(
            x=alt.X("task_a:N", title=None, axis=alt.Axis(labelAngle=-40, labelLimit=140)),
            y=alt.Y("task_b:N", title=None, axis=alt.Axis(labelLimit=140)),
            color=alt.Color("spearman:Q", title="Spearman",
                            scale=alt.Scale(scheme="redblue", domain=[-1, 1])),
            tooltip=[alt.Tooltip("task_a:N"), alt.Tooltip("task_b:N"),
                     alt.Tooltip("spearman:Q", format=".2f"),
                     alt.Tooltip("ci_low:Q", format=".2f"), alt.Tooltip("ci_high:Q", format=".2f"),
                     alt.Tooltip("n_models:Q", title="models")],
        )
        .properties(width=max(120, 18 * len(tasks)), height=max(120, 18 * len(tasks)),
                    title="rank correlation of residuals between tasks")
    )  # fmt: skip
    return alt.hconcat(icc, matrix).properties(title=_title(title))


def _spread_tasks(levels: pd.DataFrame, n: int) -> tuple[pd.DataFrame, str]:
    """Keep the ``n`` tasks whose levels differ most (all when there are no more than ``n``)."""
    spread = levels.groupby("task")["mean_residual"].agg(lambda v: v.max() - v.min())
    if len(spread) <= n:
        return levels, ""
    keep = spread.sort_values(ascending=False, kind="stable").index[:n]
    note = f" (the {n} of {len(spread)} tasks where the levels differ most)"
    return levels[levels["task"].isin(keep)], note


def _moderator(result: EffectiveTransfer) -> str | None:
    levels = result.levels
    for name in result.options.get("moderators", []):
        part = levels[levels["moderator"] == name]
        if part["level"].nunique() >= 2:
            return str(name)
    return None


def _in_context(frame: pd.DataFrame, key: dict[str, Any]) -> NDArray[np.bool_]:
    """Rows of ``frame`` whose context columns equal ``key`` (a missing value matches missing)."""
    mask = np.ones(len(frame), dtype=bool)
    for c, v in key.items():
        col = frame[c]
        mask &= (col.isna() if pd.isna(v) else col.eq(v).fillna(False)).to_numpy(bool)
    return mask


def effective_transfer_section(ctx: Any) -> Any:
    """Build the effective-transfer section of a report, or None when no context has two tasks.

    Parameters
    ----------
    ctx : ReportContext
        The report being built (its runs, chart registry and seed).

    Returns
    -------
    SectionOutput or None
        One front-page section and its Markdown.
    """
    from transferscope.report.sections import SectionOutput

    out = transfer_section(ctx.runs, ctx.charts.add, seed=ctx.options.resample_seed)
    if out is None:
        return None
    section, markdown = out
    return SectionOutput(sections=(section,), markdown=markdown)


def transfer_section(
    runs: pd.DataFrame,
    add: Callable[[str, alt.TopLevelMixin, str], H.Figure],
    *,
    seed: int = 0,
    bootstrap: int = 200,
    max_contexts: int = MAX_CONTEXTS,
) -> tuple[H.Section, str] | None:
    """Build the effective-transfer section, or None when no context has two tasks.

    Parameters
    ----------
    runs : pandas.DataFrame
        The report's runs.
    add : callable
        Registers a chart with its caption and returns the figure.
    seed : int
        Seed of the baselines' resamples.
    bootstrap : int
        Resamples of each baseline.
    max_contexts : int
        Contexts drawn, and the only ones whose moderators are tested (the mixed models are
        the section's costly part; ``transferscope effective`` tests every context).

    Returns
    -------
    tuple of (Section, str) or None
        The HTML section and its Markdown.
    """
    usable = runs[runs["pretrained"].fillna(True).astype(bool)] if "pretrained" in runs else runs
    usable = usable[usable["upstream_score"].notna() & usable["downstream_score"].notna()]
    if usable.empty or usable.groupby("source")["task"].nunique().max() < 2:
        return None
    by = ["source", "task", "method", "shots", "downstream_metric"]
    result = effective_transfer(
        usable,
        by=by,
        frontier=None,
        bootstrap=bootstrap,
        seed=seed,
        max_driver_contexts=max_contexts,
    )
    context = [c for c in by if c != "task"]
    # largest first, ties in group order: the contexts the API tested (api._largest)
    sizes = result.residuals.groupby(context, dropna=False).size()
    sizes = sizes.sort_values(ascending=False, kind="stable")
    consistency = result.consistency.copy()
    consistency["context"] = [_context_label(r, context) for _, r in consistency.iterrows()]
    body: list[str] = [
        H.paragraph(
            "A model's residual is its distance above the baseline of its group: the probit line "
            "on the transformed axes fitted to every model of the group (for an accuracy as "
            "upstream score; the loss_exp curve for a loss), as effective robustness is defined "
            "(Taori et al. 2020). Intervals include the baseline's uncertainty (bootstrap over "
            "models). The sections below read each context (a source, method, number of shots "
            "and metric) across its tasks; transferscope effective refits with a reference "
            "subset (--baseline COL=VALUE) and gives efficiency relative to the frontier."
        )
    ]
    md = ["## Effective transfer\n"]
    moderator = _moderator(result)
    for n, values in enumerate(sizes.index[:max_contexts]):
        key = dict(zip(context, values if isinstance(values, tuple) else (values,), strict=True))
        label = _context_label(key, context)
        part = result.residuals[_in_context(result.residuals, key)]
        if part["task"].nunique() < 2:
            continue
        if moderator is not None:
            lv_mask = (result.levels["moderator"] == moderator).to_numpy(bool)
            levels = result.levels[lv_mask & _in_context(result.levels, key)]
            levels, which = _spread_tasks(levels, MAX_TASKS)
            if levels["level"].nunique() >= 2:
                fig = add(
                    f"transfer-levels-{n:02d}",
                    residual_level_chart(
                        levels,
                        title=f"Residual by {moderator}: {label}",
                        axis=str(part["axes"].iloc[0]),
                    ),
                    f"Mean residual of each {moderator} level, a panel per task{which} "
                    "(points) with its "
                    f"{round(100 * float(levels['ci_level'].iloc[0]))}% interval (bars; the "
                    "spread of the level's models and the baseline's uncertainty). Right of the "
                    "dashed line: above the baseline.",
                )
                body.append(fig.html())
        fig = add(
            f"transfer-heatmap-{n:02d}",
            residual_heatmap(
                part,
                title=f"Residuals, models x tasks: {label}",
                axis=str(part["axes"].iloc[0]),
                loss=upstream_is_loss(part),
            ),
            f"Residuals of the {min(MAX_HEATMAP_MODELS, part['unit_key'].nunique())} models seen "
            "on most tasks (then those with the best upstream scores), sorted by their mean "
            "residual; blue above the baseline, red below.",
        )
        body.append(fig.html())
    ok_pairs = result.pairs
    if len(sizes):
        first = dict(zip(context, sizes.index[0] if isinstance(sizes.index[0], tuple)
                         else (sizes.index[0],), strict=True))  # fmt: skip
        mask = _in_context(ok_pairs, first)
        if (consistency["status"] == "ok").any():
            fig = add(
                "transfer-consistency",
                consistency_chart(consistency, ok_pairs[mask],
                                  title="Do models above the line on one task stay above?"),
                "Left: intraclass correlation ICC(C,1) of the residuals of the models seen on "
                "every task of a context, with its exact F interval (0: a model's place on one "
                "task says nothing of the others; 1: the same residual everywhere). Right: "
                "Spearman's rho between the residuals of every pair of tasks of the largest "
                f"context ({_context_label(first, context)}).",
            )  # fmt: skip
            body.append(fig.html())
    cons_cols = {"context": "context", "n_models": "models", "n_tasks": "tasks", "icc": "ICC",
                 "ci_low": "ci low", "ci_high": "ci high", "mean_spearman": "mean rho",
                 "status": "status", "message": "message"}  # fmt: skip
    body.append(H.table(consistency, cons_cols, caption="Consistency across tasks"))
    md.append(md_table(consistency, cons_cols) + "\n")
    tests = result.tests[result.tests["status"] != "not_tested"].copy()
    tests["context"] = [_context_label(r, context) for _, r in tests.iterrows()]
    for c in ("n_levels", "df", "ddf", "n_models", "n_tasks"):
        tests[c] = pd.to_numeric(tests[c]).round().astype("Int64")
    # a numeric moderator (per decade) has no levels
    tests.loc[tests["kind"].eq("numeric").fillna(False), "n_levels"] = pd.NA
    test_cols = {"context": "context", "term": "moderator", "n_levels": "levels", "df": "df",
                 "lr_stat": "LR", "ddf": "ddf", "p_value": "p", "n_models": "models",
                 "n_tasks": "tasks", "status": "status", "message": "message"}  # fmt: skip
    body.append(
        H.paragraph(
            "Does a moderator change the line? Likelihood-ratio test of a shift and a slope per "
            "level (or per decade of a numeric moderator) in a mixed model of the residuals with "
            "crossed model and task random effects, in the "
            f"{max_contexts} context(s) with the most residuals (transferscope effective tests "
            "every context)."
        )
    )
    body.append(H.table(tests, test_cols, caption="Moderators", table_id="transfer-tests",
                        filterable=True))  # fmt: skip
    md.append(md_escape("Moderator tests (likelihood ratio, mixed model).") + "\n\n")
    md.append(md_table(tests, test_cols) + "\n")
    mono = result.nonmonotone
    flagged = mono[mono["non_monotone"]]
    shown = (flagged if len(flagged) else mono.nsmallest(5, "p_value")).copy()
    if "shots" in shown:
        shown["shots"] = [shots_label(v) for v in shown["shots"]]
    mono_cols = {"source": "source", "task": "task", "method": "method", "shots": "shots",
                 "n_top": "top models", "slope": "slope", "slope_ci_low": "ci low",
                 "slope_ci_high": "ci high", "p_value": "p (one-sided)",
                 "p_adjusted": "p (Holm)", "non_monotone": "non-monotone"}  # fmt: skip
    text = (
        f"{len(flagged)} of {len(mono)} groups show non-monotone transfer (a negative slope of "
        "downstream on upstream among the quarter of models with the best upstream scores, "
        "Holm-adjusted p < 0.05)" + ("." if len(flagged) else "; the five smallest p-values:")
    )
    body.append(H.paragraph(text))
    body.append(H.table(shown, mono_cols, caption="Non-monotone transfer"))
    md.append(md_escape(text) + "\n\n" + md_table(shown, mono_cols) + "\n")
    return H.Section("effective-transfer", "Effective transfer", tuple(body)), "\n".join(md)


__all__ = [
    "consistency_chart",
    "effective_transfer_section",
    "residual_heatmap",
    "residual_level_chart",
    "transfer_section",
]
