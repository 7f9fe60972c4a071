"""The report on the published tables (a few tasks of every source), opened in Chromium.

Every source is represented (VTAB without upstream scores, timm's 1,556 models, CLIP probes at
several numbers of shots, Pythia's checkpoint ladders with several metrics, mlf-scaling's loss
as upstream score), on a subset of tasks so that fitting stays within the test suite's budget.
The browser checks what a reader meets: no console error, every chart drawn, no table wider
than the window, and every group found through the index and on its page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from report_browser import browser, chart_states, open_page, overflow, wait_for_charts

from transferscope.ingest.sources import load_source
from transferscope.report.build import ReportResult, build_report
from transferscope.store import open_store

#: Tasks kept per source.
SUBSET: dict[str, tuple[str, ...]] = {
    "vtab": ("CIFAR-100", "DTD"),
    "timm": ("imagenet-r", "sketch"),
    "clip-benchmark": ("cifar100", "vtab/pets"),
    "pythia": ("piqa", "hendrycksTest-anatomy", "crows_pairs_english"),
    "mlf-scaling": ("piqa", "arc_easy"),
}


@pytest.fixture(scope="module")
def published(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    out = tmp_path_factory.mktemp("published")
    with open_store(out / "store.duckdb") as store:
        for name, tasks in SUBSET.items():
            loaded = load_source(name, from_dir=shared_data)
            frame = loaded.frame[loaded.frame["task"].isin(tasks)]
            store.ingest(frame, loaded.info, require_upstream=loaded.require_upstream)
        return build_report(
            store,
            out / "site",
            fit_bootstrap=20,
            rank_bootstrap=50,
            max_group_charts=6,
            image_formats=(),
        )


def _groups(result: ReportResult) -> list[tuple[str, str, str]]:
    """(page, group id, label) of every group, read from the index."""
    page = result.index_html.read_text(encoding="utf-8")
    index = page[page.index('<table id="group-index"') :]
    index = index[: index.index("</table>")]
    found = re.findall(r'<a href="(source-\d+\.html)#(g\d{4})">([^<]*)</a>', index)
    return [(p, g, label.replace("&amp;", "&")) for p, g, label in found]


def test_every_source_has_its_answers_and_its_page(published: ReportResult) -> None:
    page = published.index_html.read_text(encoding="utf-8")
    answers = page[page.index('<section id="answers">') :]
    answers = answers[: answers.index("</section>")]
    for source in SUBSET:
        assert f">{source} · " in answers, source
    names = sorted(p.name for p in published.pages)
    assert names == ["ladders-1.html", *(f"source-{i}.html" for i in range(1, 6))]
    groups = _groups(published)
    assert len(groups) == published.n_groups and published.n_groups > 20
    for file in {p for p, _, _ in groups}:
        text = (published.out_dir / file).read_text(encoding="utf-8")
        for p, gid, _ in groups:
            if p == file:
                assert text.count(f'<div class="card" id="{gid}">') == 1


@pytest.fixture(scope="module")
def seen(published: ReportResult) -> Iterator[dict[str, Any]]:
    groups = _groups(published)
    record: dict[str, Any] = {"pages": {}}
    with browser() as context:
        for path in (published.index_html, *published.pages):
            page_seen: dict[str, Any] = {}
            page = open_page(context, path, page_seen)
            if path != published.index_html:
                wait_for_charts(page, lazy=True, timeout=120_000)
            page_seen["charts"] = chart_states(page)
            page_seen["overflow"] = overflow(page)
            if path == published.index_html:
                # every group can be found by its name in the index
                missing = []
                for _, gid, label in groups:
                    page.fill("input[data-filter-table='group-index']", label)
                    hrefs = page.eval_on_selector_all(
                        "#group-index tbody tr:not([hidden]) a",
                        "links => links.map(a => a.getAttribute('href'))",
                    )
                    if not any(h.endswith(f"#{gid}") for h in hrefs):
                        missing.append(label)
                page_seen["not_found"] = missing
                page.fill("input[data-filter-table='group-index']", "")
            else:
                page_seen["cards"] = page.eval_on_selector_all(
                    "div.card", "cards => cards.map(c => c.id)"
                )
            record["pages"][path.name] = page_seen
            page.close()
    record["groups"] = groups
    yield record


@pytest.mark.browser
def test_published_report_has_no_console_error(seen: dict[str, Any]) -> None:
    for name, page in seen["pages"].items():
        assert page.get("errors", []) == [], name
        bad = [m for m in page.get("console", []) if m[0] in ("error", "warning")]
        assert bad == [], name


@pytest.mark.browser
def test_published_report_draws_every_chart(seen: dict[str, Any]) -> None:
    total = 0
    for name, page in seen["pages"].items():
        for chart in page["charts"]:
            assert chart["state"] == "true", (name, chart)
            assert chart["width"] > 100 and chart["height"] > 60, (name, chart)
            assert chart["marks"] > 5, (name, chart)
        total += len(page["charts"])
    assert total > len(seen["groups"])


@pytest.mark.browser
def test_published_report_tables_fit_the_window(seen: dict[str, Any]) -> None:
    for name, page in seen["pages"].items():
        assert page["overflow"] == {"tables": [], "page": 0}, name


@pytest.mark.browser
def test_every_group_is_found_through_the_index(seen: dict[str, Any]) -> None:
    index = seen["pages"]["index.html"]
    assert index["not_found"] == []
    on_pages = {gid for name, p in seen["pages"].items() for gid in p.get("cards", [])}
    assert on_pages == {gid for _, gid, _ in seen["groups"]}
    ids = pd.Series([gid for _, gid, _ in seen["groups"]])
    assert ids.is_unique
