"""``run_ladder``: pretrain a ladder of checkpoints, fine-tune each with every method and seed.

The user brings two functions:

- ``pretrain(checkpoint, seed) -> model``: the model pretrained to ``checkpoint`` (whatever the
  user's checkpoints are: step counts, data budgets, file names); it is called with
  ``checkpoint=None`` for the scratch baseline and returns then a model that was not pretrained
  (a fresh initialization), or None to let ``finetune`` build one;
- ``finetune(model, method, seed) -> scores``: adapts the model with the method and returns the
  scores to record: a number (the downstream score), or a mapping with ``downstream_score`` and
  any of ``upstream_score`` (where measured), ``task``, ``shots``, ``downstream_metric``,
  ``downstream_stderr``, ``upstream_task``, ``upstream_metric``, ``architecture``, ``params``,
  ``pretrain_data``, ``pretrain_steps``; any other key is a measurement kept in hparams. A list of
  mappings gives several rows (e.g. several tasks).

Every (checkpoint, method, seed) is a *cell*. Each checkpoint is pretrained once per seed and
handed to every method (a deep copy each, unless ``copy_model=False``). The scratch rows come
from the same ``finetune`` on the model ``pretrain(None, seed)`` returns, for every method (or
those named by ``scratch``), so each method has its own baseline.

Runs are written into the store as canonical rows as their unit (one checkpoint and seed)
finishes, together with the status of its cells in table ``ladder_cells`` (one transaction),
under the source ``name``. A rerun skips the cells stored ``ok`` and reruns failed ones; a cell
whose code raised, or whose scores do not validate, gets status ``failed`` and its error as
``message``, and the ladder goes on. Every setting of a cell (checkpoint, derived seeds, the
seed scheme, the ladder's seed and the user's ``hparams``) is recorded in the rows' hparams and
in the cell's ``settings``; a rerun with other settings under the same name is refused.

Why a table for statuses: a failed cell has no score, so it cannot be a canonical run (table
``runs`` holds only validated scores), and a status kept only in the returned table would be lost
when the process is killed overnight; the store is the one place with state, so the statuses live
there, next to the runs they explain, and a rerun reads them to know what to skip.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from tqdm.std import tqdm

from transferscope.errors import InputError
from transferscope.ladders.cells import (
    CellOutcome,
    Finetune,
    Pretrain,
    Unit,
    init_worker,
    run_unit,
    run_unit_in_worker,
)
from transferscope.ladders.seeds import SeedScheme, check_scheme, finetune_seed, pretrain_seed
from transferscope.records import NOT_RECORDED, Record, json_safe
from transferscope.schema import DEFAULT_METRIC, SourceInfo, canonical_json, validate_runs
from transferscope.schema.validate import ValidatedRuns
from transferscope.store import Store, open_store
from transferscope.store.ladders import delete_ladder, read_cells, record_cells

__all__ = ["CELL_COLUMNS", "LadderResult", "run_ladder"]

#: Columns of :attr:`LadderResult.cells`.
CELL_COLUMNS = (
    "model",
    "pretrained",
    "checkpoint",
    "method",
    "seed",
    "status",
    "ran",
    "message",
    "n_rows",
    "seconds",
)


@dataclass(frozen=True, kw_only=True)
class LadderResult(Record):
    """What :func:`run_ladder` did.

    Attributes
    ----------
    name : str
        The ladder's source name.
    store : str or None
        The store written, or None when the runs were only returned.
    n_cells, n_ok, n_failed, n_skipped : int
        Cells of the ladder; run now and ok; failed (now, or stored and not retried); skipped
        because the store held them ok.
    seconds : float
        Wall time.
    cells : pandas.DataFrame
        One row per cell: ``model`` (str), ``pretrained`` (bool), ``checkpoint`` (str: the
        checkpoint as JSON text; ``null`` for scratch), ``method`` (str), ``seed`` (int, the
        replicate), ``status`` (``ok``, ``failed`` or ``skipped``), ``ran`` (bool: run by this
        call), ``message`` (str or None: the error of a failed cell), ``n_rows`` (int: runs),
        ``seconds`` (float: wall time of the cell, its share of pretraining included; NaN when
        skipped).
    runs : pandas.DataFrame
        The ladder's canonical runs (those of skipped cells included, read back from the store),
        columns of ``schema.INPUT_COLUMNS`` with ``schema.RUN_DTYPES``.
    """

    name: str
    store: str | None
    n_cells: int
    n_ok: int
    n_failed: int
    n_skipped: int
    seconds: float
    cells: pd.DataFrame = field(metadata=NOT_RECORDED)
    runs: pd.DataFrame = field(metadata=NOT_RECORDED)

    html_title: ClassVar[str | None] = "Ladder"

    def describe(self) -> str:
        """One line: the counts.

        Returns
        -------
        str
            E.g. ``ladder 'digits': 105 cells, 100 ok, 5 failed, 0 skipped (held); 500 runs``.
        """
        return (
            f"ladder {self.name!r}: {self.n_cells} cells, {self.n_ok} ok, {self.n_failed} "
            f"failed, {self.n_skipped} skipped (held); {len(self.runs)} runs"
        )

    def summary(self) -> pd.DataFrame:
        """Return the table of cells.

        Returns
        -------
        pandas.DataFrame
            :attr:`cells`.
        """
        return self.cells


def _checkpoint_list(checkpoints: Sequence[Any] | Mapping[str, Any]) -> list[tuple[str, Any]]:
    if isinstance(checkpoints, Mapping):
        pairs = [(str(k), v) for k, v in checkpoints.items()]
    elif isinstance(checkpoints, Sequence) and not isinstance(checkpoints, str | bytes):
        pairs = [(str(c), c) for c in checkpoints]
    else:
        raise InputError("checkpoints must be a sequence, or a mapping of names to checkpoints")
    if not pairs:
        raise InputError("a ladder needs at least one checkpoint")
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names) or any(not n.strip() for n in names):
        raise InputError("checkpoint names must be unique and non-empty")
    if any(c is None for _, c in pairs):
        raise InputError("a checkpoint may not be None (None asks pretrain for the scratch model)")
    return pairs


def _names(values: Sequence[str] | str, what: str) -> list[str]:
    items = [values] if isinstance(values, str) else list(values)
    if not items or any(not isinstance(v, str) or not v.strip() for v in items):
        raise InputError(f"{what} must be one or more non-empty names")
    if len(set(items)) != len(items):
        raise InputError(f"{what} must be unique")
    return items


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, bool):
        raise InputError("seeds must be a count or a list of non-negative integers")
    if isinstance(seeds, int):
        if seeds < 1:
            raise InputError(f"seeds must be >= 1, not {seeds}")
        return list(range(seeds))
    out = [int(s) for s in seeds]
    if not out or any(s < 0 for s in out) or len(set(out)) != len(out):
        raise InputError("seeds must be unique non-negative integers")
    return out


def _units(
    pairs: list[tuple[str, Any]],
    methods: list[str],
    scratch_methods: list[str],
    replicates: list[int],
    *,
    scratch_model: str,
    scheme: SeedScheme,
    seed: int,
    hparams: dict[str, Any],
    defaults: dict[str, Any],
    copy_model: bool,
) -> list[Unit]:
    units = []
    for rep in replicates:
        plan: list[tuple[str, Any, bool, list[str]]] = []
        if scratch_methods:
            plan.append((scratch_model, None, False, scratch_methods))
        plan += [(name, spec, True, methods) for name, spec in pairs]
        for model, spec, pretrained, ms in plan:
            p_seed = pretrain_seed(seed, rep, model, scheme)
            f_seeds = tuple(finetune_seed(seed, rep, model, m, scheme) for m in ms)
            settings = tuple(
                {
                    **hparams,
                    "checkpoint": json_safe(spec),
                    "ladder_seed": seed,
                    "seed_scheme": scheme,
                    "pretrain_seed": p_seed,
                    "finetune_seed": f,
                }
                for f in f_seeds
            )
            units.append(
                Unit(
                    model=model,
                    checkpoint=spec,
                    pretrained=pretrained,
                    replicate=rep,
                    pretrain_seed=p_seed,
                    methods=tuple(ms),
                    finetune_seeds=f_seeds,
                    settings=settings,
                    defaults=defaults,
                    copy_model=copy_model,
                )
            )
    return units


def _settings_text(settings: Mapping[str, Any]) -> str:
    return canonical_json(json_safe(dict(settings)))


def _json(value: Any) -> str:
    return json.dumps(json_safe(value), sort_keys=True, separators=(",", ":"))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class _Writer:
    """Validates finished cells, writes them with their statuses, and keeps the cell table."""

    name: str
    info: SourceInfo
    store: Store | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)

    def write(self, outcomes: list[CellOutcome], checkpoint_of: dict[str, str]) -> None:
        valid: list[ValidatedRuns] = []
        records = []
        for out in outcomes:
            status, message, n_rows = out.status, out.message, len(out.rows)
            if status == "ok":
                label = f"ladder {self.name!r}, {out.model} / {out.method} / seed {out.replicate}"
                try:
                    checked = validate_runs(
                        pd.DataFrame(out.rows), require_upstream=False, file=label
                    )
                except InputError as exc:
                    status, message, n_rows = "failed", f"scores do not validate: {exc}", 0
                else:
                    valid.append(checked)
            records.append(
                {
                    "source": self.name,
                    "model": out.model,
                    "pretrained": out.model in checkpoint_of,
                    "method": out.method,
                    "seed": out.replicate,
                    "status": status,
                    "message": message,
                    "n_rows": n_rows,
                    "seconds": out.seconds,
                    "settings": _settings_text(out.settings),
                    "finished_at": _now(),
                }
            )
            self.cells.append(
                {
                    "model": out.model,
                    "pretrained": out.model in checkpoint_of,
                    "checkpoint": checkpoint_of.get(out.model, "null"),
                    "method": out.method,
                    "seed": out.replicate,
                    "status": status,
                    "ran": True,
                    "message": message,
                    "n_rows": n_rows,
                    "seconds": out.seconds,
                }
            )
        merged = (
            ValidatedRuns(
                frame=pd.concat([v.frame for v in valid], ignore_index=True),
                n_read=sum(v.n_read for v in valid),
                n_collapsed=sum(v.n_collapsed for v in valid),
                file=self.name,
            )
            if valid
            else None
        )
        if merged is not None:
            self.rows.extend(
                {str(k): v for k, v in r.items()} for r in merged.frame.to_dict("records")
            )
        if self.store is not None:
            frame = pd.DataFrame(records)
            frame["seed"] = frame["seed"].astype("int64")
            frame["n_rows"] = frame["n_rows"].astype("int32")
            record_cells(self.store, self.info, frame, merged)


def _held(
    store: Store | None, name: str, units: list[Unit], replace: bool
) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Return the stored cells of this ladder, after the checks (removed first with ``replace``)."""
    if store is None:
        return {}
    if replace:
        delete_ladder(store, name)
        return {}
    stored = read_cells(store, name)
    sources = store.sources()
    if stored.empty and name in set(sources["name"]):
        raise InputError(
            f"source {name!r} is in the store and is not a ladder; choose another name",
            file=store.label,
        )
    held: dict[tuple[str, str, int], dict[str, Any]] = {
        (str(r["model"]), str(r["method"]), int(r["seed"])): {str(k): v for k, v in r.items()}
        for r in stored.to_dict(orient="records")
    }
    for unit in units:
        for method, settings in zip(unit.methods, unit.settings, strict=True):
            cell = held.get((unit.model, method, unit.replicate))
            if cell is None or cell["status"] != "ok":
                continue
            old = json.loads(cell["settings"])
            new = json.loads(_settings_text(settings))
            if old != new:
                keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                raise InputError(
                    f"ladder {name!r} holds cell {unit.model} / {method} / seed "
                    f"{unit.replicate} run with other settings ({', '.join(keys)}); choose "
                    "another name, or pass replace=True to run the ladder anew",
                    file=store.label,
                )
    return held


def _worker_count(n_jobs: int) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise InputError(f"n_jobs must be a positive integer or -1 (every core), got {n_jobs!r}")
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs


@contextlib.contextmanager
def _opened(store: Store | str | Path | None) -> Iterator[Store | None]:
    if store is None or isinstance(store, Store):
        yield store
        return
    with open_store(store) as opened:
        yield opened


def run_ladder(
    pretrain: Pretrain,
    finetune: Finetune,
    *,
    checkpoints: Sequence[Any] | Mapping[str, Any],
    methods: Sequence[str] | str,
    seeds: int | Sequence[int] = 5,
    store: Store | str | Path | None = None,
    name: str = "ladder",
    task: str = "downstream",
    downstream_metric: str = DEFAULT_METRIC,
    upstream_task: str | None = None,
    upstream_metric: str | None = DEFAULT_METRIC,
    shots: int | None = None,
    architecture: str | None = None,
    pretrain_data: str | None = None,
    scratch: bool | Sequence[str] = True,
    scratch_model: str = "scratch",
    hparams: Mapping[str, Any] | None = None,
    copy_model: bool = True,
    replace: bool = False,
    retry_failed: bool = True,
    title: str | None = None,
    seed_scheme: SeedScheme = "paired",
    seed: int = 0,
    n_jobs: int = 1,
    threads_per_job: int | None = 1,
    progress: bool = False,
) -> LadderResult:
    """Run a ladder: pretrain every checkpoint, fine-tune with every method and seed, record.

    Parameters
    ----------
    pretrain : callable
        ``pretrain(checkpoint, seed) -> model``; called with ``checkpoint=None`` for the scratch
        baseline (return a fresh, not pretrained model, or None). See the module docstring.
    finetune : callable
        ``finetune(model, method, seed) -> scores``: a number (the downstream score), a mapping
        (``downstream_score`` and optionally ``upstream_score`` and other canonical columns;
        other keys are kept in hparams), or a list of mappings. It must not rely on modifying
        ``model`` for the next method (each method gets a copy unless ``copy_model=False``).
    checkpoints : sequence or mapping
        What ``pretrain`` receives, in increasing order of pretraining; a mapping names them
        (``{"Ap1": 100, "Ap2": 300}``), a sequence is named by ``str`` of each item. The names
        are the runs' ``model``.
    methods : sequence of str or str
        Fine-tuning methods, passed to ``finetune``.
    seeds : int or sequence of int, default 5
        Replicates: a count (labels 0..n-1) or the labels (column ``seed``).
    store : Store, path or None, default None
        Where the runs and cell statuses are written as they finish (a path is opened and
        closed); None only returns them.
    name : str, default "ladder"
        The ladder's source name in the store.
    task, downstream_metric, upstream_task, upstream_metric, shots, architecture, pretrain_data
        Canonical values of every row unless ``finetune`` returns its own.
    scratch : bool or sequence of str, default True
        Scratch baseline cells for every method (True), none (False), or the methods named.
    scratch_model : str, default "scratch"
        The ``model`` name of scratch rows.
    hparams : mapping, optional
        Settings of the whole ladder (learning rates, budgets, ...), recorded on every row.
    copy_model : bool, default True
        Give each method a deep copy of the pretrained model.
    replace : bool, default False
        Remove the ladder's runs and cells from the store first.
    retry_failed : bool, default True
        Run again the cells stored as failed.
    title : str, optional
        Title of the source (provenance).
    seed_scheme : {"paired", "independent"}, default "paired"
        How seeds are derived (see :mod:`transferscope.ladders.seeds`).
    seed : int, default 0
        Seed every cell's seeds are derived from.
    n_jobs : int, default 1
        Worker processes (spawned; -1: every core). With more than one, the functions are sent
        with cloudpickle, so they may be defined in a notebook.
    threads_per_job : int or None, default 1
        Threads of the numerical libraries (BLAS, OpenMP) in each worker, so that workers do not
        oversubscribe the cores; None leaves them alone. Ignored with ``n_jobs=1``.
    progress : bool, default False
        Show a progress bar of the cells on stderr.

    Returns
    -------
    LadderResult
        The cells with their statuses, and the ladder's runs.

    Raises
    ------
    InputError
        For bad arguments, a source of that name that is not a ladder, or stored cells run with
        other settings (without ``replace``). Failures of the user's code never raise.
    """
    start = time.perf_counter()
    if not callable(pretrain) or not callable(finetune):
        raise InputError("pretrain and finetune must be callables")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(name, str) or not name.strip():
        raise InputError("a ladder needs a non-empty name")
    pairs = _checkpoint_list(checkpoints)
    method_list = _names(methods, "methods")
    if scratch is True:
        scratch_list = list(method_list)
    elif scratch is False:
        scratch_list = []
    else:
        scratch_list = _names(scratch, "scratch methods")
    if scratch_model in {n for n, _ in pairs}:
        raise InputError(f"scratch_model {scratch_model!r} is also a checkpoint's name")
    replicates = _seed_list(seeds)
    scheme = check_scheme(seed_scheme)
    jobs = _worker_count(n_jobs)
    user = json_safe(dict(hparams or {}))
    clash = sorted(
        set(user) & {"checkpoint", "ladder_seed", "seed_scheme", "pretrain_seed", "finetune_seed"}
    )
    if clash:
        raise InputError(f"hparams may not use the names the ladder records: {', '.join(clash)}")
    defaults = {
        "task": task,
        "downstream_metric": downstream_metric,
        "upstream_task": upstream_task,
        "upstream_metric": upstream_metric,
        "shots": shots,
        "architecture": architecture,
        "pretrain_data": pretrain_data,
    }
    units = _units(
        pairs,
        method_list,
        scratch_list,
        replicates,
        scratch_model=scratch_model,
        scheme=scheme,
        seed=seed,
        hparams=user,
        defaults=defaults,
        copy_model=copy_model,
    )
    checkpoint_of = {n: _json(c) for n, c in pairs}
    info = SourceInfo(name=name, title=title or f"ladder {name}")
    with _opened(store) as opened:
        held = _held(opened, name, units, replace)
        writer = _Writer(name, info, opened)
        todo: list[Unit] = []
        for unit in units:
            keep = []
            for i, method in enumerate(unit.methods):
                cell = held.get((unit.model, method, unit.replicate))
                done = cell is not None and (
                    (cell["status"] == "ok" and cell["n_held"] == cell["n_rows"])
                    or (cell["status"] == "failed" and not retry_failed)
                )
                if not done:
                    keep.append(i)
                    continue
                assert cell is not None
                writer.cells.append(
                    {
                        "model": unit.model,
                        "pretrained": unit.pretrained,
                        "checkpoint": checkpoint_of.get(unit.model, "null"),
                        "method": method,
                        "seed": unit.replicate,
                        "status": "skipped" if cell["status"] == "ok" else "failed",
                        "ran": False,
                        "message": cell["message"],
                        "n_rows": int(cell["n_rows"]),
                        "seconds": float("nan"),
                    }
                )
            if keep:
                todo.append(
                    Unit(
                        model=unit.model,
                        checkpoint=unit.checkpoint,
                        pretrained=unit.pretrained,
                        replicate=unit.replicate,
                        pretrain_seed=unit.pretrain_seed,
                        methods=tuple(unit.methods[i] for i in keep),
                        finetune_seeds=tuple(unit.finetune_seeds[i] for i in keep),
                        settings=tuple(unit.settings[i] for i in keep),
                        defaults=unit.defaults,
                        copy_model=unit.copy_model,
                    )
                )
        _execute(pretrain, finetune, todo, writer, checkpoint_of, jobs, threads_per_job, progress)
        runs = (
            opened.runs(source=name).drop(columns=["run_id", "source"])
            if opened is not None
            else _frame_of(writer.rows)
        )
    cells = _cell_frame(writer.cells)
    return LadderResult(
        name=name,
        store=None if opened is None else opened.label,
        n_cells=len(cells),
        n_ok=int(((cells["status"] == "ok") & cells["ran"]).sum()),
        n_failed=int((cells["status"] == "failed").sum()),
        n_skipped=int((cells["status"] == "skipped").sum()),
        seconds=time.perf_counter() - start,
        cells=cells,
        runs=runs,
    )


def _execute(
    pretrain: Pretrain,
    finetune: Finetune,
    todo: list[Unit],
    writer: _Writer,
    checkpoint_of: dict[str, str],
    jobs: int,
    threads: int | None,
    progress: bool,
) -> None:
    total = sum(len(u.methods) for u in todo)
    with tqdm(total=total, disable=not progress, desc=writer.name, unit="cell") as bar:
        if jobs == 1 or len(todo) <= 1:
            for unit in todo:
                writer.write(run_unit(pretrain, finetune, unit), checkpoint_of)
                bar.update(len(unit.methods))
            return
        import cloudpickle

        payload = cloudpickle.dumps((pretrain, finetune))
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=min(jobs, len(todo)),
            mp_context=context,
            initializer=init_worker,
            initargs=(payload, threads),
        )
        try:
            futures: dict[Future[list[CellOutcome]], Unit] = {
                pool.submit(run_unit_in_worker, unit): unit for unit in todo
            }
            for future in as_completed(futures):
                unit = futures[future]
                try:
                    outcomes = future.result()
                except BrokenProcessPool as exc:
                    outcomes = _lost(unit, f"the worker process ended abruptly ({exc})")
                except Exception as exc:  # e.g. an unpicklable model or score
                    outcomes = _lost(unit, f"{type(exc).__name__}: {exc}")
                writer.write(outcomes, checkpoint_of)
                bar.update(len(unit.methods))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _lost(unit: Unit, message: str) -> list[CellOutcome]:
    text = " ".join(message.split())[:500]
    return [
        CellOutcome(unit.model, m, unit.replicate, "failed", text, [], float("nan"), s)
        for m, s in zip(unit.methods, unit.settings, strict=True)
    ]


def _frame_of(rows: list[dict[str, Any]]) -> pd.DataFrame:
    from transferscope.schema import INPUT_COLUMNS, RUN_DTYPES

    frame = pd.DataFrame(rows, columns=list(INPUT_COLUMNS))
    return frame.astype({c: RUN_DTYPES[c] for c in INPUT_COLUMNS})


def _cell_frame(cells: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(cells, columns=list(CELL_COLUMNS))
    frame = frame.astype(
        {
            "model": "str",
            "pretrained": "bool",
            "checkpoint": "str",
            "method": "str",
            "seed": "int64",
            "status": "str",
            "ran": "bool",
            "n_rows": "int64",
            "seconds": "float64",
        }
    )
    return frame.sort_values(["seed", "pretrained", "model", "method"], kind="stable").reset_index(
        drop=True
    )
