"""Vectorized kernels against direct (slow, obvious) computations."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_fits import (
    composed_error_density,
    quantile_by_reweighting,
    stochastic_by_lbfgsb,
)

from transferscope.frontier import FitSettings, get_estimator, get_family, kernels
from transferscope.frontier.bootstrap import refit_resamples


def pareto_by_hand(x: np.ndarray, y: np.ndarray) -> set[tuple[float, float]]:
    """Points whose y beats every point with smaller x, or equal x and larger y."""
    out = set()
    for xi, yi in zip(x, y, strict=True):
        if all(
            not (xj < xi or (xj == xi and yj > yi)) or yj < yi for xj, yj in zip(x, y, strict=True)
        ):
            out.add((float(xi), float(yi)))
    return out


def hull_by_hand(x: np.ndarray, y: np.ndarray) -> set[tuple[float, float]]:
    """Rising part of the upper hull by Andrew's monotone chain, from the leftmost top point."""
    top_at: dict[float, float] = {}
    for a, b in zip(x, y, strict=True):
        top_at[float(a)] = max(float(b), top_at.get(float(a), -np.inf))
    pts = sorted(top_at.items())
    upper: list[tuple[float, float]] = []
    exact = {v: Fraction(v).limit_denominator(1000) for pt in pts for v in pt}  # collinearity
    for p in reversed(pts):
        while len(upper) >= 2:
            (ox, oy), (ax, ay) = upper[-2], upper[-1]
            cross = (exact[ax] - exact[ox]) * (exact[p[1]] - exact[oy]) - (
                exact[ay] - exact[oy]
            ) * (exact[p[0]] - exact[ox])
            if cross <= 0:
                upper.pop()
            else:
                break
        upper.append(p)
    upper.reverse()  # left to right
    top = max(range(len(upper)), key=lambda i: (upper[i][1], -upper[i][0]))
    return set(upper[: top + 1])


def frontier_set(x: np.ndarray, y: np.ndarray, kind: str) -> set[tuple[float, float]]:
    mask = get_estimator(kind).select(x, y)
    return {(float(a), float(b)) for a, b in zip(x[mask], y[mask], strict=True)}


grid = st.integers(min_value=0, max_value=12).map(lambda v: v / 12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(grid, grid), min_size=1, max_size=25))
def test_frontiers_match_direct_computation(points: list[tuple[float, float]]) -> None:
    # coarse grid: many ties in x and y, duplicates and collinear points
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    assert frontier_set(x, y, "pareto") == pareto_by_hand(x, y)
    assert frontier_set(x, y, "hull") == hull_by_hand(x, y)


def test_resample_frontiers_match_frontiers_of_the_resampled_points() -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(0.3, 0.9, 60)
    y = 0.9 - 0.5 * (1 - x) ** 1.5 - np.abs(rng.normal(0, 0.03, 60))
    indices = kernels.bootstrap_indices(60, 40, rng)
    counts = kernels.counts_from_indices(indices, 60)
    np.testing.assert_array_equal(counts.sum(axis=1), 60)
    order = kernels.sort_order(x, y)
    for kind in ("pareto", "hull"):
        masks = kernels.frontier_masks(x[order], y[order], counts[:, order] > 0, kind)
        for b in range(40):
            xs, ys = x[indices[b]], y[indices[b]]
            expected = frontier_set(xs, ys, kind)
            got = {
                (float(a), float(c))
                for a, c in zip(x[order][masks[b]], y[order][masks[b]], strict=True)
            }
            assert got == expected


@pytest.mark.parametrize("kind", ["half_normal", "exponential"])
def test_sfa_gradient_and_hessian(kind: str) -> None:
    family = get_family("abnar")
    rng = np.random.default_rng(0)
    x = rng.uniform(0.4, 0.9, 50)
    f = family.evaluate(x, [1.2, 1.5, 0.1])
    y = f - np.abs(rng.normal(0, 0.03, 50)) + rng.normal(0, 0.005, 50)
    w = rng.integers(0, 3, (1, 50)).astype(float)
    problem = kernels.StochasticFrontier(family, x[None], y[None], w, kind)
    theta = np.array([1.1, 1.4, 0.12, 0.006, 0.025])
    row = np.zeros(1, dtype=np.intp)
    _, grad, hess = problem.derivatives(theta[None], row)

    def objective(t: np.ndarray) -> float:
        return float(problem.objective(t[None], row)[0])

    def gradient(t: np.ndarray) -> np.ndarray:
        return problem.derivatives(t[None], row)[1][0]

    steps = 1e-7 * np.maximum(np.abs(theta), 1e-2)
    eye = np.eye(5)
    numeric = np.array(
        [
            (objective(theta + h * e) - objective(theta - h * e)) / (2 * h)
            for h, e in zip(steps, eye, strict=True)
        ]
    )
    # central differences of the objective: relative agreement 1e-6
    np.testing.assert_allclose(grad[0], numeric, rtol=1e-6, atol=1e-4)
    numeric_hess = np.array(
        [
            (gradient(theta + h * e) - gradient(theta - h * e)) / (2 * h)
            for h, e in zip(steps, eye, strict=True)
        ]
    )
    same = np.ones((5, 5), dtype=bool)
    # Gauss-Newton drops d2f/dk dalpha and d2f/dalpha2 (the curve is linear in e_ir)
    same[0, 1] = same[1, 0] = same[1, 1] = False
    np.testing.assert_allclose(hess[0][same], numeric_hess[same], rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("kind", ["half_normal", "exponential"])
@pytest.mark.parametrize(("sigma_v", "sigma_u"), [(0.01, 0.03), (0.02, 0.005), (0.003, 0.05)])
def test_sfa_likelihood_equals_the_convolution_of_its_densities(
    kind: str, sigma_v: float, sigma_u: float
) -> None:
    # the closed-form log-likelihood against a numerical convolution of the normal noise and
    # the shortfall density (scipy.integrate.quad, relative tolerance 1e-12)
    family = get_family("abnar")
    theta = np.array([1.1, 1.4, 0.12])
    x = np.linspace(0.45, 0.9, 9)
    eps = np.linspace(-4 * sigma_u - 3 * sigma_v, 3 * sigma_v, 9)
    y = family.evaluate(x, theta) + eps
    row = np.zeros(1, dtype=np.intp)
    for j in range(len(x)):
        w = np.zeros((1, len(x)))
        w[0, j] = 1.0
        problem = kernels.StochasticFrontier(family, x[None], y[None], w, kind, noise_floor=1e-6)
        phi = np.concatenate([theta, [sigma_v, sigma_u]])
        loglik = -float(problem.objective(phi[None], row)[0])
        numeric = math.log(composed_error_density(float(eps[j]), sigma_v, sigma_u, kind))
        assert loglik == pytest.approx(numeric, rel=1e-8, abs=1e-8)


def _group(seed: int, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.4, 0.9, n)
    f = get_family("abnar").evaluate(x, [1.0, 1.5, 0.1])
    return x, f - np.abs(rng.normal(0, 0.03, n)) + rng.normal(0, 0.004, n)


@pytest.mark.parametrize("frontier", ["hull", "pareto", "all", "quantile", "stochastic"])
def test_batched_refits_equal_one_fit_per_resample(frontier: str) -> None:
    family = get_family("abnar")
    estimator = get_estimator(frontier)
    # the reference optimizers maximize the plain half-normal likelihood
    settings = FitSettings(frontier=frontier, inefficiency="half_normal", contamination=0.0)
    x, y = _group(1)
    full = estimator.fit(family, x, y, settings)
    assert full.converged
    n_boot = 3 if frontier in ("quantile", "stochastic") else 12  # their one-by-one fits are slow
    indices = kernels.bootstrap_indices(len(x), n_boot, np.random.default_rng(2))
    batched = refit_resamples(family, estimator, x, y, settings, full, indices)
    assert batched.ok.all()
    for b in range(n_boot):
        xb, yb = x[indices[b]], y[indices[b]]
        start = full.as_dict()
        if frontier == "quantile":
            theta, ok, _ = quantile_by_reweighting(
                family, xb, yb, start, tau=settings.tau, smoothing=settings.smoothing
            )
            assert ok
        elif frontier == "stochastic":
            theta = stochastic_by_lbfgsb(family, xb, yb, start)
        else:
            theta = estimator.fit(family, xb, yb, settings, start=start).values
        plateau = float(family.plateau(*theta[:3]))
        # independent optimizers (lmfit, scipy L-BFGS-B) agree on the plateau to 1e-4
        assert batched.plateau[b] == pytest.approx(plateau, abs=1e-4)
