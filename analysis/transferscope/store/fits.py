"""Table ``fits``: stored frontier fits, one JSON record per (fingerprint, family).

The frontier layer decides what a fingerprint covers and what a record holds; this module only
reads and writes the rows, with bound parameters and one transaction per write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import pandas as pd

if TYPE_CHECKING:
    import duckdb

    from transferscope.store.store import Store

__all__ = ["FitRow", "all_fits", "insert_fits", "read_fits", "read_fits_of_groups", "write_fits"]


class FitRow(NamedTuple):
    """One row to write to table ``fits``.

    Attributes
    ----------
    fingerprint : str
        Hash of everything the fit depends on.
    family, frontier, status : str
        What was fitted and how it ended.
    group_key : str
        The group key as JSON text.
    record : str
        The fit's JSON record.
    """

    fingerprint: str
    family: str
    frontier: str
    group_key: str
    status: str
    record: str


def read_fits(store: Store, fingerprints: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Read the stored records of the given fingerprints.

    Parameters
    ----------
    store : Store
        An open store.
    fingerprints : sequence of str
        Fingerprints to look up.

    Returns
    -------
    dict
        Fingerprint to its records (parsed JSON), ordered by their ``position`` field; a
        fingerprint without a stored fit is absent.
    """
    if not fingerprints:
        return {}
    with store.guarded():
        rows = store.connection.execute(
            "SELECT fingerprint, record::VARCHAR FROM fits WHERE list_contains(?, fingerprint)",
            [list(fingerprints)],
        ).fetchall()
    out: dict[str, list[dict[str, Any]]] = {}
    for fp, record in rows:
        out.setdefault(str(fp), []).append(json.loads(record))
    for records in out.values():
        records.sort(key=lambda r: int(r.get("position", 0)))
    return out


def write_fits(store: Store, rows: Sequence[FitRow]) -> int:
    """Insert or replace rows of table ``fits`` in one transaction (nothing on a read-only store).

    Parameters
    ----------
    store : Store
        An open store.
    rows : sequence of FitRow
        The rows.

    Returns
    -------
    int
        Rows written.
    """
    if not rows or store.read_only:
        return 0
    with store.transaction() as con:
        insert_fits(con, rows)
    return len(rows)


def insert_fits(con: duckdb.DuckDBPyConnection, rows: Sequence[FitRow]) -> None:
    """Insert or replace rows of table ``fits`` inside the caller's transaction.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection inside :meth:`Store.transaction`.
    rows : sequence of FitRow
        The rows.
    """
    if rows:
        con.executemany(
            "INSERT OR REPLACE INTO fits (fingerprint, family, frontier, group_key, status, "
            "record) VALUES (?, ?, ?, ?, ?, ?)",
            [tuple(r) for r in rows],
        )


def all_fits(store: Store) -> pd.DataFrame:
    """Read every row of table ``fits`` (current or not), for inspection.

    Parameters
    ----------
    store : Store
        An open store.

    Returns
    -------
    pandas.DataFrame
        Columns ``fingerprint``, ``family``, ``frontier``, ``group_key`` (JSON text),
        ``status``, ``record`` (JSON text), ``created_at``.

    Raises
    ------
    StoreError
        When the store has no table ``fits`` (an incomplete store) or is damaged.
    """
    with store.guarded():
        return store.connection.execute(
            "SELECT fingerprint, family, frontier, group_key::VARCHAR AS group_key, status, "
            "record::VARCHAR AS record, created_at FROM fits ORDER BY created_at, fingerprint"
        ).df()


def read_fits_of_groups(
    store: Store, group_keys: Sequence[str]
) -> dict[str, list[tuple[str, list[dict[str, Any]]]]]:
    """Read the stored fits of the given groups, whatever their options, newest first.

    Parameters
    ----------
    store : Store
        An open store.
    group_keys : sequence of str
        Group keys as the JSON text they were written with.

    Returns
    -------
    dict
        Group key text to a list of ``(fingerprint, records)``, the most recently written
        fingerprint first; records ordered by their ``position`` field.
    """
    if not group_keys:
        return {}
    with store.guarded():
        rows = store.connection.execute(
            "SELECT group_key::VARCHAR, fingerprint, record::VARCHAR, created_at FROM fits "
            "WHERE list_contains(?, group_key::VARCHAR) ORDER BY created_at DESC, fingerprint",
            [list(group_keys)],
        ).fetchall()
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for key, fp, record, _ in rows:
        out.setdefault(str(key), {}).setdefault(str(fp), []).append(json.loads(record))
    result: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}
    for key, by_print in out.items():
        entries = []
        for fp, records in by_print.items():  # insertion order: newest first
            records.sort(key=lambda r: int(r.get("position", 0)))
            entries.append((fp, records))
        result[key] = entries
    return result
