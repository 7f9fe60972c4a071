"""The canonical run schema: column names and types, the run key, and provenance of a source.

Everything that reads or writes runs agrees on the names here. The store's DDL, the ingest
validation, the simulator's output and the analyses all import from this module, so a column is
named in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Canonical columns of table ``runs`` in order, with their DuckDB types.
RUN_COLUMNS: Final[dict[str, str]] = {
    "source": "VARCHAR",
    "model": "VARCHAR",
    "pretrained": "BOOLEAN",
    "upstream_task": "VARCHAR",
    "upstream_metric": "VARCHAR",
    "upstream_score": "DOUBLE",
    "task": "VARCHAR",
    "method": "VARCHAR",
    "shots": "BIGINT",
    "seed": "BIGINT",
    "downstream_metric": "VARCHAR",
    "downstream_score": "DOUBLE",
    "downstream_stderr": "DOUBLE",
    "architecture": "VARCHAR",
    "params": "BIGINT",
    "pretrain_data": "VARCHAR",
    "pretrain_steps": "BIGINT",
    "hparams": "JSON",
}

#: Columns a user's table may carry (everything but ``source``, which the ingest sets).
INPUT_COLUMNS: Final[tuple[str, ...]] = tuple(c for c in RUN_COLUMNS if c != "source")

#: Columns that must be present and non-empty on every row.
REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("model", "task", "method", "downstream_score")

#: Columns that identify a run; ingesting a row whose key exists already adds nothing.
KEY_COLUMNS: Final[tuple[str, ...]] = (
    "source",
    "model",
    "task",
    "method",
    "shots",
    "seed",
    "downstream_metric",
    "hparams",
)


#: Columns of table ``interactions`` (knowledge kept, discarded and learned; one row per
#: comparison, role, input and subset), with their DuckDB types. ``input_id`` is null on rows
#: that aggregate over inputs. See :func:`transferscope.knowledge.knowledge_records`.
KNOWLEDGE_COLUMNS: Final[dict[str, str]] = {
    "comparison": "VARCHAR",
    "task": "VARCHAR",
    "role": "VARCHAR",
    "model": "VARCHAR",
    "input_id": "BIGINT",
    "n_variables": "INTEGER",
    "subset": "BIGINT",
    "interaction_order": "INTEGER",
    "interaction": "DOUBLE",
    "strength": "DOUBLE",
    "relative_strength": "DOUBLE",
    "salient": "BOOLEAN",
    "tau": "DOUBLE",
    "preserved": "BOOLEAN",
    "discarded": "BOOLEAN",
    "newly_learned": "BOOLEAN",
    "exclusive": "BOOLEAN",
}


@dataclass(frozen=True)
class SourceInfo:
    """Provenance of one ingest: one row of table ``sources``.

    Parameters
    ----------
    name : str
        Unique name of the source in the store, e.g. ``"vtab"`` or a file's stem.
    title : str, optional
        Human-readable title.
    citation : str, optional
        How to cite the published results.
    url : str, optional
        Where the table is published (pinned to a commit where possible).
    commit : str, optional
        The commit the url is pinned to.
    sha256 : str, optional
        Checksum of the input file(s); for several files, of their concatenated checksums.
    license : str, optional
        License of the published table.
    """

    name: str
    title: str | None = None
    citation: str | None = None
    url: str | None = None
    commit: str | None = None
    sha256: str | None = None
    license: str | None = None


#: pandas dtypes of the canonical columns: the DataFrame convention.
#:
#: Every DataFrame of runs that transferscope returns (``Store.runs``, the ingest validation)
#: uses these dtypes, and ``DataFrame -> store -> DataFrame`` is lossless under them:
#:
#: - text columns (``VARCHAR``) are pandas' default string dtype ``"str"``, missing = NaN;
#: - ``pretrained`` is a plain ``bool`` (never missing: the ingest fills a default);
#: - ``shots``, ``seed``, ``params`` and ``pretrain_steps`` are nullable ``"Int64"``
#:   (missing = ``pd.NA``; ``shots`` missing means the full data set);
#: - scores and standard errors are ``float64``, missing = NaN (stored as SQL NULL);
#: - ``hparams`` is JSON text of one object with sorted keys and compact separators
#:   (``{"epochs":10,"lr":0.1}``), or missing when a run has none.
RUN_DTYPES: Final[dict[str, str]] = {
    column: {"VARCHAR": "str", "JSON": "str", "BOOLEAN": "bool", "BIGINT": "Int64"}.get(
        sql_type, "float64"
    )
    for column, sql_type in RUN_COLUMNS.items()
}


def scored_on_upstream_task(runs: pd.DataFrame) -> np.ndarray:
    """Mark runs whose downstream task is their own upstream task.

    Such a run (Pythia's LAMBADA when the checkpoint's LAMBADA accuracy is the upstream score)
    measures the upstream task against itself, so it says nothing about transfer; frontiers and
    dependence analyses leave it out.

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs with a ``task`` column and, optionally, ``upstream_task``.

    Returns
    -------
    numpy.ndarray of bool
        One flag per row; all false when ``upstream_task`` is absent or missing.
    """
    import numpy as np

    if "upstream_task" not in runs.columns or "task" not in runs.columns:
        return np.zeros(len(runs), dtype=bool)
    same = runs["task"] == runs["upstream_task"]
    return np.asarray(same.fillna(False).to_numpy(dtype=bool))
