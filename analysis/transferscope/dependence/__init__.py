"""How much a method depends on pretraining: per-task values, pooled across tasks, ranked.

:mod:`~transferscope.dependence.cells` collapses runs to one mean per checkpoint cell;
:mod:`~transferscope.dependence.metrics` computes gain, slope and retention per task
(:func:`measure_dependence`, :func:`task_values`); :mod:`~transferscope.dependence.ranking` pools
them across tasks with the meta-analysis of :mod:`transferscope.stats` and ranks the entities;
:mod:`~transferscope.dependence.slopes` fits one mixed model of the slopes across tasks.
"""

from transferscope.dependence.metrics import METRICS, measure_dependence, task_values
from transferscope.dependence.ranking import (
    friedman_nemenyi,
    pairwise_comparisons,
    pooled_dependence,
    rank_methods,
)
from transferscope.dependence.slopes import SlopeModel, method_slopes

__all__ = [
    "METRICS",
    "SlopeModel",
    "friedman_nemenyi",
    "measure_dependence",
    "method_slopes",
    "pairwise_comparisons",
    "pooled_dependence",
    "rank_methods",
    "task_values",
]
