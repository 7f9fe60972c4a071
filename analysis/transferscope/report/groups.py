"""Every frontier group of a report in one table: where it lives, what its fit says, its chart page.

:func:`group_index` joins the current fits (one selected fit per group), the runs of each group
(their sources, counts and positions), the slope at the top of the data
(:func:`transferscope.frontier.top.top_slopes`) and what a fit says about saturation, into one
row per group. Groups are numbered in a stable order (source, task family, label) and each is
assigned to the page of its source, so that every page, index and table can link to it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from transferscope.frontier import get_family
from transferscope.frontier.top import top_slopes
from transferscope.records import json_safe
from transferscope.report.labels import group_label, shots_label, task_families

#: Saturation tolerance of the fits' ``saturation_point`` (downstream units).
SATURATION_DELTA = 0.01


@dataclass(frozen=True)
class GroupIndex:
    """The groups of a report.

    Parameters
    ----------
    by : tuple of str
        Group key columns.
    table : pandas.DataFrame
        One row per group, in page order: ``group_id`` (``g0001``, ...), ``page`` (file of its
        source's page), ``source``, ``family`` (task family), ``label``, the key columns,
        ``shots_label``, ``n_runs``, ``n_models``, the selected fit's columns (``fit_family``,
        ``frontier``, ``status``, ``message``, ``n_points``, ``plateau``, ``plateau_ci_low``,
        ``plateau_ci_high``, ``ci_level``, ``saturation_point``, ``upstream_min``,
        ``upstream_max``, ``backtest_mae``, ...), ``saturates`` (True: the curve reaches its
        plateau within the data; False: only beyond it; missing: no fit), ``extrapolation``
        (upstream distance from the best observed score to the saturation point),
        ``upstream_lower`` (True when a lower upstream score is better) and the columns of
        :func:`~transferscope.frontier.top.top_slopes`.
    fits : pandas.DataFrame
        Every fit row (every family when several were fitted), with ``group_id``.
    members : dict of str to numpy.ndarray
        Positions (``iloc``) in the report's runs of each group's runs.
    pages : pandas.DataFrame
        One row per source page: ``source``, ``page``, ``n_groups``, ``n_ok``.
    arrays : dict of str to numpy.ndarray
        Columns of the runs that charts need, as numpy arrays (slice them with ``members``):
        ``upstream_score``, ``downstream_score``, ``pretrained``, ``model``,
        ``upstream_metric``, ``downstream_metric``, ``upstream_task``.
    fit_records : dict of str to list of dict
        Each group's fit rows as records, the selected fit first.
    """

    by: tuple[str, ...]
    table: pd.DataFrame
    fits: pd.DataFrame = field(repr=False)
    members: dict[str, np.ndarray] = field(repr=False)
    pages: pd.DataFrame = field(repr=False)
    arrays: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    fit_records: dict[str, list[Mapping[Any, Any]]] = field(repr=False, default_factory=dict)

    def group_arrays(self, group_id: str) -> dict[str, np.ndarray]:
        """Return the chart columns of one group's runs.

        Parameters
        ----------
        group_id : str
            E.g. ``"g0003"``.

        Returns
        -------
        dict of str to numpy.ndarray
            The columns of :attr:`arrays`, sliced to the group.
        """
        idx = self.members[group_id]
        return {k: v[idx] for k, v in self.arrays.items()}

    def keys(self, group_id: str) -> dict[str, Any]:
        """Key columns and values of one group.

        Parameters
        ----------
        group_id : str
            E.g. ``"g0003"``.

        Returns
        -------
        dict
            Column to value.
        """
        row = self.table.loc[self.table["group_id"] == group_id].iloc[0]
        return {c: row[c] for c in self.by}


def key_text(values: Any) -> str:
    """JSON text of a key tuple with missing values as ``null`` (a dictionary key for joins).

    Parameters
    ----------
    values : Any
        A tuple of key values (or one value).

    Returns
    -------
    str
        Canonical JSON.
    """
    vals = values if isinstance(values, tuple) else (values,)
    out = []
    for v in vals:
        v = json_safe(v)
        if isinstance(v, float) and v.is_integer():
            v = int(v)  # grouping turns integer columns with missing values into floats
        out.append(v)
    return json.dumps(out)


def _saturation(row: Mapping[Any, Any]) -> tuple[Any, float, bool]:
    """(saturates within the data, extrapolation distance, upstream lower is better)."""
    if row.get("status") != "ok" or pd.isna(row.get("fit_family")):
        return pd.NA, math.nan, False
    try:
        lower = get_family(str(row["fit_family"])).upstream == "lower"
    except Exception:  # a family no longer registered: say nothing rather than guess
        return pd.NA, math.nan, False
    sat = row.get("saturation_point")
    if sat is None or pd.isna(sat):
        return (False, math.nan, lower) if lower else (pd.NA, math.nan, lower)
    sat = float(sat)
    if lower:
        edge = float(row["upstream_min"])
        return bool(sat >= edge), max(0.0, edge - sat), True
    edge = float(row["upstream_max"])
    return bool(sat <= edge + 1e-12), max(0.0, sat - edge), False


def _plain(runs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Keep the columns top slopes need, text as Python objects (fast to group and slice)."""
    cols = [
        *dict.fromkeys(
            [
                *by,
                "upstream_score",
                "downstream_score",
                "upstream_metric",
                "downstream_metric",
                "pretrained",
                "task",
                "upstream_task",
            ]
        )
    ]
    out = runs[cols].copy()
    for c in cols:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def group_index(
    runs: pd.DataFrame, fits: pd.DataFrame, by: tuple[str, ...], *, ci_level: float = 0.95
) -> GroupIndex:
    """Join fits, runs and top slopes into one row per group.

    Parameters
    ----------
    runs : pandas.DataFrame
        The report's runs.
    fits : pandas.DataFrame
        Current fits (columns of :func:`transferscope.frontier.fit_store`), one or more rows
        per group.
    by : tuple of str
        Group key columns.
    ci_level : float
        Level of the slopes' intervals.

    Returns
    -------
    GroupIndex
        See the class.
    """
    by_list = list(by)
    # plain numpy columns: slicing them per group is cheap (Arrow strings are not)
    arrays = {
        "upstream_score": runs["upstream_score"].to_numpy(dtype=float, na_value=np.nan),
        "downstream_score": runs["downstream_score"].to_numpy(dtype=float, na_value=np.nan),
        "pretrained": runs["pretrained"].fillna(True).to_numpy(dtype=bool),
    }
    for c in ("model", "upstream_metric", "downstream_metric", "upstream_task", "source"):
        arrays[c] = runs[c].astype(object).where(runs[c].notna(), None).to_numpy()
    keys_frame = pd.DataFrame(
        {c: runs[c].astype(object).where(runs[c].notna(), None).to_numpy() for c in by_list}
    )
    grouped = keys_frame.groupby(by_list, dropna=False, sort=True)
    members: dict[str, np.ndarray] = {}
    info = []
    for key, idx in grouped.indices.items():
        text = key_text(key)
        members[text] = np.asarray(idx)
        sources = pd.Series(arrays["source"][idx]).value_counts()
        info.append(
            {
                "_key": text,
                "source": str(sources.index[0]),
                "sources": " + ".join(sorted(str(s) for s in sources.index)),
                "n_runs": len(idx),
                "n_models": len(set(arrays["model"][idx])),
            }
        )
    info_frame = pd.DataFrame(info)

    selected = fits
    if "selected" in fits:
        order = (~fits["selected"].astype(bool)).astype(int)
        selected = fits.assign(_o=order.to_numpy()).sort_values("_o", kind="stable")
    selected = selected.drop_duplicates(subset=by_list).drop(columns=["_o"], errors="ignore")
    selected = selected.rename(columns={"family": "fit_family"})
    selected = selected.assign(_key=[key_text(tuple(r)) for r in selected[by_list].itertuples(
        index=False, name=None)])  # fmt: skip

    table = info_frame.merge(selected, on="_key", how="left")
    slopes = top_slopes(_plain(runs, by_list), by=by_list, ci_level=ci_level)
    slopes = slopes.assign(
        _key=[key_text(tuple(r)) for r in slopes[by_list].itertuples(index=False, name=None)]
    ).drop(columns=by_list)
    table = table.merge(slopes, on="_key", how="left", suffixes=("", "_slope"))
    # key values from the runs (the fits may miss a group only when it has no fit row)
    keys = pd.DataFrame([json.loads(k) for k in table["_key"]], columns=by_list, index=table.index)
    for c in by_list:
        table[c] = keys[c].astype(runs[c].dtype) if c in runs else keys[c]
    table["status"] = table["status"].fillna("not_fitted")
    text_columns = ("message", "slope_message", "fit_family", "frontier", "slope_status", "flags",
                    "requested_frontier", "interval_kind", "options")  # fmt: skip
    for c in text_columns:
        if c in table:
            table[c] = table[c].astype(object).where(table[c].notna(), None)
    no_slope = table["slope_status"].isna()
    table.loc[no_slope, "slope_status"] = "too_few_points"
    table.loc[no_slope, "slope_message"] = "no run has both an upstream and a downstream score"

    sat = [_saturation(r) for r in table.to_dict("records")]
    table["saturates"] = pd.array([s[0] for s in sat], dtype="boolean")
    table["extrapolation"] = [s[1] for s in sat]
    table["upstream_lower"] = [s[2] for s in sat]

    families: dict[tuple[str, str], str] = {}
    for source, part in table.groupby("source", sort=True):
        for task, fam in task_families(part["task"].tolist() if "task" in part else []).items():
            families[(str(source), task)] = fam
    table["family"] = [
        families.get((str(s), str(t)), "all tasks")
        for s, t in zip(table["source"], table["task"] if "task" in table else [""] * len(table),
                        strict=True)
    ]  # fmt: skip
    table["label"] = [group_label({c: r[c] for c in by_list}) for r in table.to_dict("records")]
    if "shots" in table:
        table["shots_label"] = pd.Series([shots_label(v) for v in table["shots"]], dtype=object)
    table = table.sort_values(["source", "family", "label"], kind="stable").reset_index(drop=True)
    table.insert(0, "group_id", pd.Series([f"g{i + 1:04d}" for i in range(len(table))]))
    source_names = sorted(str(s) for s in table["source"].unique())
    page_of = {s: f"source-{i + 1}.html" for i, s in enumerate(source_names)}
    table.insert(1, "page", table["source"].map(page_of))

    ids = dict(zip(table["_key"], table["group_id"], strict=True))
    members_by_id = {ids[k]: v for k, v in members.items() if k in ids}
    fit_keys = [key_text(tuple(r)) for r in fits[by_list].itertuples(index=False, name=None)]
    fit_rows = fits.assign(group_id=[ids.get(k, "") for k in fit_keys])
    records: dict[str, list[Mapping[Any, Any]]] = {}
    ordered = fit_rows
    if "selected" in fit_rows:
        ordered = fit_rows.iloc[np.argsort(~fit_rows["selected"].astype(bool).to_numpy(),
                                           kind="stable")]  # fmt: skip
    for rec in ordered.to_dict("records"):
        records.setdefault(str(rec["group_id"]), []).append(rec)
    pages = (
        table.groupby(["source", "page"], sort=True)
        .agg(n_groups=("group_id", "size"), n_ok=("status", lambda s: int((s == "ok").sum())))
        .reset_index()
    )
    return GroupIndex(
        by=tuple(by_list),
        table=table.drop(columns=["_key"]),
        fits=fit_rows,
        members=members_by_id,
        pages=pages,
        arrays=arrays,
        fit_records=records,
    )
