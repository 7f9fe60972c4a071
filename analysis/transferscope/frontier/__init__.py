"""Frontier fitting: saturating families, frontier estimators, plateaus with calibrated intervals.

For every group of runs (by default task x method x shots) a saturating family of downstream on
upstream score is fitted to the frontier of the group's models, its plateau is read at the best
possible upstream score, and a bootstrap gives the plateau's interval. See
:func:`fit_frontiers` (DataFrame in, DataFrame out), :func:`fit_group` (one group, a
:class:`FrontierResult`), :func:`frontier_curves` (curves of many fits, for charts) and
:func:`fit_store` (the store's runs, reusing fits whose runs and options are unchanged).
Every option lives in one frozen :class:`FitSettings` (``loss_space="transformed"`` fits logit and
probit as straight lines on the transformed axes); a fit becomes a :class:`Baseline` (coefficients,
model list, checksum of its points) for residuals. A family is one :class:`Family` class
(:func:`register`), an estimator one :class:`Estimator` class (:func:`register_estimator`).
"""

from transferscope.frontier.baseline import (
    Baseline,
    baselines_from_fits,
    points_checksum,
    read_baselines,
    write_baselines,
)
from transferscope.frontier.estimators import (
    ESTIMATORS,
    FRONTIERS,
    Estimator,
    get_estimator,
    register_estimator,
)
from transferscope.frontier.families import (
    FAMILIES,
    Family,
    family_fingerprint,
    get_family,
    register,
)
from transferscope.frontier.fit import (
    DEFAULT_BY,
    LOSS_FAMILY,
    family_filters,
    fit_frontiers,
    frontier_curves,
    source_families,
)
from transferscope.frontier.group import fit_group, saturation_point
from transferscope.frontier.persist import fit_store, stored_fits
from transferscope.frontier.result import STATUSES, FrontierResult
from transferscope.frontier.settings import DEFAULT_FRONTIER, LOSS_SPACES, FitSettings
from transferscope.frontier.synthetic import SyntheticGroup, synthetic_group, synthetic_runs

__all__ = [
    "DEFAULT_BY",
    "DEFAULT_FRONTIER",
    "ESTIMATORS",
    "FAMILIES",
    "FRONTIERS",
    "LOSS_FAMILY",
    "LOSS_SPACES",
    "STATUSES",
    "Baseline",
    "Estimator",
    "Family",
    "FitSettings",
    "FrontierResult",
    "SyntheticGroup",
    "baselines_from_fits",
    "family_filters",
    "family_fingerprint",
    "fit_frontiers",
    "fit_group",
    "fit_store",
    "frontier_curves",
    "get_estimator",
    "get_family",
    "points_checksum",
    "read_baselines",
    "register",
    "register_estimator",
    "saturation_point",
    "source_families",
    "stored_fits",
    "synthetic_group",
    "synthetic_runs",
    "write_baselines",
]
