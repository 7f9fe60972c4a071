"""Reshapes of the language-model tables: the Pythia checkpoint ladder and the scaling suite.

Each takes the source's spec and its verified files and returns canonical runs; the spec's
``[mapping]`` table holds the choices (documented there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from transferscope.errors import InputError
from transferscope.ingest.sources._frame import (
    canonical_frame,
    hparams_json,
    read_csv,
    require_columns,
)
from transferscope.ingest.sources._spec import SourceSpec
from transferscope.schema import snake_case

_PYTHIA_DTYPES = {
    "model": "str",
    "setting": "str",
    "num_fewshot": "int64",
    "step": "int64",
    "task": "str",
    "metric": "str",
    "value": "float64",
    "stderr": "float64",
}


def pythia(spec: SourceSpec, paths: dict[str, Path]) -> pd.DataFrame:
    """Reshape Pythia's evaluations into canonical runs: one model per (name, step).

    Parameters
    ----------
    spec : SourceSpec
        The ``pythia`` spec (``[mapping]``: upstream_task, upstream_metric, upstream_setting,
        scratch_step, pretrain_data, pretrain_data_deduped, params); one file, role ``runs``.
    paths : dict of str to pathlib.Path
        Verified files by name.

    Returns
    -------
    pandas.DataFrame
        One row per published (model, setting, step, task, metric) whose checkpoint has the
        upstream score, in the published order.
    """
    mapping = spec.mapping
    path = paths[spec.file("runs").name]
    raw = read_csv(path, dtype=_PYTHIA_DTYPES)
    require_columns(raw, list(_PYTHIA_DTYPES), path)
    chosen = (
        (raw["task"] == mapping["upstream_task"])
        & (raw["metric"] == mapping["upstream_metric"])
        & (raw["setting"] == mapping["upstream_setting"])
    )
    upstream = raw.loc[chosen, ["model", "step", "value"]].rename(
        columns={"value": "upstream_value"}
    )
    runs = raw.merge(upstream, on=["model", "step"], how="inner", validate="many_to_one")

    series = runs["model"]
    names = pd.Series(series.unique())
    sizes = names.str.extract(r"^pythia-(\d+(?:\.\d+)?[mb])", expand=False)
    params = sizes.map(mapping["params"])
    if params.isna().any():
        unknown = names[params.isna()].tolist()
        raise InputError(f"no parameter count in the spec for {unknown}", file=spec.spec_file)
    deduped = names.str.contains("-deduped", regex=False)
    per_name = pd.DataFrame(
        {
            "architecture": ("pythia-" + sizes).to_numpy(),
            "params": params.astype("int64").to_numpy(),
            "pretrain_data": np.where(
                deduped, mapping["pretrain_data_deduped"], mapping["pretrain_data"]
            ),
            "hparams": hparams_json(pd.DataFrame({"series": names})).to_numpy(),
        },
        index=names.to_numpy(),
    )
    per_row = per_name.reindex(series.to_numpy())
    settings = runs["setting"].unique()
    step = runs["step"]
    return canonical_frame(
        {
            "model": series + "@step" + step.astype(str),
            "pretrained": (step != mapping["scratch_step"]).to_numpy(),
            "upstream_task": mapping["upstream_task"],
            "upstream_metric": mapping["upstream_metric"],
            "upstream_score": runs["upstream_value"],
            "task": runs["task"],
            "method": runs["setting"].map({s: snake_case(s) for s in settings}),
            "shots": runs["num_fewshot"],
            "downstream_metric": runs["metric"],
            "downstream_score": runs["value"],
            "downstream_stderr": runs["stderr"],
            "architecture": per_row["architecture"],
            "params": per_row["params"],
            "pretrain_data": per_row["pretrain_data"],
            "pretrain_steps": step,
            "hparams": per_row["hparams"],
        },
        len(runs),
    )


def mlf_scaling(spec: SourceSpec, paths: dict[str, Path]) -> pd.DataFrame:
    """Reshape the scaling suite's models and evaluations into runs, upstream = a loss.

    Parameters
    ----------
    spec : SourceSpec
        The ``mlf-scaling`` spec (``[mapping]``: upstream_column, upstream_task,
        upstream_metric, downstream_metric, zero_shot_method, few_shot_method, shots per task);
        files with role ``models`` and ``evals``.
    paths : dict of str to pathlib.Path
        Verified files by name.

    Returns
    -------
    pandas.DataFrame
        One row per (model, task) of ``evals_long.csv`` whose model is described.
    """
    mapping = spec.mapping
    models_path = paths[spec.file("models").name]
    evals_path = paths[spec.file("evals").name]
    models = read_csv(models_path)
    evals = read_csv(evals_path)
    upstream_column = mapping["upstream_column"]
    placed = ["name", "arch", "dataset", "params", upstream_column]
    require_columns(models, placed, models_path)
    require_columns(evals, ["name", "task", "accuracy"], evals_path)
    if models["name"].duplicated().any():
        raise InputError("a model name appears twice", file=str(models_path))
    rest = [c for c in models.columns if c not in placed]
    models = models.assign(hparams=hparams_json(models[rest]))
    runs = evals.merge(models, on="name", how="inner", validate="many_to_one")
    shots = runs["task"].map(mapping["shots"])
    if shots.isna().any():
        unknown = sorted(runs.loc[shots.isna(), "task"].unique())
        raise InputError(
            f"the spec gives no number of shots for task(s) {unknown}", file=spec.spec_file
        )
    shots = shots.astype("int64")
    return canonical_frame(
        {
            "model": runs["name"],
            "pretrained": True,
            "upstream_task": mapping["upstream_task"],
            "upstream_metric": mapping["upstream_metric"],
            "upstream_score": runs[upstream_column],
            "task": runs["task"],
            "method": np.where(shots == 0, mapping["zero_shot_method"], mapping["few_shot_method"]),
            "shots": shots,
            "downstream_metric": mapping["downstream_metric"],
            "downstream_score": runs["accuracy"],
            "architecture": runs["arch"],
            "params": runs["params"],
            "pretrain_data": runs["dataset"],
            "hparams": runs["hparams"],
        },
        len(runs),
    )
