"""How much a method depends on pretraining: per-task values, pooled across tasks, ranked.

:mod:`~transferscope.dependence.cells` collapses runs to one mean per checkpoint cell;
:mod:`~transferscope.dependence.metrics` computes gain, slope and retention per task
(:func:`measure_dependence`, :func:`task_values`); :mod:`~transferscope.dependence.suites` says
which tasks belong together (MMLU's subjects, BIG-bench, VTAB's groups);
:mod:`~transferscope.dependence.pooling` pools them across tasks with the meta-analysis of
:mod:`transferscope.stats` (three-level with cluster-robust errors when suites exist);
:mod:`~transferscope.dependence.ranking` ranks the entities, most dependent on pretraining first;
:mod:`~transferscope.dependence.stability` says how stable a ranking is;
:mod:`~transferscope.dependence.slopes` fits one mixed model of the slopes across tasks.
"""

from transferscope.dependence.metrics import (
    METRICS,
    MORE_DEPENDENT,
    measure_dependence,
    task_values,
)
from transferscope.dependence.pooling import pool_task_values, pooled_dependence
from transferscope.dependence.ranking import pairwise_comparisons, rank_methods
from transferscope.dependence.slopes import SlopeModel, method_slopes
from transferscope.dependence.stability import friedman_nemenyi, suite_agreement
from transferscope.dependence.suites import SUITE_RULES, suite_of, task_suites

__all__ = [
    "METRICS",
    "MORE_DEPENDENT",
    "SUITE_RULES",
    "SlopeModel",
    "friedman_nemenyi",
    "measure_dependence",
    "method_slopes",
    "pairwise_comparisons",
    "pool_task_values",
    "pooled_dependence",
    "rank_methods",
    "suite_agreement",
    "suite_of",
    "task_suites",
    "task_values",
]
