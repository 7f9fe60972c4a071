"""Chart builders, checked on their Vega-Lite specifications (``to_dict()``), not on pixels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from transferscope.report import charts

HOSTILE = "<img src=x onerror=alert(1)>"


def _layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec["layer"])


def _data(spec: dict[str, Any], layer: dict[str, Any]) -> list[dict[str, Any]]:
    data = layer.get("data", spec.get("data"))  # altair lifts a lone layer's data to the top
    return list(spec["datasets"][data["name"]])


@pytest.fixture
def group() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(3)
    x = np.linspace(0.5, 0.9, 40)
    y = 0.8 - 0.4 * (1 - x) - rng.uniform(0, 0.1, x.size)
    points = pd.DataFrame({"upstream_score": x, "downstream_score": y, "model": "m"})
    points.loc[0, "model"] = HOSTILE
    grid = np.linspace(0.5, 1.0, 11)
    curves = pd.concat(
        [
            pd.DataFrame(
                {
                    "family": "abnar",
                    "upstream_score": grid,
                    "downstream_score": 0.8 - 0.4 * (1 - grid),
                }
            ),
            pd.DataFrame(
                {
                    "family": "power",
                    "upstream_score": grid,
                    "downstream_score": 1 - 0.6 * (1 - grid),
                }
            ),
        ]
    )
    plateaus = pd.DataFrame(
        {
            "family": ["abnar", "power"],
            "plateau": [0.8, 1.0],
            "plateau_ci_low": [0.77, np.nan],
            "plateau_ci_high": [0.83, np.nan],
        }
    )
    frontier = points.iloc[[5, 20, 39]][["upstream_score", "downstream_score"]]
    held = points.iloc[[39]][["upstream_score", "downstream_score"]].assign(predicted=0.78)
    return {
        "points": points,
        "curves": curves,
        "plateaus": plateaus,
        "frontier": frontier,
        "held": held,
    }


def test_frontier_chart_layers_and_values(group: dict[str, pd.DataFrame]) -> None:
    chart = charts.frontier_chart(
        group["points"],
        frontier=group["frontier"],
        curves=group["curves"],
        plateaus=group["plateaus"],
        held_out=group["held"],
        title=["task", "method"],
        x_title="Upstream top1 (fraction)",
        y_title="Downstream accuracy (fraction)",
    )
    spec = chart.to_dict()
    layers = _layers(spec)
    marks = [layer["mark"]["type"] for layer in layers]
    # interval bar, plateau rules, runs, curves (solid, extrapolated), frontier, held out, note
    assert marks == ["rule", "rule", "point", "line", "line", "point", "point", "text"]
    band = _data(spec, layers[0])
    assert [r["series"] for r in band] == ["abnar fit"]  # only the family with an interval
    assert band[0]["plateau_ci_low"] == 0.77 and band[0]["plateau_ci_high"] == 0.83
    assert layers[0]["encoding"]["y2"]["field"] == "plateau_ci_high"
    assert layers[0]["encoding"]["x"] == {"value": {"expr": "width - 4"}}  # at the right edge
    assert [r["plateau"] for r in _data(spec, layers[1])] == [0.8, 1.0]
    runs = _data(spec, layers[2])
    assert len(runs) == 40 and runs[0]["model"] == HOSTILE
    assert layers[2]["encoding"]["x"]["field"] == "upstream_score"
    assert layers[2]["encoding"]["x"]["title"] == "Upstream top1 (fraction)"
    solid, dashed = _data(spec, layers[3]), _data(spec, layers[4])
    # the grid runs to 1.0, the runs to 0.9: beyond the last run the curves are dashed
    assert max(r["upstream_score"] for r in solid) <= 0.9
    assert min(r["upstream_score"] for r in dashed) >= 0.9
    assert {c["series"] for c in solid} == {c["series"] for c in dashed} == {
        "abnar fit", "power fit",
    }  # fmt: skip
    assert len(_data(spec, layers[5])) == 3
    held = _data(spec, layers[6])
    assert held[0]["predicted"] == 0.78
    # one legend of colour and shape: it draws what the chart draws (diamonds for held out)
    color = layers[2]["encoding"]["color"]["scale"]
    shape = layers[2]["encoding"]["shape"]["scale"]
    order = ["runs", "frontier points", "held out (backtest)", "abnar fit", "power fit"]
    assert color["domain"] == shape["domain"] == order
    assert shape["range"] == ["circle", "circle", "diamond", "stroke", "stroke"]
    assert layers[6]["encoding"]["shape"]["scale"] == shape and len(color["range"]) == 5
    assert spec["title"]["text"] == ["task", "method"]


def test_frontier_chart_axes_follow_the_data_not_the_interval() -> None:
    """The demo's defect: an interval of 0.135-1.000 must not set the axis of runs at 0.3-0.5."""
    rng = np.random.default_rng(1)
    x = np.linspace(0.5, 0.9, 30)
    points = pd.DataFrame({"upstream_score": x, "downstream_score": 0.3 + 0.2 * x * rng.random(30)})
    plateaus = pd.DataFrame(
        {"family": ["abnar"], "plateau": [0.42], "plateau_ci_low": [0.135],
         "plateau_ci_high": [1.0]}
    )  # fmt: skip
    spec = charts.frontier_chart(points, plateaus=plateaus).to_dict()
    y = _layers(spec)[2]["encoding"]["y"]["scale"]
    lo, hi = float(points["downstream_score"].min()), float(points["downstream_score"].max())
    span = hi - lo
    assert y["domain"][0] == pytest.approx(lo - 0.04 * span, abs=1e-4)
    assert y["domain"][1] == pytest.approx(max(hi, 0.42) + 0.04 * (max(hi, 0.42) - lo), abs=1e-4)
    assert all(layer["mark"].get("clip") for layer in _layers(spec)[:7])
    # a plateau far from the runs is named in a note instead of stretching the axis
    far = plateaus.assign(plateau=1.0)
    spec = charts.frontier_chart(points, plateaus=far).to_dict()
    assert _data(spec, _layers(spec)[7]) == [{"text": "plateau 1.000 lies above the chart"}]
    assert _layers(spec)[2]["encoding"]["y"]["scale"]["domain"][1] < 0.6


def test_frontier_chart_reverses_an_axis_whose_metric_is_better_lower() -> None:
    points = pd.DataFrame({"upstream_score": [2.5, 3.0, 3.5], "downstream_score": [0.6, 0.5, 0.4]})
    spec = charts.frontier_chart(points, x_lower=True).to_dict()
    x = _layers(spec)[2]["encoding"]["x"]["scale"]
    assert x["reverse"] is True and x["domain"][0] < 2.5 < 3.5 < x["domain"][1]


def test_frontier_chart_samples_large_groups_deterministically(
    group: dict[str, pd.DataFrame],
) -> None:
    many = pd.concat([group["points"]] * 10, ignore_index=True)
    a = charts.frontier_chart(many, max_points=100, seed=1).to_dict()
    b = charts.frontier_chart(many, max_points=100, seed=1).to_dict()
    runs = _data(a, _layers(a)[2])
    assert len(runs) == 100
    assert runs == _data(b, _layers(b)[2])


def test_frontier_chart_without_fit_has_only_runs(group: dict[str, pd.DataFrame]) -> None:
    spec = charts.frontier_chart(group["points"]).to_dict()
    filled = [layer["mark"]["type"] for layer in _layers(spec) if _data(spec, layer)]
    assert filled == ["point"]
    assert _layers(spec)[2]["encoding"]["color"]["scale"]["domain"] == ["runs"]


def test_forest_chart_orders_methods_and_draws_per_task_rows() -> None:
    pooled = pd.DataFrame(
        {
            "method": ["b", HOSTILE],
            "estimate": [0.3, 0.1],
            "ci_low": [0.2, 0.0],
            "ci_high": [0.4, 0.2],
        }
    )
    per_task = pd.DataFrame(
        {
            "method": ["b", "b", HOSTILE, HOSTILE],
            "task": ["t1", "t2", "t1", "t2"],
            "estimate": [0.25, 0.35, 0.05, 0.15],
            "ci_low": [0.1, 0.2, -0.1, 0.0],
            "ci_high": [0.4, 0.5, 0.2, 0.3],
        }
    )
    spec = charts.forest_chart(pooled, per_task, x_title="Gain (points)", reference=0.0).to_dict()
    layers = _layers(spec)
    assert [layer["mark"]["type"] for layer in layers] == [
        "rule",
        "rule",
        "circle",
        "rule",
        "point",
    ]
    assert _data(spec, layers[0]) == [{"reference": 0.0}]
    assert layers[2]["encoding"]["yOffset"]["field"] == "task"
    assert layers[4]["encoding"]["y"]["sort"] == ["b", HOSTILE]
    pooled_rows = _data(spec, layers[4])
    assert [r["estimate"] for r in pooled_rows] == [0.3, 0.1]
    assert layers[4]["encoding"]["x"]["title"] == "Gain (points)"


def test_cd_layout_cliques_are_maximal_runs_within_cd() -> None:
    ranks = pd.DataFrame({"method": list("abcdef"), "mean_rank": [1.5, 2.1, 2.9, 4.0, 4.6, 5.9]})
    lay = charts.cd_layout(ranks, cd=1.8)
    # a..c (2.9 - 1.5 = 1.4 < 1.8), c..e (4.6 - 2.9 = 1.7), e..f (1.3); b..d is 1.9 >= 1.8
    cl = lay["cliques"]
    assert np.allclose(cl["x_start"] + 0.03, [1.5, 2.9, 4.6])
    assert np.allclose(cl["x_end"] - 0.03, [2.9, 4.6, 5.9])
    methods = lay["methods"]
    assert list(methods["side"]) == ["left"] * 3 + ["right"] * 3
    assert list(lay["ticks"]["rank"]) == [1, 2, 3, 4, 5, 6]
    # labels of the two sides do not cross: the outermost methods sit nearest the axis
    assert methods["y"].iloc[0] == methods["y"].iloc[5] > methods["y"].iloc[1]


def test_cd_layout_no_clique_when_all_differ() -> None:
    ranks = pd.DataFrame({"method": ["a", "b", "c"], "mean_rank": [1.0, 2.0, 3.0]})
    assert charts.cd_layout(ranks, cd=0.5)["cliques"].empty
    assert len(charts.cd_layout(ranks, cd=2.5)["cliques"]) == 1


def test_cd_diagram_spec_labels_and_cd_bar() -> None:
    ranks = pd.DataFrame({"method": ["a", HOSTILE, "c"], "mean_rank": [1.2, 2.0, 2.8]})
    spec = charts.cd_diagram(ranks, 1.0, alpha=0.05, title="CD").to_dict()
    texts = [
        row["text"]
        for layer in _layers(spec)
        if layer["mark"]["type"] == "text" and layer["encoding"]["text"]["field"] == "text"
        for row in _data(spec, layer)
    ]
    assert sorted(texts) == sorted(["a (1.20)", f"{HOSTILE} (2.00)", "c (2.80)"])
    cd_rows = [
        row
        for layer in _layers(spec)
        for row in _data(spec, layer)
        if str(row.get("label", "")).startswith("CD =")
    ]
    assert cd_rows[0]["x2"] - cd_rows[0]["x"] == pytest.approx(1.0)
    assert cd_rows[0]["label"] == "CD = 1.00 (α = 0.05)"


def test_ladder_frame_means_and_baselines() -> None:
    runs = pd.DataFrame(
        {
            "task": "t",
            "method": ["lazy"] * 4 + ["scratch"] * 2,
            "model": ["c1", "c1", "c2", "c2", "s", "s"],
            "pretrained": [True] * 4 + [False] * 2,
            "upstream_score": [0.5, 0.5, 0.7, 0.7, np.nan, np.nan],
            "downstream_score": [0.4, 0.6, 0.7, 0.7, 0.2, 0.4],
        }
    )
    ck, base = charts.ladder_frame(runs)
    assert list(ck["model"]) == ["c1", "c2"]
    assert np.allclose(ck["mean"], [0.5, 0.7])
    # standard error over seeds: sd([0.4, 0.6]) / sqrt(2) = 0.1
    assert np.allclose(ck["se"], [0.1, 0.0])
    assert base["method"].tolist() == ["scratch"] and base["mean"].iloc[0] == pytest.approx(0.3)


def test_ladder_chart_is_faceted_by_task_with_baseline_layer() -> None:
    ck = pd.DataFrame(
        {
            "task": [HOSTILE, "t2"],
            "method": ["lazy", "lazy"],
            "model": ["c1", "c1"],
            "x": [0.5, 0.5],
            "mean": [0.6, 0.5],
            "se": [0.01, np.nan],
            "n": [3, 1],
        }
    )
    base = pd.DataFrame(
        {"task": [HOSTILE], "method": ["scratch"], "mean": [0.3], "se": [0.02], "n": [3]}
    )
    spec = charts.ladder_chart(ck, base, title="Ladder").to_dict()
    assert spec["facet"]["field"] == "task"
    inner = spec["spec"]["layer"]
    assert [layer["mark"]["type"] for layer in inner] == ["rule", "rule", "line", "circle"]
    assert inner[0]["transform"] == [{"filter": "(datum.kind === 'baseline')"}]
    rows = spec["datasets"][spec["data"]["name"]]
    assert sorted(r["kind"] for r in rows) == ["baseline", "checkpoint", "checkpoint"]
    assert {r["task"] for r in rows} == {HOSTILE, "t2"}
    assert inner[2]["encoding"]["color"]["scale"]["domain"] == ["lazy", "scratch"]


def test_interaction_profile_chart() -> None:
    profile = pd.DataFrame(
        {
            "order": [1, 1, 2, 2],
            "category": ["preserved", "discarded"] * 2,
            "value": [0.5, 0.1, 0.3, 0.1],
        }
    )
    spec = charts.interaction_profile_chart(profile, title="k").to_dict()
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["xOffset"]["field"] == "category"
    assert [r["value"] for r in spec["datasets"][spec["data"]["name"]]] == [0.5, 0.1, 0.3, 0.1]
