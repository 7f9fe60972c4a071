"""One report built from a small store with hostile names: its files, and its pages in Chromium.

The report is built once per module. The browser tests open its front page and its source page
in Debian's headless Chromium (``/usr/bin/chromium``) through playwright: they run whenever that
binary exists and fail under ``CI=true`` when it does not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from report_browser import browser, chart_states, open_page, overflow, wait_for_charts
from report_synthetic import (
    HOSTILE_MODEL,
    HOSTILE_SOURCE_TITLE,
    HOSTILE_TASK,
    synthetic_ladder,
    too_few_group,
)

from transferscope.knowledge import compare_knowledge, save_knowledge
from transferscope.report.build import ReportResult, build_report
from transferscope.schema import SourceInfo
from transferscope.store import open_store

HOSTILE_COMPARISON = "<iframe src=javascript:alert(6)>"
Built = tuple[ReportResult, pd.DataFrame, ReportResult]


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ReportResult, pd.DataFrame, ReportResult]]:
    out = tmp_path_factory.mktemp("report")
    runs = pd.concat([synthetic_ladder(), too_few_group()], ignore_index=True)
    info = SourceInfo(
        name="synthetic",
        title=HOSTILE_SOURCE_TITLE,
        url="javascript:alert(4)",
        citation="[click](javascript:alert(5))",
    )
    rng = np.random.default_rng(5)
    pretrained, fine_tuned, scratch = (rng.normal(size=(4, 2**4)) for _ in range(3))
    comparison = compare_knowledge(
        pretrained, fine_tuned, scratch, task=HOSTILE_TASK, comparison=HOSTILE_COMPARISON
    )
    with open_store(out / "store.duckdb") as store:
        store.ingest(runs, info)
        save_knowledge(store, comparison)
        fast = {"bootstrap_max": 40}
        result = build_report(
            store, out / "site", fit_bootstrap=40, fit_options=fast, rank_bootstrap=100, seed=1
        )
        fits_again = build_report(
            store,
            out / "again",
            fit_bootstrap=40,
            fit_options=fast,
            rank_bootstrap=100,
            seed=1,
            image_formats=(),
        )
    yield result, runs, fits_again


def _page(result: ReportResult) -> str:
    return result.index_html.read_text(encoding="utf-8")


def _data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="ts-data">(.*?)</script>', page, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


# -- files -------------------------------------------------------------------------------------


def test_counts(built: Built) -> None:
    result, runs, _ = built
    assert result.n_runs == len(runs) == 245
    # 3 tasks x 3 methods fitted, plus the two-run group that cannot be; every group has a chart
    assert (result.n_groups, result.n_groups_ok, result.n_groups_charted) == (10, 9, 10)
    assert result.n_methods_ranked == 3
    assert [p.name for p in result.pages] == ["source-1.html"]


def test_second_build_reuses_the_stored_fits(built: Built) -> None:
    first, _, second = built
    assert first.n_fitted_now == 10
    assert second.n_fitted_now == 0 and second.n_groups == 10


def test_sections_in_order(built: Built) -> None:
    page = _page(built[0])
    anchors = re.findall(r'<section id="([^"]+)"', page)
    assert anchors == [
        "answers",
        "charts",
        "index",
        "ranking",
        "effective-transfer",
        "ladders",
        "knowledge",
        "sources",
    ]


def test_every_chart_is_in_the_page_and_exported(built: Built) -> None:
    result, _, _ = built
    page = _page(result)
    charts = _data(page)["charts"]
    # 9 representative group charts, forest, critical difference, ladder, interactions, and
    # the effective-transfer section's (residual heat maps, consistency; see
    # test_report_transfer.py)
    transfer = {p.stem for p in result.charts if "transfer-" in p.stem}
    assert any(c.endswith("transfer-heatmap-00") for c in transfer)
    assert any(c.endswith("transfer-consistency") for c in transfer)
    assert len(charts) == 13 + len(transfer)
    assert sum(c.get("template") == "frontier-large" for c in charts.values()) == 9
    for chart_id in charts:
        assert page.count(f'data-chart="{chart_id}"') == 1
    pngs = sorted(p for p in result.charts if p.suffix == ".png")
    svgs = sorted(p for p in result.charts if p.suffix == ".svg")
    assert len(pngs) == len(svgs) == len(charts)
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    for svg in svgs:
        text = svg.read_text(encoding="utf-8")
        assert text.lstrip().startswith("<svg") and "<script" not in text
    for path in result.charts:  # every exported file is linked from the page
        assert f'href="{path.relative_to(result.out_dir).as_posix()}"' in page


def test_every_group_has_a_card_on_its_source_page(built: Built) -> None:
    result, _, _ = built
    index = _page(result)
    source = result.pages[0].read_text(encoding="utf-8")
    links = re.findall(r'href="(source-1\.html)#(g\d{4})"', index)
    ids = sorted({gid for _, gid in links})
    assert len(ids) == 10  # every group is linked from the index
    for gid in ids:
        assert source.count(f'<div class="card" id="{gid}">') == 1
    charts = _data(source)["charts"]
    assert sorted(charts) == ids  # each group's small multiple, drawn from the page's templates
    assert {c["template"] for c in charts.values()} == {"frontier-small"}
    assert set(_data(source)["templates"]) == {"frontier-small", "frontier-large"}


def test_pages_are_self_contained(built: Built) -> None:
    result = built[0]
    for path in (result.index_html, *result.pages):
        page = path.read_text(encoding="utf-8")
        assert "window.vegaEmbed" in page
        markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)  # our markup only
        assert markup.count("<script") == 0 and page.count("<script") == 3
        assert not re.search(r"<(link|img|iframe|object|embed|video|audio|source)\b", markup)
        assert "https://cdn" not in page


def test_hostile_names_are_escaped_in_html(built: Built) -> None:
    result = built[0]
    for path in (result.index_html, *result.pages):
        page = path.read_text(encoding="utf-8")
        for name in (HOSTILE_TASK, HOSTILE_MODEL, HOSTILE_SOURCE_TITLE, HOSTILE_COMPARISON):
            assert name not in page  # nowhere raw, not even inside the JSON of the charts
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        assert 'href="javascript:' not in page
    page = _page(result)
    assert "&lt;b onmouseover=alert(3)&gt;bold&lt;/b&gt;" in page and "javascript:alert(4)" in page
    values = json.dumps(_data(page))
    assert HOSTILE_TASK in values and HOSTILE_MODEL in values  # charts carry them as data


def test_summary_markdown(built: Built) -> None:
    text = built[0].summary_md.read_text(encoding="utf-8")
    assert "<img" not in text and "<b " not in text and "<iframe" not in text
    assert "&lt;iframe src=javascript:alert\\(6\\)&gt;" in text
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in text
    assert "\\[click\\]" not in text  # citation is not in the Markdown table
    assert "too\\_few\\_points" in text  # the group that could not be fitted, with its status
    assert "## Answers" in text and "## Ranking (auto)" in text
    # the two-run tiny_task has no scratch baseline, so auto ranks this source by slope
    assert "(ranked by slope)" in text
    assert "1 of 4 (metric, task, shots) have no scratch baseline" in _page(built[0])


def test_failed_group_has_its_reason(built: Built) -> None:
    page = _page(built[0])
    section = page[page.index('<section id="index">') :]
    section = section[: section.index("</section>")]
    row = next(r for r in section.split("<tr>") if "tiny_task" in r)
    assert "too_few_points" in row and re.search(r"2 points; .* needs \d+", row)


# -- browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_page(built: Built) -> Iterator[dict[str, Any]]:
    result, _, _ = built
    seen: dict[str, Any] = {"console": [], "errors": [], "requests": [], "dialogs": []}
    with browser() as context:
        context.on("request", lambda r: seen["requests"].append(r.url))
        page = open_page(context, result.index_html, seen)
        seen["charts"] = chart_states(page)
        seen["n_charts"] = page.evaluate(
            "() => Object.keys(JSON.parse(document.getElementById('ts-data').textContent)"
            ".charts).length"
        )
        seen["text"] = page.inner_text("body")
        seen["injected"] = page.evaluate(
            "() => document.querySelectorAll('main img, main iframe, b[onmouseover], "
            "[onerror], [onload], main script').length"
        )
        seen["svg_text"] = page.evaluate(
            "() => [...document.querySelectorAll('div.vega svg text')]"
            ".map(t => t.textContent).join('\\n')"
        )
        seen["overflow"] = overflow(page)
        # the index finds the hostile task by a word of its name, and sorting keeps every row
        page.fill("input[data-filter-table='group-index']", "onerror")
        seen["found"] = page.eval_on_selector_all(
            "#group-index tbody tr:not([hidden])", "rows => rows.map(r => r.textContent)"
        )
        page.fill("input[data-filter-table='group-index']", "")
        page.click("#group-index thead th:nth-child(3)")  # runs, ascending
        seen["sorted_runs"] = page.eval_on_selector_all(
            "#group-index tbody tr td:nth-child(3)", "cells => cells.map(c => c.textContent)"
        )
        seen["tooltip"] = _hover_tooltip(page)
        seen["dialogs_after_hover"] = list(seen["dialogs"])
        page.close()
        # the source page: every small multiple, and one enlarged
        source = open_page(context, result.pages[0], seen)
        wait_for_charts(source, lazy=True)
        seen["source_charts"] = chart_states(source)
        seen["source_overflow"] = overflow(source)
        source.click("button[data-enlarge='g0001']")
        source.wait_for_function(
            "() => document.querySelector('#ts-dialog .vega')?.getAttribute('data-rendered')"
        )
        seen["enlarged"] = source.eval_on_selector(
            "#ts-dialog .vega svg", "s => s.getBoundingClientRect().width"
        )
        seen["source_svg_text"] = source.evaluate(
            "() => [...document.querySelectorAll('div.vega svg text')]"
            ".map(t => t.textContent).join('\\n')"
        )
    yield seen


def _hover_tooltip(page: Any) -> str:
    """Hover the point marks of the first group chart until a tooltip names the hostile model."""
    for mark in page.query_selector_all("#chart-000 g.mark-symbol path"):
        mark.hover(force=True)
        tip = page.query_selector("#vg-tooltip-element.visible")
        if tip is not None and "svg onload" in tip.inner_text():
            return str(tip.inner_html())
    return ""


@pytest.mark.browser
def test_browser_every_chart_rendered(browser_page: dict[str, Any]) -> None:
    charts = browser_page["charts"]
    # the 13 charts of test_every_chart_is_in_the_page_and_exported and effective transfer's
    assert len(charts) == browser_page["n_charts"] >= 15
    for chart in [*charts, *browser_page["source_charts"]]:
        assert chart["state"] == "true", chart
        assert chart["width"] > 100 and chart["height"] > 80, chart
        assert chart["marks"] > 5, chart
    assert len(browser_page["source_charts"]) == 10
    assert browser_page["enlarged"] > 400  # the large template, not the small one


@pytest.mark.browser
def test_browser_no_console_errors(browser_page: dict[str, Any]) -> None:
    assert browser_page["errors"] == []
    assert [m for m in browser_page["console"] if m[0] in ("error", "warning")] == []


@pytest.mark.browser
def test_browser_no_request_leaves_the_file(browser_page: dict[str, Any]) -> None:
    requests = browser_page["requests"]
    assert requests and all(r.startswith("file://") for r in requests), requests
    assert len(set(requests)) == 2  # the two pages, nothing else


@pytest.mark.browser
def test_browser_tables_fit_and_the_index_searches_and_sorts(
    browser_page: dict[str, Any],
) -> None:
    for key in ("overflow", "source_overflow"):
        assert browser_page[key] == {"tables": [], "page": 0}, key
    found = browser_page["found"]
    assert len(found) == 3 and all("onerror" in row for row in found)
    runs = [int(v) for v in browser_page["sorted_runs"]]
    assert runs == sorted(runs) and len(runs) == 10


@pytest.mark.browser
def test_browser_hostile_names_are_text(browser_page: dict[str, Any]) -> None:
    text = browser_page["text"]
    assert HOSTILE_TASK in text and HOSTILE_SOURCE_TITLE in text  # models appear in tooltips
    assert HOSTILE_COMPARISON in text
    assert browser_page["injected"] == 0
    assert browser_page["dialogs"] == [] and browser_page["dialogs_after_hover"] == []
    assert HOSTILE_TASK in browser_page["svg_text"]  # chart titles and labels show it as text
    tooltip = browser_page["tooltip"]
    assert "&lt;svg onload=alert(2)&gt;" in tooltip and "<svg" not in tooltip
