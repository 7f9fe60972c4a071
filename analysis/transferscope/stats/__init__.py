"""Statistics with no knowledge of runs: meta-analysis kernels on arrays of effects and variances.

:func:`pool_effects` and :func:`meta_regression` (random-effects models as R's metafor) sit on
the tau^2 estimators of :mod:`~transferscope.stats.tau2`. Nothing here imports pandas' run
tables, the store or any analysis above it.
"""

from transferscope.stats.meta import (
    MetaRegression,
    PooledEffect,
    meta_regression,
    pool_effects,
)
from transferscope.stats.tau2 import POOL_METHODS, SOLVERS, PoolMethod, Solver, estimate_tau2

__all__ = [
    "POOL_METHODS",
    "SOLVERS",
    "MetaRegression",
    "PoolMethod",
    "PooledEffect",
    "Solver",
    "estimate_tau2",
    "meta_regression",
    "pool_effects",
]
