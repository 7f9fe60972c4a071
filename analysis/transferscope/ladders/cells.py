"""One unit of a ladder's work: pretrain a checkpoint once, fine-tune it with each method.

Runs in the calling process or in a worker process (spawned: everything here is importable and
picklable, and the user's functions arrive serialized with cloudpickle, so functions defined in a
notebook work too). Exceptions of the user's code are caught per cell and become a ``failed``
outcome with a one-line message; nothing here writes to the store.
"""

from __future__ import annotations

import copy
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Final

from transferscope.records import json_safe

Pretrain = Callable[[Any, int], Any]
Finetune = Callable[[Any, str, int], Any]

#: Columns the harness owns: a score mapping may not set them.
OWNED: Final[frozenset[str]] = frozenset({"model", "pretrained", "method", "seed", "source"})
#: Columns a score mapping may set (canonical run columns); other keys go to hparams.
SETTABLE: Final[frozenset[str]] = frozenset(
    {
        "task",
        "shots",
        "downstream_metric",
        "downstream_score",
        "downstream_stderr",
        "upstream_task",
        "upstream_metric",
        "upstream_score",
        "architecture",
        "params",
        "pretrain_data",
        "pretrain_steps",
    }
)
_MAX_MESSAGE: Final[int] = 500


@dataclass(frozen=True)
class Unit:
    """One checkpoint (or the scratch baseline) of one replicate, with the methods to run.

    Attributes
    ----------
    model : str
        Name of the checkpoint, or of the scratch baseline.
    checkpoint : object
        What ``pretrain`` receives (None for the scratch baseline).
    pretrained : bool
        False for the scratch baseline.
    replicate : int
        The replicate's label (column ``seed``).
    pretrain_seed : int
        Seed passed to ``pretrain``.
    methods : tuple of str
        Methods to run.
    finetune_seeds : tuple of int
        Seed passed to ``finetune`` for each method.
    settings : tuple of dict
        Settings of each method's cell (recorded in hparams and in ``ladder_cells``).
    defaults : dict
        Canonical values of every row (task, metrics, shots, ...), before the scores.
    copy_model : bool
        Give each method a deep copy of the pretrained model.
    """

    model: str
    checkpoint: Any
    pretrained: bool
    replicate: int
    pretrain_seed: int
    methods: tuple[str, ...]
    finetune_seeds: tuple[int, ...]
    settings: tuple[dict[str, Any], ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    copy_model: bool = True


@dataclass(frozen=True)
class CellOutcome:
    """What one cell produced.

    Attributes
    ----------
    model, method : str
        The cell's checkpoint (or scratch) name and method.
    replicate : int
        Its replicate.
    status : str
        ``ok`` or ``failed``.
    message : str or None
        Why it failed.
    rows : list of dict
        Canonical rows (``ok`` only).
    seconds : float
        Wall time of the cell (its share of pretraining included).
    settings : dict
        The cell's settings.
    """

    model: str
    method: str
    replicate: int
    status: str
    message: str | None
    rows: list[dict[str, Any]]
    seconds: float
    settings: dict[str, Any]


def error_message(stage: str, exc: BaseException) -> str:
    """One line naming the stage, the exception and where it was raised.

    Parameters
    ----------
    stage : str
        ``pretrain`` or ``finetune``.
    exc : BaseException
        The exception.

    Returns
    -------
    str
        E.g. ``finetune raised ValueError: bad lr (train.py:12 in step)``, at most 500
        characters.
    """
    text = " ".join(str(exc).split()) or "(no message)"
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" ({last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name})"
    line = f"{stage} raised {type(exc).__name__}: {text}{where}"
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."


def score_rows(scores: Any) -> list[dict[str, Any]]:
    """Turn what ``finetune`` returned into a list of partial rows.

    Parameters
    ----------
    scores : float, mapping, sequence of mappings, or pandas.DataFrame
        A number is the downstream score; a mapping holds canonical columns
        (``downstream_score`` at least) and any other key as a measurement for hparams; several
        mappings (or DataFrame rows) are several rows (e.g. several tasks).

    Returns
    -------
    list of dict
        One dict per row.

    Raises
    ------
    TypeError
        For anything else, or a mapping that sets a column the harness owns.
    """
    if isinstance(scores, Real) and not isinstance(scores, bool):
        return [{"downstream_score": float(scores)}]
    if hasattr(scores, "to_dict") and hasattr(scores, "columns"):
        records: Sequence[Any] = scores.to_dict(orient="records")
    elif isinstance(scores, Mapping):
        records = [scores]
    elif isinstance(scores, Sequence) and not isinstance(scores, str | bytes):
        records = list(scores)
    else:
        raise TypeError(
            f"finetune returned {type(scores).__name__}; expected a number, a mapping of "
            "scores, or a list of mappings"
        )
    if not records:
        raise TypeError("finetune returned no scores")
    out = []
    for rec in records:
        if not isinstance(rec, Mapping):
            raise TypeError(f"finetune returned a list holding {type(rec).__name__}, not mappings")
        owned = sorted(OWNED & set(map(str, rec)))
        if owned:
            raise TypeError(
                f"finetune may not set {', '.join(owned)}: the ladder sets them for each cell"
            )
        if "downstream_score" not in rec:
            raise TypeError("finetune returned a mapping without downstream_score")
        out.append({str(k): v for k, v in rec.items()})
    return out


def cell_rows(unit: Unit, i: int, scores: Any) -> list[dict[str, Any]]:
    """Canonical rows of the ``i``-th method of a unit, from what ``finetune`` returned.

    Parameters
    ----------
    unit : Unit
        The unit.
    i : int
        Index of the method in ``unit.methods``.
    scores : object
        What ``finetune`` returned (see :func:`score_rows`).

    Returns
    -------
    list of dict
        Rows with the canonical columns the harness sets and ``hparams`` (a dict: the cell's
        settings, then every returned key that is not a canonical column).
    """
    rows = []
    for partial in score_rows(scores):
        row: dict[str, Any] = dict(unit.defaults)
        extras: dict[str, Any] = {}
        for key, value in partial.items():
            if key in SETTABLE:
                row[key] = value
            else:
                extras[key] = value
        row.update(
            model=unit.model,
            pretrained=unit.pretrained,
            method=unit.methods[i],
            seed=unit.replicate,
        )
        if not unit.pretrained:
            for key in ("upstream_task", "upstream_metric"):
                if key not in partial:
                    row[key] = None
        hparams = {**unit.settings[i], **extras}
        row["hparams"] = json_safe(hparams)
        rows.append(row)
    return rows


def run_unit(pretrain: Pretrain, finetune: Finetune, unit: Unit) -> list[CellOutcome]:
    """Pretrain once, fine-tune with every method; every failure becomes an outcome.

    Parameters
    ----------
    pretrain : callable
        ``pretrain(checkpoint, seed)`` -> model (``checkpoint`` is None for scratch).
    finetune : callable
        ``finetune(model, method, seed)`` -> scores.
    unit : Unit
        The work.

    Returns
    -------
    list of CellOutcome
        One per method, in order.
    """
    start = time.perf_counter()
    try:
        model = pretrain(unit.checkpoint, unit.pretrain_seed)
    except Exception as exc:  # the user's code: its failure is a status, not a crash
        message = error_message("pretrain", exc)
        share = (time.perf_counter() - start) / len(unit.methods)
        return [
            CellOutcome(unit.model, m, unit.replicate, "failed", message, [], share, s)
            for m, s in zip(unit.methods, unit.settings, strict=True)
        ]
    pre_seconds = (time.perf_counter() - start) / len(unit.methods)
    out = []
    for i, method in enumerate(unit.methods):
        t0 = time.perf_counter()
        try:
            given = copy.deepcopy(model) if unit.copy_model and model is not None else model
            scores = finetune(given, method, unit.finetune_seeds[i])
            rows = cell_rows(unit, i, scores)
        except Exception as exc:
            seconds = pre_seconds + time.perf_counter() - t0
            out.append(
                CellOutcome(
                    unit.model,
                    method,
                    unit.replicate,
                    "failed",
                    error_message("finetune", exc),
                    [],
                    seconds,
                    unit.settings[i],
                )
            )
            continue
        seconds = pre_seconds + time.perf_counter() - t0
        out.append(
            CellOutcome(
                unit.model, method, unit.replicate, "ok", None, rows, seconds, unit.settings[i]
            )
        )
    return out


# -- worker processes ------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def init_worker(payload: bytes, threads: int | None) -> None:
    """Set up a spawned worker: the user's functions, and the BLAS threads it may use.

    Parameters
    ----------
    payload : bytes
        ``cloudpickle.dumps((pretrain, finetune))``.
    threads : int or None
        Threads of the numerical libraries in this worker (None leaves them alone).
    """
    import cloudpickle

    if threads is not None:
        from threadpoolctl import threadpool_limits

        _WORKER["limits"] = threadpool_limits(limits=threads)
    _WORKER["functions"] = cloudpickle.loads(payload)


def run_unit_in_worker(unit: Unit) -> list[CellOutcome]:
    """Run a unit in a worker set up by :func:`init_worker`.

    Parameters
    ----------
    unit : Unit
        The work.

    Returns
    -------
    list of CellOutcome
        As :func:`run_unit`.
    """
    pretrain, finetune = _WORKER["functions"]
    return run_unit(pretrain, finetune, unit)
