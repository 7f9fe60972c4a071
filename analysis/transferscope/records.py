"""Plain values and result records: one JSON sanitizer, one base for every result object.

Every result object of the package (a fit, a pooled effect, an ingest, a report) is a frozen
dataclass built with keywords that inherits :class:`Record`, and so has

- ``to_record()``: one JSON-safe dict (``json.dumps(..., allow_nan=False)`` accepts it);
- ``summary()``: a tidy DataFrame (one row of the record unless the class says otherwise);
- ``_repr_html_()``: the one-line description and the summary, escaped, for notebooks.

:func:`json_safe` is the package's only JSON sanitizer: NaN, +inf, -inf and missing values
(``None``, ``pd.NA``, ``pd.NaT``) become ``None``; numpy scalars and arrays, tuples, sets,
mappings, paths, timestamps and nested records become plain Python values.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, ClassVar, Final

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NOT_RECORDED", "Record", "is_missing", "json_safe", "plain"]

#: ``dataclasses.field(metadata=NOT_RECORDED)`` keeps a field (an array, a frame) out of
#: :meth:`Record.to_record`.
NOT_RECORDED: Final[Mapping[str, bool]] = {"record": False}

_MISSING_TYPES: Final[frozenset[str]] = frozenset({"NAType", "NaTType"})


def is_missing(value: Any) -> bool:
    """Whether a scalar is a missing value: ``None``, NaN, ``pd.NA`` or ``pd.NaT``.

    Parameters
    ----------
    value : object
        A scalar (containers are never missing).

    Returns
    -------
    bool
        True for a missing value.
    """
    if value is None or type(value).__name__ in _MISSING_TYPES:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def plain(value: Any) -> Any:
    """Turn a numpy scalar or array, a timestamp or a path into a plain Python value.

    Unlike :func:`json_safe`, NaN and infinities are kept as floats, so a caller that must
    refuse them (e.g. the validation of hparams) still sees them.

    Parameters
    ----------
    value : object
        Any value.

    Returns
    -------
    object
        ``value.item()`` for numpy scalars, a list for arrays, ISO text for timestamps and dates,
        text for paths; anything else unchanged.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    return value


def json_safe(value: Any) -> Any:
    """Make a value JSON-safe, recursively; non-finite floats and missing values become ``None``.

    Parameters
    ----------
    value : object
        A scalar, a container of them, or a :class:`Record`.

    Returns
    -------
    object
        ``None``, bool, int, a finite float, str, or lists and dicts of them.
    """
    if isinstance(value, Record):
        return value.to_record()
    if is_missing(value):
        return None
    value = plain(value)
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [json_safe(v) for v in items]
    return str(value)


class Record:
    """Base of the frozen result dataclasses: ``to_record``, ``summary``, ``_repr_html_``.

    A subclass is a ``@dataclass(frozen=True, kw_only=True)``; fields marked with
    ``metadata=NOT_RECORDED`` stay out of the record. Override :meth:`summary` for a table of
    several rows, and :meth:`describe` for the line shown above it.
    """

    #: Title shown in bold at the start of the HTML representation (default: the class name).
    html_title: ClassVar[str | None] = None

    def to_record(self) -> dict[str, Any]:
        """Return the fields as one JSON-safe dict (non-finite floats and missing as ``None``).

        Returns
        -------
        dict
            Field name to plain value, in field order, without the fields marked
            :data:`NOT_RECORDED`.
        """
        return {
            f.name: json_safe(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.metadata.get("record", True)
        }

    def summary(self) -> pd.DataFrame:
        """Return a tidy table of the result (by default one row: :meth:`to_record`).

        Returns
        -------
        pandas.DataFrame
            The summary.
        """
        import pandas as pd

        return pd.DataFrame([self.to_record()])

    def describe(self) -> str:
        """Return one line for people (by default empty: the summary says it all).

        Returns
        -------
        str
            The line.
        """
        return ""

    def _repr_html_(self) -> str:
        title = html.escape(self.html_title or type(self).__name__)
        line = self.describe()
        head = f"<p><b>{title}</b>" + (f": {html.escape(line)}" if line else "") + "</p>"
        table = self.summary().to_html(index=False, escape=True, na_rep="", max_rows=60)
        return head + table
