"""The fast Mobius transform against closed forms, the direct definition and its inverse."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferscope.errors import InputError
from transferscope.knowledge import (
    evaluate_subsets,
    interactions,
    naive_interactions,
    subset_mask,
    subset_members,
    subset_order,
    subset_variables,
    values_from_interactions,
)


def _game_from_terms(terms: dict[int, float], n: int) -> np.ndarray:
    """v(T) = sum over chosen S of c_S * [S subset of T], evaluated directly on every T."""
    t = np.arange(1 << n)
    v = np.zeros(1 << n, dtype=np.asarray(list(terms.values())).dtype)
    for s, c in terms.items():
        v = v + c * ((t & s) == s)
    return v


def _literal_definition(v: np.ndarray, n: int) -> np.ndarray:
    """I(S) = sum over T subset of S of (-1)^(|S|-|T|) v(T), by Python loops over pairs (S, T)."""
    out = np.zeros(1 << n)
    for s in range(1 << n):
        for t in range(1 << n):
            if t & ~s == 0:
                out[s] += (-1) ** (bin(s).count("1") - bin(t).count("1")) * v[t]
    return out


def test_closed_form_integer_terms_are_recovered_exactly() -> None:
    rng = np.random.default_rng(1)
    n = 10
    chosen = rng.choice(1 << n, size=25, replace=False)
    terms = {int(s): int(c) for s, c in zip(chosen, rng.integers(-9, 10, size=25), strict=True)}
    v = _game_from_terms(terms, n)
    got = interactions(v)
    expected = np.zeros(1 << n, dtype=np.int64)
    for s, c in terms.items():
        expected[s] = c
    # integer games stay int64: exact equality, and zero outside the chosen subsets
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    # efficiency: all interactions, the empty one included, sum to v(all variables)
    assert got.sum() == v[-1]


def test_closed_form_float_terms() -> None:
    rng = np.random.default_rng(2)
    n = 12
    chosen = rng.choice(1 << n, size=40, replace=False)
    terms = {int(s): float(c) for s, c in zip(chosen, rng.normal(size=40), strict=True)}
    got = interactions(_game_from_terms(terms, n))
    expected = np.zeros(1 << n)
    expected[list(terms)] = list(terms.values())
    # sums of 40 O(1) doubles: rounding well under 1e-12
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_products_of_binary_variables_through_a_batched_callable() -> None:
    # f(x) = 2 + 3 x0 - 1.5 x1 x2 + 0.25 x0 x3 x4 on x in {0, 1}^6; keeping T means x = 1[T].
    n = 6
    coef = {0: 2.0, 0b1: 3.0, 0b110: -1.5, 0b11001: 0.25}

    def f(masks: np.ndarray) -> np.ndarray:
        x = masks.astype(float)
        return 2 + 3 * x[:, 0] - 1.5 * x[:, 1] * x[:, 2] + 0.25 * x[:, 0] * x[:, 3] * x[:, 4]

    got = interactions(f, n, batch_size=7)  # 64 subsets in batches of 7, the last one short
    expected = np.zeros(1 << n)
    for s, c in coef.items():
        expected[s] = c
    # exact binary fractions: tolerance only for summation order, 1e-14
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)


def test_square_of_size_has_unit_singletons_and_pairs_of_two() -> None:
    # v(T) = |T|^2 = sum_i [i in T] + 2 sum_{i<j} [i, j in T]
    n = 7
    v = subset_order(np.arange(1 << n)) ** 2
    got = interactions(v)
    order = subset_order(np.arange(1 << n))
    expected = np.select([order == 1, order == 2], [1, 2], 0)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 7])
def test_fast_transform_matches_naive_definition(n: int) -> None:
    v = np.random.default_rng(n).normal(size=1 << n)
    # n <= 7, values O(1): differences are rounding, below 1e-12
    np.testing.assert_allclose(interactions(v), naive_interactions(v), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [1, 3, 5])
def test_naive_matches_the_literal_double_loop(n: int) -> None:
    v = np.random.default_rng(10 + n).normal(size=1 << n)
    np.testing.assert_allclose(naive_interactions(v), _literal_definition(v, n), atol=1e-12)


def test_one_variable_by_hand() -> None:
    np.testing.assert_array_equal(interactions(np.array([2.0, 5.0])), [2.0, 3.0])
    np.testing.assert_array_equal(interactions(np.array([7])), [7])


def test_leading_axes_are_independent_games() -> None:
    rng = np.random.default_rng(3)
    v = rng.normal(size=(3, 2, 1 << 5))
    got = interactions(v)
    assert got.shape == v.shape
    for idx in np.ndindex(3, 2):
        # each slice equals its own transform exactly (same operations, same order)
        np.testing.assert_array_equal(got[idx], interactions(v[idx]))


def test_efficiency_and_round_trip_on_random_floats() -> None:
    v = np.random.default_rng(4).normal(size=1 << 14)
    got = interactions(v)
    # |I| reach ~2^7 here; sums of 16384 of them: 1e-9 absolute is loose enough
    assert abs(got.sum() - v[-1]) < 1e-9
    np.testing.assert_allclose(values_from_interactions(got), v, rtol=0, atol=1e-11)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 8).flatmap(
        lambda n: st.lists(st.integers(-1000, 1000), min_size=1 << n, max_size=1 << n)
    )
)
def test_round_trip_is_exact_on_integers(values: list[int]) -> None:
    v = np.array(values, dtype=np.int64)
    np.testing.assert_array_equal(values_from_interactions(interactions(v)), v)
    np.testing.assert_array_equal(interactions(values_from_interactions(v)), v)


def test_evaluate_subsets_passes_the_right_masks() -> None:
    seen: list[np.ndarray] = []

    def record(masks: np.ndarray) -> np.ndarray:
        seen.append(masks.copy())
        return masks @ (1 << np.arange(masks.shape[1]))  # the bitmask itself

    out = evaluate_subsets(record, 4, batch_size=5)
    np.testing.assert_array_equal(out, np.arange(16))
    assert [m.shape for m in seen] == [(5, 4), (5, 4), (5, 4), (1, 4)]
    assert all(m.dtype == np.bool_ for m in seen)


def test_subset_helpers() -> None:
    masks = np.arange(1 << 9)
    np.testing.assert_array_equal(subset_order(masks), [bin(m).count("1") for m in masks])
    members = subset_members(masks, 9)
    assert members.shape == (512, 9)
    np.testing.assert_array_equal(members.sum(axis=1), subset_order(masks))
    assert subset_variables(0b1011) == (0, 1, 3)
    assert subset_variables(0) == ()
    assert subset_mask((3, 0, 1)) == 0b1011
    for r in range(4):
        for combo in itertools.combinations(range(6), r):
            assert subset_variables(subset_mask(combo)) == combo
            assert members[subset_mask(combo)].nonzero()[0].tolist() == list(combo)


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError, match="2\\*\\*n values"):
        interactions(np.zeros(6))
    with pytest.raises(InputError, match="expected 2\\*\\*3"):
        interactions(np.zeros(4), 3)
    with pytest.raises(InputError, match="n is required"):
        interactions(lambda m: m.sum(axis=1))
    with pytest.raises(InputError, match="return shape"):
        interactions(lambda m: np.zeros((m.shape[0], 2)), 3)
    with pytest.raises(InputError, match="finite"):
        interactions(np.array([0.0, np.nan]))
    with pytest.raises(InputError, match="NaN or inf"):
        interactions(lambda m: np.full(m.shape[0], np.inf), 2)
    with pytest.raises(InputError, match="n must lie"):
        interactions(lambda m: m.sum(axis=1), 40)
    with pytest.raises(InputError, match="lie in"):
        subset_members([8], 3)
