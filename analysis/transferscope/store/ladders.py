"""Table ``ladder_cells``: the status of every cell of a ladder, written with its runs.

A *cell* is one checkpoint (or the scratch baseline) x method x seed of a ladder run by
:func:`transferscope.ladders.run_ladder`; the ladder is a source of the store. A cell that
finished is ``ok`` and its runs are in table ``runs``; one whose pretraining or fine-tuning
raised, or whose scores did not validate, is ``failed`` with the error as ``message`` and no run.
The runs of a unit of work and the statuses of its cells are written in one transaction, so a
cell is never ``ok`` without its runs. Columns: :data:`~transferscope.store.migrations.
LADDER_CELL_COLUMNS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from transferscope.schema import SourceInfo
from transferscope.schema.validate import ValidatedRuns
from transferscope.store.migrations import LADDER_CELL_COLUMNS, ident
from transferscope.store.store import append_staged

if TYPE_CHECKING:
    from transferscope.store.store import Store

__all__ = ["CELL_KEY", "delete_ladder", "read_cells", "record_cells"]

#: Columns that identify a cell.
CELL_KEY = ("source", "model", "method", "seed")
_COLUMNS = ", ".join(ident(c) for c in LADDER_CELL_COLUMNS)


def record_cells(
    store: Store, info: SourceInfo, cells: pd.DataFrame, runs: ValidatedRuns | None
) -> int:
    """Write the runs of finished cells and the status of cells, in one transaction.

    Parameters
    ----------
    store : Store
        An open, writable store.
    info : SourceInfo
        The ladder's source (created on its first runs).
    cells : pandas.DataFrame
        One row per cell with the columns of ``LADDER_CELL_COLUMNS``; replaces the stored
        status of the same cells.
    runs : ValidatedRuns or None
        The runs of the cells that are ``ok``.

    Returns
    -------
    int
        Runs added.
    """
    frame = cells[list(LADDER_CELL_COLUMNS)]
    added = 0
    with_runs = runs is not None and runs.n_rows > 0
    # the views live on the transaction's connection, and go after it (also when it fails)
    views = {"_ladder_cells": frame, **(store.staging(runs) if runs is not None else {})}
    with store.transaction(views) as con:
        if with_runs:
            added = append_staged(con, info, label=store.label)
        con.execute(
            "DELETE FROM ladder_cells USING _ladder_cells AS n WHERE ladder_cells.source = "
            "n.source AND ladder_cells.model = n.model AND ladder_cells.method = n.method "
            "AND ladder_cells.seed = n.seed"
        )
        con.execute(f"INSERT INTO ladder_cells ({_COLUMNS}) SELECT {_COLUMNS} FROM _ladder_cells")
    return added


def read_cells(store: Store, source: str | None = None) -> pd.DataFrame:
    """Read the stored cells of one ladder, or of all.

    Parameters
    ----------
    store : Store
        An open store.
    source : str, optional
        Only this ladder.

    Returns
    -------
    pandas.DataFrame
        The columns of ``LADDER_CELL_COLUMNS`` (``settings`` as JSON text), plus ``n_held``
        (runs of the cell's source, model, method and seed in table ``runs``); sorted by
        source, model, method and seed.
    """
    where, params = ("WHERE c.source = ?", [source]) if source is not None else ("", [])
    columns = ", ".join(
        f"c.{ident(c)}" + ("::VARCHAR AS settings" if c == "settings" else "")
        for c in LADDER_CELL_COLUMNS
    )
    query = (
        f"SELECT {columns}, (SELECT count(*) FROM runs r WHERE r.source = c.source AND "
        "r.model = c.model AND r.method = c.method AND r.seed = c.seed) AS n_held "
        f"FROM ladder_cells c {where} ORDER BY c.source, c.model, c.method, c.seed"
    )
    return store.connection.sql(query, params=params).df()


def delete_ladder(store: Store, source: str) -> None:
    """Remove a ladder: its runs, its cells and its row in ``sources`` (one transaction).

    Parameters
    ----------
    store : Store
        An open, writable store.
    source : str
        The ladder's source name.
    """
    with store.transaction() as con:
        con.execute("DELETE FROM runs WHERE source = ?", [source])
        con.execute("DELETE FROM ladder_cells WHERE source = ?", [source])
        con.execute("DELETE FROM sources WHERE name = ?", [source])
