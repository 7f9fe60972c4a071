"""Salient interactions and the knowledge sets of a pretrained, fine-tuned and scratch model.

Numpy kernels. Arrays of *strengths* have shape ``(..., 2**n)`` (leading axes: inputs), indexed
by subset bitmask; the strength of ``S`` is ``|I(S)|`` for one input, or the mean of ``|I(S)|``
over inputs for an aggregate.

Definitions (P = pretrained, F = fine-tuned, R = from scratch; ``s_M(S)`` = strength in model M):

- Salient set of a model, ``Omega_M``: the subsets ``S`` with ``s_M(S) >= tau * max s_M`` and
  ``s_M(S) > 0``, the maximum taken over the subsets considered. The empty subset, whose
  interaction ``I(empty) = v(empty)`` is the output on the baseline rather than an effect of any
  variable, is left out unless ``include_empty`` is set.
- preserved = ``Omega_P & Omega_F``; discarded = ``Omega_P - Omega_F``; newly_learned =
  ``Omega_F - Omega_P``; exclusive = preserved ``- Omega_R`` (kept from pretraining and not
  learned from scratch); shared_with_scratch = ``Omega_P & Omega_R``; and each model's own salient
  set (salient_pretrained, salient_fine_tuned, salient_scratch).
- Shares of a set ``X`` (NaN when ``X`` is not by construction a subset of the denominator's set,
  or when that set is empty):

  - ``count_share_of_p = |X| / |Omega_P|`` (and ``_f``, ``_r`` with ``Omega_F``, ``Omega_R``);
  - ``share_of_p = sum over S in X of s_P(S) / sum over S in Omega_P of s_P(S)``, the part of
    P's salient strength that lies in ``X``; ``share_of_f`` and ``share_of_r`` likewise with F's
    strengths over ``Omega_F`` and R's over ``Omega_R``.

  Hence ``share_of_p(preserved) + share_of_p(discarded) = 1`` and
  ``share_of_f(preserved) + share_of_f(newly_learned) = 1`` (same for the count shares), and the
  order profile of a share sums over orders to the share.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from transferscope.errors import InputError
from transferscope.knowledge.transform import subset_order

#: Names of the three models compared, in the order P, F, R.
ROLES: Final[tuple[str, str, str]] = ("pretrained", "fine_tuned", "scratch")

#: Knowledge sets, in reporting order.
SET_NAMES: Final[tuple[str, ...]] = (
    "preserved",
    "discarded",
    "newly_learned",
    "exclusive",
    "shared_with_scratch",
    "salient_pretrained",
    "salient_fine_tuned",
    "salient_scratch",
)

#: For each set, whether it is by construction a subset of Omega_P, Omega_F, Omega_R.
SET_WITHIN: Final[dict[str, tuple[bool, bool, bool]]] = {
    "preserved": (True, True, False),
    "discarded": (True, False, False),
    "newly_learned": (False, True, False),
    "exclusive": (True, True, False),
    "shared_with_scratch": (True, False, True),
    "salient_pretrained": (True, False, False),
    "salient_fine_tuned": (False, True, False),
    "salient_scratch": (False, False, True),
}

#: Default salience threshold, relative to the largest strength.
DEFAULT_TAU: Final[float] = 0.05


def check_tau(tau: float) -> float:
    """Validate a salience threshold.

    Parameters
    ----------
    tau : float
        Threshold relative to the largest strength, in ``(0, 1]``.

    Returns
    -------
    float
        ``tau`` as a float.
    """
    t = float(tau)
    if not 0.0 < t <= 1.0:
        raise InputError(f"tau must lie in (0, 1], got {tau}")
    return t


def salient_mask(
    strength: ArrayLike, tau: float = DEFAULT_TAU, *, include_empty: bool = False
) -> NDArray[np.bool_]:
    """Salient subsets: ``s(S) >= tau * max s`` and ``s(S) > 0``, along the last axis.

    Parameters
    ----------
    strength : array_like
        Non-negative strengths, shape ``(..., 2**n)`` (e.g. ``abs(I)``).
    tau : float, default 0.05
        Threshold relative to the largest strength of the subsets considered, in ``(0, 1]``.
    include_empty : bool, default False
        Whether the empty subset (bitmask 0) may be salient and counts towards the maximum.

    Returns
    -------
    numpy.ndarray
        Boolean, same shape.
    """
    t = check_tau(tau)
    s = np.asarray(strength, dtype=np.float64)
    if s.ndim < 1 or s.shape[-1] < 1:
        raise InputError("strengths need a last axis of 2**n subsets")
    if np.any(~np.isfinite(s)) or np.any(s < 0):
        raise InputError("strengths must be finite and non-negative")
    considered = s.copy()
    if not include_empty:
        considered[..., 0] = 0.0
    top = considered.max(axis=-1, keepdims=True)
    return (considered >= t * top) & (considered > 0.0)


def knowledge_sets(
    salient_p: NDArray[np.bool_], salient_f: NDArray[np.bool_], salient_r: NDArray[np.bool_]
) -> dict[str, NDArray[np.bool_]]:
    """Membership masks of every set in :data:`SET_NAMES`.

    Parameters
    ----------
    salient_p, salient_f, salient_r : numpy.ndarray of bool
        Salient masks of the pretrained, fine-tuned and scratch model, same shape.

    Returns
    -------
    dict of str to numpy.ndarray
        Set name -> boolean mask of the same shape.
    """
    if not salient_p.shape == salient_f.shape == salient_r.shape:
        raise InputError(
            f"salient masks differ in shape: {salient_p.shape}, {salient_f.shape}, "
            f"{salient_r.shape}"
        )
    preserved = salient_p & salient_f
    return {
        "preserved": preserved,
        "discarded": salient_p & ~salient_f,
        "newly_learned": salient_f & ~salient_p,
        "exclusive": preserved & ~salient_r,
        "shared_with_scratch": salient_p & salient_r,
        "salient_pretrained": salient_p,
        "salient_fine_tuned": salient_f,
        "salient_scratch": salient_r,
    }


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    ok = np.broadcast_to(den > 0, out.shape)
    np.divide(num, den, out=out, where=ok)
    return out


def set_shares(
    members: NDArray[np.bool_],
    strength: NDArray[np.float64],
    salient: NDArray[np.bool_],
    *,
    by_order: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Count share and strength-weighted share of a set within one model's salient set.

    ``count share = |X| / |Omega|``; ``strength share = sum_{S in X} s(S) / sum_{S in Omega} s(S)``
    (NaN when ``Omega`` is empty). With ``by_order`` the numerators are split by the order ``|S|``
    (the denominators are not), so the profile sums over orders to the overall share.

    Parameters
    ----------
    members : numpy.ndarray of bool
        Membership of the set ``X``, shape ``(..., 2**n)``.
    strength : numpy.ndarray
        The model's strengths ``s``, same shape.
    salient : numpy.ndarray of bool
        The model's salient mask ``Omega``, same shape.
    by_order : bool, default False
        Split by interaction order.

    Returns
    -------
    count_share, strength_share : numpy.ndarray
        Shape ``(...)``, or ``(..., n + 1)`` with ``by_order`` (index = order).
    """
    w = np.where(salient, strength, 0.0)
    den_count = salient.sum(axis=-1).astype(np.float64)
    den_strength = w.sum(axis=-1)
    x_count = members.astype(np.float64)
    x_strength = np.where(members, strength, 0.0)
    if by_order:
        size = members.shape[-1]
        n = size.bit_length() - 1
        onehot = np.zeros((size, n + 1))
        onehot[np.arange(size), subset_order(np.arange(size))] = 1.0
        return (
            _ratio(x_count @ onehot, den_count[..., None]),
            _ratio(x_strength @ onehot, den_strength[..., None]),
        )
    return _ratio(x_count.sum(axis=-1), den_count), _ratio(x_strength.sum(axis=-1), den_strength)
