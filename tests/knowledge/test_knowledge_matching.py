"""Universal matching: what the salient interactions leave unexplained of the output."""

from __future__ import annotations

import numpy as np

from transferscope.knowledge import (
    compare_knowledge,
    comparison_matching,
    interactions,
    salient_mask,
    unexplained,
)


def test_all_interactions_explain_everything_and_none_explain_nothing() -> None:
    v = np.random.default_rng(0).normal(size=(3, 1 << 6))
    inter = interactions(v)
    every = np.ones(inter.shape, dtype=bool)
    all_err, full_err = unexplained(inter, every)
    np.testing.assert_allclose(all_err, 0.0, atol=1e-12)
    np.testing.assert_allclose(full_err, 0.0, atol=1e-12)
    none_err, none_full = unexplained(inter, ~every)
    np.testing.assert_allclose(none_err, 1.0, atol=1e-12)
    np.testing.assert_allclose(none_full, 1.0, atol=1e-12)


def test_the_error_is_the_residual_over_every_masked_input() -> None:
    n = 4
    v = np.random.default_rng(1).normal(size=1 << n)
    inter = interactions(v)
    keep = salient_mask(np.abs(inter), 0.5)
    # by hand: v_Omega(T) = v(empty) + sum of kept I(S) with S inside T
    approx = np.array(
        [v[0] + sum(inter[s] for s in range(1, 1 << n) if keep[s] and s & t == s)
         for t in range(1 << n)]
    )  # fmt: skip
    want_all = np.sqrt(np.sum((v - approx) ** 2) / np.sum((v - v[0]) ** 2))
    want_full = abs(v[-1] - approx[-1]) / abs(v[-1] - v[0])
    got_all, got_full = unexplained(inter, keep)
    assert got_all == np.float64(want_all) or abs(got_all - want_all) < 1e-12
    assert abs(got_full - want_full) < 1e-12


def test_comparison_matching_has_a_row_per_role_and_input() -> None:
    rng = np.random.default_rng(2)
    p, f, r = (interactions(rng.normal(size=(4, 32))) for _ in range(3))
    table = comparison_matching(compare_knowledge(p, f, r, tau=0.2))
    assert len(table) == 3 * 5
    mean = table[table["scope"] == "input_mean"].set_index("role")
    per = table[table["scope"] == "input"]
    for role in ("pretrained", "fine_tuned", "scratch"):
        rows = per[per["role"] == role]
        assert mean.loc[role, "unexplained_all"] == np.float64(rows["unexplained_all"].mean())
    # a random game has no sparse structure: the error may exceed 1, never fall below 0
    assert (table["unexplained_all"] >= 0).all() and table["unexplained_all"].notna().all()
