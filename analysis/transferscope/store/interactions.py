"""Table ``interactions``: knowledge comparisons kept as their per-input records.

The knowledge layer turns a comparison into records and back; this module only writes and reads
the rows (columns :data:`transferscope.schema.KNOWLEDGE_COLUMNS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from transferscope.schema import KNOWLEDGE_COLUMNS
from transferscope.store.migrations import ident

if TYPE_CHECKING:
    from transferscope.store.store import Store

__all__ = ["read_interactions", "replace_interactions"]

_COLUMNS = ", ".join(ident(c) for c in KNOWLEDGE_COLUMNS)


def replace_interactions(store: Store, comparison: str, records: pd.DataFrame) -> int:
    """Replace the rows of one comparison with ``records`` (one transaction).

    Parameters
    ----------
    store : Store
        An open, writable store.
    comparison : str
        The comparison's name; its stored rows are deleted first.
    records : pandas.DataFrame
        Rows with the columns of :data:`~transferscope.schema.KNOWLEDGE_COLUMNS`.

    Returns
    -------
    int
        Rows written.
    """
    with store.transaction({"_knowledge_records": records}) as con:
        con.execute("DELETE FROM interactions WHERE comparison = ?", [comparison])
        con.execute(
            f"INSERT INTO interactions ({_COLUMNS}) SELECT {_COLUMNS} FROM _knowledge_records"
        )
    return len(records)


def read_interactions(store: Store, comparison: str | None = None) -> pd.DataFrame:
    """Read the rows of one comparison, or of all.

    Parameters
    ----------
    store : Store
        An open store.
    comparison : str, optional
        Only this comparison; every stored one when omitted.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`~transferscope.schema.KNOWLEDGE_COLUMNS`, sorted by comparison,
        role, input and subset.
    """
    where, params = ("WHERE comparison = ?", [comparison]) if comparison is not None else ("", [])
    with store.guarded():
        return store.connection.sql(
            f"SELECT {_COLUMNS} FROM interactions {where} "
            "ORDER BY comparison, role, input_id, subset",
            params=params,
        ).df()
