"""lm-evaluation-harness results: one JSON file per run of the harness, or a folder of them.

Both layouts the harness has written are read:

- before 0.4 (the Pythia evaluations): ``results`` holds ``{"acc": 0.61, "acc_stderr": 0.01}``
  per task, ``versions`` the task versions, ``config`` the model, ``model_args`` and
  ``num_fewshot``;
- 0.4 and later: metric keys carry a filter, ``"acc,none"`` and ``"acc_stderr,none"``; the shots
  are in ``n-shot`` (or the task's ``configs``), the directions in ``higher_is_better``, and a
  folder holds ``results_<date>.json`` files beside ``samples_*.jsonl``.

Mapping (one canonical run per model, task and metric):

- ``model`` <- ``pretrained=`` of ``config.model_args`` (a string ``k=v,k=v`` or a mapping;
  else ``model_name``, else ``config.model``), with ``@<revision>`` when ``revision=`` is
  given (a checkpoint: ``EleutherAI/pythia-160m@step13000``); ``pretrain_steps`` <- a revision
  ``step<N>``; the other model arguments (``dtype``, ...) and a ``limit`` go into ``hparams``;
- ``task`` <- the results key; ``hparams.task_version`` <- ``versions``;
- ``shots`` <- ``n-shot``, the task's ``configs.num_fewshot``, ``config.num_fewshot``, or the
  common number of shots of a group's subtasks; ``method`` <- ``zero_shot`` for 0 shots,
  ``few_shot`` otherwise (shots tell 5-shot from 25-shot);
- ``downstream_metric`` <- the metric, with its filter when it is not ``none``
  (``exact_match,strict-match`` -> ``exact_match_strict_match``); ``downstream_score`` <- its
  value; ``downstream_stderr`` <- ``<metric>_stderr`` (``"N/A"`` is missing);
- ``upstream_*`` <- the model's score on ``--upstream TASK:METRIC[:SHOTS]`` from the same input
  (zero-shot when the model has it at several numbers of shots and none is named).

Keys that are not metrics (``alias``, ``name``, ``samples``, ``sample_len``, ``sample_count``
and the empty group placeholder) are skipped. A metric whose ``higher_is_better`` contradicts
the direction transferscope reads from its name is refused, since every analysis orients scores
by that name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

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
from transferscope.schema import SourceInfo, metric_direction, snake_case

FORMAT = "lm-eval"
_NOT_METRICS = frozenset({"alias", "name", "samples", "sample_len", "sample_count", " ", ""})
_STEP = re.compile(r"^step(\d+)$")


def parse_model_args(value: Any, file: Path) -> dict[str, Any]:
    """Parse ``config.model_args``: ``"pretrained=x,revision=y"`` or a mapping.

    Parameters
    ----------
    value : str, mapping or None
        As the harness wrote it.
    file : pathlib.Path
        File, for errors.

    Returns
    -------
    dict
        Argument name -> value (text values stripped).
    """
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if not isinstance(value, str):
        raise InputError("config.model_args: expected text like pretrained=NAME", file=str(file))
    out: dict[str, Any] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        key, sep, arg = part.partition("=")
        if not sep or not key.strip():
            raise InputError(
                f"config.model_args: {part.strip()!r} is not NAME=VALUE", file=str(file)
            )
        out[key.strip()] = arg.strip()
    return out


def _model(doc: Mapping[str, Any], config: Mapping[str, Any], file: Path) -> tuple[str, dict]:
    args = parse_model_args(config.get("model_args"), file)
    name = args.pop("pretrained", None) or args.pop("model", None)
    name = name or doc.get("model_name") or config.get("model")
    if not isinstance(name, str) or not name.strip():
        raise InputError(
            "config.model_args: no pretrained=NAME and no model_name; cannot tell the model",
            file=str(file),
        )
    extra: dict[str, Any] = {}
    revision = args.pop("revision", None)
    model = name.strip()
    if revision not in (None, ""):
        model = f"{model}@{revision}"
        step = _STEP.match(str(revision))
        if step is not None:
            extra["pretrain_steps"] = int(step.group(1))
    hparams = {k: v for k, v in args.items() if v not in (None, "")}
    if config.get("limit") is not None:
        hparams["limit"] = config["limit"]
    extra["hparams"] = hparams
    return model, extra


def _shots(task: str, doc: Mapping[str, Any], config: Mapping[str, Any], file: Path) -> int | None:
    candidates: list[Any] = [
        _get(doc.get("n-shot"), task),
        _get(_get(doc.get("configs"), task), "num_fewshot"),
        config.get("num_fewshot"),
    ]
    for value in candidates:
        if value is None or value == "":
            continue
        bad = f"n-shot.{task}: expected a whole number, got {value!r}"
        try:
            shots = int(value)
        except (TypeError, ValueError):
            raise InputError(bad, file=str(file)) from None
        if shots < 0 or shots != float(value):
            raise InputError(bad, file=str(file))
        return shots
    subtasks = _get(doc.get("group_subtasks"), task)
    if isinstance(subtasks, list) and subtasks:
        found = {_shots(t, doc, config, file) for t in subtasks}
        if len(found) == 1:
            return found.pop()
    return None


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def _metric_key(key: str) -> tuple[str, str]:
    name, _, filt = key.partition(",")
    return name.strip(), filt.strip()


def _read_file(file: Path) -> tuple[list[dict[str, Any]], str | None]:
    doc = load_json(file)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("results"), Mapping):
        raise InputError(
            "not an lm-evaluation-harness results file: no 'results' object", file=str(file)
        )
    config = doc.get("config") or {}
    if not isinstance(config, Mapping):
        raise InputError("config: expected an object", file=str(file))
    model, extra = _model(doc, config, file)
    versions = doc.get("versions")
    directions = doc.get("higher_is_better")
    rows: list[dict[str, Any]] = []
    for task, metrics in doc["results"].items():
        if not isinstance(metrics, Mapping):
            raise InputError(f"results.{task}: expected an object of metrics", file=str(file))
        keys = [k for k in metrics if k not in _NOT_METRICS and "_stderr" not in k]
        if not keys:
            continue
        shots = _shots(task, doc, config, file)
        if shots is None:
            raise InputError(
                f"n-shot.{task}: no number of shots for this task (n-shot, configs, "
                "config.num_fewshot)",
                file=str(file),
            )
        for key in keys:
            name, filt = _metric_key(key)
            where = f"results.{task}.{key}"
            value = number(metrics[key], file, where)
            stderr_key = f"{name}_stderr,{filt}" if filt else f"{name}_stderr"
            stderr = number(metrics.get(stderr_key), file, f"results.{task}.{stderr_key}",
                            missing=("N/A", ""))  # fmt: skip
            metric = name if filt in ("", "none") else f"{name}_{filt}"
            stated = _get(_get(directions, task), name)
            ours = metric_direction(snake_case(metric))
            if isinstance(stated, bool) and stated != (ours == "higher"):
                raise InputError(
                    f"higher_is_better.{task}.{name}: the harness says "
                    f"{'higher' if stated else 'lower'} is better, but transferscope reads "
                    f"{snake_case(metric)!r} as {ours}-is-better; declare a [metric] alias with a "
                    "name that says the direction (e.g. a _loss or _error suffix)",
                    file=str(file),
                )
            hparams = dict(extra["hparams"])
            version = _get(versions, task)
            if version is not None:
                hparams["task_version"] = str(version)
            rows.append(
                {
                    "model": model,
                    "task": task,
                    "method": "zero_shot" if shots == 0 else "few_shot",
                    "shots": shots,
                    "downstream_metric": metric,
                    "downstream_score": value,
                    "downstream_stderr": stderr,
                    "pretrain_steps": extra.get("pretrain_steps"),
                    "hparams": hparams or None,
                    "_where": (str(file), where),
                }
            )
    commit = doc.get("git_hash")
    return rows, commit if isinstance(commit, str) and commit.strip() else None


def read_lm_eval(path: str | Path, *, upstream: str | None, name: str | None = None) -> FormatRead:
    """Read lm-evaluation-harness results (a file, or a folder searched for ``*.json``).

    Parameters
    ----------
    path : str or pathlib.Path
        A results file, or a folder of them (every ``*.json`` below it; ``samples_*.jsonl``
        files are not read).
    upstream : str
        ``TASK:METRIC`` or ``TASK:METRIC:SHOTS``: each model's score that becomes its
        upstream score (e.g. ``lambada_openai:acc``).
    name : str, optional
        Source name (default: the file's stem or the folder's name).

    Returns
    -------
    FormatRead
        Rows in canonical columns (model, task, method, shots, downstream_metric,
        downstream_score, downstream_stderr, pretrain_steps, upstream_task, upstream_metric,
        upstream_score, hparams), each with its file and key; provenance with the files'
        checksum and the harness's git commit when the files record one.

    Raises
    ------
    InputError
        For a file that is not JSON or not a results file, a value that is not a number, a
        task without a number of shots, a contradicted metric direction, or a model without
        the upstream score; the message names the file and key.
    """
    root = Path(path)
    choice = Upstream.parse(upstream, fmt=FORMAT)
    files = json_files(root)
    rows: list[dict[str, Any]] = []
    first_file: dict[str, str] = {}
    commits: set[str] = set()
    for file in files:
        found, commit = _read_file(file)
        for row in found:
            first_file.setdefault(row["model"], str(file))
        rows.extend(found)
        if commit is not None:
            commits.add(commit)
    if not rows:
        raise InputError("no metric values in the results", file=str(root))
    frame = pd.DataFrame(rows)
    frame = choice.attach(frame, first_file)
    locations: tuple[Where, ...] = tuple(frame.pop("_where"))
    harness = f"; harness commit {commits.pop()}" if len(commits) == 1 else ""
    info = SourceInfo(
        name=source_name(root, name),
        title=f"lm-evaluation-harness results: {root.name} ({len(files)} file"
        f"{'s' if len(files) != 1 else ''}{harness})",
        url=root.resolve().as_uri(),
        sha256=digest(files, root),
    )
    return FormatRead(frame=frame, info=info, locations=locations)
