"""The mapping of tracked runs (MLflow, Weights & Biases) to canonical runs: a small TOML file.

A tracked run has fields, not canonical columns: MLflow's ``params.<name>``, ``metrics.<name>``,
``tags.<name>`` (and ``run_id``, ``run_name``, ``status``, ``experiment_id``), or the columns of a
W&B runs export (``Name``, ``State``, config and summary columns). The user says which field
holds which canonical column::

    # top-level keys first (TOML puts later keys into the table above them)
    hparams = ["params.lr", "params.epochs"]   # fields kept in hparams; globs allowed
    finished_only = true                        # only finished runs (the default)
    experiments = ["probe-sweep"]               # MLflow: experiment names (default: all)
    filter = "params.stage = 'finetune'"        # MLflow: a search_runs filter string

    [columns]                                   # canonical column = the run's field
    model = "params.model"
    task = "params.dataset"
    method = "tags.method"
    downstream_score = "metrics.test_acc"
    upstream_score = "metrics.upstream_top1"
    seed = "params.seed"

    [values]                                    # canonical column = the same value for every run
    downstream_metric = "accuracy"
    upstream_task = "imagenet-1k"
    upstream_metric = "top1"

``model``, ``task``, ``method`` and ``downstream_score`` must be given (a field or a value);
everything then goes through the same validation as any table.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from transferscope.errors import InputError
from transferscope.schema import INPUT_COLUMNS, REQUIRED_COLUMNS

_KEYS = frozenset({"columns", "values", "hparams", "finished_only", "experiments", "filter"})


@dataclass(frozen=True)
class RunSpec:
    """A parsed mapping of tracked runs to canonical columns (see the module docstring)."""

    file: str
    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    hparams: tuple[str, ...] = ()
    finished_only: bool = True
    experiments: tuple[str, ...] = ()
    filter: str = ""

    @classmethod
    def read(cls, path: str | Path) -> RunSpec:
        """Read and check a spec file.

        Parameters
        ----------
        path : str or pathlib.Path
            The TOML file.

        Returns
        -------
        RunSpec
            The mapping.

        Raises
        ------
        InputError
            For a missing or invalid file, an unknown key or canonical column, a column given
            twice, or a required column given neither as a field nor as a value.
        """
        file = str(path)
        try:
            with Path(path).open("rb") as handle:
                raw = tomllib.load(handle)
        except FileNotFoundError:
            raise InputError("no such spec file", file=file) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the spec ({exc})", file=file) from None
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"invalid TOML: {exc}", file=file) from None
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise InputError(
                f"unknown key {unknown[0]!r}; expected {', '.join(sorted(_KEYS))}", file=file
            )
        columns = raw.get("columns", {})
        values = raw.get("values", {})
        for label, table in (("columns", columns), ("values", values)):
            if not isinstance(table, Mapping):
                raise InputError(f"[{label}] must be a table", file=file)
            for name in table:
                if name not in INPUT_COLUMNS:
                    raise InputError(
                        f"[{label}] {name!r} is not a canonical column; expected one of "
                        f"{', '.join(INPUT_COLUMNS)}",
                        file=file,
                    )
        for name, source in columns.items():
            if not isinstance(source, str) or not source.strip():
                raise InputError(f"[columns] {name}: expected the name of a field", file=file)
        both = sorted(set(columns) & set(values))
        if both:
            raise InputError(f"{both[0]!r} is in [columns] and in [values]; keep one", file=file)
        missing = [c for c in REQUIRED_COLUMNS if c not in columns and c not in values]
        if missing:
            raise InputError(
                f'no {missing[0]!r}: give [columns] {missing[0]} = "FIELD" or [values] '
                f"{missing[0]} = VALUE",
                file=file,
            )
        hparams = _strings(raw.get("hparams", []), "hparams", file)
        experiments = _strings(raw.get("experiments", []), "experiments", file)
        finished_only = raw.get("finished_only", True)
        if not isinstance(finished_only, bool):
            raise InputError("finished_only: expected true or false", file=file)
        filter_ = raw.get("filter", "")
        if not isinstance(filter_, str):
            raise InputError("filter: expected text", file=file)
        return cls(
            file=file,
            columns={k: v.strip() for k, v in columns.items()},
            values=dict(values),
            hparams=hparams,
            finished_only=finished_only,
            experiments=experiments,
            filter=filter_,
        )

    def apply(self, runs: pd.DataFrame, *, prefix: str = "") -> pd.DataFrame:
        """Turn tracked runs into rows with canonical columns (not yet validated).

        Parameters
        ----------
        runs : pandas.DataFrame
            One run per row, a column per field.
        prefix : str
            Prefix stripped from hparams' names (``"params."`` for MLflow).

        Returns
        -------
        pandas.DataFrame
            The canonical columns the spec gives, then one column per hparams field (unknown
            columns, which validation puts into ``hparams``), in the order of ``runs``.
        """
        fields = list(runs.columns)
        for name, source in self.columns.items():
            if source not in runs.columns:
                shown = ", ".join(fields[:12]) + (" ..." if len(fields) > 12 else "")
                raise InputError(
                    f"[columns] {name} = {source!r}: the runs have no such field; they have "
                    f"{shown}",
                    file=self.file,
                )
        out = pd.DataFrame(index=runs.index)
        for name, source in self.columns.items():
            out[name] = runs[source]
        for name, value in self.values.items():
            out[name] = value
        taken = set(self.columns.values())
        for source in fields:
            if source in taken or not any(fnmatch.fnmatchcase(source, p) for p in self.hparams):
                continue
            short = source.removeprefix(prefix) if prefix else source
            label = short if short not in INPUT_COLUMNS and short not in out else source
            out[label] = runs[source].map(_json_value)
        return out


def _strings(value: Any, key: str, file: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{key}: expected a list of text", file=file)
    return tuple(value)


def _json_value(value: Any) -> Any:
    """Read a text field holding a number or true/false as that value (MLflow params are text)."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, int | float | bool) else value
    return value
