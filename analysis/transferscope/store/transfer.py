"""Table ``effective_transfer``: per-model residuals, kept with the baseline fit they refer to.

The transfer layer decides what an analysis fingerprint covers and what a record holds; this
module only writes and reads the rows, with bound parameters and one transaction per write. The
baseline fits go to table ``fits`` in the same transaction, so a residual row never refers to a
fit that is not stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import duckdb
import pandas as pd

from transferscope.errors import InputError
from transferscope.store.fits import FitRow, insert_fits

if TYPE_CHECKING:
    from transferscope.store.store import Store

__all__ = ["EffectiveRow", "read_effective", "write_effective"]

_COLUMNS = (
    "analysis", "baseline_fingerprint", "group_key", "unit", "model", "residual",
    "residual_ci_low", "residual_ci_high", "efficiency", "record",
)  # fmt: skip


class EffectiveRow(NamedTuple):
    """One row of table ``effective_transfer``.

    Attributes
    ----------
    analysis : str
        Fingerprint of the analysis (its runs and options).
    baseline_fingerprint : str
        Fingerprint of the baseline's fit in table ``fits``.
    group_key : str
        The group key as JSON text.
    unit, model : str
        The unit (a model, or a model and its hparams) and the model.
    residual, residual_ci_low, residual_ci_high, efficiency : float or None
        The main numbers (also in ``record``).
    record : str
        The whole output row as JSON.
    """

    analysis: str
    baseline_fingerprint: str
    group_key: str
    unit: str
    model: str
    residual: float | None
    residual_ci_low: float | None
    residual_ci_high: float | None
    efficiency: float | None
    record: str


def write_effective(store: Store, fits: Sequence[FitRow], rows: Sequence[EffectiveRow]) -> int:
    """Replace an analysis' rows and write its baseline fits, in one transaction.

    Parameters
    ----------
    store : Store
        An open, writable store (nothing is written to a read-only one).
    fits : sequence of FitRow
        The baseline fits (inserted or replaced in table ``fits``).
    rows : sequence of EffectiveRow
        The per-model rows; earlier rows of the same analysis are deleted first.

    Returns
    -------
    int
        Per-model rows written.
    """
    if store.read_only or not rows:
        return 0
    analyses = sorted({r.analysis for r in rows})
    placeholders = ", ".join("?" * len(_COLUMNS))
    with store.transaction() as con:
        insert_fits(con, fits)
        con.execute("DELETE FROM effective_transfer WHERE list_contains(?, analysis)", [analyses])
        con.executemany(
            f"INSERT INTO effective_transfer ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
            [tuple(r) for r in rows],
        )
    return len(rows)


def read_effective(store: Store, analysis: str | None = None) -> pd.DataFrame:
    """Read stored per-model rows, with the status and family of the fit each refers to.

    Parameters
    ----------
    store : Store
        An open store.
    analysis : str, optional
        Only this analysis.

    Returns
    -------
    pandas.DataFrame
        Columns ``analysis``, ``baseline_fingerprint``, ``group_key`` (JSON text), ``unit``,
        ``model``, ``residual``, ``residual_ci_low``, ``residual_ci_high``, ``efficiency``,
        ``record`` (JSON text), ``created_at``, ``baseline_family``, ``baseline_status``
        (from table ``fits``); sorted by analysis, group and unit.

    Raises
    ------
    InputError
        When the store has no table ``effective_transfer``.
    """
    where, params = ("WHERE e.analysis = ?", [analysis]) if analysis is not None else ("", [])
    query = (
        "SELECT e.analysis, e.baseline_fingerprint, e.group_key, e.unit, e.model, e.residual, "
        "e.residual_ci_low, e.residual_ci_high, e.efficiency, e.record::VARCHAR AS record, "
        "e.created_at, f.family AS baseline_family, f.status AS baseline_status "
        "FROM effective_transfer e LEFT JOIN fits f ON f.fingerprint = e.baseline_fingerprint "
        f"{where} ORDER BY e.analysis, e.group_key, e.unit"
    )
    try:
        return store.connection.sql(query, params=params).df()
    except duckdb.CatalogException as exc:
        raise InputError(f"cannot read table effective_transfer: {exc}") from None
