"""Statistics with no knowledge of runs: meta-analysis kernels on arrays of effects and variances.

:func:`pool_effects` and :func:`meta_regression` (random-effects models as R's metafor) sit on
the tau^2 estimators of :mod:`~transferscope.stats.tau2`; with ``clusters`` they fit the
three-level model of :mod:`~transferscope.stats.multilevel` (``rma.mv``), with the CR2
cluster-robust errors of :mod:`~transferscope.stats.robust` (clubSandwich) when ``robust``;
:mod:`~transferscope.stats.diagnostics` has :func:`leave_one_out` and :func:`egger_test`.
Nothing here imports pandas' run tables, the store or any analysis above it.
"""

from transferscope.stats.diagnostics import EggerTest, egger_test, leave_one_out
from transferscope.stats.meta import (
    MetaRegression,
    PooledEffect,
    meta_regression,
    pool_effects,
)
from transferscope.stats.multilevel import MultilevelEffect, MultilevelRegression
from transferscope.stats.tau2 import (
    POOL_METHODS,
    SOLVERS,
    PoolMethod,
    Solver,
    estimate_tau2,
    tau2_qprofile,
)

__all__ = [
    "POOL_METHODS",
    "SOLVERS",
    "EggerTest",
    "MetaRegression",
    "MultilevelEffect",
    "MultilevelRegression",
    "PoolMethod",
    "PooledEffect",
    "Solver",
    "egger_test",
    "estimate_tau2",
    "leave_one_out",
    "meta_regression",
    "pool_effects",
    "tau2_qprofile",
]
