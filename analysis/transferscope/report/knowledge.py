"""Report section: interactions of a pretrained, a fine-tuned and a from-scratch model.

Reads the comparisons stored in the store's table ``interactions`` (and any passed to
:func:`transferscope.report.build_report`): per comparison, a table of the salient interactions
each set holds (preserved, discarded, newly learned, exclusive) and their strength shares, and a
chart of those shares by interaction order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from transferscope.report import charts
from transferscope.report import html as H
from transferscope.report.markdown import md_escape, md_table
from transferscope.store import Store

_SETS = ("preserved", "discarded", "newly_learned", "exclusive")
_COLUMNS = {
    "set": "set",
    "n_interactions": "salient interactions (mean per input)",
    "share_of_p": "share of the pretrained model's strength",
    "share_of_f": "share of the fine-tuned model's strength",
    "share_of_r": "share of the scratch model's strength",
}


def _mean_over_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of a knowledge table that average over inputs (scope ``input_mean``) when scoped."""
    if "scope" in frame.columns:
        return frame[frame["scope"] == "input_mean"]
    return frame


def comparisons(store: Store, extra: Sequence[Any]) -> list[Any]:
    """Return the stored knowledge comparisons, those passed in replacing same names.

    Parameters
    ----------
    store : Store
        The store.
    extra : sequence of KnowledgeComparison
        Comparisons passed to the report.

    Returns
    -------
    list of KnowledgeComparison
        Sorted by name.
    """
    from transferscope.knowledge import load_knowledge

    by_name = {c.comparison: c for c in load_knowledge(store)}
    by_name.update({c.comparison: c for c in extra})
    return [by_name[name] for name in sorted(by_name)]


def knowledge_table(summary: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Choose the rows and columns shown for one comparison (a column no set fills is left out).

    Parameters
    ----------
    summary : pandas.DataFrame
        ``KnowledgeComparison.summary()``.

    Returns
    -------
    (pandas.DataFrame, dict)
        The four sets (averaged over inputs when scoped), and the columns to show with their
        headers.
    """
    rows = _mean_over_inputs(summary)
    rows = rows[rows["set"].isin(_SETS)]
    cols = {c: h for c, h in _COLUMNS.items() if c in rows and rows[c].notna().any()}
    return rows, cols


def knowledge_section(ctx: Any) -> Any:
    """Build the interactions section, or None without stored comparisons.

    Parameters
    ----------
    ctx : ReportContext
        The report being built.

    Returns
    -------
    SectionOutput or None
        The section and its Markdown.
    """
    from transferscope.report.sections import SectionOutput

    comps = comparisons(ctx.store, ctx.options.knowledge)
    if not comps:
        return None
    body: list[str] = [
        H.paragraph(
            "Harsanyi interactions of a pretrained, a fine-tuned and a from-scratch model on the "
            "same inputs. Preserved: salient in both the pretrained and the fine-tuned model; "
            "discarded: salient in the pretrained model only; newly learned: salient in the "
            "fine-tuned model only; exclusive: preserved, and never salient in the model "
            "trained from scratch. Counts and shares are means over the inputs analysed; a "
            "dash marks a share that is not defined (the set is not part of that model)."
        )
    ]
    md = ["## Interactions (knowledge kept, discarded and learned)\n"]
    for comp in comps:
        summary, cols = knowledge_table(comp.summary())
        label = f"{comp.comparison} (task {comp.task}, tau = {comp.tau:g})"
        body.append(f"<h3>{H.escape(label)}</h3>")
        body.append(H.table(summary, cols, missing="—", sortable=False))
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
        fig = ctx.charts.add(
            "knowledge",
            charts.interaction_profile_chart(
                profile,
                title=["Knowledge by interaction order", label],
                y_title="Share of the model's salient strength",
            ),
            "Bars: the share of salient interaction strength in each set, by the number of "
            "variables that interact. Preserved and newly learned are shares of the fine-tuned "
            "model's strength (they add up to 1 over all orders); discarded is a share of the "
            "pretrained model's.",
        )
        body.append(fig.html())
    section = H.Section(
        "knowledge", "Interactions: knowledge kept, discarded and learned", tuple(body)
    )
    return SectionOutput(sections=(section,), markdown="\n".join(md))
