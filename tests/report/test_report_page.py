"""One report built from a small store with hostile names: its files, and the page in Chromium.

The report is built once per module. The browser tests open it in Debian's headless Chromium
(``/usr/bin/chromium``) through playwright: they run whenever that binary exists and fail under
``CI=true`` when it does not.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
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
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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


def _specs(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="ts-specs">(.*?)</script>', page, re.S)
    assert found is not None
    specs: dict[str, Any] = json.loads(found.group(1))
    return specs


# -- files -------------------------------------------------------------------------------------


def test_counts(built: Built) -> None:
    result, runs, _ = built
    assert result.n_runs == len(runs) == 245
    # 3 tasks x 3 methods fitted, plus the two-run group that cannot be
    assert (result.n_groups, result.n_groups_ok, result.n_groups_charted) == (10, 9, 9)
    assert result.n_methods_ranked == 3


def test_second_build_reuses_the_stored_fits(built: Built) -> None:
    first, _, second = built
    assert first.n_fitted_now == 10
    assert second.n_fitted_now == 0 and second.n_groups == 10


def test_every_chart_is_in_the_page_and_exported(built: Built) -> None:
    result, _, _ = built
    page = _page(result)
    specs = _specs(page)
    # 9 group charts, the plateau overview, forest, critical difference, ladder, interactions
    assert len(specs) == 14
    for chart_id in specs:
        assert page.count(f'<div class="vega" id="{chart_id}">') == 1
    pngs = sorted(p for p in result.charts if p.suffix == ".png")
    svgs = sorted(p for p in result.charts if p.suffix == ".svg")
    assert len(pngs) == len(svgs) == len(specs)
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    for svg in svgs:
        text = svg.read_text(encoding="utf-8")
        assert text.lstrip().startswith("<svg") and "<script" not in text
    # every exported file is linked from the page
    for path in result.charts:
        assert f'href="{path.relative_to(result.out_dir).as_posix()}"' in page


def test_page_is_self_contained(built: Built) -> None:
    page = _page(built[0])
    assert "window.vegaEmbed" in page
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)  # our markup only
    assert markup.count("<script") == 0 and page.count("<script") == 3
    assert not re.search(r"<(link|img|iframe|object|embed|video|audio|source)\b", markup)
    # the only remote addresses are the published source's link targets, none here
    assert "https://cdn" not in page


def test_hostile_names_are_escaped_in_html(built: Built) -> None:
    page = _page(built[0])
    for name in (HOSTILE_TASK, HOSTILE_MODEL, HOSTILE_SOURCE_TITLE, HOSTILE_COMPARISON):
        assert name not in page  # nowhere raw, not even inside the JSON of the chart specs
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b onmouseover=alert(3)&gt;bold&lt;/b&gt;" in page
    assert 'href="javascript:' not in page and "javascript:alert(4)" in page
    specs = _specs(page)
    values = json.dumps(specs)
    assert HOSTILE_TASK in values and HOSTILE_MODEL in values  # charts carry them as data


def test_summary_markdown(built: Built) -> None:
    text = built[0].summary_md.read_text(encoding="utf-8")
    assert "<img" not in text and "<b " not in text and "<iframe" not in text
    assert "&lt;iframe src=javascript:alert\\(6\\)&gt;" in text
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in text
    assert "\\[click\\]" not in text  # citation is not in the Markdown table
    assert "too\\_few\\_points" in text  # the group that could not be fitted, with its status
    assert "## Ranking of methods (gain)" in text


def test_failed_group_has_its_reason(built: Built) -> None:
    page = _page(built[0])
    section = page[page.index('<section id="not-fitted">') :]
    section = section[: section.index("</section>")]
    assert "tiny_task" in section and "too_few_points" in section
    assert re.search(r"2 points; .* needs \d+", section)


# -- browser -------------------------------------------------------------------------------------


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is missing; CI=true requires it (make browser installs it)")
    pytest.skip(f"{CHROMIUM} is missing")


@pytest.fixture(scope="module")
def browser_page(built: Built) -> Iterator[dict[str, Any]]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    result, _, _ = built
    url = result.index_html.resolve().as_uri()
    seen: dict[str, Any] = {"console": [], "errors": [], "requests": [], "dialogs": []}
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: seen["console"].append((m.type, m.text)))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            context.on("request", lambda r: seen["requests"].append(r.url))
            page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
            page.goto(url, wait_until="load")
            page.wait_for_function(
                "() => [...document.querySelectorAll('div.vega')]"
                ".every(e => e.hasAttribute('data-rendered'))",
                timeout=30_000,
            )
            seen["charts"] = page.eval_on_selector_all(
                "div.vega",
                """els => els.map(e => {
                    const g = e.querySelector('svg, canvas');
                    const r = g ? g.getBoundingClientRect() : {width: 0, height: 0};
                    return {id: e.id, state: e.getAttribute('data-rendered'),
                            width: r.width, height: r.height,
                            marks: e.querySelectorAll('path, circle, line, rect, text').length};
                })""",
            )
            seen["n_specs"] = page.evaluate(
                "() => Object.keys(JSON.parse(document.getElementById('ts-specs').textContent))"
                ".length"
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
            # hover the hostile model's run in the first group chart: the tooltip shows it as text
            seen["tooltip"] = _hover_tooltip(page)
            seen["dialogs_after_hover"] = list(seen["dialogs"])
        finally:
            context.close()
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
    assert len(charts) == browser_page["n_specs"] == 14
    for chart in charts:
        assert chart["state"] == "true", chart
        assert chart["width"] > 100 and chart["height"] > 80, chart
        assert chart["marks"] > 5, chart


@pytest.mark.browser
def test_browser_no_console_errors(browser_page: dict[str, Any]) -> None:
    assert browser_page["errors"] == []
    assert [m for m in browser_page["console"] if m[0] in ("error", "warning")] == []


@pytest.mark.browser
def test_browser_no_request_leaves_the_file(browser_page: dict[str, Any]) -> None:
    requests = browser_page["requests"]
    assert requests and all(r.startswith("file://") for r in requests), requests
    assert len(set(requests)) == 1  # the page itself, nothing else


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
