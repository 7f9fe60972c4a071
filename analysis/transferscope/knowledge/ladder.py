"""Knowledge along a checkpoint ladder: shares per checkpoint, and their link to accuracy.

Runs that measured the knowledge of their fine-tuning carry it in their hparams under keys
``knowledge_<field>`` (e.g. ``knowledge_preserved_share_of_p``, as
:mod:`transferscope.examples.digits` records them). :func:`ladder_knowledge` turns them into a
tidy table; :func:`knowledge_profile` averages each field per checkpoint over seeds, and
:func:`knowledge_correlation` measures how each field goes with downstream accuracy:

- ``along_ladder``: for each seed, the Pearson correlation across checkpoints between the field
  and the downstream score; the seeds' correlations are averaged on Fisher's z scale, with a
  t interval across seeds (so the interval is across seeds, as the seeds are the replicates);
- ``within_checkpoint``: for each checkpoint, the correlation across seeds (the ladder's trend
  held fixed), averaged over checkpoints the same way, with a t interval across checkpoints.

A correlation that cannot be computed (fewer than three points, a constant field) is left out of
the mean; with fewer than two usable correlations there is no interval (``status``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy import stats

from transferscope.errors import InputError

__all__ = [
    "KNOWLEDGE_PREFIX",
    "knowledge_correlation",
    "knowledge_profile",
    "ladder_knowledge",
]

#: Prefix of the hparams keys that hold knowledge measurements.
KNOWLEDGE_PREFIX: Final[str] = "knowledge_"
#: Fields correlated by default (when present).
DEFAULT_FIELDS: Final[tuple[str, ...]] = (
    "preserved_share_of_p",
    "discarded_share_of_p",
    "newly_learned_share_of_f",
    "exclusive_share_of_f",
    "unexplained_f",
)
_SETTINGS: Final[frozenset[str]] = frozenset({"tau", "images"})


def ladder_knowledge(runs: pd.DataFrame) -> pd.DataFrame:
    """Return the runs that carry knowledge measurements, one column per measurement.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs with ``hparams`` (JSON text or dicts).

    Returns
    -------
    pandas.DataFrame
        One row per such run: ``model``, ``method``, ``task``, ``seed`` (Int64),
        ``upstream_score``, ``downstream_score``, ``pretrain_steps`` (Int64, when present),
        then one float column per ``knowledge_<field>`` key (the prefix removed), in sorted
        order. Empty (with the first columns) when no run has any.
    """
    base = ["model", "method", "task", "seed", "upstream_score", "downstream_score"]
    if "pretrain_steps" in runs.columns:
        base.append("pretrain_steps")
    missing = [c for c in ("model", "method", "task", "downstream_score") if c not in runs]
    if missing:
        raise InputError(f"runs lack the column(s) {', '.join(missing)}")
    records: list[dict[str, Any]] = []
    keep: list[int] = []
    hp = runs["hparams"] if "hparams" in runs.columns else pd.Series([None] * len(runs))
    for i, value in enumerate(hp.tolist()):
        parsed = value if isinstance(value, dict) else _parse(value)
        fields = {
            k[len(KNOWLEDGE_PREFIX) :]: v
            for k, v in parsed.items()
            if k.startswith(KNOWLEDGE_PREFIX) and k[len(KNOWLEDGE_PREFIX) :] not in _SETTINGS
        }
        if fields:
            records.append(fields)
            keep.append(i)
    head = runs.iloc[keep].reindex(columns=base).reset_index(drop=True)
    if not records:
        return head
    values = pd.DataFrame(records).astype("float64")
    values = values[sorted(values.columns)]
    return pd.concat([head, values], axis=1)


def _parse(value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return {}
    try:
        parsed = json.loads(str(value))
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _fields(table: pd.DataFrame, fields: Sequence[str] | None) -> list[str]:
    known = [
        c
        for c in table.columns
        if c not in {"model", "method", "task", "seed", "upstream_score", "downstream_score"}
        and c != "pretrain_steps"
    ]
    if fields is None:
        chosen = [f for f in DEFAULT_FIELDS if f in known] or known
    else:
        chosen = list(fields)
        unknown = [f for f in chosen if f not in known]
        if unknown:
            raise InputError(f"no knowledge measurement named {', '.join(unknown)}")
    return chosen


def _t_interval(values: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """Mean, its standard error and a t interval; NaN interval with fewer than two values."""
    k = values.size
    if k == 0:
        return (np.nan, np.nan, np.nan, np.nan)
    mean = float(values.mean())
    if k < 2:
        return (mean, np.nan, np.nan, np.nan)
    se = float(values.std(ddof=1) / np.sqrt(k))
    crit = float(stats.t.ppf(0.5 + level / 2, k - 1))
    return (mean, se, mean - crit * se, mean + crit * se)


def knowledge_profile(
    table: pd.DataFrame,
    fields: Sequence[str] | None = None,
    *,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Mean of each measurement and of the downstream score per checkpoint, across seeds.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`ladder_knowledge`.
    fields : sequence of str, optional
        Measurements (without the prefix); by default the shares and the matching error of F.
    ci_level : float, default 0.95
        Level of the t intervals across seeds.

    Returns
    -------
    pandas.DataFrame
        One row per (task, method, model, quantity): ``task``, ``method``, ``model`` (str),
        ``upstream_score`` (float: mean over seeds), ``pretrain_steps`` (float, NaN when
        absent), ``quantity`` (str: a field, or ``downstream_score``), ``estimate`` (mean over
        seeds), ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``n_seeds`` (int); sorted by
        task, method, upstream score.
    """
    _check_level(ci_level)
    chosen = _fields(table, fields)
    rows = []
    for (task, method, model), part in table.groupby(["task", "method", "model"], sort=True):
        up = float(part["upstream_score"].astype(float).mean())
        steps = (
            float(part["pretrain_steps"].astype("float64").mean())
            if "pretrain_steps" in part
            else np.nan
        )
        for quantity in [*chosen, "downstream_score"]:
            vals = part[quantity].to_numpy(dtype=float)
            vals = vals[np.isfinite(vals)]
            mean, se, lo, hi = _t_interval(vals, ci_level)
            rows.append(
                {
                    "task": str(task), "method": str(method), "model": str(model),
                    "upstream_score": up, "pretrain_steps": steps, "quantity": quantity,
                    "estimate": mean, "se": se, "ci_low": lo, "ci_high": hi,
                    "ci_level": ci_level, "n_seeds": int(vals.size),
                }
            )  # fmt: skip
    out = pd.DataFrame(
        rows,
        columns=[
            "task", "method", "model", "upstream_score", "pretrain_steps", "quantity",
            "estimate", "se", "ci_low", "ci_high", "ci_level", "n_seeds",
        ],
    )  # fmt: skip
    return out.sort_values(["task", "method", "upstream_score", "quantity"], kind="stable")


def _check_level(level: float) -> None:
    if not 0.0 < float(level) < 1.0:
        raise InputError(f"ci_level must lie in (0, 1), got {level}")


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan
    return float(np.corrcoef(x, y)[0, 1])


def knowledge_correlation(
    table: pd.DataFrame,
    fields: Sequence[str] | None = None,
    *,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Correlation of each measurement with the downstream score, with intervals.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`ladder_knowledge`.
    fields : sequence of str, optional
        Measurements; by default the shares and the matching error of F.
    ci_level : float, default 0.95
        Level of the t intervals (on Fisher's z scale, transformed back).

    Returns
    -------
    pandas.DataFrame
        One row per (task, method, field, scope): ``task``, ``method``, ``field`` (str),
        ``scope`` (``along_ladder``: per seed across checkpoints; ``within_checkpoint``: per
        checkpoint across seeds), ``estimate`` (mean correlation, ``tanh`` of the mean Fisher
        z), ``ci_low``, ``ci_high`` (``tanh`` of the t interval of the mean z), ``ci_level``,
        ``n_groups`` (correlations averaged: seeds, or checkpoints), ``n_points`` (points per
        correlation, median), ``status`` (``ok``; ``single_group`` with one correlation and no
        interval; ``too_few_points`` with none).
    """
    _check_level(ci_level)
    chosen = _fields(table, fields)
    rows = []
    for (task, method), part in table.groupby(["task", "method"], sort=True):
        for field_name in chosen:
            for scope, by in (("along_ladder", "seed"), ("within_checkpoint", "model")):
                rs, sizes = [], []
                for _, grp in part.groupby(by, sort=True):
                    r = _pearson(
                        grp[field_name].to_numpy(dtype=float),
                        grp["downstream_score"].to_numpy(dtype=float),
                    )
                    if np.isfinite(r):
                        rs.append(r)
                        sizes.append(len(grp))
                z = np.arctanh(np.clip(np.asarray(rs), -0.999999, 0.999999))
                mean, _, lo, hi = _t_interval(z, ci_level)
                status = "ok" if z.size >= 2 else ("single_group" if z.size else "too_few_points")
                rows.append(
                    {
                        "task": str(task), "method": str(method), "field": field_name,
                        "scope": scope, "estimate": float(np.tanh(mean)),
                        "ci_low": float(np.tanh(lo)), "ci_high": float(np.tanh(hi)),
                        "ci_level": ci_level, "n_groups": int(z.size),
                        "n_points": float(np.median(sizes)) if sizes else np.nan,
                        "status": status,
                    }
                )  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=[
            "task", "method", "field", "scope", "estimate", "ci_low", "ci_high", "ci_level",
            "n_groups", "n_points", "status",
        ],
    )  # fmt: skip
