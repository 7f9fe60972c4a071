"""Saturating families: derivatives, plateaus, guesses, and adding a family in a few lines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from transferscope.frontier import FAMILIES, fit_group, get_family, register, saturation_point
from transferscope.frontier.families import Family, central_jacobian

POINTS: dict[str, tuple[float, ...]] = {
    "abnar": (0.8, 1.6, 0.12),
    "power": (0.9, 1.3),
    "logit": (0.4, 1.2),
    "probit": (0.2, 0.9),
    "sigmoid": (0.1, 0.85, 1.4, 0.3),
    "loss_exp": (0.7, 0.9, 0.8),
}


@pytest.mark.parametrize("name", sorted(POINTS))
def test_analytic_jacobian_matches_central_differences(name: str) -> None:
    family = get_family(name)
    x = np.linspace(0.5, 3.0, 9) if family.upstream == "lower" else np.linspace(0.3, 0.95, 9)
    theta = [np.float64(v) for v in POINTS[name]]
    analytic = family.jacobian(x, *theta)
    assert analytic is not None
    numeric = central_jacobian(family.curve, x, theta, family.lower, family.upper)
    for a, n in zip(analytic, numeric, strict=True):
        # central differences with relative step 1e-6: agreement to 1e-6 absolute
        np.testing.assert_allclose(a, n, atol=1e-6)


def test_plateaus() -> None:
    assert get_family("abnar").plateau(0.8, 1.6, 0.12) == pytest.approx(0.88)
    assert get_family("power").plateau(0.8, 1.6) == 1.0
    # logit/probit: 1 for a rising curve, 0 for a falling one
    assert get_family("logit").plateau(0.4, 1.2) == 1.0
    assert get_family("probit").plateau(0.4, -1.2) == 0.0
    assert get_family("sigmoid").plateau(0.1, 0.85, 1.4, 0.3) == 0.85
    # loss_exp at zero loss: 1 - eps + k, capped at 1
    assert get_family("loss_exp").plateau(0.7, 0.5, 0.8) == pytest.approx(0.8)
    assert get_family("loss_exp").plateau(0.3, 0.5, 0.8) == 1.0
    # vectorized over parameter arrays
    e_ir = np.array([0.1, 0.2])
    np.testing.assert_allclose(get_family("abnar").plateau(1.0, 1.0, e_ir), [0.9, 0.8])


@pytest.mark.parametrize("name", sorted(POINTS))
def test_guess_lies_inside_bounds(name: str) -> None:
    family = get_family(name)
    rng = np.random.default_rng(3)
    x = rng.uniform(2.0, 4.0, 40) if family.upstream == "lower" else rng.uniform(0.4, 0.9, 40)
    y = np.clip(family.evaluate(x, POINTS[name]) - rng.uniform(0, 0.05, 40), 0, 1)
    params = family.guess(y, x)
    for p in family.names:
        low, high = family.bounds[p]
        assert low < params[p].value < high


def test_saturation_point_of_abnar_has_a_closed_form() -> None:
    # k (1 - x)^alpha = delta  =>  x = 1 - (delta / k)^(1 / alpha)
    k, alpha, delta = 0.8, 1.6, 0.01
    expected = 1.0 - (delta / k) ** (1.0 / alpha)
    got = saturation_point(get_family("abnar"), np.array([k, alpha, 0.1]), delta)
    assert got == pytest.approx(expected, abs=1e-9)  # bisection to 2^-60 of a grid cell


def test_saturation_point_of_a_loss_is_the_largest_loss_within_delta() -> None:
    # plateau - f(L) = k (1 - exp(-gamma L)) <= delta  =>  L <= -log(1 - delta / k) / gamma
    eps, k, gamma, delta = 0.9, 0.5, 0.8, 0.01
    expected = -np.log(1.0 - delta / k) / gamma
    got = saturation_point(get_family("loss_exp"), np.array([eps, k, gamma]), delta, 4.0)
    assert got == pytest.approx(expected, abs=1e-9)


def test_a_new_family_is_a_few_lines() -> None:
    class Exponential(Family):
        family_name = "test_exponential"
        bounds = {"c": (0.0, 1.0), "k": (0.0, np.inf), "r": (0.0, 100.0)}  # noqa: RUF012

        @staticmethod
        def curve(x: Any, c: Any, k: Any, r: Any) -> Any:
            return c - k * np.exp(-r * x)

        def initial(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
            return {"c": float(np.max(y)), "k": 1.0, "r": 3.0}

    register(Exponential)
    try:
        rng = np.random.default_rng(0)
        x = rng.uniform(0.3, 0.9, 200)
        y = 0.9 - 1.5 * np.exp(-4.0 * x) - np.abs(rng.normal(0, 0.01, 200))
        result = fit_group(x, y, family="test_exponential", frontier="pareto", bootstrap=50)
        assert result.status == "ok"
        # the plateau is the curve at x = 1 by default: 0.9 - 1.5 exp(-4) = 0.8725; within 0.01
        assert result.plateau == pytest.approx(0.9 - 1.5 * np.exp(-4.0), abs=0.01)
        assert set(result.params) == {"c", "k", "r"}
    finally:
        FAMILIES.unregister("test_exponential")
