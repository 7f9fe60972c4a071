"""Shapley-type interaction indices from the Harsanyi (Mobius) coefficients, exactly.

With ``m(T)`` the Harsanyi interactions of a game on ``n`` variables (:func:`interactions`):

- Shapley interaction index (Grabisch 1997): ``SII(S) = sum over T superset of S of
  m(T) / (|T| - |S| + 1)``; on single variables it is the Shapley value;
- Banzhaf interaction index: ``BII(S) = sum over T superset of S of m(T) / 2**(|T| - |S|)``; on
  single variables the Banzhaf value;
- k-Shapley interaction index (Bordt and von Luxburg 2023), of order ``k``:
  ``kSII(S) = sum over T superset of S with |T| <= k of B_(|T| - |S|) SII(T)`` for
  ``1 <= |S| <= k`` (Bernoulli numbers ``B_0 = 1, B_1 = -1/2, B_2 = 1/6, ...``), 0 above order
  ``k``, and ``v(empty)`` for the empty set; it is efficient (the values sum to ``v(N)``), its
  order 1 is the Shapley value and its order ``n`` the Harsanyi interactions themselves.

Each is a weighted sum over supersets, ``out(S) = sum over T superset of S of m(T) w(|T| - |S|)``,
computed for every ``S`` at once by a *graded* superset transform: ``n`` passes over an array that
keeps, for each ``S``, the sums over supersets split by the number of added variables
(``O(n**2 2**n)`` operations and ``(n + 1) 2**n`` numbers; up to :data:`MAX_INDEX_VARIABLES`).
Numpy only; checked against the definitions from the values ``v`` in the tests.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import bernoulli

from transferscope.errors import InputError
from transferscope.knowledge.transform import _as_game, _n_from_length, subset_order

__all__ = ["INDICES", "MAX_INDEX_VARIABLES", "interaction_index", "superset_sums"]

Index = Literal["SII", "BII", "k-SII", "SV", "BV"]
#: Indices computed by :func:`interaction_index`.
INDICES: Final[tuple[str, ...]] = ("SII", "BII", "k-SII", "SV", "BV")
#: Largest number of variables (the graded transform holds ``(n + 1) 2**n`` numbers).
MAX_INDEX_VARIABLES: Final[int] = 20


def superset_sums(values: ArrayLike, weights: ArrayLike) -> NDArray[np.float64]:
    """``out(S) = sum over T superset of S of values(T) * weights[|T| - |S|]`` for every ``S``.

    Parameters
    ----------
    values : array_like
        Shape ``(..., 2**n)``, indexed by subset bitmask.
    weights : array_like
        ``n + 1`` weights, by the number of variables ``T`` adds to ``S``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``values``, float64.
    """
    game = np.asarray(_as_game(values), dtype=np.float64)
    n = _n_from_length(game.shape[-1])
    if n > MAX_INDEX_VARIABLES:
        raise InputError(f"indices need n <= {MAX_INDEX_VARIABLES} variables, got {n}")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n + 1,):
        raise InputError(f"weights must have n + 1 = {n + 1} entries, got shape {w.shape}")
    lead = game.shape[:-1]
    # graded[..., d, S]: sum over supersets T of S added so far with |T| - |S| = d
    graded = np.zeros((*lead, n + 1, 1 << n))
    graded[..., 0, :] = game
    for i in range(n):
        view = graded.reshape(*lead, n + 1, 1 << (n - 1 - i), 2, 1 << i)
        # S without bit i gains the supersets that add i: one more added variable
        view[..., 1:, :, 0, :] += view[..., :-1, :, 1, :]
    return np.einsum("...dS,d->...S", graded, w)


def interaction_index(
    moebius: ArrayLike, index: Index | str = "SII", *, order: int | None = None
) -> NDArray[np.float64]:
    """Compute a Shapley-type interaction index of every subset from the Harsanyi interactions.

    Parameters
    ----------
    moebius : array_like
        Harsanyi interactions ``m``, shape ``(..., 2**n)`` (see :func:`interactions`).
    index : {"SII", "BII", "k-SII", "SV", "BV"}, default "SII"
        Shapley interaction index, Banzhaf interaction index, k-Shapley interaction index, and
        the Shapley and Banzhaf values (the first two on single variables; other subsets 0).
    order : int, optional
        For ``"k-SII"`` the order ``k`` (required); for the others, subsets above ``order`` are
        set to 0 (all orders by default).

    Returns
    -------
    numpy.ndarray
        Same shape and indexing as ``moebius``. The empty set holds ``m(empty) = v(empty)`` for
        k-SII and 0 for the other indices (for SII and BII it is the index of the empty set,
        ``sum_T m(T) w(|T|)``, when ``order`` is not given).
    """
    if index not in INDICES:
        raise InputError(f"index must be one of {', '.join(INDICES)}, got {index!r}")
    m = np.asarray(_as_game(moebius), dtype=np.float64)
    n = _n_from_length(m.shape[-1])
    sizes = subset_order(np.arange(1 << n))
    d = np.arange(n + 1, dtype=np.float64)
    if index in ("SII", "SV", "k-SII"):
        out = superset_sums(m, 1.0 / (d + 1.0))
    else:
        out = superset_sums(m, 0.5**d)
    if index in ("SV", "BV"):
        out = np.where(sizes == 1, out, 0.0)
        return out
    if index == "k-SII":
        if order is None or not 1 <= int(order) <= n:
            raise InputError(f"k-SII needs an order k in [1, {n}], got {order!r}")
        k = int(order)
        base = np.where((sizes >= 1) & (sizes <= k), out, 0.0)
        b = np.zeros(n + 1)
        b[: k + 1] = bernoulli(k)[: k + 1] if k >= 1 else 1.0
        # scipy's bernoulli gives B_1 = -1/2, the convention of the k-SII aggregation
        agg = superset_sums(base, b)
        agg = np.where((sizes >= 1) & (sizes <= k), agg, 0.0)
        agg[..., 0] = m[..., 0]
        return agg
    if order is not None:
        if not 0 <= int(order) <= n:
            raise InputError(f"order must lie in [0, {n}], got {order}")
        out = np.where(sizes <= int(order), out, 0.0)
    return out
