"""Every Eval Ever records: import, and export of the store's runs.

Every Eval Ever (evaleval/every_eval_ever) stores one JSON record per evaluated model, with a list
of ``evaluation_results``. This module follows schema version 0.2.2
(``every_eval_ever/schemas/eval.schema.json`` at commit a5616dbe193b75052c0ea97a5889868201bc5d61
of that repository; 0.2.0 and 0.2.1 records read the same).

Import mapping, per element of ``evaluation_results``:

- ``model`` <- ``model_info.id``; ``task`` <- ``evaluation_name``;
- ``downstream_metric`` <- ``metric_config.metric_id``, else ``metric_name``, else
  ``evaluation_description`` (none: the default metric); ``metric_config.lower_is_better`` must
  agree with the direction transferscope reads from that name;
- ``downstream_score`` <- ``score_details.score``; ``downstream_stderr`` <-
  ``score_details.uncertainty.standard_error.value``;
- ``generation_config.additional_details`` (text values) may carry ``method``, ``num_fewshot``
  (the key the Every Eval Ever lm-eval converter writes) and the other canonical columns
  (``seed``, ``pretrained``, ``upstream_task``, ``upstream_metric``, ``upstream_score``,
  ``architecture``, ``params``, ``pretrain_data``, ``pretrain_steps``, ``hparams`` as JSON);
  a record without ``method`` gets ``--method``, else ``zero_shot``/``few_shot`` from
  ``num_fewshot``;
- a record without an upstream score gets the model's ``--upstream TASK:METRIC`` score.

Export (:func:`write_every_eval_ever`) writes one record per source and model, with every
canonical column kept in ``generation_config.additional_details``, so that a store's runs come
back unchanged when the records are imported again.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from transferscope._version import __version__
from transferscope.errors import InputError
from transferscope.ingest.formats._common import (
    FormatRead,
    Upstream,
    Where,
    digest,
    json_files,
    load_json,
    number,
    source_name,
)
from transferscope.records import is_missing
from transferscope.schema import (
    ACCURACY_METRICS,
    RUN_COLUMNS,
    SourceInfo,
    metric_direction,
    snake_case,
)
from transferscope.store import Store

FORMAT = "every-eval-ever"
#: The schema version written, and the newest one read.
SCHEMA_VERSION = "0.2.2"
_UUID_NAMESPACE = uuid.UUID("5d6f1bde-8f0e-4a4e-9c44-3b0f0c2d6a11")
#: Canonical columns carried in ``generation_config.additional_details``.
_DETAILS = (
    "method", "shots", "seed", "pretrained", "upstream_task", "upstream_metric",
    "upstream_score", "architecture", "params", "pretrain_data", "pretrain_steps", "hparams",
)  # fmt: skip


def _get(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: Any, file: Path, where: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: expected non-empty text, got {json.dumps(value)[:40]}",
                         file=str(file))  # fmt: skip
    return value.strip()


def _read_record(file: Path, method: str | None) -> list[dict[str, Any]]:
    doc = load_json(file)
    if not isinstance(doc, Mapping) or "evaluation_results" not in doc:
        raise InputError("not an Every Eval Ever record: no 'evaluation_results'", file=str(file))
    _text(doc.get("schema_version"), file, "schema_version", required=True)
    model = _text(_get(doc, "model_info", "id"), file, "model_info.id", required=True)
    results = doc["evaluation_results"]
    if not isinstance(results, list) or not results:
        raise InputError("evaluation_results: expected a non-empty list", file=str(file))
    rows = []
    for i, result in enumerate(results):
        at = f"evaluation_results[{i}]"
        if not isinstance(result, Mapping):
            raise InputError(f"{at}: expected an object", file=str(file))
        task = _text(result.get("evaluation_name"), file, f"{at}.evaluation_name", required=True)
        config = result.get("metric_config")
        if not isinstance(config, Mapping):
            raise InputError(f"{at}.metric_config: expected an object", file=str(file))
        metric = None
        for key in ("metric_id", "metric_name", "evaluation_description"):
            metric = _text(config.get(key), file, f"{at}.metric_config.{key}")
            if metric is not None:
                break
        lower = config.get("lower_is_better")
        if not isinstance(lower, bool):
            raise InputError(f"{at}.metric_config.lower_is_better: expected true or false",
                             file=str(file))  # fmt: skip
        ours = metric_direction(snake_case(metric) if metric else None)
        if lower != (ours == "lower"):
            raise InputError(
                f"{at}.metric_config.lower_is_better: the record says "
                f"{'lower' if lower else 'higher'} is better, but transferscope reads "
                f"{metric!r} as {ours}-is-better; declare a [metric] alias with a name that "
                "says the direction",
                file=str(file),
            )
        score = number(_get(result, "score_details", "score"), file, f"{at}.score_details.score")
        if score is None:
            raise InputError(f"{at}.score_details.score: missing", file=str(file))
        stderr_at = f"{at}.score_details.uncertainty.standard_error.value"
        stderr = number(_get(result, "score_details", "uncertainty", "standard_error", "value"),
                        file, stderr_at)  # fmt: skip
        details = _get(result, "generation_config", "additional_details") or {}
        if not isinstance(details, Mapping):
            raise InputError(f"{at}.generation_config.additional_details: expected an object",
                             file=str(file))  # fmt: skip
        row: dict[str, Any] = {
            "model": model,
            "task": task,
            "downstream_metric": metric,
            "downstream_score": score,
            "downstream_stderr": stderr,
        }
        for column in _DETAILS:
            if column in details and details[column] not in (None, ""):
                row[column] = details[column]
        if "shots" not in row and details.get("num_fewshot") not in (None, ""):
            row["shots"] = details["num_fewshot"]
        if "method" not in row:
            shots = _whole(row.get("shots"), file, f"{at}.generation_config.additional_details")
            if method is not None:
                row["method"] = method
            elif shots is not None:
                row["method"] = "zero_shot" if shots == 0 else "few_shot"
            else:
                raise InputError(
                    f"{at}: no method (generation_config.additional_details.method or "
                    "num_fewshot); pass --method NAME",
                    file=str(file),
                )
        row["_where"] = (str(file), at)
        rows.append(row)
    return rows


def _whole(value: Any, file: Path, where: str) -> int | None:
    if value is None:
        return None
    try:
        number_ = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}.num_fewshot: expected a whole number, got {value!r}",
                         file=str(file)) from None  # fmt: skip
    if not math.isfinite(number_) or number_ != int(number_) or number_ < 0:
        raise InputError(f"{where}.num_fewshot: expected a whole number, got {value!r}",
                         file=str(file))  # fmt: skip
    return int(number_)


def read_every_eval_ever(
    path: str | Path,
    *,
    upstream: str | None = None,
    method: str | None = None,
    name: str | None = None,
) -> FormatRead:
    """Read Every Eval Ever records (a file, or a folder searched for ``*.json``).

    Parameters
    ----------
    path : str or pathlib.Path
        A record, or a folder of them (``data/{benchmark}/{developer}/{model}/{uuid}.json``).
    upstream : str, optional
        ``TASK:METRIC[:SHOTS]`` whose score becomes the upstream score of records that carry
        none.
    method : str, optional
        Adaptation method of records that do not say.
    name : str, optional
        Source name (default: the file's stem or the folder's name).

    Returns
    -------
    FormatRead
        Rows in canonical columns with their file and ``evaluation_results[i]``.

    Raises
    ------
    InputError
        For a file that is not a record, a missing required field, a score that is not a
        number, a contradicted metric direction, or a record without a method or an upstream
        score; the message names the file and the key.
    """
    root = Path(path)
    files = json_files(root)
    rows: list[dict[str, Any]] = []
    first_file: dict[str, str] = {}
    for file in files:
        found = _read_record(file, method)
        for row in found:
            first_file.setdefault(row["model"], str(file))
        rows.extend(found)
    frame = pd.DataFrame(rows)
    for column in ("upstream_score", "upstream_task", "upstream_metric", "pretrained"):
        if column not in frame:
            frame[column] = None
    scratch = frame["pretrained"].astype("string").str.lower().isin(["false", "0", "no"])
    lacking = frame["upstream_score"].isna() & ~scratch.fillna(False).to_numpy(dtype=bool)
    if lacking.any():
        choice = Upstream.parse(upstream, fmt=FORMAT)
        probe = frame.assign(
            shots=pd.to_numeric(frame["shots"], errors="coerce") if "shots" in frame else None,
            downstream_metric=frame["downstream_metric"].fillna("accuracy"),
        )
        attached = choice.attach(probe.loc[~scratch.to_numpy(dtype=bool)], first_file)
        for column in ("upstream_task", "upstream_metric", "upstream_score"):
            frame.loc[lacking, column] = attached.loc[lacking[lacking].index, column]
    locations: tuple[Where, ...] = tuple(frame.pop("_where"))
    info = SourceInfo(
        name=source_name(root, name),
        title=f"Every Eval Ever records: {root.name} ({len(files)} file"
        f"{'s' if len(files) != 1 else ''})",
        url=root.resolve().as_uri(),
        sha256=digest(files, root),
    )
    return FormatRead(frame=frame, info=info, locations=locations)


# ------------------------------------------------------------------------------- export


def _detail(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and is_missing(value)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name) or "_"


def records_for(runs: pd.DataFrame, sources: pd.DataFrame) -> list[tuple[Path, dict[str, Any]]]:
    """Build one Every Eval Ever record per (source, model) of canonical runs.

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs as :meth:`transferscope.store.Store.runs` returns them.
    sources : pandas.DataFrame
        :meth:`transferscope.store.Store.sources`.

    Returns
    -------
    list of (pathlib.Path, dict)
        Relative path ``{source}/{developer}/{model}/{uuid}.json`` (the datastore's layout; the
        UUID is derived from source and model, so a second export overwrites the first) and the
        record.
    """
    info = {str(r["name"]): r for r in sources.to_dict("records")}
    out = []
    for (source, model), group in runs.groupby(["source", "model"], sort=True):
        meta = info[str(source)]
        developer, _, short = str(model).rpartition("/")
        stamp = str(pd.Timestamp(meta["ingested_at"]).timestamp())
        published = not is_missing(meta["commit"]) or not is_missing(meta["citation"])
        extra = {k: _detail(meta[k]) for k in ("url", "sha256", "license", "citation", "commit")}
        source_details = {"transferscope_source": str(source), **extra}
        results = []
        for run in group.to_dict("records"):
            metric = str(run["downstream_metric"])
            config: dict[str, Any] = {
                "evaluation_description": metric,
                "metric_id": metric,
                "metric_name": metric,
                "lower_is_better": metric_direction(metric) == "lower",
            }
            if metric in ACCURACY_METRICS:
                config.update(score_type="continuous", min_score=0.0, max_score=1.0)
            score: dict[str, Any] = {"score": float(run["downstream_score"])}
            if not is_missing(run["downstream_stderr"]):
                error = float(run["downstream_stderr"])
                score["uncertainty"] = {"standard_error": {"value": error}}
            details = {c: _detail(run[c]) for c in _DETAILS if c in RUN_COLUMNS}
            if details.get("shots") is not None:
                details["num_fewshot"] = details["shots"]
            results.append(
                {
                    "evaluation_result_id": str(run["run_id"]),
                    "evaluation_name": str(run["task"]),
                    "source_data": {"dataset_name": str(run["task"]), "source_type": "other"},
                    "metric_config": config,
                    "score_details": score,
                    "generation_config": {
                        "additional_details": {k: v for k, v in details.items() if v is not None}
                    },
                }
            )
        model_info: dict[str, Any] = {"name": str(model), "id": str(model)}
        if developer:
            model_info["developer"] = developer
        record = {
            "schema_version": SCHEMA_VERSION,
            "evaluation_id": f"{source}/{model}/{stamp}",
            "retrieved_timestamp": stamp,
            "source_metadata": {
                "source_name": str(meta["title"]) if not is_missing(meta["title"]) else source,
                "source_type": "documentation" if published else "evaluation_run",
                "source_organization_name": "unknown",
                "evaluator_relationship": "other",
                "additional_details": {k: v for k, v in source_details.items() if v is not None},
            },
            "eval_library": {
                "name": "unknown",
                "version": "unknown",
                "additional_details": {"exported_by": f"transferscope {__version__}"},
            },
            "model_info": model_info,
            "evaluation_results": results,
        }
        key = uuid.uuid5(_UUID_NAMESPACE, f"{source}\x00{model}")
        path = Path(_safe(str(source))) / _safe(developer or "unknown") / _safe(short)
        out.append((path / f"{key}.json", record))
    return out


def write_every_eval_ever(
    store: Store, out: str | Path, *, filters: Mapping[str, Any] | None = None
) -> list[Path]:
    """Write the store's runs as Every Eval Ever records (schema 0.2.2).

    Parameters
    ----------
    store : transferscope.store.Store
        An open store.
    out : str or pathlib.Path
        Folder to write into (created).
    filters : mapping, optional
        Passed to :meth:`~transferscope.store.Store.runs` (e.g. ``{"source": "pythia"}``).

    Returns
    -------
    list of pathlib.Path
        The files written, one per source and model.

    Raises
    ------
    InputError
        When no run matches or the folder cannot be written.
    """
    runs = store.runs(**dict(filters or {}))
    if runs.empty:
        raise InputError("no runs to export; ingest runs first or loosen the filters")
    target = Path(out)
    written: list[Path] = []
    for relative, record in records_for(runs, store.sources()):
        path = target / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
        written.append(path)
    return written
