r"""Theory curves: the ``D -> inf`` generalization error of pretraining then fine-tuning.

The fine-tuned network is the minimum-penalty interpolator of :mod:`transferscope.dln.bias`,
``argmin sum_d q_{k_d}(beta_d) - phi_d beta_d / 2`` subject to ``X beta = y``, whose penalty
``(kappa_d, phi_d)`` (``kappa = sqrt(k)/2``) is a function of the pretrained coordinate
``beta_PT,d`` given by :meth:`transferscope.dln.methods.InitSetting.constants`. Its error at fixed
``alpha = n / D`` follows from the two scalar equations (E1, E2) of
:mod:`transferscope.dln.state_evolution` once the law of ``(beta*_FT,d, kappa_d, phi_d)`` over
coordinates is known. This module builds that law from the task statistics.

The joint law of the teachers (:mod:`transferscope.dln.data`, amplitude 1, fractions of ``D``):

============================  ===============  ================  ============================
category                      ``beta*_PT``     ``beta*_FT``       probability
============================  ===============  ================  ============================
shared                        ``+-1``          ``+-1``            ``rho_FT_shared``
pretraining only              ``+-1``          0                  ``rho_PT - rho_FT_shared``
new                           0                ``+-1``            ``rho_FT_new``
neither                       0                0                  ``1 - rho_PT - rho_FT_new``
============================  ===============  ================  ============================

with independent fair signs (the fine-tuning teacher draws fresh signs).

The pretrained coordinate. Pretraining is the same kind of problem: ``alpha_PT D`` Gaussian
samples of the pretraining teacher with relative noise ``pt_noise`` (``s2_PT = pt_noise^2
rho_PT``), from an initialization with ``k = 4 c_PT^2`` (``kappa = c_PT``, ``phi = 0``). Its
state evolution gives the law of ``beta_PT,d`` given ``beta*_PT,d`` exactly: ``beta_PT =
eta_PT(beta*_PT + tau_PT Z')`` with ``Z'`` independent of everything in fine-tuning (fresh data).
For ``alpha_PT > 1`` (the default, 4) this is least squares: ``beta_PT = beta*_PT + tau_PT Z'``
with ``tau_PT^2 = s2_PT / (alpha_PT - 1)``; at finite ``D`` the per-coordinate variance is
``sigma^2 [(X^T X)^{-1}]_dd``, whose mean is ``s2_PT / (alpha_PT - 1 - 1/D)``: the same to
``O(1/D)``. The correlations of the pretraining errors across coordinates do not enter: the
fine-tuning design is independent of them and only the empirical law of ``(beta*_FT, beta_PT)``
matters. So no approximation is made beyond ``D -> inf``.

Quadrature. The law of ``beta_PT`` given ``beta*_PT`` is the push-forward of a Gaussian
(:func:`transferscope.dln.state_evolution.pushforward`, nodes in ``u`` with
``beta_PT = c_PT sinh(u)`` near ``beta*_PT = 0``, which smooths the kink of ``sqrt(c^2 + B^2)``
at ``B = 0``); each node
gives one atom ``(beta*_FT, kappa(B), phi(B))``, atoms that the mirror symmetry makes equal are
merged, and negligible ones (weight below ``1e-13``) are dropped. Training from scratch has a
random penalty per coordinate (:func:`transferscope.dln.train.scratch_init`: four log-normal
weights); its law is a tensor Gauss-Hermite rule over the four normals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from transferscope.dln.bias import bias_constants
from transferscope.dln.data import TaskSpec, default_tasks
from transferscope.dln.methods import DEFAULT_METHODS, SCRATCH, InitSetting, ScratchSetting
from transferscope.dln.state_evolution import (
    CoordinateLaw,
    StateEvolution,
    pushforward,
    solve_state_evolution,
)
from transferscope.errors import InputError
from transferscope.records import NOT_RECORDED, Record

__all__ = [
    "PretrainedLaw",
    "finetune_law",
    "pretrained_law",
    "scratch_law",
    "solve_curve",
    "theory_curves",
]

_PRUNE = 1e-13


@dataclass(frozen=True, kw_only=True)
class PretrainedLaw(Record):
    """Law of the pretrained coordinate ``beta_PT,d`` given ``beta*_PT,d`` in {0, 1}.

    Attributes
    ----------
    c_pt, rho_pt, alpha_pt, pt_noise : float
        Pretraining scale, teacher density, samples per dimension and relative label noise.
    status : str
        Status of the pretraining state evolution (``least_squares``, ``ok``, ...).
    message : str
        Why, when there is no law.
    upstream_error : float
        Normalized error of the pretrained network, ``E[(beta_PT - beta*_PT)^2] / rho_pt``.
    tau, theta : float
        The pretraining state evolution's solution.
    values_off, weights_off : numpy.ndarray
        Nodes and probabilities of ``beta_PT`` where ``beta*_PT = 0``.
    values_on, weights_on : numpy.ndarray
        The same where ``beta*_PT = +1`` (``-1`` is the mirror image).
    """

    c_pt: float
    rho_pt: float
    alpha_pt: float
    pt_noise: float
    status: str
    message: str
    upstream_error: float
    tau: float
    theta: float
    values_off: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    weights_off: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    values_on: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    weights_on: NDArray[np.float64] = field(metadata=NOT_RECORDED)

    @property
    def ok(self) -> bool:
        """Whether the law exists."""
        return self.status in ("ok", "least_squares")

    def describe(self) -> str:
        """Return one line: the pretraining setting and its error."""
        return (
            f"pretraining c_PT {self.c_pt:g}, alpha_PT {self.alpha_pt:g}: {self.status}, "
            f"upstream error {self.upstream_error:.4g}"
        )


def _check_fraction(name: str, value: float, low: float = 0.0, high: float = 1.0) -> float:
    v = float(value)
    if not (low <= v <= high) or not math.isfinite(v):
        raise InputError(f"{name} must lie in [{low:g}, {high:g}], got {value!r}")
    return v


def pretrained_law(
    c_pt: float,
    *,
    rho_pt: float = 0.1,
    alpha_pt: float = 4.0,
    pt_noise: float = 0.1,
    n_uniform: int = 2,
    order: int = 3,
) -> PretrainedLaw:
    """Law of the pretrained coordinate, from the pretraining state evolution.

    Parameters
    ----------
    c_pt : float
        Pretraining scale (``kappa = c_pt``; it matters only when ``alpha_pt < 1``).
    rho_pt : float
        Density of the pretraining teacher, in (0, 1].
    alpha_pt : float
        Pretraining samples per dimension (``n_pretrain / D``).
    pt_noise : float
        Label noise relative to the teacher's norm.
    n_uniform, order : int
        Quadrature of the law (uniform cuts in ``u`` and Gauss-Legendre nodes per panel).

    Returns
    -------
    PretrainedLaw
        Nodes and weights of ``beta_PT`` given ``beta*_PT``, and the upstream error; a status
        instead of nodes when the pretraining error diverges (``alpha_pt = 1`` with noise).
    """
    rho = _check_fraction("rho_pt", rho_pt)
    if rho <= 0:
        raise InputError("rho_pt must be > 0")
    if not (c_pt > 0 and math.isfinite(c_pt)):
        raise InputError(f"c_pt must be finite and > 0, got {c_pt}")
    if not (alpha_pt > 0 and math.isfinite(alpha_pt)):
        raise InputError(f"alpha_pt must be finite and > 0, got {alpha_pt}")
    if not (pt_noise >= 0 and math.isfinite(pt_noise)):
        raise InputError(f"pt_noise must be finite and >= 0, got {pt_noise}")
    teacher = CoordinateLaw(
        beta_star=np.array([0.0, 1.0]),
        kappa=np.full(2, float(c_pt)),
        phi=np.zeros(2),
        weight=np.array([1.0 - rho, rho]),
        label="pretraining",
    )
    s2 = pt_noise**2 * rho
    sol = solve_state_evolution(teacher, float(alpha_pt), noise_var=s2)
    empty = np.zeros(0)
    base = {"c_pt": float(c_pt), "rho_pt": rho, "alpha_pt": float(alpha_pt)}
    base["pt_noise"] = float(pt_noise)
    if sol.status not in ("ok", "least_squares"):
        return PretrainedLaw(
            **base,
            status=sol.status,
            message=sol.message,
            upstream_error=math.nan,
            tau=sol.tau,
            theta=sol.theta,
            values_off=empty,
            weights_off=empty,
            values_on=empty,
            weights_on=empty,
        )
    if sol.tau == 0.0:  # no noise and least squares: beta_PT = beta*_PT exactly
        values = np.array([[0.0], [1.0]])
        weights = np.array([[1.0], [1.0]])
    else:
        # With theta > 0 the nodes follow the pretraining penalty (kappa = c_pt). With theta = 0
        # (least squares) the map is the identity whatever kappa: c_pt where beta*_PT = 0
        # resolves the kink of sqrt(c^2 + B^2) at B = 0; a large kappa, i.e. a linear map, suits
        # the Gaussian around beta*_PT = 1.
        kappa = teacher.kappa if sol.theta > 0 else np.array([float(c_pt), 1e3])
        unit = CoordinateLaw(
            beta_star=teacher.beta_star, kappa=kappa, phi=teacher.phi, weight=np.ones(2)
        )
        values, weights = pushforward(unit, sol.tau, sol.theta, n_uniform=n_uniform, order=order)
        weights = weights / weights.sum(axis=1, keepdims=True)
    v_off, w_off = _prune(values[0], weights[0])
    v_on, w_on = _prune(values[1], weights[1])
    return PretrainedLaw(
        **base,
        status=sol.status,
        message=sol.message,
        upstream_error=sol.gen_error,
        tau=sol.tau,
        theta=sol.theta,
        values_off=v_off,
        weights_off=w_off,
        values_on=v_on,
        weights_on=w_on,
    )


def _prune(
    values: NDArray[np.float64], weights: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    keep = weights > _PRUNE * weights.max()
    w = weights[keep]
    return values[keep], w / w.sum()


def _check_task(task: TaskSpec, rho_pt: float) -> None:
    shared = _check_fraction(f"task {task.name!r}: shared", task.shared)
    new = _check_fraction(f"task {task.name!r}: new", task.new)
    if shared > rho_pt + 1e-12:
        raise InputError(
            f"task {task.name!r}: shared ({shared:g}) exceeds the teacher's density ({rho_pt:g})"
        )
    if new > 1.0 - rho_pt + 1e-12:
        raise InputError(f"task {task.name!r}: new ({new:g}) exceeds 1 - rho_pt")
    if shared + new <= 0:
        raise InputError(f"task {task.name!r} has no active dimension")


def _category_weights(task: TaskSpec, rho_pt: float) -> dict[tuple[float, float, int], float]:
    """``{(beta*_PT, beta*_FT, category): probability}``, ``beta*_PT`` in {0, 1} (mirror-folded).

    Categories: 0 shared, 1 pretraining only, 2 new, 3 neither.
    """
    s, n = float(task.shared), float(task.new)
    return {
        (1.0, 1.0, 0): s / 2.0,
        (1.0, -1.0, 0): s / 2.0,
        (1.0, 0.0, 1): max(rho_pt - s, 0.0),
        (0.0, 1.0, 2): n,
        (0.0, 0.0, 3): max(1.0 - rho_pt - n, 0.0),
    }


def finetune_law(setting: InitSetting, task: TaskSpec, pretrained: PretrainedLaw) -> CoordinateLaw:
    """Law of ``(beta*_FT, kappa, phi)`` of fine-tuning with ``setting`` on ``task``.

    Parameters
    ----------
    setting : InitSetting
        The method (its ``constants(beta_PT)`` give ``sqrt(k)`` and ``phi``).
    task : TaskSpec
        Shared and new fractions of ``D``.
    pretrained : PretrainedLaw
        Law of the pretrained coordinate (its ``c_pt`` should be the setting's).

    Returns
    -------
    CoordinateLaw
        Folded atoms (see :meth:`CoordinateLaw.folded`).
    """
    _check_task(task, pretrained.rho_pt)
    parts: list[tuple[NDArray[np.float64], ...]] = []
    for (pt, ft, cat), prob in _category_weights(task, pretrained.rho_pt).items():
        if prob <= 0:
            continue
        values = pretrained.values_on if pt else pretrained.values_off
        weights = pretrained.weights_on if pt else pretrained.weights_off
        sk, ph = setting.constants(values)
        size = values.size
        parts.append((np.full(size, ft), sk / 2.0, ph, prob * weights, np.full(size, cat)))
    law = CoordinateLaw(
        beta_star=np.concatenate([p[0] for p in parts]),
        kappa=np.concatenate([p[1] for p in parts]),
        phi=np.concatenate([p[2] for p in parts]),
        weight=np.concatenate([p[3] for p in parts]),
        group=np.concatenate([p[4] for p in parts]).astype(np.int64),
        label=f"{setting.name} on {task.name}",
    )
    return law.folded()


def scratch_law(scratch: ScratchSetting, task: TaskSpec, *, nodes: int = 3) -> CoordinateLaw:
    """Law of ``(beta*_FT, kappa, phi)`` of training from scratch on ``task``.

    Parameters
    ----------
    scratch : ScratchSetting
        Scale ``c`` and log-normal ``jitter`` of the four weights of a unit.
    task : TaskSpec
        Shared and new fractions of ``D`` (only their sum matters here).
    nodes : int
        Gauss-Hermite nodes per normal (``nodes^4`` penalty atoms).

    Returns
    -------
    CoordinateLaw
        Folded atoms.
    """
    active = float(task.shared) + float(task.new)
    if not 0 < active <= 1:
        raise InputError(f"task {task.name!r}: shared + new must lie in (0, 1]")
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    grids = np.meshgrid(z, z, z, z, indexing="ij")
    wts = np.prod(np.meshgrid(w, w, w, w, indexing="ij"), axis=0).ravel()
    base = math.sqrt(scratch.c / 2.0)
    wp, vp, wm, vm = (base * np.exp(scratch.jitter * g.ravel()) for g in grids)
    sk, ph = bias_constants(wp, vp, wm, vm)
    k = sk.size
    law = CoordinateLaw(
        beta_star=np.concatenate([np.zeros(k), np.ones(k)]),
        kappa=np.tile(sk / 2.0, 2),
        phi=np.tile(ph, 2),
        weight=np.concatenate([(1.0 - active) * wts, active * wts]),
        group=np.repeat(np.array([0, 1], dtype=np.int64), k),
        label=f"scratch on {task.name}",
    )
    return law.folded()


def solve_curve(
    law: CoordinateLaw, alphas: Iterable[float], *, noise_var: float = 0.0, spread: bool = True
) -> list[StateEvolution]:
    """Solve the state evolution at every ``alpha``, warm-starting from the neighbour.

    Parameters
    ----------
    law : CoordinateLaw
        Atoms of the coordinate law.
    alphas : iterable of float
        Sample ratios (any order; solved in increasing order).
    noise_var : float
        ``s2``: label-noise variance per sample in units of the coordinates.
    spread : bool
        Also compute each solution's ``sd_scale``.

    Returns
    -------
    list of StateEvolution
        In the order of ``alphas``.
    """
    values = [float(a) for a in alphas]
    out: dict[int, StateEvolution] = {}
    done: list[StateEvolution] = []  # solved interpolating points, in increasing alpha
    for i in sorted(range(len(values)), key=lambda j: values[j]):
        sol = solve_state_evolution(
            law, values[i], noise_var=noise_var, start=_extrapolate(done, values[i]), spread=spread
        )
        out[i] = sol
        if sol.status == "ok":
            done.append(sol)
    return [out[i] for i in range(len(values))]


def _extrapolate(done: list[StateEvolution], alpha: float) -> tuple[float, float] | None:
    """Start for Newton: the last solution, or the line through the last two in log scale."""
    if not done:
        return None
    pts = [s for s in done[-3:] if s.alpha != alpha]
    xs = np.array([s.alpha for s in pts])
    if len(pts) < 2 or np.unique(xs).size < len(pts) or alpha - xs[-1] > 2 * (xs[-1] - xs[0]):
        return done[-1].tau, done[-1].theta
    # polynomial (linear or quadratic) extrapolation of log tau and log theta in alpha
    deg = len(pts) - 1
    out = []
    for values in ([s.tau for s in pts], [s.theta for s in pts]):
        coef = np.polyfit(xs, np.log(values), deg)
        out.append(float(np.exp(np.polyval(coef, alpha))))
    return out[0], out[1]


def theory_curves(
    settings: Sequence[InitSetting] = DEFAULT_METHODS,
    *,
    alphas: Sequence[float] = (0.1, 0.2, 0.3, 0.5, 0.7),
    tasks: Sequence[TaskSpec] | None = None,
    rho_pt: float = 0.1,
    alpha_pt: float = 4.0,
    pt_noise: float = 0.1,
    ft_noise: float = 0.1,
    scratch: ScratchSetting | None = SCRATCH,
    dim: int | None = None,
) -> pd.DataFrame:
    """Predict the normalized generalization error of fine-tuning as ``D -> inf``.

    The counterpart of :func:`transferscope.dln.ladder.generalization_curves` without sampling:
    one row per method, task and ``alpha``, with the error that the simulator's mean converges to
    as ``D`` grows at fixed ``alpha = n / D`` (module docstring).

    Parameters
    ----------
    settings : sequence of InitSetting
        Methods (default: one per regime).
    alphas : sequence of float
        Fine-tuning samples per dimension (> 0; ``alpha >= 1`` is least squares).
    tasks : sequence of TaskSpec, optional
        Default: the four overlaps of :func:`transferscope.dln.data.default_tasks`.
    rho_pt : float
        Density of the pretraining teacher.
    alpha_pt : float
        Pretraining samples per dimension (``n_pretrain / D``; 4 as the simulator's default).
    pt_noise, ft_noise : float
        Label noise relative to the teacher's norm, in pretraining and fine-tuning.
    scratch : ScratchSetting or None
        Baseline trained from scratch (method ``scratch``); ``None`` leaves it out.
    dim : int, optional
        A dimension ``D`` at which to state the spread of one run (column ``gen_error_sd``);
        it does not change ``gen_error``.

    Returns
    -------
    pandas.DataFrame
        The columns of ``generalization_curves`` — method, regime (``scratch`` for the baseline),
        task, alpha_ft, shots, seed and n_pretrain (all null: there is no sample at
        ``D = inf``), upstream_error (of the checkpoint, predicted), gen_error (predicted
        normalized error ``|beta - beta*|^2 / |beta*|^2``), converged (the solve's status is
        ``ok`` or ``least_squares``) — then alpha_pt, status, message, tau and theta (the
        solution of the state evolution; theta is 0 for least squares), sd_scale
        (``sqrt(D)`` times the standard deviation of one run's error, a leading-order
        approximation, see :class:`~transferscope.dln.state_evolution.StateEvolution`; null for
        least squares, and without ``dim``, which skips its computation) and gen_error_sd
        (``sd_scale / sqrt(dim)``; null without ``dim``).
    """
    # the equations work on short vectors: BLAS threads only add overhead (5 to 7x the CPU
    # time measured with two OpenBLAS threads on two cores), so this runs on one thread
    with threadpool_limits(limits=1, user_api="blas"):
        if dim is not None and (not isinstance(dim, int | np.integer) or dim < 1):
            raise InputError(f"dim must be a positive integer, got {dim!r}")
        task_list = list(tasks) if tasks is not None else default_tasks(rho_pt, 4)
        alpha_list = [float(a) for a in alphas]
        if not alpha_list or any(not (a > 0 and math.isfinite(a)) for a in alpha_list):
            raise InputError("alphas must be finite and > 0")
        for a_name, value in (("pt_noise", pt_noise), ("ft_noise", ft_noise)):
            if not (value >= 0 and math.isfinite(value)):
                raise InputError(f"{a_name} must be finite and >= 0, got {value}")
        regimes = {s.name: s.regime().regime for s in settings}
        laws: dict[float, PretrainedLaw] = {}
        rows: list[dict[str, object]] = []

        def add(
            method: str, regime: str, task: TaskSpec, up: float, sols: list[StateEvolution]
        ) -> None:
            for a, sol in zip(alpha_list, sols, strict=True):
                rows.append(
                    {
                        "method": method,
                        "regime": regime,
                        "task": task.name,
                        "alpha_ft": a,
                        "shots": pd.NA,
                        "seed": pd.NA,
                        "n_pretrain": pd.NA,
                        "upstream_error": up,
                        "gen_error": sol.gen_error,
                        "converged": sol.status in ("ok", "least_squares"),
                        "alpha_pt": float(alpha_pt),
                        "status": sol.status,
                        "message": sol.message,
                        "tau": sol.tau,
                        "theta": sol.theta,
                        "sd_scale": sol.sd_scale,
                        "gen_error_sd": sol.sd_scale / math.sqrt(dim) if dim else math.nan,
                    }
                )

        for task in task_list:
            _check_task(task, rho_pt)
            m2 = float(task.shared) + float(task.new)
            s2 = ft_noise**2 * m2
            for s in settings:
                c = float(s.c_pt)
                if c not in laws:
                    laws[c] = pretrained_law(c, rho_pt=rho_pt, alpha_pt=alpha_pt, pt_noise=pt_noise)
                pre = laws[c]
                if not pre.ok:
                    sols = [_no_pretraining(a, pre) for a in alpha_list]
                else:
                    law = finetune_law(s, task, pre)
                    sols = solve_curve(law, alpha_list, noise_var=s2, spread=dim is not None)
                add(s.name, regimes[s.name], task, pre.upstream_error, sols)
            if scratch is not None:
                law = scratch_law(scratch, task)
                sols = solve_curve(law, alpha_list, noise_var=s2, spread=dim is not None)
                add("scratch", "scratch", task, math.nan, sols)
        frame = pd.DataFrame(rows)
        for col in ("shots", "seed", "n_pretrain"):
            frame[col] = frame[col].astype("Int64")
        return frame


def _no_pretraining(alpha: float, pre: PretrainedLaw) -> StateEvolution:
    return StateEvolution.failed(alpha, "no_solution", f"no pretrained law: {pre.message}")
