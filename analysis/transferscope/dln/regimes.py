"""Fine-tuning regimes: the l-order of the implicit penalty and its dependence on pretraining.

With ``kappa_d = sqrt(k_d)/2`` (see :mod:`transferscope.dln.bias`), the penalty ``q_{k_d}(z)`` is
quadratic, ``z^2 / (4 kappa)``, for ``|z| << kappa`` (lazy, l2) and ``(|z|/2)(log(|z|/kappa) - 1)``
for ``|z| >> kappa`` (rich, l1-like). Two numbers place a setting ``(c_PT, lambda_PT, gamma_FT)``:

* the **order** ``p = z q'(z) / q(z)``, the local exponent of the penalty (2 for l2, towards 1 for
  l1), evaluated at the scale ``z = ft_scale`` of the fine-tuning teacher on a dimension the
  pretrained model uses with ``|beta_PT| = beta_pt_scale``; lazy when ``p >= order_threshold``
  (default 1.5, i.e. ``z/kappa`` below about 6);
* the **pretraining dependence** ``1 - kappa(beta_PT = 0) / kappa(beta_PT = beta_pt_scale)``, in
  [0, 1): 0 when the penalty ignores pretraining, near 1 when pretrained dimensions are much cheaper
  than new ones; dependent when it is at least ``dependence_threshold`` (default 0.5, a ratio of
  2).

Regimes: I rich and independent (plain l1-like), II lazy and dependent (weighted l2), III lazy and
independent (plain l2), IV rich and dependent (l1-like with weights from pretraining).

Limits that follow from ``kappa(B) = rescale^2 (sqrt(c^2 + B^2) + lambda c)/2 + gamma^2`` (balanced
readout): ``c -> 0`` gives ``kappa = rescale^2 |B|/2 + gamma^2``, independent of ``lambda``: with
``gamma -> 0`` it is fully pretraining-dependent, and lazy for a fine-tuning scale up to about
``|B|`` (regime II), rich only for ``z >> |B|/2``; large ``gamma`` gives regime III whatever else;
large ``c`` gives ``kappa ~ c (1 + lambda)/2``, lazy and independent (III) unless ``lambda = -1``,
where ``kappa(B) - gamma^2 ~ B^2 / (4 c)`` is small: rich, and dependent when
``gamma^2 << B^2/(4c)`` (IV), independent when ``gamma^2 >> B^2/(4c)`` (I). At fixed ``c``,
``kappa`` increases with ``lambda`` (a smaller first layer makes fine-tuning richer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from transferscope.dln.bias import Readout, finetune_constants
from transferscope.records import Record

REGIME_NAMES: dict[str, str] = {
    "I": "rich, pretraining-independent",
    "II": "lazy, pretraining-dependent",
    "III": "lazy, pretraining-independent",
    "IV": "rich, pretraining-dependent",
}


def penalty_scale(
    beta_pt: ArrayLike,
    c: float,
    lam: float,
    gamma: float,
    *,
    readout: Readout = "balanced",
    rescale: float = 1.0,
) -> NDArray[np.float64]:
    """``kappa_d = sqrt(k_d)/2`` of fine-tuning for each pretrained value ``beta_PT,d``.

    Parameters
    ----------
    beta_pt : array_like
        Pretrained coordinates.
    c, lam : float
        Pretraining initialization: absolute scale and relative scale in [-1, 1].
    gamma : float
        Readout scale at the start of fine-tuning.
    readout : {"balanced", "constant"}
        Readout re-initialization (:func:`transferscope.dln.bias.finetune_init`).
    rescale : float
        First-layer rescaling before fine-tuning.

    Returns
    -------
    numpy.ndarray
        ``kappa`` of the same shape as ``beta_pt``.
    """
    sqrt_k, _ = finetune_constants(beta_pt, c, lam, gamma, readout=readout, rescale=rescale)
    return np.asarray(sqrt_k / 2.0, dtype=float)


def effective_order(z: ArrayLike, kappa: ArrayLike) -> NDArray[np.float64]:
    """Local exponent ``p = z q'(z) / q(z)`` of the penalty at ``|z|`` for scale ``kappa``.

    Parameters
    ----------
    z : array_like
        Coordinate magnitude (> 0).
    kappa : array_like
        ``sqrt(k)/2``, broadcast against ``z``.

    Returns
    -------
    numpy.ndarray
        In (1, 2]: 2 when ``|z| << kappa`` (l2), decreasing towards 1 (l1-like) as ``|z|/kappa``
        grows.
    """
    u = np.abs(np.asarray(z, dtype=float)) / np.asarray(kappa, dtype=float)
    big = u > 1e-4
    us = np.where(big, u, 1.0)
    num = us * np.arcsinh(us)
    den = 1.0 - np.sqrt(1.0 + us**2) + num
    return np.asarray(np.where(big, num / den, 2.0), dtype=float)


@dataclass(frozen=True, kw_only=True)
class RegimeReport(Record):
    """Where a fine-tuning setting sits among the four regimes.

    Attributes
    ----------
    regime : str
        ``"I"``, ``"II"``, ``"III"`` or ``"IV"``.
    description : str
        E.g. ``"lazy, pretraining-dependent"``.
    c_pt, lam_pt, gamma_ft : float
        The setting.
    readout : str
        Readout re-initialization.
    rescale : float
        First-layer rescaling.
    beta_pt_scale, ft_scale : float
        Pretrained magnitude and fine-tuning scale at which the penalty is read.
    kappa_pretrained, kappa_new : float
        ``kappa`` on a pretrained dimension and on a dimension with ``beta_PT = 0``.
    order_pretrained, order_new : float
        Local exponent of the penalty at ``ft_scale`` on those dimensions.
    dependence : float
        ``1 - kappa_new / kappa_pretrained``.
    lazy, pretraining_dependent : bool
        The two classifications.
    """

    regime: str
    description: str
    c_pt: float
    lam_pt: float
    gamma_ft: float
    readout: str
    rescale: float
    beta_pt_scale: float
    ft_scale: float
    kappa_pretrained: float
    kappa_new: float
    order_pretrained: float
    order_new: float
    dependence: float
    lazy: bool
    pretraining_dependent: bool

    def describe(self) -> str:
        """Return one line: the regime and its description."""
        return f"regime {self.regime} ({self.description})"


def classify_regime(
    c: float,
    lam: float,
    gamma: float,
    *,
    beta_pt_scale: float = 1.0,
    ft_scale: float = 1.0,
    readout: Readout = "balanced",
    rescale: float = 1.0,
    order_threshold: float = 1.5,
    dependence_threshold: float = 0.5,
) -> RegimeReport:
    """Classify a fine-tuning setting into regimes I-IV.

    Parameters
    ----------
    c, lam : float
        Pretraining initialization: absolute scale ``c_PT`` and relative scale ``lambda_PT``.
    gamma : float
        Readout scale ``gamma_FT``.
    beta_pt_scale : float
        Magnitude of a pretrained coordinate the fine-tuning task may reuse.
    ft_scale : float
        Magnitude of a fine-tuning teacher coordinate.
    readout : {"balanced", "constant"}
        Readout re-initialization.
    rescale : float
        First-layer rescaling before fine-tuning.
    order_threshold : float
        Lazy when the order on pretrained dimensions is at least this.
    dependence_threshold : float
        Pretraining-dependent when the dependence is at least this.

    Returns
    -------
    RegimeReport
        The regime with the numbers behind it.
    """
    kappa = penalty_scale(
        np.array([beta_pt_scale, 0.0]), c, lam, gamma, readout=readout, rescale=rescale
    )
    k_pre, k_new = float(kappa[0]), float(kappa[1])
    order = effective_order(ft_scale, kappa)
    dependence = max(0.0, 1.0 - k_new / k_pre)
    lazy = bool(order[0] >= order_threshold)
    dependent = bool(dependence >= dependence_threshold)
    regime = {(False, False): "I", (True, True): "II", (True, False): "III", (False, True): "IV"}[
        (lazy, dependent)
    ]
    return RegimeReport(
        regime=regime,
        description=REGIME_NAMES[regime],
        c_pt=float(c),
        lam_pt=float(lam),
        gamma_ft=float(gamma),
        readout=str(readout),
        rescale=float(rescale),
        beta_pt_scale=float(beta_pt_scale),
        ft_scale=float(ft_scale),
        kappa_pretrained=k_pre,
        kappa_new=k_new,
        order_pretrained=float(order[0]),
        order_new=float(order[1]),
        dependence=float(dependence),
        lazy=lazy,
        pretraining_dependent=dependent,
    )


def regime_grid(
    c_values: ArrayLike,
    lam_values: ArrayLike,
    gamma_values: ArrayLike,
    **kwargs: object,
) -> pd.DataFrame:
    """Classify every combination of ``c``, ``lambda`` and ``gamma`` (a map of the regimes).

    Parameters
    ----------
    c_values, lam_values, gamma_values : array_like
        Values to combine.
    **kwargs
        Passed to :func:`classify_regime` (``beta_pt_scale``, ``ft_scale``, thresholds, ...).

    Returns
    -------
    pandas.DataFrame
        One row per combination with the columns of :class:`RegimeReport`: regime, description,
        c_pt, lam_pt, gamma_ft, readout, rescale, beta_pt_scale, ft_scale, kappa_pretrained,
        kappa_new, order_pretrained, order_new, dependence, lazy, pretraining_dependent.
    """
    rows = [
        classify_regime(float(c), float(lam), float(g), **kwargs).to_record()  # type: ignore[arg-type]
        for c in np.atleast_1d(c_values)
        for lam in np.atleast_1d(lam_values)
        for g in np.atleast_1d(gamma_values)
    ]
    return pd.DataFrame(rows)
