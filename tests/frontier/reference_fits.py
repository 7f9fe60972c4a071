"""Independent reference fits for the tests: other algorithms and other optimizers.

The library fits quantile and stochastic frontiers with its own damped Newton solver
(:func:`transferscope.frontier.kernels.solve`); these references reach the same optima by other
routes, so that a test comparing them can fail:

- :func:`quantile_by_reweighting`: the MM algorithm, each step an lmfit least-squares fit of the
  majorizing weighted problem;
- :func:`stochastic_by_lbfgsb`: scipy's L-BFGS-B on the library's likelihood and gradient;
- :func:`composed_error_density`: the density of ``v - u`` by numerical convolution of the normal
  and half-normal (or exponential) densities, to check the closed-form likelihood.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import integrate, optimize, stats

from transferscope.frontier import kernels
from transferscope.frontier.families import Family

Array = np.ndarray
_TIGHT = {"xtol": 1e-15, "ftol": 1e-15, "gtol": 1e-15}


def quantile_by_reweighting(
    family: Family,
    x: Array,
    y: Array,
    start: Mapping[str, float],
    *,
    tau: float = 0.9,
    smoothing: float = 1e-3,
    max_iter: int = 500,
    tol: float = 1e-12,
) -> tuple[np.ndarray, bool, str]:
    """Quantile regression of a family by the MM algorithm (iteratively reweighted lmfit fits).

    Each iteration majorizes the smoothed pinball loss (:func:`kernels.pinball`) by a weighted
    least-squares problem and solves it with lmfit; the loss decreases monotonically.

    Parameters
    ----------
    family : Family
        The curve.
    x, y : numpy.ndarray
        Data.
    start : mapping
        Starting values.
    tau : float
        Quantile level.
    smoothing : float
        Half-width of the quadratic zone of the loss.
    max_iter : int
        Largest number of reweighting iterations.
    tol : float
        Stop when the relative decrease of the loss is below ``tol``.

    Returns the parameters, whether the loss stopped decreasing, and a message.
    """
    names = family.names
    values = family.clip(start)
    loss = math.inf
    ok = False
    message = f"no convergence in {max_iter} reweighting iterations"
    for _ in range(max_iter):
        with np.errstate(all="ignore"):
            r = y - family.eval(x=x, **values)
        a = np.maximum(np.abs(r), smoothing)
        target = y + 2.0 * a * (tau - 0.5)  # the majorizer is least squares around this
        params = family.make_params(**family.clip(values))
        try:
            with np.errstate(all="ignore"):
                result = family.fit(
                    target,
                    params,
                    x=x,
                    weights=1.0 / (2.0 * np.sqrt(a)),
                    method="least_squares",
                    fit_kws=_TIGHT,
                    max_nfev=20000,
                )
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            message = str(exc)
            break
        new_values = {k: float(result.params[k].value) for k in names}
        with np.errstate(all="ignore"):
            new_r = y - family.eval(x=x, **new_values)
        new_loss = float(np.sum(kernels.pinball(new_r, tau, smoothing)))
        if not math.isfinite(new_loss):
            message = "non-finite loss"
            break
        improved = new_loss <= loss
        if improved:
            values = new_values
        if not improved or loss - new_loss <= tol * max(abs(new_loss), 1e-300):
            ok = True
            message = ""
            break
        loss = new_loss
    theta = np.array([values[k] for k in names])
    ok = ok and bool(np.isfinite(theta).all())
    return theta, ok, message


def stochastic_by_lbfgsb(
    family: Family,
    x: Array,
    y: Array,
    start: Mapping[str, float],
    *,
    inefficiency: kernels.Inefficiency = "half_normal",
    noise_floor: float = kernels.NOISE_FLOOR,
    starts: list[np.ndarray] | None = None,
    ftol: float = 1e-15,
    gtol: float = 1e-10,
) -> np.ndarray:
    """Maximize the stochastic-frontier likelihood with L-BFGS-B; the best phi over the starts.

    By default two starts: the curve ``start`` with ``sigma_u`` at the residual spread and the
    noise on either side of its floor; ``starts`` gives full parameter vectors instead.
    """
    n = len(x)
    problem = kernels.StochasticFrontier(
        family, x[None, :], y[None, :], np.ones((1, n)), inefficiency, noise_floor
    )
    row = np.zeros(1, dtype=np.intp)
    theta0 = np.array([family.clip(start)[k] for k in family.names])
    spread = float(np.std(y - family.evaluate(x, theta0)))
    scale = min(max(spread, 2.0 * noise_floor), 0.5)

    def fun(phi: Array) -> tuple[float, Array]:
        obj, grad, _ = problem.derivatives(phi[None, :], row)
        return float(obj[0]), grad[0]

    if starts is None:
        starts = [
            np.concatenate([theta0, [sigma_v, scale]])
            for sigma_v in (scale / 2.0, 1.1 * max(noise_floor, 1e-6))
        ]
    best_phi, best_obj = None, math.inf
    for phi_start in starts:
        phi0 = np.clip(phi_start, problem.lower, problem.upper)
        found = optimize.minimize(
            fun,
            phi0,
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(problem.lower, problem.upper, strict=True)),
            options={"maxiter": 5000, "ftol": ftol, "gtol": gtol, "maxcor": 20},
        )
        if np.isfinite(found.fun) and found.fun < best_obj:
            best_phi, best_obj = np.asarray(found.x, dtype=float), float(found.fun)
    assert best_phi is not None
    return best_phi


def composed_error_density(
    eps: float, sigma_v: float, sigma_u: float, inefficiency: kernels.Inefficiency
) -> float:
    """Density of ``v - u`` at ``eps`` by numerical convolution (v normal, u >= 0)."""
    if inefficiency == "half_normal":
        shortfall = stats.halfnorm(scale=sigma_u).pdf
        upper = 12.0 * sigma_u
    else:
        shortfall = stats.expon(scale=sigma_u).pdf
        upper = 40.0 * sigma_u

    def integrand(u: float) -> float:
        return float(stats.norm.pdf(eps + u, scale=sigma_v) * shortfall(u))

    lo = max(0.0, -eps - 10.0 * sigma_v)
    hi = min(upper, -eps + 10.0 * sigma_v) if -eps + 10.0 * sigma_v > 0 else upper
    hi = max(hi, lo)
    value, _ = integrate.quad(integrand, lo, hi, epsabs=0.0, epsrel=1e-12, limit=500)
    return float(value)
