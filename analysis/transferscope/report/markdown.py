"""Escaped Markdown: text and pipe tables in which user names show as written and run nothing."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from transferscope.report.html import format_value

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|~])")


def md_escape(value: object) -> str:
    """Escape a value for Markdown text or a table cell.

    HTML characters become character references (``<`` -> ``&lt;``), Markdown punctuation is
    backslash-escaped, and line breaks become spaces, so the text renders as written and neither
    HTML nor links nor emphasis can be injected.

    Parameters
    ----------
    value : object
        Any value; missing values give an empty string.

    Returns
    -------
    str
        Safe Markdown text.
    """
    text = format_value(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return re.sub(r"\s+", " ", text).strip()


def md_table(frame: pd.DataFrame, columns: Mapping[str, str] | None = None, digits: int = 3) -> str:
    """Return a Markdown pipe table of a DataFrame, every cell escaped.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows to show.
    columns : mapping of str to str, optional
        Columns to show and their headers (all, under their own names, when omitted).
    digits : int
        Decimals of floats.

    Returns
    -------
    str
        The table, or ``"(none)"`` for an empty frame.
    """
    cols = {str(c): str(c) for c in frame.columns} if columns is None else dict(columns)
    cols = {c: h for c, h in cols.items() if c in frame.columns}
    if frame.empty or not cols:
        return "(none)\n"
    lines = [
        "| " + " | ".join(md_escape(h) for h in cols.values()) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    for row in frame[list(cols)].itertuples(index=False, name=None):
        cells = [md_escape(format_value(v, digits)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
