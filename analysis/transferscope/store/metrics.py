"""Table ``metrics``: metric definitions recorded by the user (direction and range).

The schema layer defines what a metric definition is (:class:`transferscope.schema.MetricInfo`)
and holds the built-in registry; this module keeps the definitions a user recorded with
``transferscope ingest --metric`` (or :func:`record_metrics`) in the store, so that every later
command reading the store (``fit``, ``rank``, ``report``) treats the metric the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import duckdb

from transferscope.errors import InputError
from transferscope.schema import MetricInfo, same_metric

if TYPE_CHECKING:
    from transferscope.store.store import Store

__all__ = ["read_metrics", "record_metrics", "write_metrics_in"]


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def read_metrics(store: Store) -> dict[str, MetricInfo]:
    """Read the metric definitions recorded in a store.

    Parameters
    ----------
    store : Store
        An open store.

    Returns
    -------
    dict
        Metric name to :class:`~transferscope.schema.MetricInfo` (empty for a store that has
        recorded none).
    """
    try:
        rows = store.connection.execute(
            "SELECT name, direction, low, high, description FROM metrics ORDER BY name"
        ).fetchall()
    except duckdb.CatalogException:  # a read-only store of an older schema
        return {}
    return {
        str(name): MetricInfo(
            name=str(name),
            direction=direction,
            low=math.nan if low is None else float(low),
            high=math.nan if high is None else float(high),
            description=description or "",
        )
        for name, direction, low, high, description in rows
    }


def write_metrics_in(
    con: duckdb.DuckDBPyConnection, metrics: Iterable[MetricInfo], *, replace: bool, label: str
) -> int:
    """Record metric definitions inside an open transaction (see :func:`record_metrics`).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The connection, inside a transaction.
    metrics : iterable of MetricInfo
        Definitions to record.
    replace : bool
        Replace a definition recorded differently under the same name.
    label : str
        The store's path, for error messages.

    Returns
    -------
    int
        Definitions written (new or changed).

    Raises
    ------
    InputError
        A name recorded differently and ``replace`` false.
    """
    written = 0
    for info in metrics:
        held = con.execute(
            "SELECT direction, low, high FROM metrics WHERE name = ?", [info.name]
        ).fetchall()
        if held:
            direction, low, high = held[0]
            old = MetricInfo(
                name=info.name,
                direction=direction,
                low=math.nan if low is None else float(low),
                high=math.nan if high is None else float(high),
            )
            if same_metric(old, info):
                continue
            if not replace:
                raise InputError(
                    f"metric {info.name!r} is recorded in the store as {old.describe()}; "
                    "pass --replace to record it anew",
                    file=label,
                )
            con.execute("DELETE FROM metrics WHERE name = ?", [info.name])
        con.execute(
            "INSERT INTO metrics (name, direction, low, high, description) VALUES (?, ?, ?, ?, ?)",
            [
                info.name,
                info.direction,
                _nan_to_none(info.low),
                _nan_to_none(info.high),
                info.description,
            ],
        )
        written += 1
    return written


def record_metrics(store: Store, metrics: Iterable[MetricInfo], *, replace: bool = False) -> int:
    """Record metric definitions in a store, in one transaction.

    Parameters
    ----------
    store : Store
        An open, writable store.
    metrics : iterable of MetricInfo
        Definitions (e.g. from :func:`transferscope.schema.parse_metric`).
    replace : bool
        Replace a definition recorded differently under the same name.

    Returns
    -------
    int
        Definitions written (new or changed).

    Raises
    ------
    InputError
        A name recorded differently and ``replace`` false (nothing is written).
    StoreError
        A read-only store.
    """
    items = list(metrics)
    if not items:
        return 0
    from transferscope.errors import StoreError

    if store.read_only:
        raise StoreError("opened read-only; cannot record metrics", file=store.label)
    with store.transaction() as con:
        return write_metrics_in(con, items, replace=replace, label=store.label)
