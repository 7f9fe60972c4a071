"""Report section: the answers first, one row per source, task family and downstream metric.

Three questions, answered from the group table and the rankings so that the detailed sections
below quote the same numbers:

- **Does better pretraining still help?** The slope of downstream on upstream score among each
  group's best runs (:func:`transferscope.frontier.top.top_slopes`); for a row of several
  groups, the groups' slopes pooled by random effects (DerSimonian-Laird with the
  Knapp-Hartung interval, which is wider when groups disagree), with how many groups' own
  intervals lie above or below zero. The groups of a row share models, so the pooled interval
  treats as independent what is not; the counts say how consistent they are.
- **Where does it saturate?** For one group, its plateau, interval and saturation point, or
  "no saturation within the data" with how far the fit extrapolates; for several, how many
  saturate within the data and the range of their plateaus, and how far the others extrapolate.
- **Which method depends most?** The first entity of the source's ranking in the row's metric
  (with ``p_best``), or why there is nothing to rank.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from transferscope.errors import InputError
from transferscope.report import html as H
from transferscope.report.frontiers import fmt, interval_text, saturation_text
from transferscope.report.labels import metric_name
from transferscope.report.markdown import md_escape, md_table
from transferscope.stats import pool_effects


def _slope_answer(part: pd.DataFrame) -> tuple[str, float]:
    ok = part[(part["slope_status"] == "ok") & part["slope_se"].notna() & (part["slope_se"] > 0)]
    if ok.empty:
        reasons = part["slope_message"].dropna()
        why = str(reasons.iloc[0]) if len(reasons) else "no runs with both scores"
        return f"Cannot tell: {why}.", math.nan
    above = int((ok["slope_ci_low"] > 0).sum())
    below = int((ok["slope_ci_high"] < 0).sum())
    if len(ok) == 1:
        row = ok.iloc[0]
        est, lo, hi = float(row["slope"]), float(row["slope_ci_low"]), float(row["slope_ci_high"])
        tail = f", over the group's best {int(row['n_top'])} runs"
    else:
        try:
            pooled = pool_effects(
                ok["slope"].to_numpy(dtype=float),
                ok["slope_se"].to_numpy(dtype=float) ** 2,
                method="DL",
                knha=True,
            )
        except InputError as exc:
            return f"Cannot pool: {exc}.", math.nan
        est, lo, hi = pooled.estimate, pooled.ci_low, pooled.ci_high
        tail = (
            f", pooled over {len(ok)} groups. Clearly positive in {above} of them, clearly "
            f"negative in {below}"
        )
    verdict = "Yes" if lo > 0 else ("No, worse" if hi < 0 else "Not clearly")
    return f"{verdict}: slope {fmt(est)} {interval_text(lo, hi)}{tail}.", est


def _saturation_answer(part: pd.DataFrame) -> str:
    fitted = part[part["status"] == "ok"]
    if fitted.empty:
        counts = part["status"].value_counts()
        first = part.iloc[0]
        return (
            f"No fit in {len(part)} group(s) ("
            + ", ".join(f"{n} {s}" for s, n in counts.items())
            + f"): {first.get('message') or 'no reason recorded'}."
        )
    if len(part) == 1:
        return saturation_text(fitted.iloc[0].to_dict())
    sat = fitted[fitted["saturates"].fillna(False).astype(bool)]
    rest = fitted[~fitted["saturates"].fillna(False).astype(bool)]
    bits = []
    if len(sat) == 1:
        bits.append(
            f"1 of {len(fitted)} fitted groups saturates within the data (plateau "
            f"{fmt(sat['plateau'].iloc[0])})."
        )
    elif len(sat):
        bits.append(
            f"{len(sat)} of {len(fitted)} fitted groups saturate within the data (plateaus "
            f"{fmt(sat['plateau'].min())}–{fmt(sat['plateau'].max())}, median "
            f"{fmt(sat['plateau'].median())})."
        )
    if len(rest):
        ext = rest["extrapolation"].dropna()
        how = (
            f": their fits reach the plateau a median {fmt(ext.median())} beyond the best "
            "observed upstream score"
            if len(ext)
            else ""
        )
        if len(sat):
            bits.append(f"The other {len(rest)} do not{how}.")
        else:
            bits.append(f"None of {len(fitted)} fitted groups saturates within the data{how}.")
    unfit = len(part) - len(fitted)
    if unfit:
        bits.append(f"{unfit} group(s) could not be fitted.")
    return " ".join(bits)


def _method_answer(ctx: Any, source: str, metric: Any) -> str:
    ranking = ctx.rankings.by_source.get(source)
    if ranking is None:
        return "No ranking."
    if ranking.table.empty:
        return ranking.short or "No ranking."
    first = ranking.first(metric)
    if first is None:
        return f"No ranking in {metric_name(metric)}."
    what = "method" if ranking.entity == "method" else ranking.entity
    if first["n_entities"] < 2:
        return (
            f"Nothing to rank: {first['entity']} is the only {what} with a value "
            f"({ranking.entity} compared within each context of the source)."
        )
    p = first.get("p_best")
    ptext = f"p_best {fmt(p, 2)}, " if not H._missing(p) else ""
    return (
        f"{first['entity']} ({ptext}{ranking.metric} {fmt(first['estimate'])} "
        f"{interval_text(first['ci_low'], first['ci_high'])}; first of {first['n_entities']} "
        f"{what}s, over all of the source's tasks)."
    )


def answer_rows(ctx: Any) -> pd.DataFrame:
    """One row per source, task family and downstream metric, with the three answers.

    Parameters
    ----------
    ctx : ReportContext
        The report being built.

    Returns
    -------
    pandas.DataFrame
        Columns ``source``, ``family``, ``downstream_metric``, ``n_tasks``, ``n_groups``,
        ``n_ok``, ``methods``, ``helps`` (text), ``slope`` (the estimate, for sorting),
        ``saturates`` (text), ``n_saturating``, ``depends_most`` (text), ``first_group`` and
        ``first_page`` (where the row's groups start).
    """
    table = ctx.groups.table
    keys = ["source", "family", "downstream_metric"]
    rows = []
    for key, part in table.groupby(keys, dropna=False, sort=True):
        source, family, metric = key
        methods = sorted(
            {
                f"{m} ({s})"
                for m, s in zip(part["method"], part.get("shots_label", part["method"]),
                                strict=True)
            }
        )  # fmt: skip
        helps, slope = _slope_answer(part)
        ok = part[part["status"] == "ok"]
        rows.append(
            {
                "source": source,
                "family": family,
                "downstream_metric": metric,
                "n_tasks": int(part["task"].nunique()),
                "n_groups": len(part),
                "n_ok": len(ok),
                "methods": ", ".join(methods),
                "helps": helps,
                "slope": slope,
                "saturates": _saturation_answer(part),
                "n_saturating": int(ok["saturates"].fillna(False).astype(bool).sum()),
                "depends_most": _method_answer(ctx, str(source), metric),
                "first_group": part["group_id"].iloc[0],
                "first_page": part["page"].iloc[0],
            }
        )
    return pd.DataFrame(rows)


_COLUMN_HELP = {
    "what": "source · task family · downstream metric (with the number of tasks and groups)",
    "helps": (
        "Slope of the downstream score on the upstream score over each group's best quarter "
        "of runs (both oriented so that larger is better), with its 95% interval"
    ),
    "saturates": (
        "Where the fitted frontier comes within 0.01 of its plateau, compared with the best "
        "observed upstream score"
    ),
    "depends_most": "First of the source's ranking in this metric, with p_best",
}


def answers_section(ctx: Any) -> Any:
    """Build the answers section (first on the front page).

    Parameters
    ----------
    ctx : ReportContext
        The report being built.

    Returns
    -------
    SectionOutput
        The section and its Markdown.
    """
    from transferscope.report.sections import SectionOutput

    rows = answer_rows(ctx)
    runs = ctx.runs
    groups = ctx.groups.table
    _, n_now, by = ctx.fits
    n_ok = int((groups["status"] == "ok").sum())
    lead = (
        f"{len(runs):,} runs from {runs['source'].nunique()} source(s): "
        f"{runs['task'].nunique()} tasks, {runs['method'].nunique()} methods, "
        f"{runs['model'].nunique():,} models, in {len(groups):,} groups "
        f"({' × '.join(by)}); {n_ok:,} fitted, {len(groups) - n_ok:,} could not be "
        f"({n_now:,} fit(s) computed for this report, the others reused from the store)."
    )
    kept = [f"{c.capitalize()}s kept: {', '.join(v)}." for c, v in ctx.options.filters.items()]
    if kept:
        lead += " " + " ".join(kept)
    shown = rows.assign(
        what=[
            H.link(
                f"{p}#{g}",
                f"{s} · {f} · {metric_name(m)} ({nt} task{'s' if nt != 1 else ''}, "
                f"{ng} group{'s' if ng != 1 else ''})",
            )
            for s, f, m, nt, ng, p, g in zip(
                rows["source"], rows["family"], rows["downstream_metric"], rows["n_tasks"],
                rows["n_groups"], rows["first_page"], rows["first_group"], strict=True,
            )
        ]
    ) if not rows.empty else rows  # fmt: skip
    cols = {
        "what": "Source · tasks · metric",
        "helps": "Does better pretraining still help?",
        "saturates": "Where does it saturate?",
        "depends_most": "Which method depends most?",
    }
    body = [
        H.paragraph(lead, "lead"),
        H.paragraph(
            "Each row answers three questions for one source, task family and downstream "
            "metric. Slope at the top: how much the downstream score still rises per unit of "
            "upstream improvement among each group's best quarter of runs (with its 95% "
            "interval; rows of several groups pool them by random effects, and count the groups "
            "whose own interval excludes zero). Saturation: where the fitted frontier comes "
            "within 0.01 of its plateau; a plateau beyond the best observed upstream score is "
            "an extrapolation, and the row says how far. Follow a row's name to its groups.",
            "note",
        ),
        H.table(
            shown,
            cols,
            raw_html=("what",),
            wide=("helps", "saturates", "depends_most"),
            titles=_COLUMN_HELP,
            table_id="answers",
            sort_values={"helps": "slope"},
        )
        if not shown.empty
        else H.paragraph("No groups.", "note"),
    ]
    md_cols = {
        "source": "source", "family": "tasks", "downstream_metric": "metric",
        "n_groups": "groups", "helps": "does better pretraining still help?",
        "saturates": "where does it saturate?", "depends_most": "which method depends most?",
    }  # fmt: skip
    md = "## Answers\n\n" + md_escape(lead) + "\n\n" + md_table(rows, md_cols) + "\n"
    section = H.Section("answers", "Answers", tuple(body))
    return SectionOutput(sections=(section,), markdown=md)
