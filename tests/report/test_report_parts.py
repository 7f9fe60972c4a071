"""The parts of a report: templates, the group table, the answers, ladders, sections, knowledge."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from report_synthetic import step_ladder, synthetic_ladder, too_few_group

from transferscope.frontier.top import top_slopes
from transferscope.knowledge import compare_knowledge
from transferscope.report import sections
from transferscope.report.answers import answer_rows
from transferscope.report.build import build_report
from transferscope.report.context import PageCharts, ReportContext, ReportOptions
from transferscope.report.groups import key_text
from transferscope.report.knowledge import knowledge_table
from transferscope.report.ladders import step_ladder_runs
from transferscope.report.templates import Names, compact, expand, fill, placeholder
from transferscope.stats import pool_effects
from transferscope.store import open_store


def _data(page: str) -> dict[str, Any]:
    found = re.search(r'id="ts-data">(.*?)</script>', page, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


# -- templates ------------------------------------------------------------------------------------


def test_fill_replaces_placeholders_and_expands_columns() -> None:
    template = {
        "title": placeholder("title"),
        "layer": [{"encoding": {"x": {"scale": placeholder("x_scale")}}}],
        "keep": "@@unknown",
    }
    names = Names(["m0"])
    payload = {
        "values": {"title": ["a", "b"], "x_scale": {"domain": [0, 1], "reverse": True}},
        "datasets": {"runs": {"x": [1, 2], "series": "runs", "model": names.codes(["m1", "m0"])}},
    }
    spec = fill(template, payload, names.names)
    assert spec["title"] == ["a", "b"] and spec["keep"] == "@@unknown"
    assert spec["layer"][0]["encoding"]["x"]["scale"] == {"domain": [0, 1], "reverse": True}
    assert spec["datasets"]["runs"] == [
        {"x": 1, "series": "runs", "model": "m1"},
        {"x": 2, "series": "runs", "model": "m0"},
    ]
    assert template["title"] == "@@title"  # the template is not changed
    assert expand({"a": "only scalars"}) == []


def test_compact_keeps_five_significant_digits_and_missing_values() -> None:
    values = [0.123456789, 1234.5678, -0.000123456, 0.0, np.nan, np.inf, 3.0]
    assert compact(values) == [0.12346, 1234.6, -0.00012346, 0.0, None, None, 3.0]
    assert json.dumps(compact(np.linspace(0, 1, 3))) == "[0.0, 0.5, 1.0]"


def test_names_codes_are_stable_across_calls() -> None:
    names = Names()
    assert names.codes(["b", "a", "b"]) == {"codes": [1, 0, 1]}
    assert names.codes(["c", "a"]) == {"codes": [2, 0]}
    assert names.names == ["a", "b", "c"]


# -- the report on a synthetic store ------------------------------------------------------------


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parts") / "store.duckdb"
    with open_store(path) as store:
        store.ingest(pd.concat([synthetic_ladder(), too_few_group()], ignore_index=True), "synth")
        store.ingest(step_ladder(), "steps")
    return path


@pytest.fixture(scope="module")
def context(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportContext:
    out = tmp_path_factory.mktemp("ctx")
    store = open_store(store_path)
    options = ReportOptions(fit_bootstrap=30, rank_bootstrap=50, seed=3, image_formats=())
    return ReportContext(
        store=store,
        runs=store.runs(),
        sources=store.sources(),
        options=options,
        out_dir=out,
        charts=PageCharts(out, ()),
    )


def test_group_table_joins_fits_runs_and_slopes(context: ReportContext) -> None:
    groups = context.groups
    table = groups.table
    runs = context.runs
    assert list(table["group_id"]) == [f"g{i:04d}" for i in range(1, len(table) + 1)]
    assert set(table["page"]) == {"source-1.html", "source-2.html"}
    # every run belongs to exactly one group
    members = np.concatenate(list(groups.members.values()))
    assert np.sort(members).tolist() == list(range(len(runs)))
    assert table["n_runs"].sum() == len(runs)
    fits, _, by = context.fits
    assert len(table) == len(fits.drop_duplicates(subset=list(by)))
    # the slopes are those of top_slopes on the same grouping
    ref = top_slopes(runs, by=list(by))
    ref = ref.assign(_k=[key_text(tuple(r)) for r in ref[list(by)].itertuples(index=False)])
    mine = table.assign(_k=[key_text(tuple(r)) for r in table[list(by)].itertuples(index=False)])
    both = mine.merge(ref, on="_k", suffixes=("", "_ref"))
    assert len(both) == len(ref)
    assert np.allclose(both["slope"], both["slope_ref"], equal_nan=True)
    # saturation is read from the fit: the curve reaches its plateau within the data or not
    ok = table[table["status"] == "ok"]
    within = ok["saturation_point"] <= ok["upstream_max"] + 1e-12
    assert (ok["saturates"].astype(bool) == within).all()
    assert np.allclose(
        ok.loc[~within, "extrapolation"],
        (ok["saturation_point"] - ok["upstream_max"])[~within],
    )
    tiny = table[table["task"] == "tiny_task"].iloc[0]
    assert tiny["status"] == "too_few_points" and pd.isna(tiny["saturates"])


def test_answers_quote_the_pooled_slope_of_their_groups(context: ReportContext) -> None:
    rows = answer_rows(context)
    table = context.groups.table
    assert set(rows["source"]) == {"synth", "steps"}
    synth = rows[rows["source"] == "synth"].iloc[0]
    part = table[(table["source"] == "synth") & (table["slope_status"] == "ok")]
    pooled = pool_effects(part["slope"], part["slope_se"] ** 2, method="DL", knha=True)
    assert synth["slope"] == pytest.approx(pooled.estimate)
    assert f"{pooled.estimate:.3f} [{pooled.ci_low:.3f}, {pooled.ci_high:.3f}]" in synth["helps"]
    assert synth["helps"].startswith("Yes" if pooled.ci_low > 0 else "Not clearly")
    assert f"pooled over {len(part)} groups" in synth["helps"]
    n_sat = int(table[table["source"] == "synth"]["saturates"].fillna(False).sum())
    assert synth["n_saturating"] == n_sat
    assert "1 group(s) could not be fitted" in synth["saturates"]
    # the synthetic ladder has a scratch baseline: the first of its ranking is named
    first = context.rankings.by_source["synth"].first("accuracy")
    assert first is not None and synth["depends_most"].startswith(first["entity"])
    steps = rows[rows["source"] == "steps"].iloc[0]
    assert steps["depends_most"].startswith(("Nothing to rank", "zero_shot", "five_shot"))


def test_step_ladders_from_the_data(context: ReportContext) -> None:
    ladder = step_ladder_runs(context.runs)
    assert set(ladder["source"]) == {"steps"}  # the synthetic ladder has no training steps
    assert set(ladder["size"]) == {"toy-small", "toy-large"}
    assert ladder["series"].nunique() == 4


def test_report_pages_sections_and_ladders(store_path: Path, tmp_path: Path) -> None:
    with open_store(store_path) as store:
        result = build_report(
            store, tmp_path / "r", fit_bootstrap=30, rank_bootstrap=50, image_formats=()
        )
    assert [p.name for p in result.pages] == ["source-1.html", "source-2.html", "ladders-1.html"]
    ladders = (tmp_path / "r" / "ladders-1.html").read_text(encoding="utf-8")
    data = _data(ladders)
    # one figure per task and metric, each drawn against steps and against upstream scores
    assert len(data["charts"]) == 2 * 3
    assert set(data["templates"]) == {"ladder-steps", "ladder-upstream"}
    payload = next(iter(data["charts"].values()))["payload"]
    rows = payload["datasets"]["rows"]
    names = data["names"]
    kinds = [names[i] for i in rows["kind"]["codes"]]
    methods = [names[i] for i in rows["method"]["codes"]]
    baseline = {m for k, m in zip(kinds, methods, strict=True) if k == "baseline"}
    assert baseline == {"zero_shot"}  # five_shot has no step 0
    assert payload["values"]["facet_order"] == ["toy-small", "toy-large"]  # by parameters
    assert "for zero_shot (the data have no step 0 for the other methods)" in ladders
    index = result.index_html.read_text(encoding="utf-8")
    # the front page: every family's mean ladder (one here), and the ladder of the synthetic
    # tasks ordered by upstream score, whose caption describes the baselines it draws
    assert "steps · all tasks: mean accuracy over 3 tasks" in index
    assert "in the colour of its method" in index


def test_one_registration_point_plugs_a_section_in(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = (
        sections.SectionSpec("extra", "report_synthetic", "extra_section"),
        sections.SectionSpec("legacy", "report_synthetic", "legacy_section", takes="runs"),
    )
    monkeypatch.setattr(sections, "SECTIONS", (*sections.SECTIONS, *extra))
    with open_store(store_path) as store:
        result = build_report(
            store, tmp_path / "r", sources=["synth"], fit_bootstrap=30, rank_bootstrap=0,
            image_formats=(),
        )  # fmt: skip
    page = result.index_html.read_text(encoding="utf-8")
    anchors = re.findall(r'<section id="([^"]+)"', page)
    assert anchors[-2:] == ["extra", "legacy"]
    assert "A plugged-in section saw 245 runs." in page
    assert "## Plugged in" in result.summary_md.read_text(encoding="utf-8")
    assert "Sources kept: synth." in page


def test_knowledge_table_shows_no_empty_column() -> None:
    rng = np.random.default_rng(5)
    pretrained, fine_tuned, scratch = (rng.normal(size=(4, 2**4)) for _ in range(3))
    comp = compare_knowledge(pretrained, fine_tuned, scratch, task="t")
    rows, cols = knowledge_table(comp.summary())
    assert list(rows["set"]) == ["preserved", "discarded", "newly_learned", "exclusive"]
    for column in cols:
        assert rows[column].notna().any(), column
    assert "share_of_r" not in cols  # defined for no set: the demo's empty column


def test_a_source_whose_upstream_is_a_loss_is_fitted_with_the_loss_family(tmp_path: Path) -> None:
    from transferscope.frontier import fit_store, source_families
    from transferscope.report.frontiers import current_fits

    acc = synthetic_ladder(tasks=("a", "b"), methods=("full_ft", "linear_probe"), seeds=2)
    # the same runs with a validation loss as upstream score (lower is better)
    loss = acc.assign(
        task=acc["task"] + "_l",  # groups do not span sources here (they may in general)
        upstream_metric="loss",
        upstream_score=4.0 - 3.0 * acc["upstream_score"],
    )
    with open_store(tmp_path / "s.duckdb") as store:
        store.ingest(acc, "acc_source")
        store.ingest(loss, "loss_source")
        runs = store.runs()
        families = source_families(runs)
        assert families == {"acc_source": None, "loss_source": "loss_exp"}
        fits, n_now, by = current_fits(
            store, {}, options={"bootstrap": 20, "seed": 2}, progress=False, families=families
        )
        assert n_now == 8 and len(fits) == 8
        is_loss = fits["task"].astype(str).str.endswith("_l")
        assert set(fits.loc[~is_loss, "family"]) == {"abnar"}
        assert set(fits.loc[is_loss, "family"]) == {"loss_exp"}
        assert (fits["status"] == "ok").sum() >= 6  # the loss source is fitted, not degenerate
        # the same numbers as fitting the loss source on its own with loss_exp
        alone = fit_store(
            store, "loss_exp", by=by, filters={"source": ["loss_source"]}, bootstrap=20, seed=2
        )
        assert alone["reused"].all()  # stored by the report's fit: the same fingerprints
        mine = fits[is_loss].sort_values(list(by))
        np.testing.assert_allclose(
            mine["plateau"].to_numpy(float),
            alone.sort_values(list(by))["plateau"].to_numpy(float),
            rtol=0,
            equal_nan=True,
        )
        # a named family applies to every source
        named, _, _ = current_fits(
            store,
            {},
            options={"family": "abnar", "bootstrap": 20, "seed": 2},
            progress=False,
            families=families,
        )
        assert set(named["family"]) == {"abnar"}


def test_fit_without_a_family_fits_loss_sources_as_the_report_does(tmp_path: Path) -> None:
    """`fit` (no --family) stores loss_exp fits for a loss-upstream source; `report` reuses them."""
    from transferscope.cli import main
    from transferscope.store import open_store

    acc = synthetic_ladder(tasks=("a", "b"), methods=("full_ft", "linear_probe"), seeds=2)
    loss = acc.assign(
        task=acc["task"] + "_l",
        upstream_metric="loss",
        upstream_score=4.0 - 3.0 * acc["upstream_score"],
    )
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        store.ingest(acc, "acc_source")
        store.ingest(loss, "loss_source")
    assert main(["fit", "--db", str(db), "--bootstrap", "20", "--bootstrap-max", "20"]) == 0
    with open_store(db, read_only=True) as store:
        n_fits = store.connection.execute("SELECT count(*) FROM fits").fetchone()[0]
        families = dict(
            store.connection.execute(
                "SELECT json_extract_string(group_key, '$.task'), family FROM fits"
            ).fetchall()
        )
    assert n_fits == 8
    assert {families[t] for t in ("a_l", "b_l")} == {"loss_exp"}
    assert {families[t] for t in ("a", "b")} == {"abnar"}
    with open_store(db) as store:
        build_report(store, tmp_path / "r", image_formats=(), rank_bootstrap=0)
        after = store.connection.execute("SELECT count(*) FROM fits").fetchone()[0]
    assert after == n_fits  # the report shows fit's fits and adds none
