"""Chart templates: one Vega-Lite specification per kind of chart, filled per group in the page.

A report with a thousand groups cannot afford an Altair chart per group (building and
validating one takes a tenth of a second or more). A template is the specification of one chart
built once by Altair, whose data are named datasets and whose per-chart parts (titles, scales)
are placeholders: strings ``"@@name"``. A chart is then a small *payload*: the values of the
placeholders and the datasets as columns (``{"upstream_score": [...], "series": "runs"}``; a
column given as one value is repeated). The page's script and :func:`fill` here do the same two
things: replace each placeholder by the payload's value, and expand each dataset's columns into
rows. Names repeated across the charts of a page (models, methods, model sizes) travel once in
a page-level list: a column given as ``{"codes": [...]}`` holds indexes into it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

#: Prefix of a placeholder string in a template.
PLACEHOLDER = "@@"


def placeholder(name: str) -> str:
    """Return the placeholder string of ``name`` (``"@@x_title"``).

    Parameters
    ----------
    name : str
        Placeholder name.

    Returns
    -------
    str
        The string a template carries in its place.
    """
    return PLACEHOLDER + name


def _substitute(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, str) and node.startswith(PLACEHOLDER):
        name = node[len(PLACEHOLDER) :]
        return copy.deepcopy(values[name]) if name in values else node
    if isinstance(node, dict):
        return {k: _substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, values) for v in node]
    return node


def _column(values: Any, names: Sequence[str]) -> Any:
    if isinstance(values, dict) and "codes" in values:
        return [names[i] for i in values["codes"]]
    return values


def expand(columns: Mapping[str, Any], names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows of a dataset given as columns (a scalar column is repeated; codes are looked up).

    Parameters
    ----------
    columns : mapping
        Column name to a list of values, one value, or ``{"codes": [...]}`` (indexes into
        ``names``).
    names : sequence of str
        The page-level list of names.

    Returns
    -------
    list of dict
        One dict per row (no rows when no column is a list).
    """
    cols = {k: _column(v, names) for k, v in columns.items()}
    lengths = [len(v) for v in cols.values() if isinstance(v, list)]
    n = max(lengths) if lengths else 0
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for name, values in cols.items():
        seq = values if isinstance(values, list) else [values] * n
        for row, v in zip(rows, seq, strict=True):
            row[name] = v
    return rows


def fill(
    template: Mapping[str, Any], payload: Mapping[str, Any], names: Sequence[str] = ()
) -> dict[str, Any]:
    """Make one chart's specification from a template and its payload (as the page's script does).

    Parameters
    ----------
    template : mapping
        A specification with placeholders and named datasets.
    payload : mapping
        ``{"values": {placeholder: value}, "datasets": {name: columns}}``.
    names : sequence of str
        The page-level list of names that coded columns index.

    Returns
    -------
    dict
        A complete Vega-Lite specification (every dataset of the payload inlined).
    """
    spec = _substitute(dict(template), payload.get("values", {}))
    spec["datasets"] = {
        name: expand(cols, names) for name, cols in payload.get("datasets", {}).items()
    }
    return dict(spec)


def compact(values: Any, digits: int = 5) -> list[Any]:
    """Round floats to ``digits`` significant digits for the page (missing values become None).

    Parameters
    ----------
    values : array-like
        Numbers.
    digits : int
        Significant digits kept.

    Returns
    -------
    list
        Plain Python floats (or None), short in JSON.
    """
    arr = np.asarray(values, dtype=float).ravel()
    finite = np.isfinite(arr)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(np.where(finite & (arr != 0), arr, 1.0))))
        scale = 10.0 ** (digits - 1 - magnitude)
        rounded = np.where(finite, np.round(arr * scale) / scale, 0.0)
    out: list[Any] = rounded.tolist()
    if not finite.all():
        for i in np.nonzero(~finite)[0].tolist():
            out[i] = None
    return out


class Names:
    """A page-level list of names and the codes of columns that repeat them.

    Parameters
    ----------
    names : list of str, optional
        Names already listed.
    """

    def __init__(self, names: list[str] | None = None) -> None:
        self.names: list[str] = list(names or [])
        self._ids = {n: i for i, n in enumerate(self.names)}

    def codes(self, values: Iterable[Any]) -> dict[str, list[int]]:
        """Code the column ``values`` as ``{"codes": [...]}``, adding new names to the list.

        Parameters
        ----------
        values : iterable
            Values (turned into text).

        Returns
        -------
        dict
            ``{"codes": [index, ...]}``.
        """
        texts = np.asarray([str(v) for v in values], dtype=object)
        if texts.size == 0:
            return {"codes": []}
        uniques, inverse = np.unique(texts, return_inverse=True)
        ids = np.empty(len(uniques), dtype=np.int64)
        for i, text in enumerate(uniques.tolist()):
            code = self._ids.get(text)
            if code is None:
                code = self._ids[text] = len(self.names)
                self.names.append(text)
            ids[i] = code
        return {"codes": ids[inverse].tolist()}
