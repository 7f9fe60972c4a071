"""Reshapes of the vision tables: VTAB-1k, timm's ImageNet shift results, CLIP_benchmark probes.

Each takes the source's spec and its verified files and returns canonical runs; the spec's
``[mapping]`` table holds the choices (documented there).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def _percent(values: pd.Series, path: Path, column: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    bad = np.flatnonzero(~np.isfinite(numbers))
    if bad.size:
        raise InputError(
            "expected a number (percent)", file=str(path), row=int(bad[0]) + 1, column=column
        )
    return numbers / 100.0


def vtab(spec: SourceSpec, paths: dict[str, Path]) -> pd.DataFrame:
    """Reshape VTAB's results (``results.csv``, a 3-row header) into canonical runs.

    Parameters
    ----------
    spec : SourceSpec
        The ``vtab`` spec (``[mapping]``: method, downstream_metric, scratch_models,
        pretrain_data, regimes).
    paths : dict of str to pathlib.Path
        Verified files by name.

    Returns
    -------
    pandas.DataFrame
        One row per (representation-learning method, regime, dataset), canonical columns.
    """
    mapping = spec.mapping
    path = paths[spec.file("results").name]
    raw = read_csv(path, header=None, dtype=str, keep_default_na=False)
    if raw.shape[0] < 4 or raw.iat[2, 0] != "method":
        raise InputError("expected the 3-row header of VTAB's results.csv", file=str(path))
    regimes = raw.iloc[0, 1:].to_numpy(dtype=str)
    labels = raw.iloc[1, 1:].to_numpy(dtype=str)
    body = raw.iloc[3:, 1:].to_numpy(dtype=str)
    learners = raw.iloc[3:, 0].to_numpy(dtype=str)
    is_meta = regimes == "metadata"
    meta = pd.DataFrame(body[:, is_meta], columns=labels[is_meta])
    meta_needed = ["model", "architecture", "hyper_sweep_size", "preprocessing"]
    require_columns(meta, meta_needed, path)
    score_regimes, score_tasks = regimes[~is_meta], labels[~is_meta]
    known = mapping["regimes"]
    unknown = sorted(set(score_regimes) - set(known))
    if unknown:
        raise InputError(
            f"unknown regime(s) {unknown}; the spec maps {sorted(known)}", file=str(path)
        )
    scores = body[:, ~is_meta]
    n_learners, n_cols = scores.shape
    row_learner = np.repeat(np.arange(n_learners), n_cols)
    regime = np.tile(score_regimes, n_learners)
    model = learners[row_learner]
    pretrained = ~np.isin(model, mapping["scratch_models"])
    shots = pd.array([known[r].get("shots") for r in regime], dtype="Int64")
    meta_rows = meta.iloc[row_learner].reset_index(drop=True)
    hparams = pd.DataFrame(
        {
            "regime": [known[r]["label"] for r in regime],
            "tfhub_model": meta_rows["model"].replace("", None),
            "hyper_sweep_size": pd.to_numeric(meta_rows["hyper_sweep_size"]).astype("Int64"),
            "preprocessing": meta_rows["preprocessing"],
        }
    )
    n = n_learners * n_cols
    return canonical_frame(
        {
            "model": model,
            "pretrained": pretrained,
            "task": np.tile(score_tasks, n_learners),
            "method": mapping["method"],
            "shots": shots,
            "downstream_metric": mapping["downstream_metric"],
            "downstream_score": _percent(pd.Series(scores.ravel()), path, "accuracy"),
            "architecture": meta_rows["architecture"],
            "pretrain_data": np.where(pretrained, mapping["pretrain_data"], None),
            "hparams": hparams_json(hparams),
        },
        n,
    )


_TIMM_COLUMNS = ["model", "img_size", "top1", "param_count", "crop_pct", "interpolation"]


def _timm_metadata(models: pd.Series, metadata: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Pretraining data of tagged timm names from the metadata's older, untagged names.

    ``model_metadata-in1k.csv`` predates timm's ``architecture.tag`` names. A result's model
    matches a metadata entry by (1) its exact name, else (2) ``architecture_tagprefix`` (old
    names such as ``tf_efficientnet_b7_ns`` for ``tf_efficientnet_b7.ns_jft_in1k``), else (3) its
    architecture, when that architecture has a single tagged model in the results. Returns the
    matches by (1) or (2), and those by (3).
    """
    tags = dict(zip(metadata["model"], metadata["pretrain"], strict=True))
    parts = models.str.split(".", n=1)
    arch = parts.str[0]
    tag = parts.str[1].fillna("")
    alias = arch + "_" + tag.str.split("_").str[0]
    variants = models.groupby(arch).transform("nunique")
    by_name = models.map(tags).fillna(alias.map(tags))
    by_arch = arch.map(tags).where(variants == 1)
    return by_name, by_arch


def _timm_tag_data(models: pd.Series, mapping: Mapping[str, Any]) -> tuple[pd.Series, pd.Series]:
    """Pretraining data named by a timm tag's words (``augreg_in21k_ft_in1k`` -> in21k).

    Returns the label of the first tag word in ``mapping["pretrain_tags"]`` (the larger
    pretraining sets), and separately the label the tag gives when it names no such set: a word
    of ``mapping["in1k_variant_tags"]`` (distillation, adversarial training, ...) gives its
    label, a word of ``mapping["unknown_data_tags"]`` (extra data the tag does not name) gives
    none, and otherwise the model was trained on ImageNet-1k only (``in1k``).
    """
    sets: dict[str, str] = dict(mapping.get("pretrain_tags", {}))
    variants: dict[str, str] = dict(mapping.get("in1k_variant_tags", {}))
    unknown = set(mapping.get("unknown_data_tags", []))
    words = models.str.split(".", n=1).str[1].fillna("").str.split("_")

    def named(ws: list[str]) -> str | None:
        return next((sets[w] for w in ws if w in sets), None)

    def otherwise(ws: list[str]) -> str | None:
        if not ws or ws == [""] or any(w in unknown for w in ws):
            return None
        return next((variants[w] for w in ws if w in variants), "in1k")

    return words.map(named), words.map(otherwise)


def _timm_pretrain_data(
    models: pd.Series, metadata: pd.DataFrame, mapping: Mapping[str, Any]
) -> pd.Series:
    """Pretraining data of every timm model (the rules are documented in the spec)."""
    by_name, by_arch = _timm_metadata(models, metadata)
    named, otherwise = _timm_tag_data(models, mapping)
    published = by_name.fillna(by_arch)
    # a set the tag names wins over a metadata label of another set (e.g. "in1k" for a
    # goog_in21k_ft_in1k model); a finer label of the same set ("in21k-selfsl") is kept
    agrees = pd.Series(
        [
            isinstance(p, str) and isinstance(n, str) and p.startswith(n)
            for p, n in zip(published, named, strict=True)
        ],
        index=models.index,
    )
    out = published.where(named.isna() | agrees, named)
    return out.fillna(otherwise)


def timm(spec: SourceSpec, paths: dict[str, Path]) -> pd.DataFrame:
    """Reshape timm's results into runs: one task per shift set, upstream ImageNet top-1.

    Parameters
    ----------
    spec : SourceSpec
        The ``timm`` spec (``[mapping]``: upstream_task, upstream_metric, method, shots,
        downstream_metric, pretrain_tags, in1k_variant_tags, unknown_data_tags); files with
        role ``upstream``, ``shift`` (each with ``task``) and ``metadata``.
    paths : dict of str to pathlib.Path
        Verified files by name.

    Returns
    -------
    pandas.DataFrame
        One row per (model, image size, shift set) that has an ImageNet result.
    """
    mapping = spec.mapping
    up_path = paths[spec.file("upstream").name]
    upstream = read_csv(up_path, thousands=",")
    require_columns(upstream, _TIMM_COLUMNS, up_path)
    upstream = upstream[["model", "img_size", "top1"]].rename(columns={"top1": "upstream_top1"})
    if upstream.duplicated(["model", "img_size"]).any():
        raise InputError("a (model, img_size) appears twice", file=str(up_path))
    frames = []
    for item in (f for f in spec.files if f.role == "shift"):
        path = paths[item.name]
        table = read_csv(path, thousands=",")
        require_columns(table, _TIMM_COLUMNS, path)
        frames.append(table[_TIMM_COLUMNS].assign(task=item.task))
    runs = pd.concat(frames, ignore_index=True).merge(
        upstream, on=["model", "img_size"], how="inner", validate="many_to_one"
    )
    meta_path = paths[spec.file("metadata").name]
    metadata = read_csv(meta_path)
    require_columns(metadata, ["model", "pretrain"], meta_path)
    models = runs["model"]
    hparams = runs[["img_size", "crop_pct", "interpolation"]]
    return canonical_frame(
        {
            "model": models,
            "pretrained": True,
            "upstream_task": mapping["upstream_task"],
            "upstream_metric": mapping["upstream_metric"],
            "upstream_score": runs["upstream_top1"] / 100.0,
            "task": runs["task"],
            "method": mapping["method"],
            "shots": mapping["shots"],
            "downstream_metric": mapping["downstream_metric"],
            "downstream_score": runs["top1"] / 100.0,
            "architecture": models.str.split(".", n=1).str[0],
            "params": (runs["param_count"] * 1e6).round(),
            "pretrain_data": _timm_pretrain_data(models, metadata, mapping),
            "hparams": hparams_json(hparams),
        },
        len(runs),
    )


_CLIP_COLUMNS = [
    "model", "model_short", "dataset", "fewshot_k", "lr", "epochs", "bs", "seed",
    "lp_acc1", "upstream_dataset", "samples_seen", "gmacs_total",
]  # fmt: skip


def clip(spec: SourceSpec, paths: dict[str, Path]) -> pd.DataFrame:
    """Reshape CLIP_benchmark probe runs into canonical runs, upstream = ImageNet zero-shot top-1.

    Parameters
    ----------
    spec : SourceSpec
        The ``clip-benchmark`` spec (``[mapping]``: method, downstream_metric, full_data_k,
        upstream_task, upstream_metric, zero_shot_dataset, zero_shot_task); files with role
        ``runs``, ``zero_shot`` and ``model_table``.
    paths : dict of str to pathlib.Path
        Verified files by name.

    Returns
    -------
    pandas.DataFrame
        One row per probe run whose checkpoint has an ImageNet zero-shot result.
    """
    mapping = spec.mapping
    runs_path = paths[spec.file("runs").name]
    try:
        runs = pd.DataFrame(json.loads(runs_path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"cannot read as a JSON list of records: {exc}", file=str(runs_path)
        ) from None
    require_columns(runs, _CLIP_COLUMNS, runs_path)
    zs_path = paths[spec.file("zero_shot").name]
    zero_shot = read_csv(zs_path)
    require_columns(zero_shot, ["model_fullname", "dataset", "task", "acc1"], zs_path)
    zero_shot = zero_shot.loc[
        (zero_shot["dataset"] == mapping["zero_shot_dataset"])
        & (zero_shot["task"] == mapping["zero_shot_task"]),
        ["model_fullname", "acc1"],
    ].rename(columns={"model_fullname": "model_short", "acc1": "upstream_acc1"})
    runs = runs.merge(zero_shot, on="model_short", how="inner", validate="many_to_one")
    table_path = paths[spec.file("model_table").name]
    table = read_csv(table_path)
    require_columns(table, ["model", "image_mparams"], table_path)
    image_params = dict(zip(table["model"], table["image_mparams"], strict=True))
    k = runs["fewshot_k"].astype("Int64")
    hparams = runs[["lr", "epochs", "bs", "gmacs_total"]].assign(
        samples_seen=runs["samples_seen"].round().astype("Int64")
    )
    return canonical_frame(
        {
            "model": runs["model_short"],
            "pretrained": True,
            "upstream_task": mapping["upstream_task"],
            "upstream_metric": mapping["upstream_metric"],
            "upstream_score": runs["upstream_acc1"],
            "task": runs["dataset"],
            "method": mapping["method"],
            "shots": k.mask(k == mapping["full_data_k"]),
            "seed": runs["seed"],
            "downstream_metric": mapping["downstream_metric"],
            "downstream_score": runs["lp_acc1"],
            "architecture": runs["model"],
            "params": (runs["model"].map(image_params) * 1e6).round(),
            "pretrain_data": runs["upstream_dataset"],
            "hparams": hparams_json(hparams),
        },
        len(runs),
    )
