"""Weights & Biases runs exports: the CSV that the runs table's "Export as CSV" writes.

One row per run: ``Name``, ``State``, ``Notes``, ``User``, ``Tags``, ``Created``, ``Runtime``,
``Sweep``, then a column per config key and per summary metric (nested keys dotted). Which
columns are the model, the task, the scores is the user's spec
(:mod:`transferscope.ingest.formats._spec`); runs whose ``State`` is not ``finished`` are left
out unless the spec says ``finished_only = false``. Errors name the CSV's row (data rows count
from 1) and column.
"""

from __future__ import annotations

from pathlib import Path

from transferscope.errors import InputError
from transferscope.ingest.formats._common import FormatRead, source_name
from transferscope.ingest.formats._spec import RunSpec
from transferscope.ingest.readers import read_table
from transferscope.ingest.sources import sha256_file
from transferscope.schema import SourceInfo


def read_wandb(path: str | Path, *, spec: str | Path, name: str | None = None) -> FormatRead:
    """Read a W&B runs export (CSV) through a spec.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file.
    spec : str or pathlib.Path
        The mapping of its columns to canonical columns (TOML).
    name : str, optional
        Source name (default: the file's stem).

    Returns
    -------
    FormatRead
        Rows in canonical columns, each with its CSV row; provenance with the file's checksum.

    Raises
    ------
    InputError
        For a broken CSV, a spec naming a column the export lacks, or no finished run.
    """
    mapping = RunSpec.read(spec)
    file = Path(path)
    runs = read_table(file)
    if mapping.finished_only and "State" in runs.columns:
        runs = runs[runs["State"].astype("string").str.strip().str.lower() == "finished"]
        if runs.empty:
            raise InputError(
                "no run has State 'finished' (set finished_only = false in the spec to read "
                "the others)",
                file=str(file),
            )
    frame = mapping.apply(runs).reset_index(drop=True)
    locations = tuple((str(file), f"row {int(i) + 1}") for i in runs.index)
    info = SourceInfo(
        name=source_name(file, name),
        title=f"Weights & Biases runs export: {file.name}",
        url=file.resolve().as_uri(),
        sha256=sha256_file(file),
    )
    return FormatRead(frame=frame, info=info, locations=locations, columns=mapping.columns)
