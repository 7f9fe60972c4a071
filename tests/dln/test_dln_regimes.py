"""Regime limits from the closed form kappa(B) = (sqrt(c^2 + B^2) + lambda c)/2 + gamma^2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from transferscope.dln import (
    DEFAULT_METHODS,
    REGIME_SETTINGS,
    classify_regime,
    effective_order,
    penalty_scale,
    regime_grid,
    solve_implicit_bias,
)


def test_effective_order_runs_from_l2_to_l1() -> None:
    u = np.array([1e-6, 0.1, 1.0, 6.0, 100.0, 1e8])
    p = effective_order(u, 1.0)
    assert p[0] == 2.0 and p[1] == pytest.approx(2.0, abs=2e-3)  # quadratic: 2 - u^2/6
    assert np.all(np.diff(p) < 0)  # monotone towards l1
    assert p[3] == pytest.approx(1.5, abs=0.03)  # the default lazy/rich threshold sits near u = 6
    assert 1.0 < p[-1] < 1.06  # l1-like, the log correction ~ 1/log(u)


@pytest.mark.parametrize("lam", [-1.0, -0.3, 0.0, 0.5, 1.0])
def test_small_c_is_lambda_free_and_fully_dependent(lam: float) -> None:
    # c -> 0, gamma -> 0: kappa = |B|/2 on pretrained dimensions, ~0 elsewhere (relative 1e-6).
    b = np.array([0.5, 1.0, 2.0, 0.0])
    kappa = penalty_scale(b, 1e-8, lam, 1e-6)
    np.testing.assert_allclose(kappa[:3], b[:3] / 2, rtol=1e-6)
    assert kappa[3] < 1e-7
    rep = classify_regime(1e-8, lam, 1e-6)
    assert rep.dependence > 0.999
    # lazy on features of the pretrained magnitude (|z|/kappa = 2, order 1.75): regime II ...
    assert rep.order_pretrained == pytest.approx(1.749, abs=1e-3) and rep.regime == "II"
    # ... rich on fine-tuning features much larger than the pretrained ones: regime IV
    assert classify_regime(1e-8, lam, 1e-6, ft_scale=20.0).regime == "IV"


@pytest.mark.parametrize("lam", [-0.5, 0.0, 1.0])
def test_large_c_is_lazy_and_independent(lam: float) -> None:
    for c in (1e2, 1e4):
        rep = classify_regime(c, lam, 0.01)
        assert rep.regime == "III"
        # kappa ~ c (1 + lam)/2 and the pretrained increment ~ B^2/(4c) (relative 1e-3)
        assert rep.kappa_new == pytest.approx(c * (1 + lam) / 2, rel=1e-3)
        assert rep.kappa_pretrained - rep.kappa_new == pytest.approx(1 / (4 * c), rel=1e-3)
    assert classify_regime(1e4, lam, 0.01).dependence < classify_regime(1e2, lam, 0.01).dependence


def test_first_layer_starting_at_zero_keeps_large_c_rich() -> None:
    # lambda = -1: kappa(B) = (sqrt(c^2 + B^2) - c)/2 + gamma^2 ~ B^2/(4c): rich.
    for c in (10.0, 100.0, 1000.0):
        rich_dep = classify_regime(c, -1.0, 1e-4)
        assert rich_dep.regime == "IV"
        assert rich_dep.kappa_pretrained == pytest.approx(1 / (4 * c) + 1e-8, rel=1e-2)
    # gamma^2 >> B^2/(4c) (but still << 1) washes the pretrained part out: regime I
    assert classify_regime(100.0, -1.0, 0.1).regime == "I"
    assert classify_regime(100.0, -1.0, 0.1).dependence < 0.25


@pytest.mark.parametrize("c", [1e-3, 1.0, 100.0])
def test_large_gamma_is_lazy_independent(c: float) -> None:
    for lam in (-1.0, 0.0, 1.0):
        assert classify_regime(c, lam, 10.0).regime == "III"


def test_kappa_increases_with_lambda() -> None:
    # At fixed c a smaller first layer (lambda < 0) makes fine-tuning richer.
    lams = np.linspace(-1, 1, 9)
    for c in (0.1, 1.0, 10.0):
        k = [penalty_scale(np.array([1.0]), c, lam, 0.01)[0] for lam in lams]
        assert np.all(np.diff(k) > 0)


def test_grid_reaches_all_four_regimes() -> None:
    grid = regime_grid([1e-3, 1.0, 100.0], [-1.0, 0.0, 1.0], [1e-3, 0.1, 10.0])
    assert set(grid["regime"]) == {"I", "II", "III", "IV"}
    assert len(grid) == 27 and not grid.isna().any().any()


def test_default_methods_cover_the_regimes() -> None:
    assert [s.regime().regime for s in DEFAULT_METHODS] == ["I", "II", "III", "IV"]
    for name, s in REGIME_SETTINGS.items():
        assert s.regime().regime == name


def test_dependent_regimes_move_with_the_checkpoint() -> None:
    """Behavioural check of the classification: swap which dimensions were pretrained."""
    rng = np.random.default_rng(11)
    dim, n = 60, 14  # too few samples for l1 alone to find the 4 active dimensions
    b_pt = np.zeros(dim)
    b_pt[:12] = rng.choice([-1.0, 1.0], 12)
    other = np.roll(b_pt, 30)  # a checkpoint that learned other dimensions
    b_ft = np.zeros(dim)
    b_ft[:4] = 1.0
    x = rng.standard_normal((n, dim))
    y = x @ b_ft
    change = {}
    for name, s in REGIME_SETTINGS.items():
        a = solve_implicit_bias(x, y, s.constants(b_pt)[0]).beta
        b = solve_implicit_bias(x, y, s.constants(other)[0]).beta
        change[name] = np.linalg.norm(a - b) / np.linalg.norm(a)
    # measured (seeds 11-13): I 0.05-0.14, III 0.03-0.04, II 1.2-1.7, IV 0.9-1.3
    assert change["II"] > 0.5 and change["IV"] > 0.5
    assert change["I"] < 0.25 and change["III"] < 0.25


def test_report_serializes() -> None:
    rep = classify_regime(10.0, -1.0, 1e-3)
    record = rep.to_record()
    assert json.loads(json.dumps(record)) == record
    assert list(rep.summary().columns) == list(record)
    assert "IV" in rep._repr_html_()
