"""transferscope: meta-analysis of pretraining versus downstream results.

Load published result tables and your own runs into DuckDB, fit saturating frontiers of
downstream versus upstream accuracy, extrapolate their plateaus with honest uncertainty, and
rank adaptation methods by how much they depend on pretraining.

The names below are imported on first use, so ``import transferscope`` stays cheap and the
command line starts quickly.

==========================  =====================================================
store                       ``open_store``, ``Store``
ingest                      ``ingest_file``, ``validate_runs``, ``read_table``
published sources           ``load_source``, ``known_sources``
frontiers and plateaus      ``fit_frontiers``, ``fit_group``, ``fit_store``,
                            ``frontier_curves``
dependence and ranking      ``measure_dependence``, ``task_values``, ``pooled_dependence``,
                            ``rank_methods``, ``pairwise_comparisons``,
                            ``friedman_nemenyi``, ``suite_agreement``, ``method_slopes``
meta-analysis               ``pool_effects``, ``meta_regression``, ``leave_one_out``,
                            ``egger_test``
theory (diagonal networks)  ``simulate_ladder``, ``theory_curves``, ``theory_ladder``
your own ladders            ``run_ladder``
interactions (knowledge)    ``interactions``, ``compare_knowledge``, ``knowledge_records``
reports                     ``build_report``, ``run_demo``
==========================  =====================================================
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from transferscope._version import __version__

_EXPORTS: dict[str, str] = {
    "open_store": "transferscope.store",
    "Store": "transferscope.store",
    "ingest_file": "transferscope.ingest",
    "validate_runs": "transferscope.schema",
    "read_table": "transferscope.ingest",
    "load_source": "transferscope.ingest",
    "known_sources": "transferscope.ingest",
    "fit_frontiers": "transferscope.frontier",
    "fit_group": "transferscope.frontier",
    "frontier_curves": "transferscope.frontier",
    "fit_store": "transferscope.frontier",
    "measure_dependence": "transferscope.dependence",
    "task_values": "transferscope.dependence",
    "rank_methods": "transferscope.dependence",
    "pooled_dependence": "transferscope.dependence",
    "pairwise_comparisons": "transferscope.dependence",
    "friedman_nemenyi": "transferscope.dependence",
    "method_slopes": "transferscope.dependence",
    "suite_agreement": "transferscope.dependence",
    "pool_effects": "transferscope.stats",
    "meta_regression": "transferscope.stats",
    "leave_one_out": "transferscope.stats",
    "egger_test": "transferscope.stats",
    "simulate_ladder": "transferscope.dln",
    "theory_curves": "transferscope.dln",
    "theory_ladder": "transferscope.dln",
    "run_ladder": "transferscope.ladders",
    "interactions": "transferscope.knowledge",
    "compare_knowledge": "transferscope.knowledge",
    "knowledge_records": "transferscope.knowledge",
    "build_report": "transferscope.report",
    "run_demo": "transferscope.report",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'transferscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from transferscope.dependence import (
        friedman_nemenyi,
        measure_dependence,
        method_slopes,
        pairwise_comparisons,
        pooled_dependence,
        rank_methods,
        suite_agreement,
        task_values,
    )
    from transferscope.dln import simulate_ladder, theory_curves, theory_ladder
    from transferscope.frontier import fit_frontiers, fit_group, fit_store, frontier_curves
    from transferscope.ingest import ingest_file, known_sources, load_source, read_table
    from transferscope.knowledge import compare_knowledge, interactions, knowledge_records
    from transferscope.ladders import run_ladder
    from transferscope.report import build_report, run_demo
    from transferscope.schema import validate_runs
    from transferscope.stats import egger_test, leave_one_out, meta_regression, pool_effects
    from transferscope.store import Store, open_store
