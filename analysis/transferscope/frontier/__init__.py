"""Frontier fitting: saturating families, frontier estimators, plateaus with calibrated intervals.

For every group of runs (by default task x method x shots) a saturating family of downstream on
upstream score is fitted to the frontier of the group's models, its plateau is read at the best
possible upstream score, and a bootstrap gives the plateau's interval. See
:func:`fit_frontiers` (DataFrame in, DataFrame out), :func:`fit_group` (one group, a
:class:`FrontierResult`), :func:`frontier_curves` (curves of many fits, for charts) and
:func:`fit_store` (the store's runs, reusing fits whose runs and options are unchanged).
"""

from transferscope.frontier.estimators import FRONTIERS, FitOptions
from transferscope.frontier.families import FAMILIES, Family, get_family, register
from transferscope.frontier.fit import DEFAULT_BY, fit_frontiers, frontier_curves
from transferscope.frontier.group import DEFAULT_FRONTIER, fit_group, saturation_point
from transferscope.frontier.persist import fit_store, stored_fits
from transferscope.frontier.result import STATUSES, FrontierResult

__all__ = [
    "DEFAULT_BY",
    "DEFAULT_FRONTIER",
    "FAMILIES",
    "FRONTIERS",
    "STATUSES",
    "Family",
    "FitOptions",
    "FrontierResult",
    "fit_frontiers",
    "fit_group",
    "fit_store",
    "frontier_curves",
    "get_family",
    "register",
    "saturation_point",
    "stored_fits",
]
