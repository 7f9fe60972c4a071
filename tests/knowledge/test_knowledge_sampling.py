"""Sampled indices of orders 1 and 2: error against exact values, and honest standard errors."""

from __future__ import annotations

import numpy as np
import pytest

from transferscope.errors import InputError
from transferscope.knowledge import (
    evaluate_subsets,
    interaction_index,
    interactions,
    low_order,
    sample_indices,
    sparse_game,
    sparse_indices,
)


def _smooth_game(n: int, seed: int):  # a small tanh network of the kept variables
    w = np.random.default_rng(seed).normal(size=(n, 6))
    return lambda masks: np.tanh(masks.astype(float) @ w).sum(axis=1)


@pytest.mark.parametrize("index", ["SII", "BII"])
def test_sampled_indices_agree_with_exact_ones_within_their_standard_errors(index: str) -> None:
    n = 10
    game = _smooth_game(n, 1)
    exact1, exact2 = low_order(interaction_index(interactions(evaluate_subsets(game, n)), index), n)
    est = sample_indices(game, n, index, budget=16_000, seed=5)
    iu = np.triu_indices(n, k=1)
    z = np.concatenate(
        [(est.order1 - exact1) / est.order1_se, ((est.order2 - exact2) / est.order2_se)[iu]]
    )
    # 55 estimates: with honest standard errors about 95% lie within 1.96 se (seeded draw)
    assert 0.85 <= np.mean(np.abs(z) < 1.96) <= 1.0
    assert np.max(np.abs(z)) < 4.5
    # and the error is small against the size of the indices
    scale = np.abs(exact1).max()
    assert np.sqrt(np.mean((est.order1 - exact1) ** 2)) < 0.05 * scale


def test_sampling_at_256_variables_recovers_a_game_of_known_interactions() -> None:
    n = 256
    terms = [(1.0, (0,)), (0.5, (1, 2)), (-0.8, (3, 4, 5)), (0.3, (10, 20, 30, 40))]
    game = sparse_game(terms, n)
    for index, bound in (("BII", 0.03), ("SII", 0.1)):
        est = sample_indices(game, n, index, budget=8_000, seed=2)
        exact1, exact2 = sparse_indices(terms, n, index)
        iu = np.triu_indices(n, k=1)
        rmse2 = np.sqrt(np.mean((est.order2 - exact2)[iu] ** 2))
        assert np.sqrt(np.mean((est.order1 - exact1) ** 2)) < bound
        assert rmse2 < bound
        # the pair (1, 2) is found within four standard errors of its value
        assert abs(est.order2[1, 2] - exact2[1, 2]) < 4 * est.order2_se[1, 2]
        if index == "BII":  # and stands out of the 32,640 pairs (SII's tails are heavier)
            top = np.unravel_index(np.nanargmax(np.abs(est.order2)), est.order2.shape)
            assert set(map(int, top)) == {1, 2}


def test_the_same_seed_gives_the_same_estimates_and_the_table_is_tidy() -> None:
    game = _smooth_game(6, 3)
    a = sample_indices(game, 6, budget=400, seed=9)
    b = sample_indices(game, 6, budget=400, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a.order1, b.order1)
    table = a.summary()
    assert list(table.columns) == ["i", "j", "order", "estimate", "se"]
    assert len(table) == 6 + 15 and (table["se"] > 0).all()


def test_bad_sampling_arguments() -> None:
    game = _smooth_game(4, 0)
    with pytest.raises(InputError, match="budget"):
        sample_indices(game, 4, budget=7)
    with pytest.raises(InputError, match="index must be"):
        sample_indices(game, 4, "k-SII")
