"""Frontier estimators: which points a curve is fitted to, and how (one fit, with standard errors).

- ``hull``: least squares on the rising part of the upper convex hull (Abnar et al. 2021);
- ``pareto``: least squares on the points where the running maximum of y over increasing x rises;
- ``quantile``: all points, smoothed pinball loss at level ``tau`` (iteratively reweighted lmfit
  fits, standard errors from Powell's kernel estimate of the sandwich);
- ``stochastic``: stochastic frontier analysis, ``y = f(x) - u + v`` by maximum likelihood
  (scipy's L-BFGS-B on the analytic gradient, standard errors from the observed information);
- ``all``: least squares on all points (the average model, not the frontier).

The least-squares fits are lmfit fits (``method="least_squares"``, tight tolerances); their
standard errors come from the Jacobian at the solution (analytic where the family has one).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import lmfit
import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats

from transferscope.frontier import kernels
from transferscope.frontier.families import Family
from transferscope.frontier.kernels import Inefficiency

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Frontier = Literal["hull", "pareto", "quantile", "stochastic", "all"]

#: Frontier estimators, in the order they are documented.
FRONTIERS: Final[tuple[str, ...]] = ("hull", "pareto", "quantile", "stochastic", "all")
#: Estimators that fit a subset of the points (the frontier points) by least squares.
POINT_FRONTIERS: Final[frozenset[str]] = frozenset({"hull", "pareto"})

_TIGHT: Final[dict[str, float]] = {"xtol": 1e-15, "ftol": 1e-15, "gtol": 1e-15}


@dataclass(frozen=True)
class FitOptions:
    """Options of the estimators that have any.

    Parameters
    ----------
    tau : float
        Quantile level of ``quantile`` (default 0.9).
    inefficiency : {"half_normal", "exponential"}
        Distribution of the inefficiency of ``stochastic``.
    smoothing : float
        Half-width of the quadratic zone of the smoothed pinball loss (accuracy units).
    noise_floor : float
        Smallest noise standard deviation ``sigma_v`` of ``stochastic`` (accuracy units; 0.003 is
        about the sampling error of an accuracy of 0.9 measured on 10,000 examples). With less
        noise the likelihood approaches that of a deterministic frontier through the top
        points, which has many local maxima.
    """

    tau: float = 0.9
    inefficiency: Inefficiency = "half_normal"
    smoothing: float = 1e-3
    noise_floor: float = kernels.NOISE_FLOOR

    def to_record(self) -> dict[str, Any]:
        """JSON-safe dict of the options."""
        return {
            "tau": self.tau,
            "inefficiency": self.inefficiency,
            "smoothing": self.smoothing,
            "noise_floor": self.noise_floor,
        }


@dataclass(frozen=True)
class CurveFit:
    """One fitted curve: parameter values and standard errors, and fit statistics.

    Attributes
    ----------
    names : tuple of str
        Parameter names (the family's, then ``sigma_v`` and ``sigma_u`` for ``stochastic``).
    values, stderr : numpy.ndarray
        Estimates and standard errors (NaN where not available).
    converged : bool
        Whether the optimizer reported success with finite estimates.
    message : str
        The optimizer's message when it did not converge.
    n_obs : int
        Number of points fitted.
    n_params : int
        Number of estimated parameters counted by AICc (including scale parameters).
    loglik : float
        Maximized log-likelihood (Gaussian for least squares, asymmetric Laplace for quantile).
    rmse : float
        Root mean squared difference between the points and the fitted location.
    theta : numpy.ndarray
        The solver's parameter vector (the estimates, for every estimator).
    alternative : numpy.ndarray or None
        For ``stochastic``: the other local maximum of the likelihood (the noise on the other side
        of its floor), when it is a different point; the bootstrap then starts from both.
    """

    names: tuple[str, ...]
    values: Array
    stderr: Array
    converged: bool
    message: str
    n_obs: int
    n_params: int
    loglik: float
    rmse: float
    theta: Array = field(repr=False)
    alternative: Array | None = field(default=None, repr=False)

    @property
    def aicc(self) -> float:
        """Corrected Akaike criterion ``-2 loglik + 2K + 2K(K+1)/(n-K-1)`` (NaN when n <= K+1)."""
        k, n = self.n_params, self.n_obs
        if n - k - 1 <= 0 or not math.isfinite(self.loglik):
            return math.nan
        return -2.0 * self.loglik + 2.0 * k + 2.0 * k * (k + 1) / (n - k - 1)

    def as_dict(self) -> dict[str, float]:
        """Parameter values by name."""
        return {n: float(v) for n, v in zip(self.names, self.values, strict=True)}


def frontier_mask(x: Array, y: Array, kind: str) -> BoolArray:
    """Select the points an estimator fits.

    Parameters
    ----------
    x, y : numpy.ndarray
        Upstream and downstream scores.
    kind : str
        A frontier estimator; ``hull`` and ``pareto`` select points, the others use all.

    Returns
    -------
    numpy.ndarray
        Boolean mask over the points.
    """
    if kind not in POINT_FRONTIERS:
        return np.ones(len(x), dtype=bool)
    order = kernels.sort_order(x, y)
    present = np.ones((1, len(x)), dtype=bool)
    sorted_mask = kernels.frontier_masks(x[order], y[order], present, kind)[0]  # type: ignore[arg-type]
    mask = np.zeros(len(x), dtype=bool)
    mask[order] = sorted_mask
    return mask


def _jacobian(model: lmfit.Model, x: Array, values: Mapping[str, float]) -> Array:
    """Shape ``(n, p)``: analytic when the model is a family that has one, else central."""
    names = list(model.param_names)
    if isinstance(model, Family):
        parts = model.jacobian(x, *[np.asarray(values[n], dtype=np.float64) for n in names])
        if parts is not None:
            return np.column_stack([np.broadcast_to(p, x.shape) for p in parts])
    cols = []
    for name in names:
        v = float(values[name])
        h = 1e-6 * max(abs(v), 1e-6)
        up, down = dict(values), dict(values)
        up[name], down[name] = v + h, v - h
        with np.errstate(all="ignore"):
            cols.append((model.eval(x=x, **up) - model.eval(x=x, **down)) / (2.0 * h))
    return np.column_stack(cols)


def _covariance(jac: Array, weights: Array, sigma2: float) -> Array:
    info = jac.T @ (jac * weights[:, None])
    try:
        return np.asarray(sigma2 * np.linalg.inv(info), dtype=np.float64)
    except np.linalg.LinAlgError:
        return np.full(info.shape, np.nan)


def _stderr(cov: Array) -> Array:
    d = np.diagonal(cov).copy()
    return np.where(np.isfinite(d) & (d >= 0), np.sqrt(np.abs(d)), np.nan)


def fit_least_squares(
    model: lmfit.Model,
    x: Array,
    y: Array,
    start: Mapping[str, float] | lmfit.Parameters,
    *,
    max_nfev: int = 20000,
) -> CurveFit:
    """Least-squares fit of an lmfit model, with standard errors from the Jacobian at the solution.

    This is the curve engine: lmfit's ``least_squares`` method (trust-region reflective, bounds
    handled natively) with tolerances at 1e-15, which reaches the NIST StRD certified values.

    Parameters
    ----------
    model : lmfit.Model
        Any lmfit model with independent variable ``x`` (a :class:`Family` or not).
    x, y : numpy.ndarray
        Data.
    start : mapping or lmfit.Parameters
        Starting values (bounds come from the model's parameter hints).
    max_nfev : int
        Largest number of function evaluations.

    Returns
    -------
    CurveFit
        Estimates; ``stderr = sqrt(diag(s^2 (J'J)^-1))`` with ``s^2 = RSS / (n - p)``.
    """
    names = tuple(model.param_names)
    if isinstance(start, lmfit.Parameters):
        params = start
    else:
        params = model.make_params(**{k: float(v) for k, v in start.items()})
    n, p = len(x), len(names)
    try:
        with np.errstate(all="ignore"):
            result = model.fit(
                y, params, x=x, method="least_squares", fit_kws=_TIGHT, max_nfev=max_nfev
            )
        values = {k: float(result.params[k].value) for k in names}
        ok = bool(result.success) and all(math.isfinite(v) for v in values.values())
        message = "" if ok else str(result.message)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        vals = np.full(p, np.nan)
        return CurveFit(names, vals, vals, False, str(exc), n, p + 1, math.nan, math.nan, vals)
    theta = np.array([values[k] for k in names])
    with np.errstate(all="ignore"):
        resid = y - model.eval(x=x, **values)
        rss = float(resid @ resid)
        jac = _jacobian(model, x, values)
    se = (
        _stderr(_covariance(jac, np.ones(n), rss / (n - p)))
        if n > p and np.isfinite(jac).all()
        else np.full(p, np.nan)
    )
    loglik = -0.5 * n * (math.log(2.0 * math.pi * max(rss, 1e-300) / n) + 1.0)
    rmse = math.sqrt(rss / n)
    return CurveFit(names, theta, se, ok, message, n, p + 1, loglik, rmse, theta)


def fit_quantile(
    family: Family,
    x: Array,
    y: Array,
    start: Mapping[str, float],
    *,
    tau: float = 0.9,
    smoothing: float = 1e-3,
    max_iter: int = 500,
    tol: float = 1e-12,
) -> CurveFit:
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

    Returns
    -------
    CurveFit
        Estimates; standard errors ``sqrt(diag(tau (1 - tau) / f(0)^2 (J'J)^-1))`` with the density
        of the residuals at zero estimated with an Epanechnikov kernel and the Hall-Sheather
        bandwidth (as statsmodels' ``QuantReg``); log-likelihood of the asymmetric Laplace.
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
    return _quantile_statistics(family, x, y, theta, tau, ok, message)


def quantile_newton(
    family: Family, x: Array, y: Array, start: Mapping[str, float], options: FitOptions
) -> CurveFit:
    """Quantile regression by damped Gauss-Newton steps with IRLS curvature (:func:`kernels.solve`).

    Minimizes the same smoothed pinball loss as :func:`fit_quantile`, much faster; the
    statistics are computed the same way.

    Parameters
    ----------
    family : Family
        The curve.
    x, y : numpy.ndarray
        Data.
    start : mapping
        Starting values.
    options : FitOptions
        ``tau`` and ``smoothing``.

    Returns
    -------
    CurveFit
        As :func:`fit_quantile`.
    """
    names = family.names
    n = len(x)
    problem = kernels.Quantile(
        family, x[None, :], y[None, :], np.ones((1, n)), options.tau, options.smoothing
    )
    theta0 = np.array([[family.clip(start)[k] for k in names]])
    result = kernels.solve(problem, theta0, max_iter=2000, xtol=1e-8)
    theta = result.theta[0]
    ok = bool(result.converged[0]) and bool(np.isfinite(theta).all())
    message = "" if ok else "the pinball loss minimization did not converge"
    return _quantile_statistics(family, x, y, theta, options.tau, ok, message)


def _quantile_statistics(
    family: Family, x: Array, y: Array, theta: Array, tau: float, ok: bool, message: str
) -> CurveFit:
    names = family.names
    n, p = len(x), len(names)
    values = dict(zip(names, theta.tolist(), strict=True))
    with np.errstate(all="ignore"):
        r = y - family.eval(x=x, **values)
        jac = _jacobian(family, x, values)
    check = float(np.mean(np.where(r >= 0, tau, tau - 1.0) * r))
    se = _quantile_stderr(r, jac, tau) if n > p else np.full(p, np.nan)
    loglik = n * (math.log(tau * (1.0 - tau) / max(check, 1e-300)) - 1.0)
    rmse = float(np.sqrt(np.mean(r * r)))
    return CurveFit(names, theta, se, ok, message, n, p + 1, loglik, rmse, theta)


def _quantile_stderr(r: Array, jac: Array, tau: float, alpha: float = 0.05) -> Array:
    n = len(r)
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    q = stats.norm.ppf(tau)
    hs = n ** (-1.0 / 3.0) * z ** (2.0 / 3.0)
    hs *= (1.5 * stats.norm.pdf(q) ** 2 / (2.0 * q * q + 1.0)) ** (1.0 / 3.0)
    hs = min(hs, 0.999 * min(tau, 1.0 - tau))
    iqr = float(np.subtract(*np.percentile(r, [75, 25])))
    spread = min(float(np.std(r)), iqr / 1.34) if iqr > 0 else float(np.std(r))
    bandwidth = spread * (stats.norm.ppf(tau + hs) - stats.norm.ppf(tau - hs))
    if not bandwidth > 0:
        return np.full(jac.shape[1], np.nan)
    u = r / bandwidth
    density = float(np.sum(0.75 * (1.0 - u * u) * (np.abs(u) <= 1.0))) / (n * bandwidth)
    if not density > 0:
        return np.full(jac.shape[1], np.nan)
    return _stderr(_covariance(jac, np.ones(n), tau * (1.0 - tau) / density**2))


def fit_stochastic(
    family: Family,
    x: Array,
    y: Array,
    start: Mapping[str, float],
    *,
    inefficiency: Inefficiency = "half_normal",
    noise_floor: float = kernels.NOISE_FLOOR,
    optimizer: Literal["newton", "lbfgsb"] = "newton",
) -> CurveFit:
    """Stochastic frontier ``y = f(x) - u + v`` by maximum likelihood.

    ``v ~ N(0, sigma_v^2)``; ``u >= 0`` half-normal with scale ``sigma_u`` or exponential with
    mean ``sigma_u``. The likelihood (:func:`kernels.sfa_loglik`) is maximized over the family's
    parameters and ``sigma_v``, ``sigma_u`` by damped Newton steps on its analytic
    gradient and Hessian (:func:`kernels.solve`), from the given curve with ``sigma_u`` at the
    residual standard deviation and the noise at half of it, then again from that maximum with
    the noise moved to the other side of its floor (:func:`kernels.solve_stochastic`); the
    better maximum is kept. Standard errors come from the numerical
    Hessian of the analytic gradient at the maximum (parameters held on a bound get none).

    Parameters
    ----------
    family : Family
        The frontier curve ``f``.
    x, y : numpy.ndarray
        Data.
    start : mapping
        Starting values of the family's parameters (e.g. a least-squares fit to all points).
    inefficiency : {"half_normal", "exponential"}
        Distribution of ``u``.
    noise_floor : float
        Smallest ``sigma_v`` (see :class:`kernels.StochasticFrontier`).
    optimizer : {"newton", "lbfgsb"}
        ``"newton"``: :func:`kernels.solve`; ``"lbfgsb"``: scipy's L-BFGS-B on the analytic
        gradient instead (an independent optimizer, used by the benchmark's by-hand reference).

    Returns
    -------
    CurveFit
        Estimates with names ``(*family.names, "sigma_v", "sigma_u")``; standard errors from the
        inverse observed information (delta method for the scales).
    """
    p = len(family.names)
    n = len(x)
    names = (*family.names, "sigma_v", "sigma_u")
    problem = kernels.StochasticFrontier(
        family, x[None, :], y[None, :], np.ones((1, n)), inefficiency, noise_floor
    )
    row = np.zeros(1, dtype=np.intp)
    theta0 = np.array([family.clip(start)[k] for k in family.names])
    with np.errstate(all="ignore"):
        spread = float(np.std(y - family.evaluate(x, theta0)))
    scale = min(max(spread, 2.0 * noise_floor), 0.5)
    bounds = list(zip(problem.lower, problem.upper, strict=True))

    def fun(phi: Array) -> tuple[float, Array]:
        obj, grad, _ = problem.derivatives(phi[None, :], row)
        return float(obj[0]), grad[0]

    def value(phi: Array) -> float:
        return float(problem.objective(phi[None, :], row)[0])

    # The likelihood can have a second maximum with the noise at its floor (nearly a
    # deterministic frontier): start once from each side and keep the better.
    candidates = [
        np.concatenate([theta0, [sigma_v, scale]])
        for sigma_v in (scale / 2.0, 1.1 * max(noise_floor, 1e-6))
    ]
    alternative = None
    if optimizer == "lbfgsb":
        found_phi, found_obj, found_ok = [], [], []
        for phi0 in candidates:
            try:
                found = optimize.minimize(
                    fun,
                    np.clip(phi0, problem.lower, problem.upper),
                    jac=True,
                    method="L-BFGS-B",
                    bounds=bounds,
                    options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
                )
            except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                continue
            found_phi.append(np.asarray(found.x, dtype=np.float64))
            found_obj.append(float(found.fun))
            found_ok.append(bool(np.isfinite(found.fun)))
        if not found_phi:
            vals = np.full(p + 2, np.nan)
            message = "the likelihood could not be evaluated"
            return CurveFit(names, vals, vals, False, message, n, p + 2, math.nan, math.nan, vals)
        best = int(np.argmin(found_obj))
        phi, ok = found_phi[best], found_ok[best]
    else:
        found, other = kernels.solve_stochastic(
            problem, candidates[0][None, :], max_iter=1000, ftol=1e-10, xtol=1e-8
        )
        ok = bool(found.converged[0]) and bool(np.isfinite(found.theta[0]).all())
        phi = found.theta[0]
        if other.converged[0] and kernels.distinct(found.theta, other.theta)[0]:
            alternative = other.theta[0]
    obj = value(phi)
    hess = _numeric_hessian(lambda v: fun(v)[1], phi, problem.lower, problem.upper)
    grad = fun(phi)[1]
    on_bound = ((phi <= problem.lower) & (grad > 0)) | ((phi >= problem.upper) & (grad < 0))
    se_phi = np.full(p + 2, np.nan)
    free = ~on_bound
    with contextlib.suppress(np.linalg.LinAlgError):
        inverse = np.asarray(np.linalg.inv(hess[np.ix_(free, free)]), dtype=np.float64)
        se_phi[free] = _stderr(inverse)
    values = phi.copy()
    se = se_phi.copy()
    sigma_u = values[p + 1]
    with np.errstate(all="ignore"):
        loc = family.evaluate(x, phi[:p]) - kernels.mean_inefficiency(sigma_u, inefficiency)
    rmse = float(np.sqrt(np.mean((y - loc) ** 2)))
    message = "" if ok else "the likelihood maximization did not converge"
    return CurveFit(names, values, se, ok, message, n, p + 2, -obj, rmse, phi, alternative)


def _numeric_hessian(
    gradient: Any, phi: Array, lower: Array, upper: Array, rel: float = 1e-5
) -> Array:
    k = len(phi)
    out = np.empty((k, k))
    for j in range(k):
        h = rel * max(abs(phi[j]), 1e-2)
        up, down = phi.copy(), phi.copy()
        up[j] = min(phi[j] + h, upper[j])
        down[j] = max(phi[j] - h, lower[j])
        out[:, j] = (gradient(up) - gradient(down)) / (up[j] - down[j])
    return np.asarray(0.5 * (out + out.T), dtype=np.float64)


def fit_estimator(
    family: Family,
    x: Array,
    y: Array,
    frontier: str,
    options: FitOptions,
    start: Mapping[str, float] | None = None,
) -> tuple[CurveFit, BoolArray]:
    """Fit a family with a frontier estimator.

    Parameters
    ----------
    family : Family
        The curve.
    x, y : numpy.ndarray
        All points of the group.
    frontier : str
        One of :data:`FRONTIERS`.
    options : FitOptions
        ``tau``, ``inefficiency`` and the smoothing of the pinball loss.
    start : mapping, optional
        Starting values; by default the family's data-driven guess on the points fitted (for
        ``quantile`` and ``stochastic``, a least-squares fit to all points).

    Returns
    -------
    fit : CurveFit
        The fit.
    mask : numpy.ndarray
        The points that define the frontier (all points for the estimators that use all).
    """
    mask = frontier_mask(x, y, frontier)
    xf, yf = x[mask], y[mask]
    guess = family.clip(start if start is not None else family.initial(xf, yf))
    if frontier in POINT_FRONTIERS or frontier == "all":
        return fit_least_squares(family, xf, yf, guess), mask
    if start is None:  # least squares on all points as the start (batched solver, B = 1)
        problem = kernels.LeastSquares(family, x[None, :], y[None, :], np.ones((1, len(x))))
        theta0 = np.array([[guess[k] for k in family.names]])
        base = kernels.solve(problem, theta0, max_iter=200, ftol=1e-8, xtol=1e-6)
        if np.isfinite(base.theta).all():
            guess = family.clip(dict(zip(family.names, base.theta[0].tolist(), strict=True)))
    if frontier == "quantile":
        return quantile_newton(family, x, y, guess, options), mask
    if frontier == "stochastic":
        fit = fit_stochastic(
            family,
            x,
            y,
            guess,
            inefficiency=options.inefficiency,
            noise_floor=options.noise_floor,
        )
        return fit, mask
    raise ValueError(f"unknown frontier {frontier!r}; expected one of {FRONTIERS}")


def location(family: Family, fit: CurveFit, frontier: str, options: FitOptions, x: Array) -> Array:
    """Where the fit puts a typical point at ``x``: the curve, minus the mean inefficiency for SFA.

    Parameters
    ----------
    family : Family
        The curve.
    fit : CurveFit
        A fit of it.
    frontier : str
        The estimator that made the fit.
    options : FitOptions
        Its options.
    x : numpy.ndarray
        Upstream scores.

    Returns
    -------
    numpy.ndarray
        Predicted downstream scores.
    """
    p = len(family.names)
    curve = family.evaluate(x, fit.values[:p])
    if frontier == "stochastic":
        return np.asarray(
            curve - kernels.mean_inefficiency(fit.values[p + 1], options.inefficiency), np.float64
        )
    return curve
