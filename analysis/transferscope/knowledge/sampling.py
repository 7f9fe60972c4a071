"""Low-order Shapley and Banzhaf interactions by sampling, for games of many variables.

The exact indices (:mod:`.indices`) need all ``2**n`` values of the game; above about 24
variables that is out of reach. Every index of a set ``S`` of order ``s`` is linear in the game,
``I(S) = sum over T of v(T) c_S(T)``, with a coefficient that depends only on ``t = |T|`` and
``a = |T & S|``:

- Banzhaf interaction: ``c = (-1)**(s - a) / 2**(n - s)``;
- Shapley interaction: ``c = (-1)**(s - a) / ((n - s + 1) * C(n - s, t - a))``.

:func:`sample_indices` draws coalitions ``T`` (for Banzhaf uniformly among all subsets; for
Shapley a size ``t`` from an even mixture of the uniform distribution on ``0..n`` and the
Shapley kernel ``1 / (t (n - t))`` on ``1..n-1``, which puts more draws where the weights are
large, then a uniform subset of that size), by default in
complementary pairs (``T`` and ``N - T``), and estimates every index of order 1 and 2 at once by
importance weighting, ``I(S) ~ mean of (v(T) - vbar) c_S(T) / q(T)`` (``vbar``, the mean sampled
value, is a control variate: the coefficients of a set of order >= 1 sum to zero, so it changes
the expectation only by the ``O(1/M)`` covariance of the mean with a draw). The estimate of
every pair comes from matrix products over the sample, and its standard error from the spread
of the per-draw (per-pair) terms, so an interval comes with each value.

Games whose interactions are known by construction: :func:`sparse_game` (a sum of products of
indicator variables, whose Harsanyi interactions are the given terms) with
:func:`sparse_indices` for its exact indices at any ``n``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln

from transferscope.errors import InputError
from transferscope.records import NOT_RECORDED, Record
from transferscope.rng import make_rng

__all__ = [
    "SAMPLED_COLUMNS",
    "SampledIndices",
    "low_order",
    "sample_indices",
    "sparse_game",
    "sparse_indices",
]

SampledIndex = Literal["SII", "BII"]
#: Columns of :meth:`SampledIndices.summary`.
SAMPLED_COLUMNS: Final[tuple[str, ...]] = ("i", "j", "order", "estimate", "se")
Terms = Sequence[tuple[float, Sequence[int]]]


def _log_binom(n: NDArray[np.float64], k: NDArray[np.float64]) -> NDArray[np.float64]:
    ok = (k >= 0) & (k <= n)
    kk = np.where(ok, k, 0.0)
    out = gammaln(n + 1) - gammaln(kk + 1) - gammaln(n - kk + 1)
    return np.where(ok, out, -np.inf)


def _weight(index: str, n: int, s: int, t: NDArray[np.float64], a: int) -> NDArray[np.float64]:
    """``c_S(T) / q(T)`` for sets of order ``s`` meeting ``T`` in ``a`` variables."""
    sign = (-1.0) ** (s - a)
    if index == "BII":
        return np.full(t.shape, sign * 2.0**s)
    # q(T) = q_t / C(n, t); c = sign / ((n - s + 1) C(n - s, t - a))
    sizes = _sii_sizes(n)
    log_ratio = -np.log(sizes[t.astype(np.int64)]) + _log_binom(np.full(t.shape, float(n)), t)
    log_den = _log_binom(np.full(t.shape, float(n - s)), t - a)
    possible = np.isfinite(log_den)  # a draw of size t cannot meet S in a variables otherwise
    log_ratio -= np.log(n - s + 1.0) + np.where(possible, log_den, 0.0)
    # impossible combinations never occur; any finite weight leaves the estimate unchanged
    return np.where(possible, sign * np.exp(log_ratio), 0.0)


def _sii_sizes(n: int) -> NDArray[np.float64]:
    """Distribution of coalition sizes for SII: half uniform, half the Shapley kernel."""
    t = np.arange(n + 1, dtype=np.float64)
    kernel = np.zeros(n + 1)
    kernel[1:n] = 1.0 / (t[1:n] * (n - t[1:n]))
    return 0.5 / (n + 1) + 0.5 * kernel / kernel.sum()


def _draw(index: str, n: int, count: int, rng: np.random.Generator) -> NDArray[np.bool_]:
    if index == "BII":
        return rng.random((count, n)) < 0.5
    sizes = rng.choice(n + 1, size=count, p=_sii_sizes(n))
    keys = rng.random((count, n))
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    return ranks < sizes[:, None]


@dataclass(frozen=True, eq=False, kw_only=True)
class SampledIndices(Record):
    """Estimated indices of orders 1 and 2, with standard errors (from :func:`sample_indices`).

    Attributes
    ----------
    index : str
        ``SII`` or ``BII``.
    n_variables : int
        Number of variables.
    budget : int
        Evaluations of the game.
    paired : bool
        Whether coalitions were drawn with their complements.
    seed : int or None
        Seed of the draw (None when a generator was passed).
    order1, order1_se : numpy.ndarray
        Shape ``(n,)``: the index of each variable and its standard error.
    order2, order2_se : numpy.ndarray
        Shape ``(n, n)``, symmetric, NaN on the diagonal: the index of each pair.
    """

    index: str
    n_variables: int
    budget: int
    paired: bool
    seed: int | None
    order1: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    order1_se: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    order2: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    order2_se: NDArray[np.float64] = field(metadata=NOT_RECORDED)

    html_title: ClassVar[str | None] = "Sampled interaction indices"

    def describe(self) -> str:
        """One line: index, variables, budget.

        Returns
        -------
        str
            E.g. ``SII of orders 1-2 on 256 variables from 20000 evaluations (paired)``.
        """
        return (
            f"{self.index} of orders 1-2 on {self.n_variables} variables from {self.budget} "
            f"evaluations{' (paired)' if self.paired else ''}"
        )

    def summary(self) -> pd.DataFrame:
        """Tidy table of every variable and pair.

        Returns
        -------
        pandas.DataFrame
            Columns ``i`` (int), ``j`` (Int64, ``<NA>`` for a single variable), ``order`` (1 or
            2), ``estimate``, ``se`` (float).
        """
        n = self.n_variables
        iu, ju = np.triu_indices(n, k=1)
        return pd.DataFrame(
            {
                "i": np.concatenate([np.arange(n), iu]),
                "j": pd.array([*([None] * n), *ju.tolist()], dtype="Int64"),
                "order": np.repeat([1, 2], [n, iu.size]),
                "estimate": np.concatenate([self.order1, self.order2[iu, ju]]),
                "se": np.concatenate([self.order1_se, self.order2_se[iu, ju]]),
            }
        )[list(SAMPLED_COLUMNS)]


def sample_indices(
    value: Callable[[NDArray[np.bool_]], ArrayLike],
    n: int,
    index: SampledIndex | str = "SII",
    *,
    budget: int = 10_000,
    paired: bool = True,
    batch_size: int = 4096,
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
) -> SampledIndices:
    """Estimate the Shapley (or Banzhaf) interactions of orders 1 and 2 by sampling.

    Parameters
    ----------
    value : callable
        The game: boolean masks ``(m, n)`` (True keeps a variable) -> ``m`` values (e.g. a
        :class:`~transferscope.knowledge.value.ModelValue`).
    n : int
        Number of variables (two or more; any size).
    index : {"SII", "BII"}, default "SII"
        Shapley interaction index (order 1: the Shapley value) or Banzhaf interaction index.
    budget : int, default 10000
        Evaluations of the game (even when ``paired``).
    paired : bool, default True
        Draw each coalition with its complement (antithetic pairs).
    batch_size : int, default 4096
        Masks per call of ``value``.
    seed : int or None, default 0
        Seed of the draw when ``rng`` is not given.
    rng : numpy.random.Generator, optional
        Generator to draw from.

    Returns
    -------
    SampledIndices
        Estimates and standard errors (see the module docstring).
    """
    if index not in ("SII", "BII"):
        raise InputError(f"index must be SII or BII, got {index!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise InputError(f"n must be an integer >= 2, got {n!r}")
    if budget < 4 or (paired and budget % 2):
        raise InputError(f"budget must be >= 4 (and even when paired), got {budget}")
    generator = make_rng(seed, rng)
    units = budget // 2 if paired else budget
    masks = _draw(index, n, units, generator)
    if paired:
        masks = np.concatenate([masks, ~masks])
    values = np.empty(len(masks))
    for start in range(0, len(masks), batch_size):
        got = np.asarray(value(masks[start : start + batch_size]), dtype=np.float64)
        if got.shape != (min(batch_size, len(masks) - start),) or not np.all(np.isfinite(got)):
            raise InputError("the game must return one finite value per mask")
        values[start : start + batch_size] = got
    y = values - values.mean()
    z = masks[:units].astype(np.float64)
    t = z.sum(axis=1)
    coef: dict[tuple[int, ...] | tuple[int, int, str], NDArray[np.float64]] = {}
    for s in (1, 2):
        for a in range(s + 1):
            g = y[:units] * _weight(index, n, s, t, a)
            if paired:
                g_c = y[units:] * _weight(index, n, s, n - t, a)
                coef[s, a, "c"] = g_c
            coef[s, a] = g
    # order 1: x = A + B z_i (complement: A' + B' (1 - z_i))
    a1, b1 = coef[1, 0], coef[1, 1] - coef[1, 0]
    if paired:
        ac, bc = coef[1, 0, "c"], coef[1, 1, "c"] - coef[1, 0, "c"]
        a1, b1 = (a1 + ac + bc) / 2.0, (b1 - bc) / 2.0
    mean1 = (a1.sum() + z.T @ b1) / units
    sq1 = ((a1**2).sum() + z.T @ (b1**2 + 2.0 * a1 * b1)) / units
    # order 2: x = A + B (z_i + z_j) + C z_i z_j
    a2 = coef[2, 0]
    b2 = coef[2, 1] - coef[2, 0]
    c2 = coef[2, 0] - 2.0 * coef[2, 1] + coef[2, 2]
    if paired:
        ac = coef[2, 0, "c"]
        bc = coef[2, 1, "c"] - coef[2, 0, "c"]
        cc = coef[2, 0, "c"] - 2.0 * coef[2, 1, "c"] + coef[2, 2, "c"]
        a2, b2, c2 = (a2 + ac + 2.0 * bc + cc) / 2.0, (b2 - bc - cc) / 2.0, (c2 + cc) / 2.0
    lin = z.T @ b2
    mean2 = (a2.sum() + lin[:, None] + lin[None, :] + (z * c2[:, None]).T @ z) / units
    lin_sq = z.T @ (b2**2 + 2.0 * a2 * b2)
    quad = (z * (2.0 * b2**2 + c2**2 + 2.0 * a2 * c2 + 4.0 * b2 * c2)[:, None]).T @ z
    sq2 = ((a2**2).sum() + lin_sq[:, None] + lin_sq[None, :] + quad) / units
    se1 = np.sqrt(np.maximum(sq1 - mean1**2, 0.0) / (units - 1))
    se2 = np.sqrt(np.maximum(sq2 - mean2**2, 0.0) / (units - 1))
    np.fill_diagonal(mean2, np.nan)
    np.fill_diagonal(se2, np.nan)
    return SampledIndices(
        index=str(index),
        n_variables=n,
        budget=len(masks),
        paired=paired,
        seed=seed if rng is None else None,
        order1=mean1,
        order1_se=se1,
        order2=mean2,
        order2_se=se2,
    )


def low_order(values: ArrayLike, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Orders 1 and 2 of an array over all subsets, as a vector and a symmetric matrix.

    Parameters
    ----------
    values : array_like
        Shape ``(2**n,)``, indexed by subset bitmask (e.g. :func:`interaction_index`).
    n : int
        Number of variables.

    Returns
    -------
    order1, order2 : numpy.ndarray
        ``(n,)`` and ``(n, n)`` (NaN on the diagonal).
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (1 << n,):
        raise InputError(f"expected 2**{n} values, got shape {arr.shape}")
    idx = np.arange(n)
    order1 = arr[1 << idx]
    order2 = arr[(1 << idx)[:, None] | (1 << idx)[None, :]].copy()
    np.fill_diagonal(order2, np.nan)
    return order1, order2


@dataclass(frozen=True)
class _SparseGame:
    n: int
    coefficients: NDArray[np.float64]
    members: NDArray[np.bool_]  # (terms, n)

    def __call__(self, masks: NDArray[np.bool_]) -> NDArray[np.float64]:
        m = np.asarray(masks, dtype=bool)
        missing = (~m).astype(np.float64) @ self.members.T.astype(np.float64)  # (m, terms)
        return np.asarray((missing == 0).astype(np.float64) @ self.coefficients)


def _check_terms(terms: Terms, n: int) -> list[tuple[float, tuple[int, ...]]]:
    out = []
    for coef, variables in terms:
        vs = tuple(sorted({int(v) for v in variables}))
        if any(not 0 <= v < n for v in vs):
            raise InputError(f"term variables must lie in [0, {n}), got {list(variables)}")
        out.append((float(coef), vs))
    if not out:
        raise InputError("a sparse game needs at least one term")
    return out


def sparse_game(terms: Terms, n: int) -> Callable[[NDArray[np.bool_]], NDArray[np.float64]]:
    """Make a game of known interactions: ``v(T) = sum of a_k [S_k subset of T]``.

    Parameters
    ----------
    terms : sequence of (float, sequence of int)
        Coefficients ``a_k`` and variable sets ``S_k`` (distinct sets add; an empty set is a
        constant).
    n : int
        Number of variables.

    Returns
    -------
    callable
        Boolean masks ``(m, n)`` -> ``m`` values; its interaction ``I(S)`` is the sum of the
        ``a_k`` with ``S_k = S``.
    """
    checked = _check_terms(terms, n)
    members = np.zeros((len(checked), n), dtype=bool)
    for k, (_, vs) in enumerate(checked):
        members[k, list(vs)] = True
    return _SparseGame(n, np.array([c for c, _ in checked]), members)


def sparse_indices(
    terms: Terms, n: int, index: SampledIndex | str = "SII"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact indices of orders 1 and 2 of a :func:`sparse_game`, for any ``n``.

    Parameters
    ----------
    terms : sequence of (float, sequence of int)
        As for :func:`sparse_game`.
    n : int
        Number of variables.
    index : {"SII", "BII"}, default "SII"
        The index.

    Returns
    -------
    order1, order2 : numpy.ndarray
        ``(n,)`` and ``(n, n)`` (NaN on the diagonal): ``sum over terms S_k containing S of
        a_k w(|S_k| - |S|)`` with ``w(d) = 1 / (d + 1)`` (SII) or ``2**-d`` (BII).
    """
    if index not in ("SII", "BII"):
        raise InputError(f"index must be SII or BII, got {index!r}")
    order1 = np.zeros(n)
    order2 = np.zeros((n, n))

    def w(d: int) -> float:
        return 1.0 / (d + 1.0) if index == "SII" else 0.5**d

    for coef, vs in _check_terms(terms, n):
        size = len(vs)
        for i in vs:
            order1[i] += coef * w(size - 1)
        for p, i in enumerate(vs):
            for j in vs[p + 1 :]:
                order2[i, j] += coef * w(size - 2)
                order2[j, i] += coef * w(size - 2)
    np.fill_diagonal(order2, np.nan)
    return order1, order2
