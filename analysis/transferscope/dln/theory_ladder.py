"""Checkpoint ladders from the theory: exact expected scores, no sampling.

:func:`theory_ladder` writes the same table as :func:`transferscope.dln.ladder.simulate_ladder`
(canonical run schema, the same model, task and method names) with every score replaced by its
``D -> inf`` value from the state evolution (:mod:`transferscope.dln.theory`): checkpoint ``i``
is pretraining with ``alpha_PT = n_pretrain / D`` samples per dimension, a fine-tuning run is the
method's minimum-penalty interpolator at ``alpha = shots / D``. There is one row per checkpoint,
task, method and shot count (``seed`` is null) and ``downstream_stderr`` is the predicted standard
deviation of one run's score at the ladder's ``dim`` (a conservative approximation, see
:func:`transferscope.dln.state_evolution.spread_scale`), so the dependence metrics read it as a
published standard error. The expected score is ``1 - E[error]`` clipped to [0, 1]; since the
error concentrates as ``D`` grows, this is the limit of the simulator's mean score.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from transferscope.dln.data import TaskSpec
from transferscope.dln.ladder import (
    ARCHITECTURE,
    SCORE_METRIC,
    UPSTREAM_TASK,
    ladder_design,
)
from transferscope.dln.methods import (
    SCRATCH,
    InitSetting,
    ScratchSetting,
    settings_json,
)
from transferscope.dln.state_evolution import StateEvolution, solve_state_evolution
from transferscope.dln.theory import (
    PretrainedLaw,
    finetune_law,
    pretrained_law,
    scratch_law,
    solve_curve,
)
from transferscope.schema import INPUT_COLUMNS

__all__ = ["theory_ladder"]

_OK = ("ok", "least_squares")


def _score(error: float) -> float:
    return float(np.clip(1.0 - error, 0.0, 1.0))


def theory_ladder(
    *,
    checkpoints: int = 6,
    tasks: int | Sequence[TaskSpec] = 4,
    dim: int = 100,
    shots: Sequence[int] | None = None,
    methods: Sequence[InitSetting] | None = None,
    scratch: ScratchSetting = SCRATCH,
    rho_pt: float = 0.2,
    pt_noise: float = 0.3,
    ft_noise: float = 0.1,
    pretrain_sizes: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Write a checkpoint ladder from the theory, in the canonical run schema.

    Parameters
    ----------
    checkpoints : int
        Number of pretrained checkpoints (ignored when ``pretrain_sizes`` is given).
    tasks : int or sequence of TaskSpec
        Number of default tasks (:func:`transferscope.dln.data.default_tasks`) or the tasks.
    dim : int
        The dimension ``D`` that sets ``alpha = shots / D``, ``alpha_PT = n_pretrain / D`` and
        the spread reported as ``downstream_stderr``.
    shots : sequence of int, optional
        Fine-tuning sample counts; default ``(D // 5, D // 2)`` as in ``simulate_ladder``.
    methods : sequence of InitSetting, optional
        Default :data:`transferscope.dln.methods.DEFAULT_METHODS`.
    scratch : ScratchSetting
        The from-scratch baseline.
    rho_pt : float
        Density of the pretraining teacher (the fractions of the tasks are fractions of ``D``;
        unlike the simulator nothing is rounded to whole dimensions).
    pt_noise, ft_noise : float
        Label noise relative to the teacher's norm, in pretraining and fine-tuning.
    pretrain_sizes : sequence of int, optional
        Pretraining samples per checkpoint; default
        :func:`transferscope.dln.ladder.default_pretrain_sizes`.

    Returns
    -------
    pandas.DataFrame
        The columns of ``transferscope.schema.INPUT_COLUMNS``, as in
        :func:`transferscope.dln.ladder.simulate_ladder`: model (``dln_pt<n>``, or ``scratch``),
        pretrained, upstream_task, upstream_metric and downstream_metric (``accuracy``),
        upstream_score (``1 -`` the checkpoint's predicted normalized error), task, method,
        shots, seed (null: an expectation, not a replicate), downstream_score (``1 -`` predicted
        error, clipped to [0, 1]), downstream_stderr (predicted standard deviation of one run's
        score at ``dim``; null where it cannot be formed, e.g. least squares), architecture,
        params, pretrain_data, pretrain_steps (null), hparams (JSON: the setting, regime,
        task_shared and task_new, n_pretrain, dim, noises, ``theory: true``, alpha_ft, alpha_pt,
        error, status, tau, theta). Rows whose state evolution has no solution are left out,
        with a warning.
    """
    design = ladder_design(
        checkpoints=checkpoints, tasks=tasks, dim=dim, shots=shots, methods=methods,
        rho_pt=rho_pt, pretrain_sizes=pretrain_sizes,
    )  # fmt: skip
    dim = int(dim)
    task_list, settings, sizes, shot_list = (
        design.tasks, design.settings, design.sizes, design.shots
    )  # fmt: skip
    alphas = [n / dim for n in shot_list]
    regimes = {s.name: s.regime().regime for s in settings}
    base = {
        "upstream_task": UPSTREAM_TASK,
        "architecture": ARCHITECTURE,
        "params": 4 * dim,
        "downstream_metric": SCORE_METRIC,
        "pretrain_steps": None,
        "seed": None,
    }
    common = {
        "dim": dim,
        "rho_pt": rho_pt,
        "pt_noise": pt_noise,
        "ft_noise": ft_noise,
        "theory": True,
    }
    root = math.sqrt(dim)
    rows: list[dict[str, object]] = []
    dropped = 0

    def stderr(sol: StateEvolution) -> float:
        return sol.sd_scale / root if math.isfinite(sol.sd_scale) else math.nan

    laws: dict[tuple[int, float], PretrainedLaw] = {}
    for task in task_list:
        s2 = ft_noise**2 * (float(task.shared) + float(task.new))
        for setting in settings:
            hp_base = {**setting.to_record(), "regime": regimes[setting.name], **common}
            starts: dict[float, tuple[float, float]] = {}
            for n_pt in sizes:
                key = (n_pt, float(setting.c_pt))
                if key not in laws:
                    laws[key] = pretrained_law(
                        setting.c_pt, rho_pt=rho_pt, alpha_pt=n_pt / dim, pt_noise=pt_noise
                    )
                pre = laws[key]
                if not pre.ok:
                    dropped += len(alphas)
                    continue
                law = finetune_law(setting, task, pre)
                last: tuple[float, float] | None = None
                for n, a in zip(shot_list, alphas, strict=True):
                    # warm start: this alpha at the previous checkpoint, else the previous alpha
                    sol = solve_state_evolution(law, a, noise_var=s2, start=starts.get(a, last))
                    if sol.status not in _OK:
                        dropped += 1
                        continue
                    if sol.status == "ok":
                        starts[a] = last = (sol.tau, sol.theta)
                    hp = {
                        **hp_base,
                        "task_shared": float(task.shared),
                        "task_new": float(task.new),
                        "n_pretrain": int(n_pt),
                        "alpha_pt": n_pt / dim,
                        "alpha_ft": a,
                        "error": sol.gen_error,
                        "status": sol.status,
                        "tau": sol.tau,
                        "theta": sol.theta,
                    }
                    rows.append(
                        {
                            **base,
                            "model": f"dln_pt{n_pt}",
                            "pretrained": True,
                            "upstream_metric": SCORE_METRIC,
                            "upstream_score": _score(pre.upstream_error),
                            "task": f"dln_{task.name}",
                            "method": setting.name,
                            "shots": n,
                            "downstream_score": _score(sol.gen_error),
                            "downstream_stderr": stderr(sol),
                            "pretrain_data": f"dln_sparse_teacher_rho{rho_pt:g}",
                            "hparams": settings_json(hp),
                        }
                    )
        scratch_sols = solve_curve(scratch_law(scratch, task), alphas, noise_var=s2)
        for n, a, sol in zip(shot_list, alphas, scratch_sols, strict=True):
            if sol.status not in _OK:
                dropped += len(settings)
                continue
            for setting in settings:
                hp_s = {
                    **scratch.to_record(),
                    "baseline_for": setting.name,
                    **common,
                    "task_shared": float(task.shared),
                    "task_new": float(task.new),
                    "alpha_ft": a,
                    "error": sol.gen_error,
                    "status": sol.status,
                    "tau": sol.tau,
                    "theta": sol.theta,
                }
                rows.append(
                    {
                        **base,
                        "model": "scratch",
                        "pretrained": False,
                        "upstream_task": None,
                        "upstream_metric": None,
                        "upstream_score": np.nan,
                        "task": f"dln_{task.name}",
                        "method": setting.name,
                        "shots": n,
                        "downstream_score": _score(sol.gen_error),
                        "downstream_stderr": stderr(sol),
                        "pretrain_data": None,
                        "hparams": settings_json(hp_s),
                    }
                )
    if dropped:
        warnings.warn(
            f"{dropped} ladder row(s) left out: their state evolution has no solution",
            RuntimeWarning,
            stacklevel=2,
        )
    frame = pd.DataFrame(rows, columns=list(INPUT_COLUMNS))
    for col in ("shots", "seed", "params", "pretrain_steps"):
        frame[col] = frame[col].astype("Int64")
    frame["pretrained"] = frame["pretrained"].astype(bool)
    for col in ("upstream_score", "downstream_score", "downstream_stderr"):
        frame[col] = frame[col].astype(float)
    return frame
