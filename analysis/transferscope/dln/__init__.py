"""Checkpoint ladders from theory: diagonal linear networks, pretrained then fine-tuned.

Layers, bottom up: :mod:`~transferscope.dln.bias` (the implicit-bias penalty, ``k_d`` for this
parameterization and the dual Newton solver), :mod:`~transferscope.dln.train` (gradient descent,
vectorized over seeds), :mod:`~transferscope.dln.data` (teachers, tasks, Gaussian data),
:mod:`~transferscope.dln.regimes` (l-order, pretraining dependence, regimes I-IV),
:mod:`~transferscope.dln.methods` (named initialization settings) and
:mod:`~transferscope.dln.ladder` (ladders in the canonical run schema, generalization curves, ground
truth). See Anguita et al. 2026, "A Theory of How Pretraining Shapes Inductive Bias in Fine-Tuning".
"""

from __future__ import annotations

from transferscope.dln.bias import (
    BiasSolution,
    bias_constants,
    finetune_constants,
    finetune_init,
    pretrained_weights,
    pretraining_init,
    q_derivative,
    q_penalty,
    solve_implicit_bias,
)
from transferscope.dln.data import (
    TaskSpec,
    default_tasks,
    finetuning_teacher,
    normalized_error,
    pretraining_teacher,
    sample_regression,
)
from transferscope.dln.ladder import (
    expected_ordering,
    generalization_curves,
    ladder_ground_truth,
    simulate_ladder,
    summarize_curves,
)
from transferscope.dln.methods import (
    DEFAULT_METHODS,
    REGIME_SETTINGS,
    SCRATCH,
    InitSetting,
    ScratchSetting,
)
from transferscope.dln.regimes import (
    REGIME_NAMES,
    RegimeReport,
    classify_regime,
    effective_order,
    penalty_scale,
    regime_grid,
)
from transferscope.dln.train import GDResult, gradient_descent, scratch_init

__all__ = [
    "DEFAULT_METHODS",
    "REGIME_NAMES",
    "REGIME_SETTINGS",
    "SCRATCH",
    "BiasSolution",
    "GDResult",
    "InitSetting",
    "RegimeReport",
    "ScratchSetting",
    "TaskSpec",
    "bias_constants",
    "classify_regime",
    "default_tasks",
    "effective_order",
    "expected_ordering",
    "finetune_constants",
    "finetune_init",
    "finetuning_teacher",
    "generalization_curves",
    "gradient_descent",
    "ladder_ground_truth",
    "normalized_error",
    "penalty_scale",
    "pretrained_weights",
    "pretraining_init",
    "pretraining_teacher",
    "q_derivative",
    "q_penalty",
    "regime_grid",
    "sample_regression",
    "scratch_init",
    "simulate_ladder",
    "solve_implicit_bias",
    "summarize_curves",
]
