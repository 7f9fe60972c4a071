"""Shapley, k-Shapley and Banzhaf interaction indices from Mobius coefficients, against their
definitions computed from the game's values on small n."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.special import bernoulli

from transferscope.errors import InputError
from transferscope.knowledge import interaction_index, interactions, sparse_indices
from transferscope.knowledge.sampling import low_order

N = 5
RNG = np.random.default_rng(11)
V = RNG.normal(size=1 << N)
M = interactions(V)


def _pc(x: int) -> int:
    return bin(x).count("1")


def _derivative(s: int, t: int) -> float:
    """Discrete derivative of v with respect to S at T (T and S disjoint)."""
    return sum((-1) ** (_pc(s) - _pc(sub)) * V[t | sub] for sub in range(1 << N) if sub & ~s == 0)


def _sii(s: int) -> float:  # Grabisch (1997): weights (n - t - s)! t! / (n - s + 1)!
    k = _pc(s)
    return sum(
        math.factorial(N - _pc(t) - k) * math.factorial(_pc(t)) / math.factorial(N - k + 1)
        * _derivative(s, t)
        for t in range(1 << N) if t & s == 0
    )  # fmt: skip


def _bii(s: int) -> float:
    return sum(_derivative(s, t) for t in range(1 << N) if t & s == 0) / 2 ** (N - _pc(s))


SII = np.array([_sii(s) for s in range(1 << N)])
BII = np.array([_bii(s) for s in range(1 << N)])


def test_sii_and_bii_match_their_definitions() -> None:
    # float sums of 2**5 terms: agreement to 1e-12
    np.testing.assert_allclose(interaction_index(M, "SII")[1:], SII[1:], atol=1e-12)
    np.testing.assert_allclose(interaction_index(M, "BII")[1:], BII[1:], atol=1e-12)


def test_shapley_value_matches_the_permutation_definition() -> None:
    sv = np.zeros(N)
    for perm in itertools.permutations(range(N)):
        t = 0
        for i in perm:
            sv[i] += V[t | 1 << i] - V[t]
            t |= 1 << i
    sv /= math.factorial(N)
    got = interaction_index(M, "SV")
    np.testing.assert_allclose(got[[1 << i for i in range(N)]], sv, atol=1e-12)
    assert np.count_nonzero(got) == N


@pytest.mark.parametrize("k", [1, 2, 3, N])
def test_k_sii_matches_the_recursive_definition_and_is_efficient(k: int) -> None:
    # Bordt and von Luxburg (2023): kSII(S) = sum over T >= S, |T| <= k of B_{|T|-|S|} SII(T)
    b = bernoulli(k)
    want = np.zeros(1 << N)
    want[0] = V[0]
    for s in range(1, 1 << N):
        if _pc(s) <= k:
            want[s] = sum(
                b[_pc(t) - _pc(s)] * SII[t] for t in range(1 << N) if t & s == s and _pc(t) <= k
            )
    got = interaction_index(M, "k-SII", order=k)
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert got.sum() == pytest.approx(V[-1], abs=1e-12)  # efficiency: sums to v(N)


def test_k_sii_of_full_order_is_the_mobius_transform() -> None:
    np.testing.assert_allclose(interaction_index(M, "k-SII", order=N), M, atol=1e-12)


def test_sparse_game_indices_agree_with_the_transform() -> None:
    n = 8
    terms = [(1.0, (0,)), (0.5, (1, 2)), (-0.7, (2, 3, 4)), (0.3, (0, 5, 6, 7))]
    m = np.zeros(1 << n)
    for coef, vs in terms:
        m[sum(1 << v for v in vs)] += coef
    for index in ("SII", "BII"):
        want1, want2 = low_order(interaction_index(m, index), n)
        got1, got2 = sparse_indices(terms, n, index)
        np.testing.assert_allclose(got1, want1, atol=1e-14)
        np.testing.assert_allclose(got2, want2, atol=1e-14)


def test_bad_index_arguments() -> None:
    with pytest.raises(InputError, match="index must be one of"):
        interaction_index(M, "STII")
    with pytest.raises(InputError, match="k-SII needs an order"):
        interaction_index(M, "k-SII")
