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
    from transferscope.store.store import Store

__all__ = ["FitRow", "all_fits", "read_fits", "write_fits"]


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
        con.executemany(
            "INSERT OR REPLACE INTO fits (fingerprint, family, frontier, group_key, status, "
            "record) VALUES (?, ?, ?, ?, ?, ?)",
            [tuple(r) for r in rows],
        )
    return len(rows)


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
