"""The effective-transfer section of the report: its charts (as Vega-Lite values) and tables."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from transferscope.report import html as H
from transferscope.report.transfer import transfer_section
from transferscope.transfer import simulate_transfer


class _Collect:
    def __init__(self) -> None:
        self.charts: dict[str, dict[str, Any]] = {}

    def __call__(self, name: str, chart: alt.TopLevelMixin, caption: str) -> H.Figure:
        spec = chart.to_dict()
        self.charts[name] = spec
        return H.Figure(f"chart-{len(self.charts):03d}", spec, caption)


def _runs() -> pd.DataFrame:
    sim = simulate_transfer(40, 4, delta=0.4, seed=3)
    runs = sim.runs.assign(source="sim", pretrained=True)
    runs.loc[runs["model"] == "m000", "model"] = "<b>m000</b>"  # names are escaped, not markup
    return runs


def test_section_has_the_three_figures_and_its_tables() -> None:
    collect = _Collect()
    built = transfer_section(_runs(), collect, bootstrap=50)
    assert built is not None
    section, markdown = built
    assert section.anchor == "effective-transfer"
    assert set(collect.charts) == {
        "transfer-levels-00",
        "transfer-heatmap-00",
        "transfer-consistency",
    }
    levels = collect.charts["transfer-levels-00"]
    assert levels["facet"]["field"] == "task"
    heat = collect.charts["transfer-heatmap-00"]
    assert heat["encoding"]["color"]["scale"]["scheme"] == "redblue"
    assert len(heat["encoding"]["y"]["sort"]) == 40  # every model is seen on every task
    html = "".join(section.body)
    assert "<b>m000</b>" not in html and "Moderators" in html and "Non-monotone" in html
    assert "## Effective transfer" in markdown and "pretrain\\_data" in markdown


def test_no_section_without_two_tasks() -> None:
    runs = _runs()
    one_task = runs[runs["task"] == runs["task"].iloc[0]]
    assert transfer_section(one_task, _Collect(), bootstrap=0) is None


def test_level_panels_keep_the_tasks_where_levels_differ_most() -> None:
    from transferscope.report.transfer import _spread_tasks

    rows = [
        {"task": f"t{i:02d}", "level": level, "mean_residual": (i / 100) * (level == "b")}
        for i in range(30)
        for level in ("a", "b")
    ]
    levels = pd.DataFrame(rows)
    kept, note = _spread_tasks(levels, 24)
    assert sorted(kept["task"].unique()) == [f"t{i:02d}" for i in range(6, 30)]
    assert note == " (the 24 of 30 tasks where the levels differ most)"
    same, none = _spread_tasks(levels, 30)
    assert len(same) == 60 and none == ""
