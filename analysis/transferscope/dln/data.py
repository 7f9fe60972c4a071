"""Teachers, tasks and Gaussian data for the diagonal-linear-network simulator.

The pretraining teacher is sparse: ``round(rho_pt * D)`` active dimensions with values
``+-amplitude`` (random signs). A fine-tuning task shares ``round(shared * D)`` of those dimensions
(``rho_FT_shared``) and adds ``round(new * D)`` dimensions outside them (``rho_FT_new``), with
fresh random signs: the task reuses pretraining *features* (dimensions), not their values. Inputs
are isotropic Gaussian, ``x ~ N(0, I_D)``; targets ``y = x . beta* + noise``. For such inputs the
generalization error of ``beta`` is ``|beta - beta*|^2 + sigma^2``; the simulator reports the
normalized excess error ``|beta - beta*|^2 / |beta*|^2`` (:func:`normalized_error`, no noise term).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from transferscope.errors import InputError
from transferscope.records import Record


@dataclass(frozen=True)
class TaskSpec(Record):
    """A fine-tuning task defined by its overlap with the pretraining teacher.

    Parameters
    ----------
    name : str
        Task name (used as ``task`` in the run table).
    shared : float
        ``rho_FT_shared``: active dimensions taken from the pretraining support, as a fraction of
        all ``D`` dimensions.
    new : float
        ``rho_FT_new``: active dimensions outside the pretraining support, as a fraction of ``D``.
    """

    name: str
    shared: float
    new: float


def default_tasks(rho_pt: float, count: int = 4) -> list[TaskSpec]:
    """Return the default fine-tuning tasks: equal, subset, disjoint, partial, then mixtures.

    Parameters
    ----------
    rho_pt : float
        Density of the pretraining teacher.
    count : int
        Number of tasks (at least 1).

    Returns
    -------
    list of TaskSpec
        ``equal`` (all pretraining dimensions), ``subset`` (30% of them), ``disjoint`` (as many new
        dimensions as ``subset`` has), ``partial`` (15% of them plus as many new), then mixtures
        ``mix_<i>`` whose shared share rises from 0.1 to 0.9 of a support of 0.3 ``rho_pt``.
    """
    if count < 1:
        raise InputError("count must be >= 1")
    base = [
        TaskSpec("equal", rho_pt, 0.0),
        TaskSpec("subset", 0.3 * rho_pt, 0.0),
        TaskSpec("disjoint", 0.0, 0.3 * rho_pt),
        TaskSpec("partial", 0.15 * rho_pt, 0.15 * rho_pt),
    ]
    extra = max(0, count - len(base))
    for i, share in enumerate(np.linspace(0.1, 0.9, extra) if extra > 1 else [0.5] * extra):
        base.append(TaskSpec(f"mix_{i + 1}", 0.3 * rho_pt * share, 0.3 * rho_pt * (1 - share)))
    return base[:count]


def _count(fraction: float, dim: int) -> int:
    return round(fraction * dim)


def pretraining_teacher(
    dim: int, rho_pt: float, rng: np.random.Generator, *, amplitude: float = 1.0
) -> NDArray[np.float64]:
    """Sparse pretraining teacher with ``round(rho_pt * dim)`` entries of ``+-amplitude``.

    Parameters
    ----------
    dim : int
        Input dimension ``D``.
    rho_pt : float
        Density in (0, 1].
    rng : numpy.random.Generator
        Source of randomness.
    amplitude : float
        Magnitude of the active entries.

    Returns
    -------
    numpy.ndarray
        ``beta*_PT`` of shape ``(dim,)``.
    """
    k = _count(rho_pt, dim)
    if not 1 <= k <= dim:
        raise InputError(f"rho_pt * dim must round to between 1 and dim, got {rho_pt} * {dim}")
    beta = np.zeros(dim)
    support = rng.choice(dim, size=k, replace=False)
    beta[support] = amplitude * rng.choice([-1.0, 1.0], size=k)
    return beta


def finetuning_teacher(
    beta_pt: ArrayLike, task: TaskSpec, rng: np.random.Generator, *, amplitude: float = 1.0
) -> NDArray[np.float64]:
    """Fine-tuning teacher sharing dimensions with the pretraining teacher and adding new ones.

    Parameters
    ----------
    beta_pt : array_like
        The pretraining teacher (its non-zero entries define the pretraining support).
    task : TaskSpec
        Shared and new fractions of ``D``.
    rng : numpy.random.Generator
        Source of randomness.
    amplitude : float
        Magnitude of the active entries (fresh random signs).

    Returns
    -------
    numpy.ndarray
        ``beta*_FT`` of shape ``(D,)`` with at least one active entry.
    """
    b = np.asarray(beta_pt, dtype=float)
    dim = b.size
    inside = np.flatnonzero(b != 0)
    outside = np.flatnonzero(b == 0)
    n_shared, n_new = _count(task.shared, dim), _count(task.new, dim)
    if n_shared > inside.size or n_new > outside.size:
        raise InputError(f"task {task.name!r} needs more dimensions than the teacher offers")
    if n_shared + n_new == 0:
        raise InputError(f"task {task.name!r} has no active dimension at D = {dim}")
    chosen = np.concatenate(
        [
            rng.choice(inside, size=n_shared, replace=False),
            rng.choice(outside, size=n_new, replace=False),
        ]
    ).astype(int)
    beta = np.zeros(dim)
    beta[chosen] = amplitude * rng.choice([-1.0, 1.0], size=chosen.size)
    return beta


def sample_regression(
    beta: ArrayLike,
    n: int,
    rng: np.random.Generator,
    *,
    noise: float = 0.0,
    batch: Sequence[int] = (),
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Isotropic Gaussian inputs and noisy linear targets.

    Parameters
    ----------
    beta : array_like
        Teacher of shape ``(D,)``.
    n : int
        Samples per problem.
    rng : numpy.random.Generator
        Source of randomness.
    noise : float
        Noise standard deviation relative to the signal: ``sigma = noise * |beta|``
        (per-sample signal-to-noise ratio ``1 / noise^2``).
    batch : sequence of int
        Leading batch shape, e.g. ``(seeds,)``.

    Returns
    -------
    x : numpy.ndarray
        Shape ``(*batch, n, D)``, entries ``N(0, 1)``.
    y : numpy.ndarray
        Shape ``(*batch, n)``.
    """
    b = np.asarray(beta, dtype=float)
    x = rng.standard_normal((*batch, n, b.size))
    sigma = noise * float(np.linalg.norm(b))
    y = x @ b + sigma * rng.standard_normal((*batch, n))
    return x, y


def normalized_error(beta: ArrayLike, beta_star: ArrayLike) -> NDArray[np.float64]:
    """Compute the normalized excess generalization error ``|beta - beta*|^2 / |beta*|^2``.

    For ``x ~ N(0, I)`` the expected squared error of a prediction is
    ``|beta - beta*|^2 + sigma^2``; this is its excess part, normalized so that predicting zero
    scores 1. Reduces the last axis.

    Parameters
    ----------
    beta : array_like
        Estimates, shape ``(..., D)``.
    beta_star : array_like
        Teacher, broadcast against ``beta``.

    Returns
    -------
    numpy.ndarray
        One error per estimate.
    """
    b = np.asarray(beta, dtype=float)
    s = np.asarray(beta_star, dtype=float)
    return np.asarray(((b - s) ** 2).sum(-1) / (s**2).sum(-1), dtype=float)
