"""Ladders of the user's own models: pretrain checkpoints, fine-tune with every method and seed.

:func:`run_ladder` runs the forum's ideal analysis on any code: ``pretrain(checkpoint, seed)``
and ``finetune(model, method, seed)`` are the user's; the harness derives the seeds
(:mod:`.seeds`), runs the cells (:mod:`.cells`, in worker processes when asked) and writes
canonical runs and the status of every cell into the store as they finish (:mod:`.harness`).
The dependence and frontier analyses read the runs like any other source.

The names are imported on first use, so that a worker process, which needs only :mod:`.cells`,
does not import pandas and DuckDB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CELL_COLUMNS": "transferscope.ladders.harness",
    "LadderResult": "transferscope.ladders.harness",
    "run_ladder": "transferscope.ladders.harness",
    "SEED_SCHEMES": "transferscope.ladders.seeds",
    "derive_seed": "transferscope.ladders.seeds",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'transferscope.ladders' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from transferscope.ladders.harness import CELL_COLUMNS, LadderResult, run_ladder
    from transferscope.ladders.seeds import SEED_SCHEMES, derive_seed
