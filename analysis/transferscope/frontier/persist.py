"""Fits kept in the store (table ``fits``), keyed by a fingerprint of the runs and the options.

The fingerprint of a group hashes everything its fit depends on: the (upstream, downstream)
points that enter the fit (sorted, as exact float bytes), the group's metrics, the group key, the
families asked for, every option and the seed, and :data:`FIT_VERSION`. A fit whose runs or
options changed therefore has a new fingerprint and is refitted; an old row is never returned
as current. :func:`fit_store` reuses the rows whose fingerprint matches and fits the rest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from transferscope.frontier.fit import (
    DEFAULT_BY,
    Task,
    check_families,
    check_runs,
    fit_tasks,
    group_tasks,
    output_columns,
    restore_key_types,
    results_frame,
    settings_from,
)
from transferscope.frontier.group import DEFAULT_FRONTIER, Settings
from transferscope.frontier.kernels import NOISE_FLOOR, Inefficiency
from transferscope.store import Store
from transferscope.store.fits import FitRow, all_fits, read_fits, write_fits

#: Version of the fitting code; bump it when results change so that stored fits are refitted.
FIT_VERSION: Final[int] = 1


def fingerprint(
    task: Task,
    family: str | Sequence[str],
    settings: Settings,
    seed: int,
    side_by_side: bool,
) -> str:
    """Hash everything one group's fit depends on.

    Parameters
    ----------
    task : tuple
        ``(group key, x, y, upstream metric, downstream metric, problem)`` of the group.
    family : str or sequence of str
        Families asked for.
    settings : Settings
        Estimator and options.
    seed : int
        The user's seed.
    side_by_side : bool
        Whether every family's row is kept.

    Returns
    -------
    str
        Hex SHA-256.
    """
    key, x, y, upstream, downstream, problem = task
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(xa) & np.isfinite(ya)
    points = np.column_stack([xa[keep], ya[keep]])
    points = points[np.lexsort((points[:, 1], points[:, 0]))]
    head = {
        "version": FIT_VERSION,
        "group_key": key,
        "upstream_metric": upstream,
        "downstream_metric": downstream,
        "problem": problem,
        "family": family if isinstance(family, str) else list(family),
        "side_by_side": bool(side_by_side),
        "settings": settings.to_record(),
        "seed": int(seed),
    }
    digest = hashlib.sha256(json.dumps(head, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(points).tobytes())
    return digest.hexdigest()


def _record_row(key: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    row = {**key}
    for k, v in record.items():
        if k not in ("options", "position"):
            row[k] = v
    return row


def fit_store(
    store: Store,
    by: Sequence[str] = DEFAULT_BY,
    family: str | Sequence[str] = "abnar",
    frontier: str = DEFAULT_FRONTIER,
    bootstrap: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    *,
    tau: float = 0.9,
    inefficiency: Inefficiency = "half_normal",
    noise_floor: float = NOISE_FLOOR,
    delta: float = 0.01,
    backtest_quantile: float = 0.8,
    side_by_side: bool = False,
    refit: bool = False,
    n_jobs: int = 1,
    progress: bool = False,
    **filters: Any,
) -> pd.DataFrame:
    """Fit the store's runs per group, reusing current fits from table ``fits``.

    Parameters
    ----------
    store : transferscope.store.Store
        An open store (fits are written unless it is read-only).
    by, family, frontier, bootstrap, ci_level, seed, tau, inefficiency, noise_floor, delta, \
backtest_quantile, side_by_side, n_jobs, progress
        As for :func:`transferscope.frontier.fit_frontiers`.
    refit : bool
        Fit every group again even when a current fit is stored (and replace it).
    **filters
        Passed to ``store.runs`` (e.g. ``task=["cifar10"]``, ``method="linear_probe"``).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`transferscope.frontier.fit_frontiers`, then ``fingerprint`` (of
        the group's runs and the options) and ``reused`` (True when the row came from the
        store).

    Raises
    ------
    InputError
        As :func:`transferscope.frontier.fit_frontiers`, or for a bad filter.
    """
    by = [by] if isinstance(by, str) else list(by)
    settings = settings_from(
        frontier,
        bootstrap,
        ci_level,
        tau=tau,
        inefficiency=inefficiency,
        noise_floor=noise_floor,
        delta=delta,
        backtest_quantile=backtest_quantile,
    )
    check_families(family)
    runs = store.runs(**filters)
    check_runs(runs, by)
    tasks = list(group_tasks(runs, by))
    prints = [fingerprint(t, family, settings, seed, side_by_side) for t in tasks]
    stored = {} if refit else read_fits(store, prints)
    missing = [i for i, fp in enumerate(prints) if fp not in stored]
    results = fit_tasks(
        [tasks[i] for i in missing], family, settings, seed, side_by_side, n_jobs, progress
    )
    fitted = dict(zip(missing, results, strict=True))
    writes = []
    for i, found in fitted.items():
        key = json.dumps(tasks[i][0], sort_keys=True)
        for position, r in enumerate(found):
            record = json.dumps({**r.to_record(), "position": position}, allow_nan=False)
            writes.append(FitRow(prints[i], r.family, r.frontier, key, r.status, record))
    write_fits(store, writes)
    rows: list[dict[str, Any]] = []
    for i, task in enumerate(tasks):
        extra = {"fingerprint": prints[i], "reused": i not in fitted}
        if i in fitted:
            rows += [{**task[0], **r.row(), **extra} for r in fitted[i]]
        else:
            rows += [{**_record_row(task[0], rec), **extra} for rec in stored[prints[i]]]
    columns = [*output_columns(by, family, frontier), "fingerprint", "reused"]
    frame = results_frame(rows, columns)
    frame["fingerprint"] = frame["fingerprint"].astype("string")
    frame["reused"] = frame["reused"].astype(bool)
    return restore_key_types(frame, runs, by)


def stored_fits(store: Store) -> pd.DataFrame:
    """Read every row of table ``fits`` (current or not), for inspection.

    Parameters
    ----------
    store : transferscope.store.Store
        An open store.

    Returns
    -------
    pandas.DataFrame
        Columns ``fingerprint``, ``family``, ``frontier``, ``group_key`` (JSON text),
        ``status``, ``record`` (JSON text), ``created_at``.
    """
    return all_fits(store)
