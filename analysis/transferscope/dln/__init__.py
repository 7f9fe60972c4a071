"""Checkpoint ladders from theory: diagonal linear networks, pretrained then fine-tuned.

Layers, bottom up: :mod:`~transferscope.dln.bias` (the implicit-bias penalty, ``k_d`` for this
parameterization and the dual Newton solver), :mod:`~transferscope.dln.train` (gradient descent,
vectorized over seeds), :mod:`~transferscope.dln.data` (teachers, tasks, Gaussian data),
:mod:`~transferscope.dln.regimes` (l-order, pretraining dependence, regimes I-IV),
:mod:`~transferscope.dln.methods` (named initialization settings),
:mod:`~transferscope.dln.ladder` (ladders in the canonical run schema, generalization curves, ground
truth), :mod:`~transferscope.dln.state_evolution` (the ``D -> inf`` theory of the minimum-penalty
interpolator: two scalar equations) and :mod:`~transferscope.dln.theory` (its laws from the task
statistics, theory curves) and :mod:`~transferscope.dln.theory_ladder` (ladders of expected
scores). See Anguita et al. 2026, "A Theory of How Pretraining Shapes Inductive Bias in
Fine-Tuning".
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
from transferscope.dln.state_evolution import (
    CoordinateLaw,
    StateEvolution,
    prox_derivative,
    prox_penalty,
    pushforward,
    solve_state_evolution,
    spread_scale,
)
from transferscope.dln.theory import (
    PretrainedLaw,
    finetune_law,
    pretrained_law,
    scratch_law,
    solve_curve,
    theory_curves,
)
from transferscope.dln.theory_ladder import theory_ladder
from transferscope.dln.train import GDResult, gradient_descent, scratch_init

__all__ = [
    "DEFAULT_METHODS",
    "REGIME_NAMES",
    "REGIME_SETTINGS",
    "SCRATCH",
    "BiasSolution",
    "CoordinateLaw",
    "GDResult",
    "InitSetting",
    "PretrainedLaw",
    "RegimeReport",
    "ScratchSetting",
    "StateEvolution",
    "TaskSpec",
    "bias_constants",
    "classify_regime",
    "default_tasks",
    "effective_order",
    "expected_ordering",
    "finetune_constants",
    "finetune_init",
    "finetune_law",
    "finetuning_teacher",
    "generalization_curves",
    "gradient_descent",
    "ladder_ground_truth",
    "normalized_error",
    "penalty_scale",
    "pretrained_law",
    "pretrained_weights",
    "pretraining_init",
    "pretraining_teacher",
    "prox_derivative",
    "prox_penalty",
    "pushforward",
    "q_derivative",
    "q_penalty",
    "regime_grid",
    "sample_regression",
    "scratch_init",
    "scratch_law",
    "simulate_ladder",
    "solve_curve",
    "solve_implicit_bias",
    "solve_state_evolution",
    "spread_scale",
    "summarize_curves",
    "theory_curves",
    "theory_ladder",
]
