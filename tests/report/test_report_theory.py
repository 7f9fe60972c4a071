"""Theory figures (Figure 3 panels, the regime map) and the report section of a simulated ladder."""

from __future__ import annotations

import json
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import pytest
from report_synthetic import synthetic_ladder

from transferscope.dln import (
    REGIME_SETTINGS,
    default_tasks,
    regime_grid,
    simulate_ladder,
    theory_curves,
    theory_ladder,
)
from transferscope.report import html as H
from transferscope.report.theory import (
    FIGURE3_BASE,
    FIGURE3_PANELS,
    figure3_chart,
    figure3_panels,
    regime_map_chart,
    theory_curve_chart,
    theory_section,
)


class _Collector:
    """Stand-in for the report's figure collector: keeps the charts, renders nothing."""

    def __init__(self) -> None:
        self.charts: dict[str, alt.TopLevelMixin] = {}

    def add(self, name: str, chart: alt.TopLevelMixin, caption: str) -> H.Figure:
        self.charts[name] = chart
        return H.Figure(f"chart-{len(self.charts):03d}", chart.to_dict(), caption, ())


def _marks(spec: dict[str, Any]) -> list[str]:
    layers = spec.get("spec", spec)["layer"]
    return [layer["mark"]["type"] for layer in layers]


def test_theory_curve_chart_draws_two_standard_error_bars() -> None:
    lines = pd.DataFrame(
        {"series": ["a"] * 3 + ["b"] * 3, "alpha_ft": [0.1, 0.5, 0.9] * 2,
         "gen_error": [0.8, 0.2, 0.1, 0.9, 0.5, 0.2]}
    )  # fmt: skip
    points = pd.DataFrame(
        {"series": ["a", "b"], "alpha_ft": [0.5, 0.5], "gen_error": [0.25, 0.45],
         "gen_error_se": [0.01, 0.02]}
    )  # fmt: skip
    spec = theory_curve_chart(lines, points, series_title="method", log_y=False).to_dict()
    assert _marks(spec) == ["line", "rule", "point"]
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    sim = data[data["kind"] == "simulation"].set_index("series")
    np.testing.assert_allclose(sim.loc["a", ["lo", "hi"]].astype(float), [0.23, 0.27])
    np.testing.assert_allclose(sim.loc["b", ["lo", "hi"]].astype(float), [0.41, 0.49])
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == ["a", "b"]
    # log axis: a bar that would reach below zero is cut at half the smallest value drawn
    points.loc[0, "gen_error_se"] = 1.0
    logged = theory_curve_chart(lines, points).to_dict()
    data = pd.DataFrame(next(iter(logged["datasets"].values())))
    assert data["lo"].min() == pytest.approx(0.05)
    assert logged["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"


def test_regime_map_orders_panels_and_marks_settings() -> None:
    grid = regime_grid(np.logspace(-3, 3, 7), [0.0, -1.0], np.logspace(-2, 0, 5))
    marks = pd.DataFrame(
        [{"name": s.name, "c_pt": s.c_pt, "lam_pt": s.lam_pt, "gamma_ft": s.gamma_ft,
          "regime": r} for r, s in REGIME_SETTINGS.items()]
    )  # fmt: skip
    spec = regime_map_chart(grid, settings=marks).to_dict()
    assert spec["facet"]["column"]["sort"] == ["λ_PT = -1", "λ_PT = 0"]
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    cells = data[data["kind"] == "cell"]
    assert len(cells) == 7 * 5 * 2
    # every cell spans its neighbours' geometric midpoints: c = 1 sits in [10^-0.5, 10^0.5]
    one = cells[np.isclose(cells["c_pt"], 1.0)].iloc[0]
    assert (one["c_lo"], one["c_hi"]) == pytest.approx((10**-0.5, 10**0.5))
    assert set(data.loc[data["kind"] == "setting", "name"]) == {
        s.name for s in REGIME_SETTINGS.values()
    }
    assert {"I", "II", "III", "IV"} <= set(cells["regime"])


def test_figure3_panels_and_chart() -> None:
    panels = figure3_panels(
        panels=("lam_pt", "task"), alphas=(0.2, 0.5), sim_alphas=(0.5,), dim=60, seeds=3
    )
    assert [p.panel for p in panels] == ["lam_pt", "task"]
    lam, task = panels
    assert lam.series == tuple(f"λ_PT = {v:g}" for v in FIGURE3_PANELS["lam_pt"])
    assert len(lam.lines) == 5 * 2 and len(lam.points) == 5
    assert (lam.points["n_seeds"] == 3).all()
    assert task.series == FIGURE3_PANELS["task"] and len(task.lines) == 4 * 2
    # the lines are the theory itself
    tasks = [t for t in default_tasks(0.1, 4) if t.name == "disjoint"]
    ref = theory_curves([FIGURE3_BASE], alphas=(0.2, 0.5), tasks=tasks, scratch=None)
    mine = task.lines[task.lines["series"] == "disjoint"]["gen_error"].to_numpy()
    np.testing.assert_allclose(mine, ref["gen_error"].to_numpy(), rtol=1e-12)
    spec = figure3_chart(panels).to_dict()
    assert len(spec["concat"]) == 2
    assert panels[0].to_record()["panel"] == "lam_pt"


def test_section_of_a_simulated_ladder() -> None:
    runs = simulate_ladder(checkpoints=2, tasks=2, seeds=3, dim=40, shots=[12, 24], seed=2)
    collector = _Collector()
    out = theory_section(runs, collector.add)
    assert out is not None
    section, markdown = out
    assert section.anchor == "theory"
    assert set(collector.charts) == {"theory-curves", "regime-map"}
    assert "## Theory of the simulated ladder" in markdown
    # the points are the ladder's means at its best checkpoint, against the theory there
    spec = collector.charts["theory-curves"].to_dict()
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    sim = data[data["kind"] == "simulation"]
    assert len(sim) == 2 * 2 * (4 + 1)  # tasks x shots x (methods + scratch)
    pre = runs[runs["pretrained"]]
    best = pre[pre["model"] == pre["model"].iloc[-1]]  # the largest pretraining size comes last
    errors = best["hparams"].map(lambda s: json.loads(s)["error"])
    one = errors[(best["task"] == "dln_equal") & (best["method"] == "lazy_pt_dependent")
                 & (best["shots"] == 12)]  # fmt: skip
    got = sim[(sim["series"] == "lazy_pt_dependent") & (sim["task"] == "dln_equal")
              & np.isclose(sim["alpha_ft"], 0.3)]  # fmt: skip
    assert float(got["gen_error"].iloc[0]) == pytest.approx(float(one.mean()))
    assert float(got["gen_error_se"].iloc[0]) == pytest.approx(float(one.std() / np.sqrt(3)))


def test_section_of_a_theory_ladder_sits_on_its_lines() -> None:
    runs = theory_ladder(checkpoints=2, tasks=2, dim=50, shots=[10, 30])
    collector = _Collector()
    out = theory_section(runs, collector.add)
    assert out is not None
    assert "theory ladder" in out[1]
    spec = collector.charts["theory-curves"].to_dict()
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    sim = data[data["kind"] == "simulation"].set_index(["series", "task", "alpha_ft"])
    line = data[data["kind"] == "theory"].set_index(["series", "task", "alpha_ft"])
    joined = sim[["gen_error"]].join(line[["gen_error"]].add_suffix("_line"), how="inner")
    assert len(joined) == len(sim) == 2 * 2 * 5
    np.testing.assert_allclose(joined["gen_error"], joined["gen_error_line"], rtol=1e-8)
    assert sim["lo"].isna().all()  # expectations: no error bars


def test_no_section_without_the_simulator() -> None:
    assert theory_section(synthetic_ladder(), _Collector().add) is None
