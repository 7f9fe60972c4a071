"""Effective transfer: equal upstream accuracy, unequal downstream, and what drives it.

Taori et al. (2020) and Miller et al. (2021) call a model's distance above the baseline line its
"effective robustness"; Abnar et al. (2021) find that models of equal upstream accuracy differ
downstream, and that pretraining data, model size and training length do not change the
upstream-to-downstream relation. :func:`effective_transfer` measures both on any table of runs:

- residuals of every model from a baseline fitted to reference models (by default the probit line
  on the transformed axes, :mod:`transferscope.frontier.transformed`), with intervals, and its
  efficiency relative to the frontier (:mod:`~transferscope.transfer.efficiency`);
- their consistency across tasks (:mod:`~transferscope.transfer.consistency`);
- their drivers: a mixed model with crossed model and task random effects
  (:mod:`~transferscope.transfer.lmm`, :mod:`~transferscope.transfer.drivers`);
- non-monotone transfer among the best models (:mod:`~transferscope.transfer.monotone`).

:func:`effective_store` runs it on a store's runs and keeps the per-model rows with the baseline
fits they refer to; :func:`simulate_transfer` makes tables with planted effects for checks.

This package sits on its own layer between the report and the analyses: it builds on
:mod:`transferscope.frontier` (baselines, frontiers, the batched bootstrap) and on the store.
"""

from transferscope.transfer.api import TABLES, EffectiveTransfer, effective_transfer
from transferscope.transfer.lmm import CrossedFit, fit_crossed
from transferscope.transfer.persist import effective_store, stored_effective
from transferscope.transfer.simulate import SimulatedTransfer, simulate_transfer

__all__ = [
    "TABLES",
    "CrossedFit",
    "EffectiveTransfer",
    "SimulatedTransfer",
    "effective_store",
    "effective_transfer",
    "fit_crossed",
    "simulate_transfer",
    "stored_effective",
]
