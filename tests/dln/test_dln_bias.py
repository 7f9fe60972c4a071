"""The implicit-bias penalty, its closed-form constants and the dual Newton solver."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferscope.dln import (
    bias_constants,
    finetune_constants,
    finetune_init,
    pretrained_weights,
    pretraining_init,
    q_derivative,
    q_penalty,
    solve_implicit_bias,
)


def test_q_derivative_matches_finite_differences() -> None:
    z = np.linspace(-3, 3, 61)
    for k in (1e-6, 0.01, 1.0, 100.0):
        h = 1e-6
        numeric = (q_penalty(z + h, k) - q_penalty(z - h, k)) / (2 * h)
        np.testing.assert_allclose(q_derivative(z, k), numeric, rtol=1e-6, atol=1e-8)


def test_q_limits_quadratic_and_l1_like() -> None:
    # |z| << sqrt(k): q = z^2 / (2 sqrt(k)) to relative 1e-3 (next term is O(z^2/k)).
    k = 100.0
    z = np.array([0.05, 0.1, 0.2])
    np.testing.assert_allclose(q_penalty(z, k), z**2 / (2 * np.sqrt(k)), rtol=1e-3)
    # |z| >> sqrt(k): q = (|z|/2)(log(4|z|/sqrt(k)) - 1) + sqrt(k)/4 + O(k/|z|): l1 with a log.
    k = 1e-8
    z = np.array([0.5, 1.0, 2.0])
    lead = (z / 2) * (np.log(4 * z / np.sqrt(k)) - 1) + np.sqrt(k) / 4
    np.testing.assert_allclose(q_penalty(z, k), lead, rtol=1e-6)


def _problem(seed: int, n: int = 15, dim: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    beta = np.zeros(dim)
    beta[:5] = rng.standard_normal(5)
    return x, x @ beta + 0.1 * rng.standard_normal(n)


@pytest.mark.parametrize("sqrt_k", [2e-6, 0.02, 2.0, 200.0])
def test_solver_satisfies_kkt_and_minimizes(sqrt_k: float) -> None:
    x, y = _problem(1)
    rng = np.random.default_rng(2)
    sk = sqrt_k * np.exp(0.5 * rng.standard_normal(x.shape[1]))
    phi = 0.3 * rng.standard_normal(x.shape[1])
    sol = solve_implicit_bias(x, y, sk, phi)
    assert sol.converged and sol.residual <= 1e-11
    # stationarity: beta = (sqrt(k)/2) sinh(2 X^T mu + phi), to rounding
    np.testing.assert_allclose(sol.beta, sk / 2 * np.sinh(2 * x.T @ sol.mu + phi), rtol=1e-12)
    np.testing.assert_allclose(x @ sol.beta, y, atol=1e-9 * np.abs(y).max())

    def objective(b: np.ndarray) -> float:
        return float((q_penalty(b, sk**2) - phi * b / 2).sum())

    # every feasible perturbation (null space of X) increases the strictly convex objective
    null = np.linalg.svd(x)[2][x.shape[0] :]
    best = objective(sol.beta)
    scale = np.linalg.norm(sol.beta)
    for t in (1e-3, 1e-2, 1e-1):
        for _ in range(20):
            d = null.T @ rng.standard_normal(null.shape[0])
            assert objective(sol.beta + t * scale * d / np.linalg.norm(d)) > best


def test_solver_batches_and_broadcasts() -> None:
    x, y = _problem(3)
    sks = np.stack([np.full(40, v) for v in (0.01, 1.0, 10.0)])
    batched = solve_implicit_bias(x, y, sks)
    assert batched.beta.shape == (3, 40) and batched.converged.all()
    record = batched.to_record()
    assert record["n_problems"] == record["n_converged"] == 3
    assert json.loads(json.dumps(record)) == record
    assert len(batched.summary()) == 3 and "BiasSolution" in batched._repr_html_()
    for i in range(3):
        single = solve_implicit_bias(x, y, sks[i])
        np.testing.assert_allclose(batched.beta[i], single.beta, rtol=1e-10, atol=1e-13)


def test_solver_lazy_limit_is_minimum_norm() -> None:
    # sqrt(k) -> infinity: q_k(z) ~ z^2 / (2 sqrt(k)), the minimum-l2-norm interpolator.
    x, y = _problem(4)
    sol = solve_implicit_bias(x, y, np.full(40, 1e6))
    np.testing.assert_allclose(sol.beta, np.linalg.pinv(x) @ y, rtol=1e-5, atol=1e-8)


def test_solver_rich_limit_approaches_minimum_l1() -> None:
    # sqrt(k) -> 0: the minimum-l1-norm interpolator (linear program), here with n < D.
    from scipy.optimize import linprog

    x, y = _problem(5, n=20, dim=40)
    dim = x.shape[1]
    lp = linprog(np.ones(2 * dim), A_eq=np.hstack([x, -x]), b_eq=y, bounds=[(0, None)] * (2 * dim))
    l1 = lp.x[:dim] - lp.x[dim:]
    sol = solve_implicit_bias(x, y, np.full(dim, 1e-12))
    # the log-penalty approaches l1 slowly (O(1/log(1/k))): 0.013 measured at k = 1e-24
    assert np.linalg.norm(sol.beta - l1) / np.linalg.norm(l1) < 0.03


def test_overdetermined_returns_least_squares() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((60, 20))
    y = rng.standard_normal(60)
    sol = solve_implicit_bias(x, y, np.full(20, 0.01))
    np.testing.assert_allclose(sol.beta, np.linalg.lstsq(x, y, rcond=None)[0], rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    c=st.floats(1e-4, 1e3),
    lam=st.floats(-1, 1),
    gamma=st.floats(0, 10),
    rescale=st.floats(0.05, 3),
    b=st.floats(-5, 5),
)
def test_balanced_readout_closed_form(
    c: float, lam: float, gamma: float, rescale: float, b: float
) -> None:
    """sqrt(k) = rescale^2 (sqrt(c^2 + B^2) + lam c) + 2 gamma^2 and phi = 0 (beta_FT(0) = 0)."""
    wp, vp, wm, vm = pretrained_weights(np.array([b]), c, lam)
    assert wp * vp - wm * vm == pytest.approx(b, rel=1e-9, abs=1e-12 * c)
    # the conserved imbalance w^2 - v^2 = lam c of each branch
    assert wp**2 - vp**2 == pytest.approx(lam * c, rel=1e-9, abs=1e-9 * (c + abs(b)))
    start = finetune_init(wp, wm, gamma, rescale=rescale)
    assert start[0] * start[1] - start[2] * start[3] == pytest.approx(0.0, abs=1e-12 * (1 + c))
    sk, phi = finetune_constants(np.array([b]), c, lam, gamma, rescale=rescale)
    expected = rescale**2 * (np.sqrt(c**2 + b**2) + lam * c) + 2 * gamma**2
    if expected > 1e-9 * (c + abs(b) + 1):
        assert sk[0] == pytest.approx(expected, rel=1e-9)
        assert phi[0] == pytest.approx(0.0, abs=1e-9)


def test_pretraining_init_has_k_4c2() -> None:
    for c, lam in [(0.01, -1.0), (1.0, 0.3), (5.0, 1.0)]:
        sk, phi = bias_constants(*pretraining_init(c, lam, 3))
        np.testing.assert_allclose(sk, 2 * c, rtol=1e-12)
        np.testing.assert_allclose(phi, 0.0, atol=1e-15)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="lam"):
        pretraining_init(1.0, 1.5, 3)
    with pytest.raises(ValueError, match="c must"):
        pretrained_weights(np.zeros(2), 0.0, 0.0)
    with pytest.raises(ValueError, match="readout"):
        finetune_init(np.ones(2), np.ones(2), 1.0, readout="other")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sqrt_k"):
        solve_implicit_bias(np.ones((2, 5)), np.ones(2), np.zeros(5))
