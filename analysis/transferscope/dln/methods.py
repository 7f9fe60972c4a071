"""Named initialization settings (the simulator's "methods") and the solver-based training steps.

A setting is a pretraining initialization ``(c_PT, lambda_PT)`` plus a fine-tuning readout
re-initialization ``gamma_FT`` (and optionally a first-layer rescaling). :data:`REGIME_SETTINGS`
holds one setting per regime, chosen from the limits in :mod:`transferscope.dln.regimes` for
teachers of amplitude 1; :data:`SCRATCH` is the small random initialization of training from
scratch. Everything here trains with the implicit-bias solver, which gives the limit of gradient
flow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from transferscope.dln.bias import (
    Readout,
    bias_constants,
    finetune_constants,
    solve_implicit_bias,
)
from transferscope.dln.regimes import RegimeReport, classify_regime
from transferscope.dln.train import scratch_init
from transferscope.records import Record


@dataclass(frozen=True)
class InitSetting(Record):
    """A named pretraining-then-fine-tuning initialization.

    Parameters
    ----------
    name : str
        Method name (snake_case) used in the run table.
    c_pt : float
        Absolute scale of the pretraining initialization, ``w(0)^2 + v(0)^2``.
    lam_pt : float
        Relative scale ``(w(0)^2 - v(0)^2) / c_pt`` in [-1, 1].
    gamma_ft : float
        Readout scale at the start of fine-tuning (root-mean-square of the two readouts).
    readout : {"balanced", "constant"}
        Readout re-initialization (:func:`transferscope.dln.bias.finetune_init`).
    rescale : float
        First-layer rescaling before fine-tuning.
    """

    name: str
    c_pt: float
    lam_pt: float
    gamma_ft: float
    readout: Readout = "balanced"
    rescale: float = 1.0

    def constants(
        self, beta_pt: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return ``(sqrt(k), phi)`` of fine-tuning from the checkpoint ``beta_pt``."""
        return finetune_constants(
            beta_pt,
            self.c_pt,
            self.lam_pt,
            self.gamma_ft,
            readout=self.readout,
            rescale=self.rescale,
        )

    def regime(self, *, beta_pt_scale: float = 1.0, ft_scale: float = 1.0) -> RegimeReport:
        """Classify this setting (see :func:`transferscope.dln.regimes.classify_regime`)."""
        return classify_regime(
            self.c_pt,
            self.lam_pt,
            self.gamma_ft,
            beta_pt_scale=beta_pt_scale,
            ft_scale=ft_scale,
            readout=self.readout,
            rescale=self.rescale,
        )


@dataclass(frozen=True)
class ScratchSetting(Record):
    """Training from scratch: small random initialization, no pretraining.

    Parameters
    ----------
    c : float
        Typical ``w^2 + v^2`` of a unit.
    jitter : float
        Log-normal spread of the weights (:func:`transferscope.dln.train.scratch_init`).
    """

    c: float = 1e-3
    jitter: float = 0.1

    def constants(
        self, dim: int, rng: np.random.Generator
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return ``(sqrt(k), phi)`` of one random initialization of ``dim`` units."""
        return bias_constants(*scratch_init(self.c, dim, rng, jitter=self.jitter))

    def to_record(self) -> dict[str, Any]:
        """Return the setting as a JSON-safe dict (``init`` says it is training from scratch)."""
        return {"init": "scratch", **super().to_record()}


#: One setting per regime (teachers of amplitude 1). I: lambda = -1 and a large c make the
#: pretrained part of kappa tiny (B^2/(4c) = 0.0025) next to gamma^2 = 0.01. II: c -> 0, kappa
#: = |B|/2 on pretrained dimensions, ~1e-3 elsewhere. III: gamma^2 = 9 dominates. IV: lambda = -1,
#: c = 10 gives kappa = B^2/(4c) = 0.025 on pretrained dimensions and gamma^2 = 1e-4 elsewhere.
REGIME_SETTINGS: dict[str, InitSetting] = {
    "I": InitSetting("rich_pt_independent", c_pt=100.0, lam_pt=-1.0, gamma_ft=0.1),
    "II": InitSetting("lazy_pt_dependent", c_pt=1e-3, lam_pt=0.0, gamma_ft=0.03),
    "III": InitSetting("lazy_pt_independent", c_pt=1e-3, lam_pt=0.0, gamma_ft=3.0),
    "IV": InitSetting("rich_pt_dependent", c_pt=10.0, lam_pt=-1.0, gamma_ft=0.01),
}

#: The methods of the default ladder.
DEFAULT_METHODS: tuple[InitSetting, ...] = tuple(REGIME_SETTINGS.values())

#: The scratch baseline of the default ladder.
SCRATCH = ScratchSetting()


def pretrain(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    sizes: Sequence[int],
    c_values: Sequence[float],
) -> dict[float, NDArray[np.float64]]:
    """Pretrained ``beta`` for nested sample sizes and each pretraining scale ``c``.

    Parameters
    ----------
    x, y : numpy.ndarray
        Pretraining data, shapes ``(n_max, D)`` and ``(n_max,)``; checkpoint ``i`` uses the first
        ``sizes[i]`` samples.
    sizes : sequence of int
        Samples per checkpoint.
    c_values : sequence of float
        Pretraining scales (``beta_PT`` depends on ``c`` only, not on ``lambda``; with ``n >= D`` it
        is the least-squares solution for every ``c``).

    Returns
    -------
    dict
        ``{c: beta}`` with ``beta`` of shape ``(len(sizes), D)``.
    """
    dim = x.shape[-1]
    scales = list(dict.fromkeys(float(v) for v in c_values))
    rows: dict[float, list[NDArray[np.float64]]] = {c: [] for c in scales}
    for n in sizes:
        if n >= dim:  # least squares, the same for every c
            beta = solve_implicit_bias(x[:n], y[:n], np.ones(dim)).beta
            for c in scales:
                rows[c].append(beta)
            continue
        for c in scales:
            rows[c].append(solve_implicit_bias(x[:n], y[:n], np.full(dim, 2.0 * c)).beta)
    return {c: np.stack(r) for c, r in rows.items()}


def finetune(
    checkpoints: dict[float, NDArray[np.float64]],
    settings: Sequence[InitSetting],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Fine-tune every checkpoint with every setting on one data set (limit of gradient flow).

    Parameters
    ----------
    checkpoints : dict
        ``{c: beta_PT}`` from :func:`pretrain`, each of shape ``(C, D)``.
    settings : sequence of InitSetting
        Methods; each uses the checkpoints pretrained with its ``c_pt``.
    x, y : numpy.ndarray
        Fine-tuning data, shapes ``(n, D)`` and ``(n,)``.

    Returns
    -------
    beta : numpy.ndarray
        Shape ``(C, M, D)``.
    converged : numpy.ndarray
        Shape ``(C, M)``.
    """
    sk_list, ph_list = [], []
    for s in settings:
        sk, ph = s.constants(checkpoints[float(s.c_pt)])
        sk_list.append(sk)
        ph_list.append(ph)
    sk_all = np.stack(sk_list, axis=1)  # (C, M, D)
    ph_all = np.stack(ph_list, axis=1)
    sol = solve_implicit_bias(x, y, sk_all, ph_all)
    return sol.beta, sol.converged


def finetune_scratch(
    scratch: ScratchSetting,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], bool]:
    """Train from scratch on one data set (limit of gradient flow from a random small init).

    Parameters
    ----------
    scratch : ScratchSetting
        The initialization.
    x, y : numpy.ndarray
        Data, shapes ``(n, D)`` and ``(n,)``.
    rng : numpy.random.Generator
        Draws the initialization.

    Returns
    -------
    beta : numpy.ndarray
        Shape ``(D,)``.
    converged : bool
        Whether the solver converged.
    """
    sk, ph = scratch.constants(x.shape[-1], rng)
    sol = solve_implicit_bias(x, y, sk, ph)
    return sol.beta, bool(sol.converged)


def settings_json(record: dict[str, object]) -> str:
    """Serialize a settings record deterministically (sorted keys), for the ``hparams`` column.

    Parameters
    ----------
    record : dict
        JSON-safe values.

    Returns
    -------
    str
        Compact JSON text.
    """
    return json.dumps(record, sort_keys=True, separators=(",", ":"))
