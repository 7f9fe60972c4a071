"""Report section: the knowledge each fine-tuning keeps along the ladder, against its accuracy.

Shown when runs carry knowledge measurements in their hparams (``knowledge_*``, as the digits
example records them; see :mod:`transferscope.knowledge.ladder`): one panel per method with the
mean share of preserved, discarded, newly learned and exclusive interaction strength and the
downstream accuracy at each checkpoint (error bars: t intervals across seeds), and a table of
their correlations with accuracy (along the ladder per seed, and within checkpoints across
seeds) with intervals.
"""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import pandas as pd

from transferscope.knowledge.ladder import (
    knowledge_correlation,
    knowledge_profile,
    ladder_knowledge,
)
from transferscope.report import html as H
from transferscope.report.charts import PALETTE, _title
from transferscope.report.markdown import md_escape, md_table

#: Quantities drawn, in legend order, with their labels.
LABELS: dict[str, str] = {
    "downstream_score": "downstream accuracy of F",
    "preserved_share_of_p": "preserved (share of P's strength)",
    "discarded_share_of_p": "discarded (share of P's strength)",
    "newly_learned_share_of_f": "newly learned (share of F's strength)",
    "exclusive_share_of_f": "exclusive (share of F's strength)",
    "unexplained_f": "left unexplained by F's salient set",
}


def knowledge_ladder_chart(profile: pd.DataFrame, *, title: str = "") -> alt.FacetChart:
    """Lines of each quantity's mean across seeds along the checkpoints, one panel per method.

    Parameters
    ----------
    profile : pandas.DataFrame
        From :func:`transferscope.knowledge.ladder.knowledge_profile`.
    title : str
        Chart title.

    Returns
    -------
    altair.FacetChart
        x: the checkpoint's mean upstream score; y: the mean with its interval across seeds;
        colour: the quantity.
    """
    data = profile[profile["quantity"].isin(LABELS)].copy()
    data["label"] = data["quantity"].map(LABELS)
    domain = [LABELS[q] for q in LABELS if q in set(data["quantity"])]
    colors = ["#222222", *PALETTE][: len(domain)]
    color = alt.Color(
        "label:N",
        title=None,
        scale=alt.Scale(domain=domain, range=colors),
        legend=alt.Legend(orient="bottom", columns=2, labelLimit=280),
    )
    x = alt.X("upstream_score:Q", title="Checkpoint's upstream accuracy (mean over seeds)")
    x = x.scale(zero=False, nice=True)
    y = alt.Y("estimate:Q", title="Share, or accuracy", scale=alt.Scale(domain=[0, 1]))
    tooltip = [
        alt.Tooltip("method:N"),
        alt.Tooltip("model:N", title="checkpoint"),
        alt.Tooltip("label:N", title="quantity"),
        alt.Tooltip("estimate:Q", title="mean over seeds", format=".3f"),
        alt.Tooltip("ci_low:Q", title="ci low", format=".3f"),
        alt.Tooltip("ci_high:Q", title="ci high", format=".3f"),
        alt.Tooltip("n_seeds:Q", title="seeds"),
    ]
    layer = alt.layer(
        alt.Chart().mark_rule(strokeWidth=1).encode(x=x, y=alt.Y("ci_low:Q"), y2="ci_high:Q",
                                                   color=color),
        alt.Chart().mark_line(strokeWidth=1.8).encode(x=x, y=y, color=color),
        alt.Chart().mark_circle(size=36, opacity=1).encode(x=x, y=y, color=color,
                                                            tooltip=tooltip),
        data=data,
    ).properties(width=300, height=220)  # fmt: skip
    return layer.facet(
        facet=alt.Facet("method:N", title=None, header=alt.Header(labelFontSize=12)),
        columns=2,
    ).properties(title=_title(title))


def knowledge_ladder_section(
    runs: pd.DataFrame, add: Callable[[str, alt.TopLevelMixin, str], H.Figure]
) -> tuple[H.Section, str] | None:
    """Build the section, or None when no run carries knowledge measurements.

    Parameters
    ----------
    runs : pandas.DataFrame
        The report's runs.
    add : callable
        Registers a chart with its caption and returns the figure.

    Returns
    -------
    tuple of (Section, str) or None
        The HTML section and its Markdown.
    """
    table = ladder_knowledge(runs)
    if table.empty or len(table.columns) <= 7:
        return None
    profile = knowledge_profile(table)
    corr = knowledge_correlation(table)
    level = round(100 * float(profile["ci_level"].iloc[0]))
    fig = add(
        "knowledge-ladder",
        knowledge_ladder_chart(profile, title="Knowledge kept along the ladder, and accuracy"),
        "One panel per fine-tuning method. At each checkpoint (x: its upstream accuracy), the "
        "mean over seeds of the share of the pretrained model's (P: the checkpoint with its "
        "linear probe) salient interaction strength that the fine-tuned model F preserves or "
        "discards, the share of F's salient strength that is newly learned or exclusive (kept "
        "from P and not learned from scratch), the share of F's output over all masked inputs "
        "that its salient interactions leave unexplained, and F's downstream accuracy (black); "
        f"bars: {level}% t intervals across seeds.",
    )
    cols = {
        "method": "method",
        "field": "measurement",
        "scope": "correlation",
        "estimate": "mean r",
        "ci_low": "ci low",
        "ci_high": "ci high",
        "n_groups": "correlations",
        "n_points": "points each",
        "status": "status",
    }
    shown = corr.assign(field=corr["field"].map(lambda f: LABELS.get(f, f)))
    intro = H.paragraph(
        "Does keeping the pretrained model's knowledge go with downstream accuracy? "
        "Correlation of each measurement with the fine-tuned model's accuracy: along the ladder "
        "(per seed, across checkpoints; the mean of the seeds' correlations on Fisher's z "
        "scale with a t interval across seeds) and within checkpoints (per checkpoint, across "
        "seeds: the ladder's trend held fixed). Measurements come from the runs' hparams "
        "(knowledge_*)."
    )
    body = (intro, fig.html().replace('class="chart"', 'class="chart wide"'), H.table(shown, cols))
    md = (
        "## Knowledge along the ladder\n\n"
        + md_escape("Correlation of each knowledge measurement with downstream accuracy.")
        + "\n\n"
        + md_table(shown, cols)
        + "\n"
    )
    return H.Section("knowledge-ladder", "Knowledge along the ladder", body), md
