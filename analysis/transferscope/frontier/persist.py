"""Fits kept in the store (table ``fits``), keyed by a fingerprint of the runs and the options.

The fingerprint of a group hashes everything its fit depends on: the (upstream, downstream)
points that enter the fit (sorted, as exact float bytes), the group's metrics, the group key,
every field of the :class:`FitSettings` (families asked for, estimator, options, seed), the
definitions of the families and of the estimator (their code, not only their names), and
:data:`FIT_VERSION`. A fit whose runs, options or code changed therefore has a new fingerprint
and is refitted; an old row is never returned as current. :func:`fit_store` reuses the rows whose
fingerprint matches and fits the rest.

A long fit commits its finished groups in batches (at least every :data:`COMMIT_SECONDS`), each
in its own transaction: a fit that is killed keeps the groups it finished before its last
commit, and running it again fits only the others. On a store opened with ``hold_lock=False``
(as ``transferscope fit`` and ``report`` open it) each batch takes the write lock for its
transaction alone, so other commands can read the store while the fit runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from transferscope.engine import Engine
from transferscope.errors import InputError
from transferscope.frontier.estimators import ESTIMATORS, Estimator
from transferscope.frontier.families import FAMILIES, definition_fingerprint, family_fingerprint
from transferscope.frontier.fit import (
    DEFAULT_BY,
    Task,
    check_runs,
    group_tasks,
    iter_fit_tasks,
    output_columns,
    resolved_settings,
    restore_key_types,
    results_frame,
)
from transferscope.frontier.group import resolve_families
from transferscope.frontier.settings import FitSettings
from transferscope.records import json_safe
from transferscope.store import Store
from transferscope.store.fits import FitRow, all_fits, read_fits, read_fits_of_groups, write_fits

#: Version of the fitting code; bump it when results change so that stored fits are refitted.
FIT_VERSION: Final[int] = 8
#: Finished groups are committed to the store at least this often (seconds), and at the end.
COMMIT_SECONDS: float = 10.0


def fingerprint(task: Task, settings: FitSettings) -> str:
    """Hash everything one group's fit depends on.

    Parameters
    ----------
    task : tuple
        ``(group key, x, y, upstream metric, downstream metric, problem)`` of the group.
    settings : FitSettings
        Families, estimator, options and seed.

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
    families = resolve_families(settings, upstream)
    estimators = [settings.frontier] + ([settings.fallback] if settings.fallback != "none" else [])
    head = {
        "version": FIT_VERSION,
        "group_key": key,
        "upstream_metric": _metric_record(upstream),
        "downstream_metric": _metric_record(downstream),
        "problem": problem,
        "settings": settings.to_record(),
        "families": {n: family_fingerprint(FAMILIES[n]) for n in families},
        "estimator": {n: definition_fingerprint(ESTIMATORS[n], Estimator) for n in estimators},
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


def _metric_record(info: Any) -> dict[str, Any] | None:
    if info is None:
        return None
    return json_safe(
        {"name": info.name, "direction": info.direction, "low": info.low, "high": info.high}
    )


def _settings_of(records: Sequence[dict[str, Any]]) -> FitSettings | None:
    """Rebuild the settings a stored fit was made with (None when they cannot be)."""
    options = records[0].get("options") if records else None
    if not isinstance(options, dict):
        return None
    try:
        return FitSettings.make(**{k: v for k, v in options.items() if v is not None})
    except (InputError, TypeError, ValueError):
        return None


def fit_store(
    store: Store,
    family: str | Sequence[str] = "abnar",
    *,
    by: Sequence[str] = DEFAULT_BY,
    filters: Mapping[str, Any] | None = None,
    settings: FitSettings | None = None,
    refit: bool = False,
    reuse: Literal["same", "any"] = "same",
    with_options: bool = False,
    rng: np.random.Generator | None = None,
    n_jobs: int = 1,
    engine: Engine | str | None = None,
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Fit the store's runs per group, reusing current fits from table ``fits``.

    Parameters
    ----------
    store : transferscope.store.Store
        An open store (fits are written unless it is read-only). Metric definitions recorded
        in it (``transferscope ingest --metric``) take precedence over the registry.
    family : str or sequence of str
        As for :func:`transferscope.frontier.fit_frontiers`.
    by : sequence of str
        Grouping columns.
    filters : mapping, optional
        Passed to ``store.runs`` (e.g. ``{"task": ["cifar10"], "method": "linear_probe"}``).
    settings : FitSettings, optional
        Every option at once; ``**options`` override its fields.
    refit : bool
        Fit every group again even when a current fit is stored (and replace it).
    reuse : {"same", "any"}
        ``"same"``: reuse a stored fit only when it was made with these options. ``"any"``
        (what ``report`` does when given no fit option): reuse the most recent current fit of
        each group whatever its options (it is current when its fingerprint, recomputed from
        the group's runs today and the options it was made with, still matches); groups
        without one are fitted with these options.
    with_options : bool
        Add a column ``options``: the settings each row was made with (JSON text).
    rng : numpy.random.Generator, optional
        Draw the seed from this generator instead of ``seed``.
    n_jobs, engine, progress
        As for :func:`transferscope.frontier.fit_frontiers`: the groups to fit go to the
        engine's workers and come back as rows, which are written here (the store stays the
        only place with state).
    **options
        Fields of :class:`FitSettings`.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`transferscope.frontier.fit_frontiers` (with ``reuse="any"``, the
        parameter columns of every estimator and family found), then ``fingerprint`` (of the
        group's runs and the options) and ``reused`` (True when the row came from the store).

    Raises
    ------
    InputError
        As :func:`transferscope.frontier.fit_frontiers`, or for a bad filter.

    Notes
    -----
    Finished groups are written in batches (see the module docstring): when the fit is
    interrupted, the groups committed so far stay in the store and are reused next time.
    """
    by = [by] if isinstance(by, str) else list(by)
    if reuse not in ("same", "any"):
        raise InputError(f"reuse must be 'same' or 'any', got {reuse!r}")
    fit_settings = resolved_settings(settings, rng, family=family, **options)
    runs = store.runs(**dict(filters or {}))
    check_runs(runs, by)
    tasks = list(group_tasks(runs, by, store.metrics()))
    prints = [fingerprint(t, fit_settings) for t in tasks]
    stored = {} if refit else read_fits(store, prints)
    used: dict[int, FitSettings] = {}
    if reuse == "any" and not refit:
        texts = [json.dumps(t[0], sort_keys=True) for t in tasks]
        found = read_fits_of_groups(
            store, [texts[i] for i, fp in enumerate(prints) if fp not in stored]
        )
        for i, text in enumerate(texts):
            if prints[i] in stored:
                continue
            for fp, records in found.get(text, []):
                other = _settings_of(records)
                if other is not None and fingerprint(tasks[i], other) == fp:
                    prints[i] = fp
                    stored[fp] = records
                    used[i] = other
                    break
    missing = [i for i, fp in enumerate(prints) if fp not in stored]
    results = iter_fit_tasks([tasks[i] for i in missing], fit_settings, n_jobs, progress, engine)
    fitted: dict[int, list[Any]] = {}
    pending: list[FitRow] = []
    last_commit = time.monotonic()
    for i, found_results in zip(missing, results, strict=True):
        fitted[i] = found_results
        key = json.dumps(tasks[i][0], sort_keys=True)
        for position, r in enumerate(found_results):
            record = json.dumps({**r.to_record(), "position": position}, allow_nan=False)
            pending.append(FitRow(prints[i], r.family, r.frontier, key, r.status, record))
        if time.monotonic() - last_commit >= COMMIT_SECONDS:
            write_fits(store, pending)  # one transaction: the batch lands whole or not at all
            pending, last_commit = [], time.monotonic()
    write_fits(store, pending)
    rows: list[dict[str, Any]] = []
    for i, task in enumerate(tasks):
        extra: dict[str, Any] = {"fingerprint": prints[i], "reused": i not in fitted}
        if with_options:
            made = used.get(i, fit_settings)
            extra["options"] = json.dumps(made.to_record(), sort_keys=True)
        if i in fitted:
            rows += [{**task[0], **r.row(), **extra} for r in fitted[i]]
        else:
            rows += [{**_record_row(task[0], rec), **extra} for rec in stored[prints[i]]]
    columns = output_columns(by, fit_settings)
    for other in used.values():
        for c in output_columns(by, other):
            if c not in columns:
                columns.insert(columns.index("plateau"), c)
    columns += ["fingerprint", "reused"] + (["options"] if with_options else [])
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
