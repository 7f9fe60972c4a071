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


def _blank(value: Any) -> bool:
    return _missing(value) or (isinstance(value, str) and not value.strip())


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


def link(href: str, text: str, css_class: str | None = None) -> str:
    """Make a link inside the report (``href`` made by our code), its text escaped.

    Parameters
    ----------
    href : str
        Relative address such as ``"source-2.html#g0012"`` (escaped here too).
    text : str
        Plain text.
    css_class : str, optional
        Class of the element (a literal from our code).

    Returns
    -------
    str
        HTML fragment.
    """
    cls = f' class="{escape(css_class)}"' if css_class else ""
    return f'<a href="{escape(href)}"{cls}>{escape(text)}</a>'


def _sort_key(value: Any) -> str:
    if _missing(value) or isinstance(value, bool | np.bool_):
        return ""
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
        return repr(v) if math.isfinite(v) else ("1e308" if v > 0 else "-1e308")
    return ""


def table(
    frame: pd.DataFrame,
    columns: Mapping[str, str] | None = None,
    *,
    digits: int = 3,
    links: Sequence[str] = (),
    raw_html: Sequence[str] = (),
    sort_values: Mapping[str, str] | None = None,
    table_id: str | None = None,
    filterable: bool = False,
    sortable: bool = True,
    caption: str | None = None,
    titles: Mapping[str, str] | None = None,
    wide: Sequence[str] = (),
    nowrap: Sequence[str] = (),
    missing: str = "",
    full_width: bool = False,
    drop_empty: bool = False,
) -> str:
    """Return an escaped HTML table of a DataFrame, sortable by clicking a header.

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
    raw_html : sequence of str
        Columns whose values are HTML fragments made by this module's functions (already
        escaped), e.g. :func:`link`.
    sort_values : mapping of str to str, optional
        Column shown to the column whose values sort it (e.g. an interval's text sorted by its
        estimate).
    table_id : str, optional
        ``id`` of the table (a literal from our code).
    filterable : bool
        Add a search box that hides rows not containing the typed text.
    sortable : bool
        Clicking a header sorts the rows by that column (numbers as numbers).
    caption : str, optional
        Caption (escaped).
    titles : mapping of str to str, optional
        Tooltip of a column's header (what the column means).
    wide : sequence of str
        Columns of long text, allowed a wider cell (they wrap).
    nowrap : sequence of str
        Columns whose cells do not wrap (short texts such as intervals).
    missing : str
        Text of a missing value.
    full_width : bool
        Stretch the table to the page's width.
    drop_empty : bool
        Leave out columns that have no value in any row (missing, or empty text).

    Returns
    -------
    str
        HTML fragment.
    """
    cols = {str(c): str(c) for c in frame.columns} if columns is None else dict(columns)
    cols = {c: h for c, h in cols.items() if c in frame.columns}
    if drop_empty:
        cols = {c: h for c, h in cols.items() if any(not _blank(v) for v in frame[c])}
    tips = dict(titles or {})
    head = "".join(
        f'<th scope="col" title="{escape(tips[c])}">{escape(h)}</th>'
        if c in tips
        else f'<th scope="col">{escape(h)}</th>'
        for c, h in cols.items()
    )
    sorts = dict(sort_values or {})
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c].dtype) for c in cols}
    keyed = [c for c in cols if c in sorts or numeric[c]]
    source_cols = list(dict.fromkeys([*cols, *(sorts[c] for c in cols if c in sorts)]))
    body_rows = []
    for values in frame[source_cols].itertuples(index=False, name=None):
        row = dict(zip(source_cols, values, strict=True))
        cells = []
        for c in cols:
            v = row[c]
            classes = []
            if numeric[c] and not isinstance(v, bool | np.bool_):
                classes.append("num")
            if c in wide:
                classes.append("text")
            if c in nowrap:
                classes.append("nowrap")
            cls = f' class="{" ".join(classes)}"' if classes else ""
            key = ""
            if sortable and c in keyed:
                key = f' data-v="{escape(_sort_key(row[sorts.get(c, c)]))}"'
            if c in raw_html:
                content = "" if _missing(v) else str(v)
            elif c in links:
                content = link_or_text(v)
            elif _missing(v):
                content = escape(missing)
            else:
                content = escape(format_value(v, digits))
            cells.append(f"<td{cls}{key}>{content}</td>")
        body_rows.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{escape(table_id)}"' if table_id else ""
    table_classes = [c for c, on in (("sortable", sortable), ("full", full_width)) if on]
    cls = f' class="{" ".join(table_classes)}"' if table_classes else ""
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    tbl = (
        f'<div class="table-wrap"><table{ident}{cls}>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body_rows)}</tbody></table></div>"
    )
    if filterable and table_id:
        box = (
            f'<label class="filter">Search: <input type="search" '
            f'data-filter-table="{escape(table_id)}" placeholder="type any part of a row">'
            f'<span class="count" data-count-for="{escape(table_id)}"></span></label>'
        )
        return box + tbl
    return tbl


@dataclass(frozen=True)
class Figure:
    """One chart in a page: its element id, its specification, caption and exported files.

    A chart is either a complete Vega-Lite specification (``spec``) or a template's name and
    the payload that fills it (``template``, ``payload``; see
    :mod:`transferscope.report.templates`), with an optional larger template to enlarge it.

    Parameters
    ----------
    chart_id : str
        Element id, e.g. ``"chart-003"`` or ``"g0012"`` (generated, never user text).
    spec : dict, optional
        Vega-Lite specification (``chart.to_dict()``).
    caption : str
        What the chart shows and how to read it (plain text).
    files : tuple of str
        Relative paths of the PNG and SVG exports, linked under the chart.
    template, large : str, optional
        Names of the page's templates that draw the chart, and its enlarged form.
    payload : dict, optional
        Values and datasets of the template.
    lazy : bool
        Draw the chart only when it scrolls into view (pages of many charts).
    """

    chart_id: str
    spec: dict[str, Any] | None
    caption: str
    files: tuple[str, ...] = ()
    template: str | None = None
    large: str | None = None
    payload: dict[str, Any] | None = None
    lazy: bool = False

    def entry(self) -> dict[str, Any]:
        """Return the chart's entry in the page's data: ``spec``, or ``template``/``payload``.

        A specification goes through :func:`transferscope.records.json_safe`; a payload is
        plain JSON by construction (see :func:`transferscope.report.templates.compact`).
        """
        if self.spec is not None:
            return {"spec": json_safe(self.spec)}
        return {"template": self.template, "large": self.large, "payload": self.payload}

    def container(self) -> str:
        """Return the empty element the script draws the chart into."""
        lazy = ' data-lazy="true"' if self.lazy else ""
        ident = escape(self.chart_id)
        return f'<div class="vega" id="{ident}" data-chart="{ident}"{lazy}></div>'

    def html(self, *, enlarge: bool = False) -> str:
        """Return the ``<figure>`` fragment with its empty chart container and caption."""
        links = " ".join(
            f'<a href="{escape(f)}">{escape(f.rsplit(".", 1)[-1].upper())}</a>' for f in self.files
        )
        files = f' <span class="files">{links}</span>' if links else ""
        button = (
            f' <button type="button" class="enlarge" data-enlarge="{escape(self.chart_id)}">'
            "enlarge</button>"
            if enlarge and self.large
            else ""
        )
        return (
            f'<figure class="chart">{self.container()}'
            f"<figcaption>{escape(self.caption)}{files}{button}</figcaption></figure>"
        )


@dataclass(frozen=True)
class Section:
    """A titled part of a page.

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


def script_json(value: Any, *, sanitize: bool = True) -> str:
    r"""Serialize to JSON that is safe inside a ``<script>`` element.

    Parameters
    ----------
    value : Any
        JSON-serializable value (NaN is written as ``null``).
    sanitize : bool
        Pass the value through :func:`transferscope.records.json_safe` first; without it the
        value must already be plain JSON (no NaN), which is faster for large payloads.

    Returns
    -------
    str
        JSON text in which ``<``, ``>``, ``&`` and the line separators are ``\uXXXX`` escapes.
    """
    plain = json_safe(value) if sanitize else value
    text = json.dumps(plain, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
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
  var data = JSON.parse(document.getElementById("ts-data").textContent);
  var options = {actions: false, renderer: "svg", tooltip: {theme: "light"}};
  var has = Object.prototype.hasOwnProperty;

  function fill(node, values) {
    if (typeof node === "string" && node.indexOf("@@") === 0) {
      var name = node.slice(2);
      return has.call(values, name) ? values[name] : node;
    }
    if (Array.isArray(node)) { return node.map(function (v) { return fill(v, values); }); }
    if (node !== null && typeof node === "object") {
      var out = {};
      Object.keys(node).forEach(function (k) { out[k] = fill(node[k], values); });
      return out;
    }
    return node;
  }

  function column(values) {
    if (values !== null && typeof values === "object" && Array.isArray(values.codes)) {
      return values.codes.map(function (i) { return data.names[i]; });
    }
    return values;
  }

  function expand(columns) {
    var cols = {}, n = 0;
    Object.keys(columns).forEach(function (k) {
      cols[k] = column(columns[k]);
      if (Array.isArray(cols[k])) { n = Math.max(n, cols[k].length); }
    });
    var keys = Object.keys(cols), rows = [];
    for (var i = 0; i < n; i++) {
      var row = {};
      keys.forEach(function (k) { row[k] = Array.isArray(cols[k]) ? cols[k][i] : cols[k]; });
      rows.push(row);
    }
    return rows;
  }

  function specOf(id, large) {
    var entry = data.charts[id];
    if (entry.spec) { return entry.spec; }
    var payload = entry.payload || {};
    var spec = fill(data.templates[large ? entry.large : entry.template], payload.values || {});
    spec.datasets = {};
    Object.keys(payload.datasets || {}).forEach(function (name) {
      spec.datasets[name] = expand(payload.datasets[name]);
    });
    return spec;
  }

  function draw(el, large) {
    if (el.hasAttribute("data-started")) { return Promise.resolve(); }
    el.setAttribute("data-started", "true");
    var id = el.getAttribute("data-chart");
    return vegaEmbed(el, specOf(id, large), options).then(function () {
      el.setAttribute("data-rendered", "true");
    }).catch(function (err) {
      el.setAttribute("data-rendered", "error");
      el.textContent = "This chart could not be drawn: " + err;
      console.error(err);
    });
  }

  var lazy = [];
  document.querySelectorAll("div.vega[data-chart]").forEach(function (el) {
    if (el.hasAttribute("data-lazy")) { lazy.push(el); } else { draw(el, false); }
  });
  if (lazy.length && "IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { seen.unobserve(e.target); draw(e.target, false); }
      });
    }, {rootMargin: "600px 0px"});
    lazy.forEach(function (el) { seen.observe(el); });
  } else {
    lazy.forEach(function (el) { draw(el, false); });
  }

  function drawTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var card = id ? document.getElementById(id) : null;
    if (card) {
      card.querySelectorAll("div.vega[data-chart]").forEach(function (el) { draw(el, false); });
    }
  }
  window.addEventListener("hashchange", drawTarget);
  drawTarget();

  window.transferscope = {
    renderAll: function () {
      return Promise.all(lazy.map(function (el) { return draw(el, false); }));
    }
  };

  var dialog = document.getElementById("ts-dialog");
  document.querySelectorAll("button[data-enlarge]").forEach(function (button) {
    button.addEventListener("click", function () {
      var holder = dialog.querySelector(".dialog-chart");
      holder.textContent = "";
      var el = document.createElement("div");
      el.className = "vega";
      el.setAttribute("data-chart", button.getAttribute("data-enlarge"));
      holder.appendChild(el);
      draw(el, true);
      dialog.showModal();
    });
  });
  if (dialog) {
    dialog.querySelector("button.close").addEventListener("click", function () { dialog.close(); });
  }

  document.querySelectorAll("input[data-filter-table]").forEach(function (box) {
    var id = box.getAttribute("data-filter-table");
    var tbl = document.getElementById(id);
    var count = document.querySelector("[data-count-for='" + id + "']");
    var rows = Array.prototype.slice.call(tbl.querySelectorAll("tbody tr"));
    var texts = rows.map(function (tr) { return tr.textContent.toLowerCase(); });
    function update() {
      var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean), shown = 0;
      rows.forEach(function (tr, i) {
        var ok = words.every(function (w) { return texts[i].indexOf(w) >= 0; });
        tr.hidden = !ok;
        if (ok) { shown++; }
      });
      if (count) { count.textContent = shown + " of " + rows.length + " rows"; }
    }
    box.addEventListener("input", update);
    update();
  });

  document.querySelectorAll("table.sortable").forEach(function (tbl) {
    var heads = tbl.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.setAttribute("aria-sort", "none");
      th.tabIndex = 0;
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = tbl.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var keyed = rows.map(function (tr, i) {
          var cell = tr.cells[col], v = cell.getAttribute("data-v");
          var num = v === null || v === "" ? NaN : parseFloat(v);
          var text = cell.textContent.trim().toLowerCase();
          return {tr: tr, i: i, num: num, text: text, numeric: v !== null};
        });
        keyed.sort(function (a, b) {
          var r;
          if (a.numeric || b.numeric) {
            if (isNaN(a.num) && isNaN(b.num)) { r = 0; }
            else if (isNaN(a.num)) { return 1; }
            else if (isNaN(b.num)) { return -1; }
            else { r = a.num - b.num; }
          } else {
            r = a.text < b.text ? -1 : (a.text > b.text ? 1 : 0);
          }
          if (!ascending) { r = -r; }
          return r !== 0 ? r : a.i - b.i;
        });
        keyed.forEach(function (k) { body.appendChild(k.tr); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
    });
  });
})();
"""

_CSS = """
:root { --fg: #1d1d1f; --muted: #5f6368; --line: #dadce0; --bg: #ffffff; --accent: #1a5fb4;
        --soft: #f4f5f7; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
       sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 22px 40px 10px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { margin: 2px 0; color: var(--muted); }
nav { padding: 8px 40px; border-bottom: 1px solid var(--line); font-size: 14px;
      display: flex; flex-wrap: wrap; gap: 4px 18px; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
nav.pages { background: var(--soft); }
nav.pages span { color: var(--muted); white-space: nowrap; }
main { padding: 8px 40px 40px; max-width: 1500px; }
section { margin-top: 28px; }
h2 { font-size: 21px; border-bottom: 2px solid var(--fg); padding-bottom: 4px; }
h3 { font-size: 17px; margin: 22px 0 4px; }
p { max-width: 1100px; }
p.note { color: var(--muted); font-size: 14px; }
p.lead { font-size: 16px; }
.charts { display: flex; flex-wrap: wrap; gap: 18px 28px; }
figure.chart { margin: 8px 0; max-width: 100%; }
figure.chart figcaption { font-size: 13px; color: var(--muted); max-width: 560px; margin-top: 4px; }
figure.wide figcaption { max-width: 980px; }
.vega { max-width: 100%; overflow-x: auto; }
.files a { margin-left: 6px; color: var(--accent); }
.table-wrap { max-width: 100%; overflow-x: auto; margin: 8px 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
td { max-width: 22em; overflow-wrap: anywhere; }
td.text { max-width: 34em; min-width: 14em; }
td.nowrap { white-space: nowrap; }
table.full { width: 100%; }
table.full td.text { max-width: none; }
#group-index td:first-child { min-width: 17em; }
#group-index td.text:last-child { min-width: 13em; }
th { position: sticky; top: 0; background: var(--soft); }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; font-size: 10px; }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; font-size: 10px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { text-align: left; padding: 4px 9px; color: var(--muted); }
label.filter { display: inline-block; font-size: 13px; color: var(--muted); margin-top: 6px; }
label.filter input { margin-left: 6px; padding: 3px 8px; width: 22em; }
label.filter .count { margin-left: 10px; }
.bad { color: #b3261e; }
.good { color: #1e6b2e; }
code { background: var(--soft); padding: 0 3px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
         gap: 14px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; min-width: 0; }
.card:target { outline: 3px solid var(--accent); }
.card h4 { margin: 0 0 2px; font-size: 13px; overflow-wrap: anywhere; }
.card .vega { min-height: 196px; }
.card p { margin: 3px 0; font-size: 12px; }
.card p.message { color: var(--muted); }
button.enlarge { font-size: 12px; margin-left: 6px; cursor: pointer; }
dialog { max-width: 95vw; border: 1px solid var(--line); border-radius: 8px; }
dialog .dialog-chart { min-width: 520px; min-height: 380px; }
dl.key { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; font-size: 13px;
         max-width: 1000px; }
dl.key dt { font-weight: 600; }
dl.key dd { margin: 0; color: var(--muted); }
"""

_DIALOG = (
    '<dialog id="ts-dialog"><div class="dialog-chart"></div>'
    '<p><button type="button" class="close">close</button></p></dialog>'
)


def render_page(
    title: str,
    subtitle: Sequence[str],
    sections: Sequence[Section],
    figures: Sequence[Figure],
    *,
    pages: Sequence[tuple[str, str]] = (),
    current: str | None = None,
    templates: Mapping[str, Any] | None = None,
    names: Sequence[str] = (),
    javascript: str | None = None,
) -> str:
    """Assemble a whole page.

    Parameters
    ----------
    title : str
        Page title (escaped).
    subtitle : sequence of str
        Lines under the title (escaped).
    sections : sequence of Section
        Sections in order; each appears in the table of contents.
    figures : sequence of Figure
        Every chart placed in the sections; their specifications or payloads are embedded once.
    pages : sequence of (str, str)
        The report's pages as (file, label), shown as a navigation bar on every page.
    current : str, optional
        File of this page (its entry in ``pages`` is not a link).
    templates : mapping, optional
        Chart templates by name (see :mod:`transferscope.report.templates`).
    names : sequence of str
        Names that the payloads' coded columns index (see
        :class:`transferscope.report.templates.Names`).
    javascript : str, optional
        The Vega bundle; :func:`javascript_bundle` when omitted (tests may pass a stub).

    Returns
    -------
    str
        A complete HTML document that needs no network.
    """
    js = javascript_bundle() if javascript is None else javascript
    page_nav = ""
    if pages:
        items = "".join(
            f"<span>{escape(label)}</span>" if file == current else link(file, label)
            for file, label in pages
        )
        page_nav = f'<nav class="pages">{items}</nav>'
    nav = "".join(f'<a href="#{escape(s.anchor)}">{escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{escape(s.anchor)}"><h2>{escape(s.title)}</h2>{"".join(s.body)}</section>'
        for s in sections
    )
    data = script_json(
        {
            "charts": {f.chart_id: f.entry() for f in figures},
            "templates": json_safe(dict(templates or {})),
            "names": [str(n) for n in names],
        },
        sanitize=False,
    )
    sub = "".join(f"<p>{escape(line)}</p>" for line in subtitle)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><header><h1>{escape(title)}</h1>{sub}</header>{page_nav}<nav>{nav}</nav>"
        f"<main>{body}</main>{_DIALOG}"
        f'<script type="application/json" id="ts-data">{data}</script>'
        f"<script>{js}</script><script>{_INIT}</script></body></html>\n"
    )
