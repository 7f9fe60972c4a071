"""Harsanyi interactions by the fast Mobius transform, its inverse, and subset helpers.

Subsets of the ``n`` variables are coded as bitmasks: bit ``i`` of the mask ``T`` is set when
variable ``i`` is kept (belongs to ``T``). An array of ``2**n`` values ``v[T]`` indexed by these
masks is a *game*; its Harsanyi interactions are

    I(S) = sum over T subset of S of (-1)**(|S| - |T|) * v(T),

the Mobius transform of ``v`` on the lattice of subsets, and ``v(T) = sum over S subset of T of
I(S)`` (the zeta transform) inverts it. Both are computed in ``O(n 2**n)`` operations, ``n``
vectorized passes (one per variable) over the array.

Everything here is numpy only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from transferscope.errors import InputError

#: Largest number of variables accepted (2**26 doubles are 512 MiB).
MAX_VARIABLES: Final[int] = 26

#: Default number of masks handed to a value callable at once.
DEFAULT_BATCH_SIZE: Final[int] = 1 << 16

ValueCallable = Callable[[NDArray[np.bool_]], ArrayLike]


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise InputError(f"n must be an integer number of variables, got {n!r}")
    if not 0 <= int(n) <= MAX_VARIABLES:
        raise InputError(f"n must lie in [0, {MAX_VARIABLES}], got {n}")
    return int(n)


def _n_from_length(length: int) -> int:
    n = length.bit_length() - 1
    if length < 1 or 1 << n != length:
        raise InputError(f"the last axis must hold 2**n values (one per subset), got {length}")
    return _check_n(n)


def _as_game(values: ArrayLike, n: int | None = None) -> NDArray[np.float64] | NDArray[np.int64]:
    """Return a C-contiguous copy of ``values`` (int64 for integer input, else float64)."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        raise InputError("values must have at least one axis of 2**n subsets")
    if arr.dtype.kind in "biu":
        out: NDArray[np.float64] | NDArray[np.int64] = np.array(arr, dtype=np.int64, order="C")
    elif arr.dtype.kind == "f":
        out = np.array(arr, dtype=np.float64, order="C")
    else:
        raise InputError(f"values must be numeric, got dtype {arr.dtype}")
    found = _n_from_length(out.shape[-1])
    if n is not None and found != n:
        raise InputError(f"expected 2**{n} = {1 << n} values on the last axis, got {out.shape[-1]}")
    if out.dtype.kind == "f" and not np.all(np.isfinite(out)):
        raise InputError("values must be finite (no NaN or inf)")
    return out


def _butterfly(a: NDArray[np.float64] | NDArray[np.int64], n: int, subtract: bool) -> None:
    """In place, for every bit ``i``: ``a[T | i] -= a[T]`` (or ``+=``) over masks without ``i``."""
    lead = a.shape[:-1]
    for i in range(n):
        # Row-major reshape: index = high * 2**(i+1) + bit_i * 2**i + low, so the middle axis is
        # bit i; this is a view, so the update writes through.
        view = a.reshape(*lead, 1 << (n - 1 - i), 2, 1 << i)
        if subtract:
            view[..., 1, :] -= view[..., 0, :]
        else:
            view[..., 1, :] += view[..., 0, :]


def evaluate_subsets(
    value: ValueCallable, n: int, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> NDArray[np.float64]:
    """Evaluate a value callable on all ``2**n`` subsets, in batches of masks.

    Parameters
    ----------
    value : callable
        Takes a boolean array of shape ``(m, n)`` (row ``j`` marks the kept variables of the
        ``j``-th subset) and returns ``m`` finite numbers.
    n : int
        Number of variables, in ``[0, MAX_VARIABLES]``.
    batch_size : int, default 65536
        Largest ``m`` per call; bounds memory at about ``batch_size * n`` bytes of masks.

    Returns
    -------
    numpy.ndarray
        Shape ``(2**n,)``, float64: ``v[T]`` at the bitmask ``T``.
    """
    n = _check_n(n)
    if batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size}")
    total = 1 << n
    out = np.empty(total, dtype=np.float64)
    bits = np.left_shift(np.int64(1), np.arange(n, dtype=np.int64))
    for start in range(0, total, batch_size):
        idx = np.arange(start, min(start + batch_size, total), dtype=np.int64)
        masks = (idx[:, None] & bits[None, :]) != 0
        got = np.asarray(value(masks), dtype=np.float64)
        if got.shape != (idx.size,):
            raise InputError(
                f"the value callable must return shape ({idx.size},) for masks of shape "
                f"{masks.shape}, got {got.shape}"
            )
        if not np.all(np.isfinite(got)):
            raise InputError("the value callable returned NaN or inf")
        out[start : start + idx.size] = got
    return out


def interactions(
    value: ArrayLike | ValueCallable, n: int | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> NDArray[np.float64] | NDArray[np.int64]:
    """Harsanyi interactions of a game, by the fast Mobius transform (``O(n 2**n)``).

    ``I(S) = sum over T subset of S of (-1)**(|S| - |T|) * v(T)``.

    Parameters
    ----------
    value : array_like or callable
        Either the values ``v(T)`` on the last axis of an array of shape ``(..., 2**n)``,
        indexed by the bitmask of ``T`` (bit ``i`` set = variable ``i`` kept; leading axes are
        independent games, e.g. one per input), or a callable taking a boolean mask array of
        shape ``(m, n)`` and returning ``m`` values (evaluated in batches, see
        :func:`evaluate_subsets`).
    n : int, optional
        Number of variables. Required for a callable; for an array it is checked against the
        length of the last axis.
    batch_size : int, default 65536
        Masks per call of a callable.

    Returns
    -------
    numpy.ndarray
        Interactions ``I[S]``, same shape and indexing as the values. Integer values give int64
        interactions (exact); anything else float64.
    """
    if callable(value):
        if n is None:
            raise InputError("n is required when value is a callable")
        game: NDArray[np.float64] | NDArray[np.int64] = evaluate_subsets(
            value, n, batch_size=batch_size
        )
    else:
        game = _as_game(value, None if n is None else _check_n(n))
    _butterfly(game, _n_from_length(game.shape[-1]), subtract=True)
    return game


def values_from_interactions(
    interaction_values: ArrayLike,
) -> NDArray[np.float64] | NDArray[np.int64]:
    """Invert :func:`interactions` (zeta transform): ``v(T) = sum_{S subset of T} I(S)``.

    Parameters
    ----------
    interaction_values : array_like
        Shape ``(..., 2**n)``, indexed by subset bitmask.

    Returns
    -------
    numpy.ndarray
        The game ``v[T]``, same shape and indexing (int64 for integer input, else float64).
    """
    game = _as_game(interaction_values)
    _butterfly(game, _n_from_length(game.shape[-1]), subtract=False)
    return game


def naive_interactions(values: ArrayLike) -> NDArray[np.float64]:
    """Harsanyi interactions by the direct definition, ``O(3**n)``: a reference, not for use.

    For each ``S`` the sum ``sum over T subset of S of (-1)**(|S| - |T|) * v(T)`` is taken over
    the explicit list of the ``2**|S|`` subsets ``T`` of ``S`` (vectorized per ``S``).

    Parameters
    ----------
    values : array_like
        Shape ``(..., 2**n)``, indexed by subset bitmask.

    Returns
    -------
    numpy.ndarray
        Float64 interactions, same shape.
    """
    game = np.asarray(_as_game(values), dtype=np.float64)
    n = _n_from_length(game.shape[-1])
    total = 1 << n
    t = np.arange(total, dtype=np.int64)
    # bit_table[t, j] = bit j of t; parity[t] = (-1)**popcount(t).
    bit_table = ((t[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(np.int64)
    parity = np.where(np.bitwise_count(t) % 2 == 0, 1.0, -1.0)
    members = (t[:, None] >> np.arange(n, dtype=np.int64)) & 1
    out = np.empty_like(game)
    for s in range(total):
        vars_s = np.flatnonzero(members[s])
        k = vars_s.size
        # The 2**k subsets T of S: spread the bits of u < 2**k onto the variables of S;
        # |S| - |T| = k - popcount(u).
        subs = bit_table[: 1 << k, :k] @ (np.int64(1) << vars_s)
        signs = parity[: 1 << k] * (-1.0) ** k
        out[..., s] = game[..., subs] @ signs
    return out


def subset_order(masks: ArrayLike) -> NDArray[np.int64]:
    """Order ``|S|`` of each subset: the number of set bits of each mask (vectorized).

    Parameters
    ----------
    masks : array_like of int
        Non-negative bitmasks, any shape.

    Returns
    -------
    numpy.ndarray
        int64 popcounts, same shape.
    """
    arr = np.asarray(masks)
    if arr.dtype.kind not in "iu":
        raise InputError(f"subset masks must be integers, got dtype {arr.dtype}")
    if np.any(arr < 0):
        raise InputError("subset masks must be non-negative")
    return np.bitwise_count(arr.astype(np.uint64)).astype(np.int64)


def subset_members(masks: ArrayLike, n: int) -> NDArray[np.bool_]:
    """Membership matrix of subsets (vectorized): ``out[..., i]`` is True when bit ``i`` is set.

    Parameters
    ----------
    masks : array_like of int
        Bitmasks in ``[0, 2**n)``, any shape.
    n : int
        Number of variables.

    Returns
    -------
    numpy.ndarray
        Boolean, shape ``masks.shape + (n,)``.
    """
    n = _check_n(n)
    arr = np.asarray(masks)
    if arr.dtype.kind not in "iu":
        raise InputError(f"subset masks must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if np.any((arr < 0) | (arr >= 1 << n)):
        raise InputError(f"subset masks must lie in [0, 2**{n})")
    return ((arr[..., None] >> np.arange(n, dtype=np.int64)) & 1).astype(bool)


def subset_variables(mask: int) -> tuple[int, ...]:
    """Return the variables of one subset, in increasing order (``0b1011 -> (0, 1, 3)``).

    Parameters
    ----------
    mask : int
        A non-negative bitmask.

    Returns
    -------
    tuple of int
        Indices of the set bits.
    """
    mask = int(mask)
    if mask < 0:
        raise InputError(f"a subset mask must be non-negative, got {mask}")
    return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)


def subset_mask(variables: Iterable[int]) -> int:
    """Return the bitmask of a set of variables (``(0, 1, 3) -> 0b1011``).

    The inverse of :func:`subset_variables`.

    Parameters
    ----------
    variables : iterable of int
        Non-negative variable indices (duplicates are ignored).

    Returns
    -------
    int
        The bitmask.
    """
    mask = 0
    for v in variables:
        if int(v) < 0:
            raise InputError(f"variable indices must be non-negative, got {v}")
        mask |= 1 << int(v)
    return mask
