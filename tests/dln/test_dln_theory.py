"""The D -> infinity theory: every step checked numerically, then against the simulator.

Steps: the proximal operator against brute-force minimization; the quadrature of its law against
Monte Carlo; the exact Jacobian of the state evolution against finite differences; the closed
forms it must reduce to (minimum-l2-norm interpolation, least squares, basis pursuit's phase
transition as kappa -> 0); the laws built from the task statistics against direct sampling; the
solver's statuses; and, last, the prediction against the implicit-bias solver at D = 300.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import norm

from transferscope.dln import (
    REGIME_SETTINGS,
    SCRATCH,
    CoordinateLaw,
    InitSetting,
    TaskSpec,
    default_tasks,
    finetune_law,
    generalization_curves,
    penalty_scale,
    pretrained_law,
    prox_derivative,
    prox_penalty,
    pushforward,
    q_penalty,
    scratch_law,
    solve_curve,
    solve_state_evolution,
    spread_scale,
    summarize_curves,
    theory_curves,
)
from transferscope.dln.state_evolution import _moments
from transferscope.errors import InputError


def _two_point(kappa: float, rho: float = 0.1) -> CoordinateLaw:
    return CoordinateLaw(
        beta_star=np.array([0.0, 1.0]),
        kappa=np.full(2, kappa),
        phi=np.zeros(2),
        weight=np.array([1.0 - rho, rho]),
        group=np.array([0, 1]),
    )


# -- the proximal operator -----------------------------------------------------------------


@pytest.mark.parametrize("kappa", [1e-8, 1e-3, 0.1, 3.0, 300.0])
@pytest.mark.parametrize("theta", [1e-4, 0.05, 1.0, 20.0])
def test_prox_matches_brute_force_minimization(kappa: float, theta: float) -> None:
    rng = np.random.default_rng(int(1e3 * kappa + theta * 7) % 2**32)
    xs = rng.normal(0.0, 2.0, 8)
    for phi in (0.0, -0.4, 1.3):
        got = prox_penalty(xs, kappa, theta, phi)
        for x, b in zip(xs, got, strict=True):

            def objective(v: float, x: float = x, phi: float = phi) -> float:
                q = float(q_penalty(v, 4 * kappa**2))
                return 0.5 * (v - x) ** 2 + theta * (q - phi * v / 2)

            ref = minimize_scalar(objective, bounds=(x - 50, x + 50), method="bounded",
                                  options={"xatol": 1e-13})  # fmt: skip
            # the brute-force optimum is no better than ours, and they coincide
            assert objective(b) <= objective(ref.x) + 1e-12
            assert b == pytest.approx(ref.x, abs=1e-6 * (1 + abs(b)))


def test_prox_derivative_matches_finite_differences() -> None:
    x = np.linspace(-3, 3, 41)
    for kappa, theta, phi in ((1e-4, 0.3, 0.0), (0.5, 2.0, 0.7), (10.0, 0.01, -0.2)):
        h = 1e-6
        numeric = prox_penalty(x + h, kappa, theta, phi) - prox_penalty(x - h, kappa, theta, phi)
        np.testing.assert_allclose(
            prox_derivative(x, kappa, theta, phi), numeric / (2 * h), rtol=1e-5, atol=1e-8
        )


# -- quadrature of the scalar channel --------------------------------------------------------


def test_pushforward_matches_monte_carlo() -> None:
    """E[g(eta(beta* + tau Z))] by the u-space quadrature against 400k Monte Carlo draws."""
    law = CoordinateLaw(
        beta_star=np.array([0.0, 1.0, -1.0]),
        kappa=np.array([1e-3, 0.02, 0.5]),
        phi=np.array([0.1, -0.3, 0.0]),
        weight=np.array([0.8, 0.15, 0.05]),
    )
    tau, theta = 0.4, 0.15
    values, weights = pushforward(law, tau, theta, n_uniform=8, order=5)
    assert weights.sum() == pytest.approx(1.0, abs=1e-10)  # the Gaussian integrates to one
    rng = np.random.default_rng(0)
    n = 400_000
    atom = rng.choice(3, size=n, p=law.weight)
    eta = prox_penalty(
        law.beta_star[atom] + tau * rng.standard_normal(n), law.kappa[atom], theta, law.phi[atom]
    )
    bstar = law.beta_star[:, None]
    for g in (lambda b, s: (b - s) ** 2, lambda b, s: np.abs(b), lambda b, s: b * s):
        quad = float(np.sum(weights * g(values, bstar)))
        mc = g(eta, law.beta_star[atom])
        se = float(mc.std() / math.sqrt(n))
        assert abs(quad - mc.mean()) < 4 * se, (quad, mc.mean(), se)


def test_quadrature_converges() -> None:
    """Coarse default nodes against a rule with four times as many, on a nearly-l1 penalty."""
    law = finetune_law(
        REGIME_SETTINGS["I"], default_tasks(0.1)[1], pretrained_law(REGIME_SETTINGS["I"].c_pt)
    )
    coarse = solve_state_evolution(law, 0.3, noise_var=1e-4, spread=False)
    fine = solve_state_evolution(
        law, 0.3, noise_var=1e-4, spread=False, n_uniform=30, order=10,
        start=(coarse.tau, coarse.theta),
    )  # fmt: skip
    assert coarse.gen_error == pytest.approx(fine.gen_error, rel=1e-6)
    assert coarse.quadrature_error < 1e-9


def test_jacobian_matches_finite_differences() -> None:
    law = finetune_law(
        REGIME_SETTINGS["IV"], default_tasks(0.1)[0], pretrained_law(REGIME_SETTINGS["IV"].c_pt)
    )
    q = {"n_uniform": 8, "order": 5}
    tau, theta, h = 0.3, 0.08, 1e-6
    mo = _moments(law, tau, theta, **q)
    up, dn = _moments(law, tau + h, theta, **q), _moments(law, tau - h, theta, **q)
    assert mo.err_tau == pytest.approx((up.err - dn.err) / (2 * h), rel=1e-5)
    assert mo.deta_tau == pytest.approx((up.deta - dn.deta) / (2 * h), rel=1e-5)
    up, dn = _moments(law, tau, theta + h, **q), _moments(law, tau, theta - h, **q)
    assert mo.err_theta == pytest.approx((up.err - dn.err) / (2 * h), rel=1e-5)
    assert mo.deta_theta == pytest.approx((up.deta - dn.deta) / (2 * h), rel=1e-5)


# -- limits with closed forms ------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.1, 0.4, 0.8])
@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_lazy_limit_is_minimum_l2_norm_interpolation(alpha: float, noise: float) -> None:
    """kappa -> inf: error 1 - alpha + noise^2 alpha / (1 - alpha), whatever the teacher."""
    law = _two_point(1e6, rho=0.05)
    sol = solve_state_evolution(law, alpha, noise_var=noise**2 * law.second_moment)
    assert sol.status == "ok"
    exact = 1 - alpha + noise**2 * alpha / (1 - alpha)
    assert sol.gen_error == pytest.approx(exact, rel=1e-7)
    # the spread is the delta method's 2 alpha (2 - alpha) / D without noise (documented value)
    if noise == 0:
        assert sol.sd_scale**2 == pytest.approx(2 * alpha * (2 - alpha), rel=1e-6)


def test_least_squares_and_the_interpolation_threshold() -> None:
    law = _two_point(0.01)
    s2 = 0.04 * law.second_moment
    ls = solve_state_evolution(law, 3.0, noise_var=s2)
    assert ls.status == "least_squares" and ls.gen_error == pytest.approx(0.04 / 2.0)
    at_one = solve_state_evolution(law, 1.0, noise_var=s2)
    assert at_one.status == "no_solution" and math.isnan(at_one.gen_error)
    assert "diverges" in at_one.message
    assert solve_state_evolution(law, 1.0).gen_error == 0.0
    assert solve_state_evolution(law, -0.5).status == "no_solution"


def _donoho_tanner(delta: float) -> float:
    """Weak threshold rho(delta) = k / n of l1 basis pursuit (Donoho, Maleki, Montanari 2009)."""

    def neg(z: float) -> float:
        g = (1 + z * z) * norm.cdf(-z) - z * norm.pdf(z)
        return -(1 - 2 / delta * g) / (1 + z * z - 2 * g)

    return float(-minimize_scalar(neg, bounds=(0, 10), method="bounded").fun)


@pytest.mark.parametrize("alpha", [0.2, 0.5])
def test_rich_limit_shows_the_basis_pursuit_phase_transition(alpha: float) -> None:
    """kappa -> 0 is l1: without noise the error vanishes below Donoho-Tanner, not above."""
    critical = _donoho_tanner(alpha) * alpha  # largest recoverable k / D
    below = [solve_state_evolution(_two_point(k, 0.8 * critical), alpha).gen_error
             for k in (1e-6, 1e-10, 1e-14)]  # fmt: skip
    above = [solve_state_evolution(_two_point(k, 1.2 * critical), alpha).gen_error
             for k in (1e-6, 1e-10, 1e-14)]  # fmt: skip
    assert below[0] > below[1] > below[2] and below[2] < 1e-3  # measured 9e-4 and 2e-5
    assert min(above) > 0.4  # measured 0.45 to 0.59: recovery fails


# -- the laws of the coordinates ---------------------------------------------------------------


def test_pretrained_law_least_squares() -> None:
    pre = pretrained_law(1e-3, rho_pt=0.1, alpha_pt=4.0, pt_noise=0.1)
    assert pre.status == "least_squares"
    # normalized least-squares error pt_noise^2 / (alpha_PT - 1)
    assert pre.upstream_error == pytest.approx(0.01 / 3.0, rel=1e-12)
    tau = math.sqrt(0.01 * 0.1 / 3.0)
    for values, weights, center in ((pre.values_off, pre.weights_off, 0.0),
                                    (pre.values_on, pre.weights_on, 1.0)):  # fmt: skip
        assert weights.sum() == pytest.approx(1.0)
        assert np.sum(weights * values) == pytest.approx(center, abs=1e-9)
        assert np.sum(weights * (values - center) ** 2) == pytest.approx(tau**2, rel=2e-5)
    bad = pretrained_law(1.0, alpha_pt=1.0, pt_noise=0.1)
    assert bad.status == "no_solution" and not bad.ok


def test_pretrained_law_interpolating_matches_its_own_channel() -> None:
    """alpha_PT < 1: beta_PT = eta(beta* + tau Z); its error is the pretraining solution's."""
    pre = pretrained_law(0.01, rho_pt=0.1, alpha_pt=0.6, pt_noise=0.1)
    assert pre.status == "ok" and pre.theta > 0
    err = 0.9 * np.sum(pre.weights_off * pre.values_off**2) + 0.1 * np.sum(
        pre.weights_on * (pre.values_on - 1) ** 2
    )
    assert err / 0.1 == pytest.approx(pre.upstream_error, rel=1e-6)


def test_finetune_law_matches_sampling() -> None:
    """Atoms of the fine-tuning law against coordinates drawn as the simulator draws them."""
    setting = REGIME_SETTINGS["II"]
    task = TaskSpec("mixed", 0.04, 0.03)
    pre = pretrained_law(setting.c_pt, rho_pt=0.1, alpha_pt=4.0, pt_noise=0.1)
    law = finetune_law(setting, task, pre)
    assert law.weight.sum() == pytest.approx(1.0)
    assert law.second_moment == pytest.approx(0.07)
    rng = np.random.default_rng(3)
    n = 200_000
    on = rng.random(n) < 0.1
    b_pt = np.where(on, rng.choice([-1.0, 1.0], n), 0.0) + math.sqrt(0.01 * 0.1 / 3) * (
        rng.standard_normal(n)
    )
    kappa = penalty_scale(b_pt, setting.c_pt, setting.lam_pt, setting.gamma_ft)
    for g in (np.log, np.sqrt):
        mc = g(kappa)
        assert float(np.sum(law.weight * g(law.kappa))) == pytest.approx(
            mc.mean(), abs=4 * mc.std() / math.sqrt(n)
        )


def test_folding_keeps_the_solution() -> None:
    """The constant readout has phi != 0: folded and unfolded laws give the same error."""
    setting = InitSetting("constant", c_pt=0.5, lam_pt=0.0, gamma_ft=0.2, readout="constant")
    pre = pretrained_law(setting.c_pt)
    law = finetune_law(setting, default_tasks(0.1)[0], pre)
    assert np.any(law.phi != 0)
    unfolded = CoordinateLaw(
        beta_star=np.concatenate([law.beta_star, -law.beta_star]),
        kappa=np.tile(law.kappa, 2),
        phi=np.concatenate([law.phi, -law.phi]),
        weight=np.tile(law.weight / 2, 2),
    )
    a = solve_state_evolution(law, 0.4, noise_var=1e-3)
    b = solve_state_evolution(unfolded, 0.4, noise_var=1e-3)
    assert a.gen_error == pytest.approx(b.gen_error, rel=1e-9)
    assert unfolded.folded().weight.size == law.weight.size


def test_scratch_law_matches_its_initialization() -> None:
    law = scratch_law(SCRATCH, default_tasks(0.1)[1])
    rng = np.random.default_rng(5)
    sk, phi = SCRATCH.constants(400_000, rng)
    zero = law.beta_star == 0
    w = law.weight[zero] / law.weight[zero].sum()
    kappa = sk / 2
    n = kappa.size
    for got, draws in (
        (np.sum(w * law.kappa[zero]), kappa),
        (np.sum(w * law.phi[zero] ** 2), phi**2),
    ):
        assert got == pytest.approx(draws.mean(), abs=4 * draws.std() / math.sqrt(n))


# -- solving ----------------------------------------------------------------------------------


def test_newton_and_bracketing_agree() -> None:
    law = finetune_law(
        REGIME_SETTINGS["IV"], default_tasks(0.1)[2], pretrained_law(REGIME_SETTINGS["IV"].c_pt)
    )
    newton = solve_state_evolution(law, 0.35, noise_var=3e-4)
    from transferscope.dln.state_evolution import _nested

    bracket = _nested(law, 0.35, 3e-4, 1e-10, {"n_uniform": 8, "order": 5})
    assert newton.message == "newton" and bracket.message == "bracketing"
    assert newton.gen_error == pytest.approx(bracket.gen_error, rel=1e-8)
    assert max(newton.residual, bracket.residual) < 1e-9


@pytest.mark.parametrize("regime", ["I", "II"])
def test_first_equation_changes_sign_once(regime: str) -> None:
    """Along theta(tau) from (E2), (E1) crosses zero once: the bracketed root is the solution."""
    from transferscope.dln.state_evolution import _theta_of

    setting = REGIME_SETTINGS[regime]
    law = finetune_law(setting, default_tasks(0.1)[1], pretrained_law(setting.c_pt))
    alpha, s2 = 0.3, 1e-4 * law.second_moment
    q = {"n_uniform": 8, "order": 5}
    sol = solve_state_evolution(law, alpha, noise_var=s2, spread=False)
    taus = 1.07 * sol.tau * np.logspace(-3, 2, 16)  # a grid that steps over the root
    h = []
    for tau in taus:
        theta = _theta_of(law, alpha, float(tau), q, [0])
        mo = _moments(law, float(tau), theta, derivatives=False, **q)
        h.append((s2 + mo.err) / (alpha * tau * tau) - 1.0)
    signs = np.sign(h)
    assert signs[0] > 0 > signs[-1]
    assert int(np.sum(signs[1:] != signs[:-1])) == 1


def test_curve_solves_in_any_order() -> None:
    law = finetune_law(
        REGIME_SETTINGS["I"], default_tasks(0.1)[0], pretrained_law(REGIME_SETTINGS["I"].c_pt)
    )
    alphas = [0.7, 0.1, 0.4, 1.5, 0.25]
    sols = solve_curve(law, alphas, noise_var=1e-3)
    assert [s.alpha for s in sols] == alphas
    assert [s.status for s in sols] == ["ok", "ok", "ok", "least_squares", "ok"]
    for a, s in zip(alphas, sols, strict=True):
        alone = solve_state_evolution(law, a, noise_var=1e-3)
        assert s.gen_error == pytest.approx(alone.gen_error, rel=1e-8)


def test_spread_is_positive_and_shrinks_with_dimension() -> None:
    curves = theory_curves(alphas=(0.2, 0.6), dim=400, scratch=None)
    assert (curves["sd_scale"] > 0).all()
    np.testing.assert_allclose(curves["gen_error_sd"], curves["sd_scale"] / 20.0)
    law = _two_point(0.05)
    sol = solve_state_evolution(law, 0.3, noise_var=1e-3)
    assert spread_scale(law, 0.3, sol.tau, sol.theta, noise_var=1e-3) == pytest.approx(sol.sd_scale)


def test_theory_curves_columns_and_bad_input() -> None:
    curves = theory_curves(alphas=(0.3, 2.0), tasks=default_tasks(0.1, 2))
    small = generalization_curves(dim=30, alphas=(0.3,), seeds=1, tasks=default_tasks(0.1, 1))
    sim_cols = list(small.columns)
    assert list(curves.columns[: len(sim_cols)]) == sim_cols
    assert len(curves) == 5 * 2 * 2  # (4 methods + scratch) x 2 tasks x 2 alphas
    assert curves["converged"].all()
    assert set(curves["status"]) == {"ok", "least_squares"}
    assert curves["shots"].isna().all() and str(curves["shots"].dtype) == "Int64"
    with pytest.raises(InputError, match="shared"):
        theory_curves(tasks=[TaskSpec("too_much", 0.5, 0.0)], rho_pt=0.1)
    with pytest.raises(InputError, match="alphas"):
        theory_curves(alphas=(0.0,))


# -- against the simulator -----------------------------------------------------------------------


def test_theory_agrees_with_the_solver_at_d300() -> None:
    """Mean of 16 replicates of the implicit-bias solver at D = 300 within 3 standard errors.

    A smaller version of ``benchmarks/dln_theory.py agreement`` (D = 1000, 20 seeds, 9 alphas):
    four regimes and scratch, tasks subset and disjoint (9 active dimensions each at D = 300),
    alpha 0.2 and 0.5. The five methods of a replicate share its data, so the 20 cells are four
    correlated blocks rather than 20 independent tests; measured: 18 of 20 cells within two
    standard errors, largest |z| 2.6 (disjoint, alpha 0.5, where all five methods lie above).
    """
    tasks = [t for t in default_tasks(0.1, 3) if t.name in ("subset", "disjoint")]
    alphas = (0.2, 0.5)
    sim = summarize_curves(
        generalization_curves(dim=300, alphas=alphas, tasks=tasks, seeds=16, seed=11)
    )
    theory = theory_curves(alphas=alphas, tasks=tasks)
    table = sim.merge(
        theory[["method", "task", "alpha_ft", "gen_error"]].rename(columns={"gen_error": "th"}),
        on=["method", "task", "alpha_ft"],
    )
    assert len(table) == 20
    z = (table["gen_error"] - table["th"]) / table["gen_error_se"]
    print(pd.concat([table, z.rename("z")], axis=1).to_string())
    assert z.abs().max() < 3.0
    assert (z.abs() <= 2).sum() >= 16
