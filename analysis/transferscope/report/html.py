"""A self-contained HTML page: escaped text and tables, Vega-Lite charts, the JavaScript inlined.

Every piece of text that reaches the page goes through :func:`escape` (or is a number we
formatted). Chart specifications travel in one ``<script type="application/json">`` element with
``<``, ``>`` and ``&`` written as JSON escapes, so no value can close the element. The Vega,
Vega-Lite and vega-embed libraries come from ``vl_convert.javascript_bundle()`` and are inlined, and
a Content-Security-Policy forbids the page any request (no network, no remote fonts or images).
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from transferscope.records import json_safe

#: No request may leave the page: scripts and styles are inline, images only ``data:`` URLs.
#: Vega compiles its expressions with ``Function``, hence ``'unsafe-eval'``.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)


def escape(value: Any) -> str:
    """Escape a value for HTML text or a quoted attribute; missing values become "".

    Parameters
    ----------
    value : Any
        Any value; ``None``, ``NaN`` and ``pd.NA`` give an empty string.

    Returns
    -------
    str
        The value's text with ``& < > " '`` replaced by character references.
    """
    if _missing(value):
        return ""
    return html.escape(str(value), quote=True)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(float(value))


def format_value(value: Any, digits: int = 3) -> str:
    """Format a cell for display (not escaped): floats to ``digits`` significant decimals.

    Parameters
    ----------
    value : Any
        A cell value.
    digits : int
        Decimals for floats whose magnitude is between 1e-3 and 1e6; others use ``g`` format.

    Returns
    -------
    str
        Empty for missing values, ``yes``/``no`` for booleans, the text otherwise.
    """
    if _missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if v == 0 or 1e-3 <= abs(v) < 1e6:
            return f"{v:.{digits}f}"
        return f"{v:.{digits}g}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def paragraph(text: str, css_class: str | None = None) -> str:
    """Return an escaped paragraph.

    Parameters
    ----------
    text : str
        Plain text (escaped here).
    css_class : str, optional
        Class of the ``<p>`` element (a literal from our code, not user text).

    Returns
    -------
    str
        HTML fragment.
    """
    cls = f' class="{escape(css_class)}"' if css_class else ""
    return f"<p{cls}>{escape(text)}</p>"


def bullet_list(items: Iterable[str]) -> str:
    """Return an escaped bulleted list.

    Parameters
    ----------
    items : iterable of str
        Plain text items.

    Returns
    -------
    str
        HTML fragment (empty when there are no items).
    """
    rows = "".join(f"<li>{escape(i)}</li>" for i in items)
    return f"<ul>{rows}</ul>" if rows else ""


def link_or_text(url: Any) -> str:
    """Return an ``http(s)`` URL as an escaped link, anything else as plain text.

    Parameters
    ----------
    url : Any
        Candidate URL.

    Returns
    -------
    str
        HTML fragment.
    """
    if _missing(url):
        return ""
    text = str(url)
    if text.lower().startswith(("https://", "http://")):
        return (
            f'<a href="{escape(text)}" rel="noopener noreferrer nofollow" '
            f'referrerpolicy="no-referrer">{escape(text)}</a>'
        )
    return escape(text)


def table(
    frame: pd.DataFrame,
    columns: Mapping[str, str] | None = None,
    *,
    digits: int = 3,
    links: Sequence[str] = (),
    table_id: str | None = None,
    filterable: bool = False,
    caption: str | None = None,
) -> str:
    """Return an escaped HTML table of a DataFrame.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows to show.
    columns : mapping of str to str, optional
        Columns to show (in order) and their headers; all columns under their own names when
        omitted. Columns absent from ``frame`` are skipped.
    digits : int
        Decimals of floats.
    links : sequence of str
        Columns whose ``http(s)`` values become links.
    table_id : str, optional
        ``id`` of the table (a literal from our code).
    filterable : bool
        Add a text box that hides rows not containing the typed text.
    caption : str, optional
        Caption (escaped).

    Returns
    -------
    str
        HTML fragment.
    """
    cols = {str(c): str(c) for c in frame.columns} if columns is None else dict(columns)
    cols = {c: h for c, h in cols.items() if c in frame.columns}
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in cols.values())
    body_rows = []
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c].dtype) for c in cols}
    for row in frame[list(cols)].itertuples(index=False, name=None):
        cells = []
        for c, v in zip(cols, row, strict=True):
            cls = ' class="num"' if numeric[c] and not isinstance(v, bool | np.bool_) else ""
            content = link_or_text(v) if c in links else escape(format_value(v, digits))
            cells.append(f"<td{cls}>{content}</td>")
        body_rows.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{escape(table_id)}"' if table_id else ""
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    tbl = (
        f'<div class="table-wrap"><table{ident}>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body_rows)}</tbody></table></div>"
    )
    if filterable and table_id:
        box = (
            f'<label class="filter">Filter rows: <input type="search" '
            f'data-filter-table="{escape(table_id)}" placeholder="type to filter"></label>'
        )
        return box + tbl
    return tbl


@dataclass(frozen=True)
class Figure:
    """One chart in the page: its element id, Vega-Lite spec, caption and exported files.

    Parameters
    ----------
    chart_id : str
        Element id, e.g. ``"chart-003"`` (generated, never user text).
    spec : dict
        Vega-Lite specification (``chart.to_dict()``).
    caption : str
        What the chart shows and how to read it (plain text).
    files : tuple of str
        Relative paths of the PNG and SVG exports, linked under the chart.
    """

    chart_id: str
    spec: dict[str, Any]
    caption: str
    files: tuple[str, ...] = ()

    def html(self) -> str:
        """Return the ``<figure>`` fragment with its empty chart container and caption."""
        links = " ".join(
            f'<a href="{escape(f)}">{escape(f.rsplit(".", 1)[-1].upper())}</a>' for f in self.files
        )
        files = f' <span class="files">{links}</span>' if links else ""
        return (
            f'<figure class="chart"><div class="vega" id="{escape(self.chart_id)}"></div>'
            f"<figcaption>{escape(self.caption)}{files}</figcaption></figure>"
        )


@dataclass(frozen=True)
class Section:
    """A titled part of the page.

    Parameters
    ----------
    anchor : str
        Element id used by the table of contents (a literal from our code).
    title : str
        Heading (escaped).
    body : tuple of str
        HTML fragments made by this module's functions (already escaped).
    """

    anchor: str
    title: str
    body: tuple[str, ...]


def script_json(value: Any) -> str:
    r"""Serialize to JSON that is safe inside a ``<script>`` element.

    Parameters
    ----------
    value : Any
        JSON-serializable value (NaN is written as ``null``).

    Returns
    -------
    str
        JSON text in which ``<``, ``>``, ``&`` and the line separators are ``\uXXXX`` escapes.
    """
    text = json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


@functools.lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (from vl-convert, offline), cached.

    Returns
    -------
    str
        JavaScript that defines ``window.vegaEmbed``, ``window.vega`` and ``window.vegaLite``.
    """
    import vl_convert as vlc

    snippet = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"
    bundle = str(vlc.javascript_bundle(snippet))
    if "</script" in bundle.lower():  # pragma: no cover - would break the inline element
        raise RuntimeError("the Vega bundle contains '</script' and cannot be inlined")
    return bundle


_INIT = """
(function () {
  "use strict";
  var specs = JSON.parse(document.getElementById("ts-specs").textContent);
  var options = {actions: false, renderer: "svg", tooltip: {theme: "light"}};
  Object.keys(specs).forEach(function (id) {
    var el = document.getElementById(id);
    vegaEmbed(el, specs[id], options).then(function () {
      el.setAttribute("data-rendered", "true");
    }).catch(function (err) {
      el.setAttribute("data-rendered", "error");
      el.textContent = "This chart could not be drawn: " + err;
      console.error(err);
    });
  });
  document.querySelectorAll("input[data-filter-table]").forEach(function (box) {
    var tbl = document.getElementById(box.getAttribute("data-filter-table"));
    box.addEventListener("input", function () {
      var q = box.value.toLowerCase();
      tbl.querySelectorAll("tbody tr").forEach(function (tr) {
        tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });
})();
"""

_CSS = """
:root { --fg: #1d1d1f; --muted: #5f6368; --line: #dadce0; --bg: #ffffff; --accent: #1a5fb4; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
       sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 24px 40px 12px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { margin: 2px 0; color: var(--muted); }
nav { padding: 8px 40px; border-bottom: 1px solid var(--line); font-size: 14px; }
nav a { margin-right: 16px; color: var(--accent); text-decoration: none; }
main { padding: 8px 40px 40px; max-width: 1500px; }
section { margin-top: 28px; }
h2 { font-size: 21px; border-bottom: 2px solid var(--fg); padding-bottom: 4px; }
h3 { font-size: 17px; margin-bottom: 4px; }
p.note { color: var(--muted); font-size: 14px; max-width: 980px; }
.charts { display: flex; flex-wrap: wrap; gap: 18px 28px; }
figure.chart { margin: 8px 0; max-width: 100%; }
figure.chart figcaption { font-size: 13px; color: var(--muted); max-width: 560px; margin-top: 4px; }
figure.wide figcaption { max-width: 980px; }
.files a { margin-left: 6px; color: var(--accent); }
.table-wrap { overflow: auto; max-height: 540px; width: fit-content; max-width: 100%;
              border: 1px solid var(--line); margin: 8px 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
th { position: sticky; top: 0; background: #f4f5f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; padding: 4px 10px; color: var(--muted); }
label.filter { font-size: 13px; color: var(--muted); }
label.filter input { margin-left: 6px; padding: 2px 6px; }
.status-bad { color: #b3261e; }
code { background: #f4f5f7; padding: 0 3px; }
"""


def render_page(
    title: str,
    subtitle: Sequence[str],
    sections: Sequence[Section],
    figures: Sequence[Figure],
    *,
    javascript: str | None = None,
) -> str:
    """Assemble the whole page.

    Parameters
    ----------
    title : str
        Page title (escaped).
    subtitle : sequence of str
        Lines under the title (escaped).
    sections : sequence of Section
        Sections in order; each appears in the table of contents.
    figures : sequence of Figure
        Every chart placed in the sections; their specs are embedded once.
    javascript : str, optional
        The Vega bundle; :func:`javascript_bundle` when omitted (tests may pass a stub).

    Returns
    -------
    str
        A complete HTML document that needs no network.
    """
    js = javascript_bundle() if javascript is None else javascript
    nav = "".join(f'<a href="#{escape(s.anchor)}">{escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{escape(s.anchor)}"><h2>{escape(s.title)}</h2>{"".join(s.body)}</section>'
        for s in sections
    )
    specs = script_json({f.chart_id: f.spec for f in figures})
    sub = "".join(f"<p>{escape(line)}</p>" for line in subtitle)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><header><h1>{escape(title)}</h1>{sub}</header><nav>{nav}</nav>"
        f"<main>{body}</main>"
        f'<script type="application/json" id="ts-specs">{specs}</script>'
        f"<script>{js}</script><script>{_INIT}</script></body></html>\n"
    )
