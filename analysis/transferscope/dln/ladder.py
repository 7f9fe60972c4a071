"""Checkpoint ladders and generalization curves simulated from the theory.

A ladder pretrains on a sparse teacher with more and more samples (checkpoints of increasing
quality), fine-tunes every checkpoint on several tasks with every method (named initialization
settings) and several seeds, and trains from scratch as the baseline. Training is replaced by its
exact limit, the implicit-bias solver (:mod:`transferscope.dln.bias`), which agrees with gradient
descent run to convergence. Scores are ``1 - normalized generalization error`` clipped to [0, 1]
(:func:`transferscope.dln.data.normalized_error`), stored under the metric name
``one_minus_nge`` (a score in [0, 1], not a fraction of correct answers).

Pretraining uses ``n_PT >= D`` samples by default, so every checkpoint is the least-squares
solution, the same for every method (the pretrained ``beta`` depends on ``c_PT`` only through the
implicit bias when ``n_PT < D``); its quality grows with ``n_PT`` through the pretraining noise,
and a poor checkpoint spreads spurious weight over dimensions the teacher does not use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from transferscope.dln.data import (
    TaskSpec,
    default_tasks,
    finetuning_teacher,
    normalized_error,
    pretraining_teacher,
    sample_regression,
)
from transferscope.dln.methods import (
    DEFAULT_METHODS,
    SCRATCH,
    InitSetting,
    ScratchSetting,
    finetune,
    finetune_scratch,
    pretrain,
    settings_json,
)
from transferscope.errors import InputError
from transferscope.rng import check_seed
from transferscope.schema import INPUT_COLUMNS

#: Metric name of the simulated scores (1 - normalized generalization error, clipped to [0, 1]).
SCORE_METRIC = "one_minus_nge"
UPSTREAM_TASK = "dln_pretraining"
ARCHITECTURE = "diagonal_linear_network"


@dataclass(frozen=True)
class _Outcome:
    replicate: int
    task: TaskSpec
    shots: int
    errors: NDArray[np.float64]  # (C, M)
    converged: NDArray[np.bool_]  # (C, M)
    scratch_error: float
    scratch_converged: bool
    upstream_errors: dict[float, NDArray[np.float64]]  # c -> (C,)


def _simulate(
    *,
    dim: int,
    rho_pt: float,
    tasks: Sequence[TaskSpec],
    pretrain_sizes: Sequence[int],
    shots: Sequence[int],
    settings: Sequence[InitSetting],
    scratch: ScratchSetting | None,
    seeds: int,
    pt_noise: float,
    ft_noise: float,
    seed: int,
) -> Iterator[_Outcome]:
    """Yield fine-tuning errors per replicate, task and shot count (the common engine)."""
    teach_ss, *rep_ss = np.random.SeedSequence(seed).spawn(seeds + 1)
    trng = np.random.default_rng(teach_ss)
    beta_pt_star = pretraining_teacher(dim, rho_pt, trng)
    ft_stars = [finetuning_teacher(beta_pt_star, t, trng) for t in tasks]
    for rep, rss in enumerate(rep_ss):
        rng = np.random.default_rng(rss)
        xp, yp = sample_regression(beta_pt_star, max(pretrain_sizes), rng, noise=pt_noise)
        ckpts = pretrain(xp, yp, pretrain_sizes, [s.c_pt for s in settings])
        upstream = {c: normalized_error(b, beta_pt_star) for c, b in ckpts.items()}
        for task, bstar in zip(tasks, ft_stars, strict=True):
            xf, yf = sample_regression(bstar, max(shots), rng, noise=ft_noise)
            for n in shots:
                beta, conv = finetune(ckpts, settings, xf[:n], yf[:n])
                if scratch is not None:
                    sbeta, sconv = finetune_scratch(scratch, xf[:n], yf[:n], rng)
                    s_err = float(normalized_error(sbeta, bstar))
                else:  # no baseline asked for: skip its solve
                    s_err, sconv = float("nan"), False
                yield _Outcome(
                    replicate=rep,
                    task=task,
                    shots=int(n),
                    errors=normalized_error(beta, bstar),
                    converged=conv,
                    scratch_error=s_err,
                    scratch_converged=sconv,
                    upstream_errors=upstream,
                )


def _score(error: float) -> float:
    return float(np.clip(1.0 - error, 0.0, 1.0))


def default_pretrain_sizes(dim: int, checkpoints: int) -> list[int]:
    """Return the default ladder's pretraining sizes ``D (1 + q)``, ``q`` geometric from 0.15 to 4.

    Parameters
    ----------
    dim : int
        Input dimension ``D``.
    checkpoints : int
        Number of checkpoints.

    Returns
    -------
    list of int
        Increasing sample counts, all above ``D`` (least-squares checkpoints). With relative noise
        ``pt_noise`` the expected normalized error of a checkpoint is about
        ``pt_noise^2 / (q - 1/D)``: 0.6 to 0.02 for the default noise 0.3.
    """
    q = np.geomspace(0.15, 4.0, checkpoints) if checkpoints > 1 else np.array([4.0])
    sizes = sorted({round(dim * (1 + float(v))) for v in q})
    return [max(s, dim + 2) for s in sizes]


def _check(name: str, value: int, low: int) -> None:
    if not isinstance(value, int | np.integer) or value < low:
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class LadderDesign:
    """The checked inputs of a ladder: tasks, methods, pretraining sizes and shots."""

    tasks: list[TaskSpec]
    settings: list[InitSetting]
    sizes: list[int]
    shots: list[int]


def ladder_design(
    *,
    checkpoints: int,
    tasks: int | Sequence[TaskSpec],
    dim: int,
    shots: Sequence[int] | None,
    methods: Sequence[InitSetting] | None,
    rho_pt: float,
    pretrain_sizes: Sequence[int] | None,
) -> LadderDesign:
    """Check a ladder's inputs and fill in the defaults (shared by the simulator and the theory).

    Parameters
    ----------
    checkpoints, tasks, dim, shots, methods, rho_pt, pretrain_sizes
        As for :func:`simulate_ladder`.

    Returns
    -------
    LadderDesign
        Tasks (the default ones for a count), methods, pretraining sizes and shots as ints.

    Raises
    ------
    InputError
        For counts below their minimum, no or repeated methods, or sizes below 1.
    """
    _check("checkpoints", checkpoints, 1)
    _check("dim", dim, 10)
    if isinstance(tasks, int | np.integer):
        _check("tasks", tasks, 1)
        task_list = default_tasks(rho_pt, int(tasks))
    else:
        task_list = list(tasks)
    settings = list(DEFAULT_METHODS if methods is None else methods)
    if not settings:
        raise InputError("at least one method is needed")
    if len({s.name for s in settings}) != len(settings):
        raise InputError("method names must be unique")
    sizes = (
        [int(n) for n in pretrain_sizes]
        if pretrain_sizes is not None
        else default_pretrain_sizes(int(dim), checkpoints)
    )
    shot_list = [int(n) for n in shots] if shots is not None else [dim // 5, dim // 2]
    if any(n < 1 for n in shot_list) or any(n < 1 for n in sizes):
        raise InputError("shots and pretraining sizes must be >= 1")
    return LadderDesign(task_list, settings, sizes, shot_list)


def simulate_ladder(
    *,
    checkpoints: int = 6,
    tasks: int | Sequence[TaskSpec] = 4,
    seeds: int = 3,
    dim: int = 100,
    shots: Sequence[int] | None = None,
    methods: Sequence[InitSetting] | None = None,
    scratch: ScratchSetting = SCRATCH,
    rho_pt: float = 0.2,
    pt_noise: float = 0.3,
    ft_noise: float = 0.1,
    pretrain_sizes: Sequence[int] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Simulate a checkpoint ladder in the canonical run schema.

    Parameters
    ----------
    checkpoints : int
        Number of pretrained checkpoints (ignored when ``pretrain_sizes`` is given).
    tasks : int or sequence of TaskSpec
        Number of default tasks (:func:`transferscope.dln.data.default_tasks`: equal, subset,
        disjoint, partial, mixtures) or the tasks themselves.
    seeds : int
        Replicates; each draws new pretraining and fine-tuning data (the teachers are fixed by
        ``seed``).
    dim : int
        Input dimension ``D``.
    shots : sequence of int, optional
        Fine-tuning sample counts (nested draws); default ``(D // 5, D // 2)``.
    methods : sequence of InitSetting, optional
        Default :data:`transferscope.dln.methods.DEFAULT_METHODS`, one per regime.
    scratch : ScratchSetting
        The from-scratch baseline.
    rho_pt : float
        Density of the pretraining teacher.
    pt_noise, ft_noise : float
        Label noise relative to the teacher's norm, in pretraining and fine-tuning.
    pretrain_sizes : sequence of int, optional
        Pretraining samples per checkpoint; default :func:`default_pretrain_sizes`.
    seed : int
        Seed of everything random.

    Returns
    -------
    pandas.DataFrame
        The columns of ``transferscope.schema.INPUT_COLUMNS``: model (``dln_pt<n>``, or
        ``scratch``), pretrained, upstream_task (``dln_pretraining``), upstream_metric and
        downstream_metric (``one_minus_nge``: 1 - normalized generalization error, clipped
        to [0, 1]),
        upstream_score, task, method, shots, seed (replicate index), downstream_score,
        downstream_stderr (null), architecture, params (4 D weights), pretrain_data, pretrain_steps
        (null; the number of pretraining samples is in hparams), hparams (JSON text: the setting,
        regime, the task's fractions task_shared and task_new, n_pretrain, dim, noise, raw error,
        convergence). Scratch rows (pretrained = false)
        repeat the same baseline under every method name, so that each method finds its baseline.
    """
    _check("seeds", seeds, 1)
    check_seed(seed)
    design = ladder_design(
        checkpoints=checkpoints, tasks=tasks, dim=dim, shots=shots, methods=methods,
        rho_pt=rho_pt, pretrain_sizes=pretrain_sizes,
    )  # fmt: skip
    task_list, settings, sizes, shot_list = (
        design.tasks, design.settings, design.sizes, design.shots
    )  # fmt: skip
    regimes = {s.name: s.regime().regime for s in settings}
    base = {
        "upstream_task": UPSTREAM_TASK,
        "architecture": ARCHITECTURE,
        "params": 4 * dim,
        "downstream_metric": SCORE_METRIC,
        "downstream_stderr": np.nan,
        "pretrain_steps": None,
    }
    common = {
        "dim": dim,
        "rho_pt": rho_pt,
        "pt_noise": pt_noise,
        "ft_noise": ft_noise,
        "ladder_seed": seed,
    }
    rows: list[dict[str, object]] = []
    for out in _simulate(
        dim=dim,
        rho_pt=rho_pt,
        tasks=task_list,
        pretrain_sizes=sizes,
        shots=shot_list,
        settings=settings,
        scratch=scratch,
        seeds=seeds,
        pt_noise=pt_noise,
        ft_noise=ft_noise,
        seed=seed,
    ):
        for m, setting in enumerate(settings):
            hp_base = {**setting.to_record(), "regime": regimes[setting.name], **common}
            for ci, n_pt in enumerate(sizes):
                err = float(out.errors[ci, m])
                hp = {
                    **hp_base,
                    "task_shared": float(out.task.shared),
                    "task_new": float(out.task.new),
                    "n_pretrain": int(n_pt),
                    "error": err,
                    "converged": bool(out.converged[ci, m]),
                }
                up_err = float(out.upstream_errors[float(setting.c_pt)][ci])
                rows.append(
                    {
                        **base,
                        "model": f"dln_pt{n_pt}",
                        "pretrained": True,
                        "upstream_metric": SCORE_METRIC,
                        "upstream_score": _score(up_err),
                        "task": f"dln_{out.task.name}",
                        "method": setting.name,
                        "shots": out.shots,
                        "seed": out.replicate,
                        "downstream_score": _score(err),
                        "pretrain_data": f"dln_sparse_teacher_rho{rho_pt:g}",
                        "hparams": settings_json(hp),
                    }
                )
            hp_s = {
                **scratch.to_record(),
                "baseline_for": setting.name,
                **common,
                "task_shared": float(out.task.shared),
                "task_new": float(out.task.new),
                "error": out.scratch_error,
                "converged": out.scratch_converged,
            }
            rows.append(
                {
                    **base,
                    "model": "scratch",
                    "pretrained": False,
                    "upstream_task": None,
                    "upstream_metric": None,
                    "upstream_score": np.nan,
                    "task": f"dln_{out.task.name}",
                    "method": setting.name,
                    "shots": out.shots,
                    "seed": out.replicate,
                    "downstream_score": _score(out.scratch_error),
                    "pretrain_data": None,
                    "hparams": settings_json(hp_s),
                }
            )
    frame = pd.DataFrame(rows, columns=list(INPUT_COLUMNS))
    for col in ("shots", "seed", "params", "pretrain_steps"):
        frame[col] = frame[col].astype("Int64")
    frame["pretrained"] = frame["pretrained"].astype(bool)
    for col in ("upstream_score", "downstream_score", "downstream_stderr"):
        frame[col] = frame[col].astype(float)
    return frame


def generalization_curves(
    settings: Sequence[InitSetting] = DEFAULT_METHODS,
    *,
    dim: int = 200,
    alphas: Sequence[float] = (0.1, 0.2, 0.3, 0.5, 0.7),
    tasks: Sequence[TaskSpec] | None = None,
    seeds: int = 2,
    n_pretrain: int | None = None,
    rho_pt: float = 0.1,
    pt_noise: float = 0.1,
    ft_noise: float = 0.1,
    scratch: ScratchSetting | None = SCRATCH,
    seed: int = 0,
) -> pd.DataFrame:
    """Compute the normalized generalization error of fine-tuning versus ``alpha_FT = n_FT / D``.

    Parameters
    ----------
    settings : sequence of InitSetting
        Methods to compare (default: one per regime).
    dim : int
        Input dimension ``D``.
    alphas : sequence of float
        Fine-tuning samples per dimension.
    tasks : sequence of TaskSpec, optional
        Default: the four overlaps of :func:`transferscope.dln.data.default_tasks`.
    seeds : int
        Replicates (new data each).
    n_pretrain : int, optional
        Pretraining samples; default ``4 D`` (a good least-squares checkpoint).
    rho_pt : float
        Density of the pretraining teacher.
    pt_noise, ft_noise : float
        Relative label noise of pretraining and fine-tuning.
    scratch : ScratchSetting or None
        Baseline trained from scratch (method ``scratch``); ``None`` leaves it out and skips its
        solves (the random stream, and so the other draws, then differ from a run with it).
    seed : int
        Seed of everything random.

    Returns
    -------
    pandas.DataFrame
        Columns method, regime (``scratch`` for the baseline), task, alpha_ft, shots, seed,
        n_pretrain, upstream_error (of the checkpoint), gen_error (normalized,
        ``|beta - beta*|^2 / |beta*|^2``), converged.
    """
    task_list = list(tasks) if tasks is not None else default_tasks(rho_pt, 4)
    shot_list = [max(1, round(a * dim)) for a in alphas]
    n_pt = 4 * dim if n_pretrain is None else int(n_pretrain)
    regimes = {s.name: s.regime().regime for s in settings}
    rows: list[dict[str, object]] = []
    for out in _simulate(
        dim=dim,
        rho_pt=rho_pt,
        tasks=task_list,
        pretrain_sizes=[n_pt],
        shots=shot_list,
        settings=settings,
        scratch=scratch,
        seeds=seeds,
        pt_noise=pt_noise,
        ft_noise=ft_noise,
        seed=seed,
    ):
        common = {
            "task": out.task.name,
            "alpha_ft": out.shots / dim,
            "shots": out.shots,
            "seed": out.replicate,
            "n_pretrain": n_pt,
        }
        for m, s in enumerate(settings):
            rows.append(
                {
                    "method": s.name,
                    "regime": regimes[s.name],
                    **common,
                    "upstream_error": float(out.upstream_errors[float(s.c_pt)][0]),
                    "gen_error": float(out.errors[0, m]),
                    "converged": bool(out.converged[0, m]),
                }
            )
        if scratch is not None:
            rows.append(
                {
                    "method": "scratch",
                    "regime": "scratch",
                    **common,
                    "upstream_error": np.nan,
                    "gen_error": out.scratch_error,
                    "converged": out.scratch_converged,
                }
            )
    return pd.DataFrame(rows)


def summarize_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error over seeds of :func:`generalization_curves`.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`generalization_curves`.

    Returns
    -------
    pandas.DataFrame
        Columns method, regime, task, alpha_ft, gen_error (mean), gen_error_se (standard error over
        seeds; NaN for one seed), n_seeds.
    """
    g = curves.groupby(["method", "regime", "task", "alpha_ft"], sort=False)["gen_error"]
    out = g.agg(gen_error="mean", sd="std", n_seeds="count").reset_index()
    out["gen_error_se"] = out["sd"] / np.sqrt(out["n_seeds"])
    return out[["method", "regime", "task", "alpha_ft", "gen_error", "gen_error_se", "n_seeds"]]


def _logit(p: NDArray[np.float64] | pd.Series) -> NDArray[np.float64]:
    q = np.clip(np.asarray(p, dtype=float), 0.005, 0.995)
    return np.asarray(np.log(q / (1 - q)))


def ladder_ground_truth(
    *, seeds: int = 16, seed: int = 1_000_003, **ladder_kwargs: object
) -> pd.DataFrame:
    """Estimate each method's expected dependence on pretraining (a ranking's ground truth).

    The ladder is simulated again with many seeds (a Monte Carlo estimate of the noiseless means,
    from a seed stream independent of the default ladder's) and summarized per method, averaging
    over tasks and shot counts.

    Parameters
    ----------
    seeds : int
        Replicates of the estimate.
    seed : int
        Seed of the estimate.
    **ladder_kwargs
        Any other argument of :func:`simulate_ladder` (checkpoints, tasks, dim, methods, ...).

    Returns
    -------
    pandas.DataFrame
        Sorted by slope, largest first; columns method, regime, dependence (of the penalty,
        :class:`transferscope.dln.regimes.RegimeReport`), gain (mean over checkpoints of the mean
        downstream gain over scratch), gain_best and gain_worst (at the best and the worst
        checkpoint), gain_range (gain_best - gain_worst), slope (mean over tasks and shots of the
        least-squares slope of logit mean downstream on logit upstream across checkpoints, scores
        clipped to [0.005, 0.995]),
        retention (mean over checkpoints of gain / gain at the best checkpoint, mean over tasks and
        shots; NaN where that gain is not positive), rank (0 = most dependent by slope).
    """
    runs = simulate_ladder(seeds=seeds, seed=seed, **ladder_kwargs)  # type: ignore[arg-type]
    methods = ladder_kwargs.get("methods") or DEFAULT_METHODS
    dependence = {s.name: s.regime() for s in methods}  # type: ignore[attr-defined]
    pre = runs[runs["pretrained"]]
    scr = runs[~runs["pretrained"]]
    keys = ["method", "task", "shots"]
    base = scr.groupby(keys)["downstream_score"].mean().rename("scratch")
    cell = pre.groupby([*keys, "model"]).agg(
        ds=("downstream_score", "mean"), us=("upstream_score", "mean")
    )
    cell = cell.join(base, on=keys)
    cell["gain"] = cell["ds"] - cell["scratch"]
    records = []
    for key, grp in cell.groupby(level=[0, 1, 2]):
        grp = grp.sort_values("us")
        slope = (
            float(np.polyfit(_logit(grp["us"]), _logit(grp["ds"]), 1)[0])
            if len(grp) > 1
            else np.nan
        )
        best = float(grp["gain"].iloc[-1])
        retention = float((grp["gain"] / best).mean()) if best > 0 else np.nan
        records.append(
            {
                "method": key[0],
                "gain": float(grp["gain"].mean()),
                "gain_best": best,
                "gain_worst": float(grp["gain"].iloc[0]),
                "slope": slope,
                "retention": retention,
            }
        )
    per = pd.DataFrame(records).groupby("method", sort=False).mean(numeric_only=True).reset_index()
    per.insert(4, "gain_range", per["gain_best"] - per["gain_worst"])
    per.insert(1, "regime", [dependence[m].regime for m in per["method"]])
    per.insert(2, "dependence", [dependence[m].dependence for m in per["method"]])
    per = per.sort_values("slope", ascending=False, ignore_index=True)
    per["rank"] = np.arange(len(per))
    return per


def expected_ordering(metric: str = "slope", **kwargs: object) -> list[str]:
    """Methods ordered from most to least dependent on pretraining by a ground-truth metric.

    Parameters
    ----------
    metric : {"slope", "gain_range", "gain", "gain_best", "dependence"}
        Column of :func:`ladder_ground_truth` to order by (descending).
    **kwargs
        Passed to :func:`ladder_ground_truth`.

    Returns
    -------
    list of str
        Method names, most dependent first.
    """
    choices = ("slope", "gain_range", "gain", "gain_best", "dependence")
    if metric not in choices:
        raise InputError(f"metric must be one of {', '.join(choices)}; got {metric!r}")
    truth = ladder_ground_truth(**kwargs)  # type: ignore[arg-type]
    return list(truth.sort_values(metric, ascending=False)["method"])
