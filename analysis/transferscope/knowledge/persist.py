"""Interaction comparisons kept in the store (table ``interactions``).

A comparison is stored as its per-input records (:func:`knowledge_records` with
``per_input=True``, aggregate rows included) and rebuilt from them exactly: the signed
interactions of the three roles on each input and the threshold determine every set and share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transferscope.errors import InputError
from transferscope.knowledge.compare import ROLES
from transferscope.knowledge.result import (
    KNOWLEDGE_RECORD_COLUMNS,
    KnowledgeComparison,
    compare_knowledge,
    knowledge_records,
)
from transferscope.store import Store
from transferscope.store.interactions import read_interactions, replace_interactions

__all__ = ["comparison_from_records", "load_knowledge", "save_knowledge"]


def save_knowledge(store: Store, result: KnowledgeComparison) -> int:
    """Store a comparison, replacing any stored under the same name (one transaction).

    Parameters
    ----------
    store : Store
        An open, writable store.
    result : KnowledgeComparison
        The comparison (see :func:`~transferscope.knowledge.compare_knowledge`).

    Returns
    -------
    int
        Rows written to table ``interactions``.
    """
    records = knowledge_records(result, per_input=True)
    return replace_interactions(store, result.comparison, records[list(KNOWLEDGE_RECORD_COLUMNS)])


def comparison_from_records(records: pd.DataFrame) -> KnowledgeComparison:
    """Rebuild a comparison from its per-input records.

    Parameters
    ----------
    records : pandas.DataFrame
        Rows of one comparison with the columns of :data:`KNOWLEDGE_RECORD_COLUMNS`, including
        every input (``input_id`` not null) of each of the three roles.

    Returns
    -------
    KnowledgeComparison
        Equal in every array to the comparison the records were made from.

    Raises
    ------
    InputError
        When the records are not one complete comparison.
    """
    names = records["comparison"].unique()
    per_input = records[records["input_id"].notna()]
    if len(names) != 1 or per_input.empty:
        raise InputError("records must hold the per-input rows of exactly one comparison")
    n = int(per_input["n_variables"].iloc[0])
    arrays = []
    models = []
    for role in ROLES:
        part = per_input[per_input["role"] == role]
        inputs = np.sort(part["input_id"].unique().astype(np.int64))
        if len(part) != len(inputs) * 2**n:
            raise InputError(f"records of role {role!r} do not cover every subset of every input")
        grid = np.zeros((len(inputs), 2**n))
        rows = np.searchsorted(inputs, part["input_id"].to_numpy(dtype=np.int64))
        grid[rows, part["subset"].to_numpy(dtype=np.int64)] = part["interaction"].to_numpy(float)
        arrays.append(grid)
        models.append(str(part["model"].iloc[0]))
    task = per_input["task"].iloc[0]
    # The empty subset can only be salient when it was allowed to be; when it was allowed but is
    # not salient it is below the threshold, so excluding it changes no set or share.
    include_empty = bool(per_input.loc[per_input["subset"] == 0, "salient"].any())
    return compare_knowledge(
        arrays[0],
        arrays[1],
        arrays[2],
        tau=float(per_input["tau"].iloc[0]),
        include_empty=include_empty,
        models=(models[0], models[1], models[2]),
        task=None if pd.isna(task) else str(task),
        comparison=str(names[0]),
    )


def load_knowledge(store: Store, comparison: str | None = None) -> list[KnowledgeComparison]:
    """Load stored comparisons.

    Parameters
    ----------
    store : Store
        An open store.
    comparison : str, optional
        Only the comparison of this name; every stored one when omitted.

    Returns
    -------
    list of KnowledgeComparison
        Sorted by comparison name; empty when none is stored.
    """
    frame = read_interactions(store, comparison)
    return [comparison_from_records(part) for _, part in frame.groupby("comparison", sort=True)]
