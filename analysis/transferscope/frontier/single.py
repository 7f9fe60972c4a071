"""Single fits of one curve to one group of points: least squares, quantile, stochastic frontier.

- :func:`fit_least_squares`: lmfit's ``least_squares`` (trust-region reflective, bounds handled
  natively) with tolerances at 1e-15, which reaches the NIST StRD certified values; standard errors
  from the Jacobian at the solution (analytic where the family has one).
- :func:`fit_quantile`: the smoothed pinball loss at level ``tau`` by damped Gauss-Newton steps with
  IRLS curvature (:func:`kernels.solve`); standard errors from Powell's kernel estimate of the
  sandwich, as statsmodels' ``QuantReg``.
- :func:`fit_stochastic`: ``y = f(x) - u + v`` by maximum likelihood (damped Newton steps on the
  analytic gradient and Hessian, from two starts); standard errors from the observed information.

The batched bootstrap (:mod:`~transferscope.frontier.bootstrap`) refits the same objectives
(:mod:`~transferscope.frontier.kernels`) on many resamples at once, warm-started at these fits.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import lmfit
import numpy as np
from numpy.typing import NDArray
from scipy import stats

from transferscope.frontier import kernels
from transferscope.frontier.families import Family
from transferscope.frontier.kernels import Inefficiency

Array = NDArray[np.float64]

_TIGHT: Final[dict[str, float]] = {"xtol": 1e-15, "ftol": 1e-15, "gtol": 1e-15}


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
    nested : CurveFit or None
        For the two-part (``cluster``) stochastic frontier: the fit of the half-normal model it
        contains (what the bootstrap refits).
    shortfall : str
        For ``stochastic``: the shortfall distribution fitted (a
        :data:`kernels.Inefficiency`: ``"cluster"`` is the two-part shortfall with a
        half-normal tail, ``"cluster_exponential"`` with an exponential one); else empty.
    rival : CurveFit or None
        For the two-part shortfall: the fit with the other tail shape (the likelihood chose
        between the two; the plateau interval covers both when they fit about equally well).
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
    nested: CurveFit | None = field(default=None, repr=False)
    shortfall: str = ""
    rival: CurveFit | None = field(default=None, repr=False)

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
) -> CurveFit:
    """Quantile regression by damped Gauss-Newton steps with IRLS curvature (:func:`kernels.solve`).

    Minimizes the smoothed pinball loss (:func:`kernels.pinball`) at level ``tau``.

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
        Half-width of the quadratic zone of the loss (accuracy units).

    Returns
    -------
    CurveFit
        Estimates; standard errors ``sqrt(diag(tau (1 - tau) / f(0)^2 (J'J)^-1))`` with the
        density of the residuals at zero estimated with an Epanechnikov kernel and the
        Hall-Sheather bandwidth (as statsmodels' ``QuantReg``); log-likelihood of the asymmetric
        Laplace.
    """
    names = family.names
    n = len(x)
    problem = kernels.Quantile(family, x[None, :], y[None, :], np.ones((1, n)), tau, smoothing)
    theta0 = np.array([[family.clip(start)[k] for k in names]])
    result = kernels.solve(problem, theta0, max_iter=2000, xtol=1e-8)
    theta = result.theta[0]
    ok = bool(result.converged[0]) and bool(np.isfinite(theta).all())
    message = "" if ok else "the pinball loss minimization did not converge"
    return _quantile_statistics(family, x, y, theta, tau, ok, message)


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
    contamination: float = 0.0,
) -> CurveFit:
    """Stochastic frontier ``y = f(x) - u + v`` by maximum likelihood.

    ``v ~ N(0, sigma_v^2)``; ``u >= 0`` half-normal with scale ``sigma_u`` or exponential with
    mean ``sigma_u``. The likelihood (:class:`kernels.StochasticFrontier`) is maximized over the
    family's parameters and ``sigma_v``, ``sigma_u`` by damped Newton steps on its analytic
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
    contamination : float
        Prior share of gross errors (see :class:`kernels.StochasticFrontier`).

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
        family,
        x[None, :],
        y[None, :],
        np.ones((1, n)),
        inefficiency,
        noise_floor,
        contamination=contamination,
    )
    row = np.zeros(1, dtype=np.intp)
    theta0 = np.array([family.clip(start)[k] for k in family.names])
    with np.errstate(all="ignore"):
        spread = float(np.std(y - family.evaluate(x, theta0)))
    scale = min(max(spread, 2.0 * noise_floor), 0.5)

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
    return CurveFit(
        names, values, se, ok, message, n, p + 2, -obj, rmse, phi, alternative,
        shortfall=inefficiency,
    )  # fmt: skip


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


#: Restarts of the two-part frontier's maximization from its best solution (fresh damping).
POLISH_ROUNDS: Final[int] = 5


def fit_cluster(
    family: Family,
    x: Array,
    y: Array,
    start: Mapping[str, float],
    *,
    noise_floor: float = kernels.NOISE_FLOOR,
    contamination: float = 0.0,
    warm: Array | None = None,
    tail: kernels.Tail = "half_normal",
    simple: CurveFit | None = None,
) -> CurveFit:
    """Stochastic frontier with a two-part shortfall (:class:`kernels.ClusterFrontier`).

    The likelihood is maximized from several starts at once (the half-normal frontier's
    maximum with a small cluster added, and starts with the noise on either side of its floor);
    the best is kept. Standard errors come from the numerical Hessian of the analytic gradient
    (parameters held on a bound get none).

    Parameters
    ----------
    family : Family
        The frontier curve ``f``.
    x, y : numpy.ndarray
        Data.
    start : mapping
        Starting values of the family's parameters.
    noise_floor : float
        Smallest ``sigma_v``.
    contamination : float
        Prior share of gross errors.
    warm : numpy.ndarray, optional
        A full parameter vector to start from instead (e.g. the fit to all data, when fitting
        a subset); then it is the only start besides the half-normal fit's.
    tail : {"half_normal", "exponential"}
        Shape of the shortfall's tail (the cluster is half-normal; an exponential tail's
        ``sigma_u`` is its mean).
    simple : CurveFit, optional
        The half-normal frontier's fit to the same data (:func:`fit_stochastic` from
        ``start``), when the caller has it already; it is computed otherwise.

    Returns
    -------
    CurveFit
        Estimates with names ``(*family.names, "sigma_v", "sigma_u", "sigma_c", "pi_c")``.
    """
    p = len(family.names)
    n = len(x)
    names = (*family.names, "sigma_v", "sigma_u", "sigma_c", "pi_c")
    if simple is None:
        simple = fit_stochastic(
            family, x, y, start, noise_floor=noise_floor, contamination=contamination
        )
    problem = kernels.ClusterFrontier(
        family, x[None, :], y[None, :], np.ones((1, n)), noise_floor, contamination, tail
    )
    base = simple.theta if np.isfinite(simple.theta).all() else None
    theta0 = np.array([family.clip(start)[k] for k in family.names])
    with np.errstate(all="ignore"):
        spread = float(np.std(y - family.evaluate(x, theta0)))
    scale = min(max(spread, 2.0 * noise_floor), 0.5)
    floor = max(noise_floor, 1e-6)
    starts = []
    su = base[p + 1] if base is not None else scale
    if tail == "exponential":
        su *= math.sqrt(2.0 / math.pi)  # the same mean shortfall as the half-normal fit's
    su = min(max(su, 2.0 * floor), 0.9)
    if warm is not None:
        starts.append(np.asarray(warm, dtype=np.float64))
        if base is not None:
            starts.append(np.concatenate([base[:p], [max(base[p], floor), su, 2e-6, 0.0]]))
    else:
        curve = theta0 if base is None else base[:p]
        for sv, sc, share in (
            (max(scale / 2.0, 1.1 * floor), max(scale / 8.0, floor), 0.3),
            (1.1 * floor, max(scale / 8.0, floor), 0.3),
            (max(scale / 2.0, 1.1 * floor), 2e-6, 0.2),
        ):
            starts.append(np.concatenate([curve, [sv, su, sc, share]]))
    theta_start = np.clip(np.array(starts), problem.lower, problem.upper)
    found = kernels.solve(problem, theta_start, max_iter=1000, ftol=1e-10, xtol=1e-8)
    score = np.where(found.converged & np.isfinite(found.objective), found.objective, np.inf)
    best = int(np.argmin(score))
    phi = found.theta[best]
    row = np.zeros(1, dtype=np.intp)
    for _ in range(POLISH_ROUNDS):
        # the damped steps can stop in a narrow valley of the mixture's likelihood, where one
        # step gains less than ftol, far from its maximum (MMLU high_school_physics: 236
        # log-likelihood units short); a restart with fresh damping goes on from there
        if not np.isfinite(score[best]):
            break
        again = kernels.solve(problem, phi[None, :], max_iter=1000, ftol=1e-10, xtol=1e-8)
        gain = float(score[best] - again.objective[0])
        if not (again.converged[0] and gain > 1e-9 * max(abs(float(score[best])), 1.0)):
            break
        phi = again.theta[0]
        score[best] = again.objective[0]
    ok = bool(np.isfinite(score[best]))

    def gradient(v: Array) -> Array:
        return problem.derivatives(v[None, :], row)[1][0]

    obj = float(problem.objective(phi[None, :], row)[0])
    hess = _numeric_hessian(gradient, phi, problem.lower, problem.upper)
    grad = gradient(phi)
    on_bound = ((phi <= problem.lower) & (grad > 0)) | ((phi >= problem.upper) & (grad < 0))
    se = np.full(p + 4, np.nan)
    free = ~on_bound
    with contextlib.suppress(np.linalg.LinAlgError):
        se[free] = _stderr(np.asarray(np.linalg.inv(hess[np.ix_(free, free)]), dtype=np.float64))
    with np.errstate(all="ignore"):
        loc = family.evaluate(x, phi[:p]) - kernels.mean_shortfall(phi[p:], kernels.TWO_PART[tail])
    rmse = float(np.sqrt(np.mean((y - loc) ** 2)))
    message = "" if ok else "the likelihood maximization did not converge"
    alternative = None
    others = [i for i in np.argsort(score) if i != best and np.isfinite(score[i])]
    if others and kernels.distinct(phi[None, :], found.theta[[others[0]]])[0]:
        alternative = found.theta[others[0]]
    return CurveFit(
        names,
        phi.copy(),
        se,
        ok,
        message,
        n,
        p + 4,
        -obj,
        rmse,
        phi,
        alternative,
        simple,
        shortfall=kernels.TWO_PART[tail],
    )


def fit_two_part(
    family: Family,
    x: Array,
    y: Array,
    start: Mapping[str, float],
    *,
    noise_floor: float = kernels.NOISE_FLOOR,
    contamination: float = 0.0,
    warm: Array | None = None,
) -> CurveFit:
    """Two-part stochastic frontier whose tail shape the likelihood chooses.

    The shortfall below a real frontier is rarely half-normal; a tail of the wrong shape biases
    the frontier, and with it the plateau, by more than its standard error once there are
    hundreds of models (the calibration benchmark: plateaus up to 0.01 too high under an
    exponential tail). Both tails (:data:`kernels.TAILS`) are fitted with the same starts; the
    one with the higher likelihood is returned (both have the same number of parameters), with
    the other as its ``rival``. The half-normal frontier both start from is fitted once.

    Parameters
    ----------
    family, x, y, start, noise_floor, contamination, warm
        As for :func:`fit_cluster`.

    Returns
    -------
    CurveFit
        The better of the two fits (``shortfall`` says which), the other in ``rival``.
    """
    simple = fit_stochastic(
        family, x, y, start, noise_floor=noise_floor, contamination=contamination
    )
    fits = [
        fit_cluster(
            family,
            x,
            y,
            start,
            noise_floor=noise_floor,
            contamination=contamination,
            warm=warm,
            tail=tail,
            simple=simple,
        )
        for tail in kernels.TAILS
    ]

    def support(f: CurveFit) -> float:
        return f.loglik if f.converged and math.isfinite(f.loglik) else -math.inf

    best, other = sorted(fits, key=support, reverse=True)
    if support(best) == -math.inf:
        return fits[0]  # neither converged: the half-normal tail's fit reports it
    return replace(best, rival=other if support(other) > -math.inf else None)
