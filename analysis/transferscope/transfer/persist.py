"""Effective transfer on a store's runs, kept in table ``effective_transfer``.

Every per-model row is stored with the fingerprint of its analysis (the points and options,
:attr:`EffectiveTransfer.analysis`) and with that of its baseline's fit, which goes to table
``fits`` in the same transaction (keyed as :func:`transferscope.frontier.persist.fingerprint`
keys fits), so that a residual can always be traced to the line it was measured from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from transferscope.errors import InputError
from transferscope.records import json_safe
from transferscope.store import Store
from transferscope.store.fits import FitRow
from transferscope.store.transfer import EffectiveRow, read_effective, write_effective
from transferscope.transfer.api import EffectiveTransfer, effective_transfer


def _number(value: Any) -> float | None:
    safe = json_safe(value)
    return float(safe) if isinstance(safe, int | float) and not isinstance(safe, bool) else None


def store_rows(result: EffectiveTransfer) -> tuple[list[FitRow], list[EffectiveRow]]:
    """Make the rows of tables ``fits`` and ``effective_transfer`` for one analysis.

    Parameters
    ----------
    result : EffectiveTransfer
        An analysis.

    Returns
    -------
    fits, rows : list
        The baseline fits and the per-model rows.
    """
    by = list(result.options.get("by", []))
    fits = []
    for fit, row in zip(result.fits, result.baselines.to_dict("records"), strict=True):
        # the same record as fit_store keeps, so that either can read the other's row
        record = json.dumps({**fit.to_record(), "position": 0}, allow_nan=False)
        key = {
            c: row[c] for c in result.baselines.columns[: list(result.baselines).index("family")]
        }
        fits.append(
            FitRow(
                str(row["baseline_fingerprint"]),
                fit.family,
                fit.frontier,
                json.dumps(json_safe(key), sort_keys=True),
                fit.status,
                record,
            )
        )
    rows = []
    for raw in result.residuals.to_dict("records"):
        values = {str(k): v for k, v in raw.items()}
        group = json.dumps(json_safe({c: values[c] for c in by}), sort_keys=True)
        rows.append(
            EffectiveRow(
                result.analysis,
                str(values["baseline_fingerprint"]),
                group,
                str(values["unit_key"]),
                str(values.get("model", values["unit_key"])),
                _number(values["residual"]),
                _number(values["residual_ci_low"]),
                _number(values["residual_ci_high"]),
                _number(values["efficiency"]),
                json.dumps(json_safe(values), allow_nan=False),
            )
        )
    return fits, rows


def effective_store(
    store: Store,
    family: str | None = None,
    *,
    filters: Mapping[str, Any] | None = None,
    **options: Any,
) -> EffectiveTransfer:
    """Run :func:`~transferscope.transfer.effective_transfer` on a store's runs and keep the rows.

    Parameters
    ----------
    store : transferscope.store.Store
        An open store (rows are written unless it is read-only).
    family : str, optional
        As for :func:`~transferscope.transfer.effective_transfer`.
    filters : mapping, optional
        Passed to ``store.runs`` (e.g. ``{"source": "timm"}``).
    **options
        Options of :func:`~transferscope.transfer.effective_transfer`.

    Returns
    -------
    EffectiveTransfer
        The analysis; its per-model rows are in table ``effective_transfer`` under
        ``analysis``, its baselines in table ``fits``.

    Raises
    ------
    InputError
        When no run matches, or as :func:`~transferscope.transfer.effective_transfer`.
    """
    runs = store.runs(**dict(filters or {}))
    if runs.empty:
        raise InputError("no runs match; ingest runs first or loosen the filters")
    result = effective_transfer(runs, family, **options)
    fits, rows = store_rows(result)
    write_effective(store, fits, rows)
    return result


def stored_effective(store: Store, analysis: str | None = None) -> pd.DataFrame:
    """Read the stored per-model rows (see :func:`transferscope.store.transfer.read_effective`).

    Parameters
    ----------
    store : transferscope.store.Store
        An open store.
    analysis : str, optional
        Only this analysis.

    Returns
    -------
    pandas.DataFrame
        Columns ``analysis``, ``baseline_fingerprint``, ``group_key``, ``unit``, ``model``,
        ``residual``, ``residual_ci_low``, ``residual_ci_high``, ``efficiency``, ``record``,
        ``created_at``, ``baseline_family``, ``baseline_status``.
    """
    return read_effective(store, analysis)
