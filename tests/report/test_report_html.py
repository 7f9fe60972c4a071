"""Escaping and assembly of the HTML page and the Markdown summary."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from transferscope.report import html as H
from transferscope.report.markdown import md_escape, md_table

HOSTILE = "<img src=x onerror=alert(1)>"


def test_escape_and_missing_values() -> None:
    assert H.escape(HOSTILE) == "&lt;img src=x onerror=alert(1)&gt;"
    assert H.escape("\"'&") == "&quot;&#x27;&amp;"
    assert H.escape(None) == H.escape(float("nan")) == H.escape(pd.NA) == ""


def test_format_value() -> None:
    assert H.format_value(0.12345) == "0.123"
    assert H.format_value(1.5e-6) == "1.5e-06"
    assert H.format_value(np.int64(7)) == "7"
    assert H.format_value(True) == "yes"
    assert H.format_value(np.nan) == ""


def test_table_escapes_headers_and_cells() -> None:
    frame = pd.DataFrame({"task": [HOSTILE], "plateau": [0.5], HOSTILE: ["x"]})
    out = H.table(frame, table_id="t", filterable=True)
    assert "<img" not in out
    assert out.count("&lt;img src=x onerror=alert(1)&gt;") == 2
    assert '<td class="num" data-v="0.5">0.500</td>' in out  # shown rounded, sorted exactly
    assert 'data-filter-table="t"' in out and '<table id="t" class="sortable">' in out


def test_table_options() -> None:
    frame = pd.DataFrame(
        {"link": [H.link("source-1.html#g0001", HOSTILE)], "text": ["x"], "ci": ["0.5 [0.4, 0.6]"],
         "est": [0.5], "empty": [np.nan], "blank_note": [" "]}
    )  # fmt: skip
    out = H.table(
        frame, raw_html=("link",), sort_values={"ci": "est"}, nowrap=("ci",), drop_empty=True,
        missing="—", full_width=True,
    )  # fmt: skip
    assert '<a href="source-1.html#g0001">&lt;img src=x onerror=alert(1)&gt;</a>' in out
    assert '<td class="nowrap" data-v="0.5">0.5 [0.4, 0.6]</td>' in out
    assert "empty" not in out and "blank_note" not in out and 'class="sortable full"' in out
    assert H.table(frame[["empty"]], missing="—").count(">—</td>") == 1


def test_links_only_for_http() -> None:
    assert H.link_or_text("javascript:alert(1)") == "javascript:alert(1)"
    link = H.link_or_text('https://example.org/"><script>')
    assert link.startswith('<a href="https://example.org/&quot;&gt;&lt;script&gt;"')
    assert "<script>" not in link


def test_script_json_cannot_close_the_element() -> None:
    text = H.script_json({"a": "</script><script>alert(1)</script>", "b": float("nan")})
    assert "<" not in text and ">" not in text
    assert json.loads(text) == {"a": "</script><script>alert(1)</script>", "b": None}


def test_render_page_is_self_contained_and_escaped() -> None:
    fig = H.Figure(
        "chart-000", {"title": HOSTILE, "mark": "point"}, f"caption {HOSTILE}", ("charts/a.png",)
    )
    sec = H.Section("s1", f"Section {HOSTILE}", (H.paragraph(HOSTILE), fig.html()))
    page = H.render_page(
        f"Title {HOSTILE}", [HOSTILE], [sec], [fig], javascript="window.vegaEmbed=1;"
    )
    # the only raw tags are ours: no <img anywhere, and no remote reference
    assert "<img" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert f'content="{H.escape(H.CSP)}"' in page and "default-src 'none'" in H.CSP
    data = re.search(r'<script type="application/json" id="ts-data">(.*?)</script>', page, re.S)
    assert data is not None
    assert json.loads(data.group(1)) == {
        "charts": {"chart-000": {"spec": {"title": HOSTILE, "mark": "point"}}},
        "templates": {},
        "names": [],
    }
    assert page.count('<div class="vega" id="chart-000" data-chart="chart-000">') == 1


def test_page_navigation_marks_the_current_page() -> None:
    page = H.render_page(
        "t", [], [], [], pages=[("index.html", "Front page"), ("source-1.html", HOSTILE)],
        current="source-1.html", javascript="",
    )  # fmt: skip
    nav = page[page.index('<nav class="pages">') :]
    nav = nav[: nav.index("</nav>")]
    assert '<a href="index.html">Front page</a>' in nav
    assert "<span>&lt;img src=x onerror=alert(1)&gt;</span>" in nav  # not a link: this page


def test_bundle_is_inlined_by_default() -> None:
    page = H.render_page("t", [], [], [])
    assert "window.vegaEmbed=" in page and len(page) > 500_000
    assert "<script src" not in page


def test_md_escape() -> None:
    assert md_escape(HOSTILE) == "&lt;img src=x onerror=alert\\(1\\)&gt;"
    assert md_escape("a|b*c_[d](e)") == "a\\|b\\*c\\_\\[d\\]\\(e\\)"
    assert md_escape("two\nlines") == "two lines"


def test_md_table() -> None:
    frame = pd.DataFrame({"method": [HOSTILE, "b"], "estimate": [0.25, np.nan]})
    out = md_table(frame, {"method": "Method", "estimate": "Estimate"})
    lines = out.splitlines()
    assert lines[0] == "| Method | Estimate |"
    assert lines[2] == "| &lt;img src=x onerror=alert\\(1\\)&gt; | 0.250 |"
    assert lines[3] == "| b |  |"
    assert md_table(frame.iloc[:0]) == "(none)\n"
