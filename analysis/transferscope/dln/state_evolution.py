r"""State evolution of the minimum-penalty interpolator: the scalar kernel of the theory curves.

Problem and claim
-----------------
Let ``X`` be ``n x D`` with i.i.d. ``N(0, 1)`` entries, ``y = X beta* + sigma eps`` and

    ``beta_hat = argmin_beta sum_d f_d(beta_d)  subject to  X beta = y``,
    ``f_d(b) = q_{k_d}(b) - phi_d b / 2``,

the limit of gradient flow (:mod:`transferscope.dln.bias`). Write ``kappa_d = sqrt(k_d)/2``, so
that ``f_d'(b) = (arcsinh(b / kappa_d) - phi_d) / 2``. As ``D -> inf`` with ``n = alpha D``
(``alpha < 1``) and the empirical law of ``(beta*_d, kappa_d, phi_d)`` converging to a law ``P``,
the pairs ``(beta*_d, beta_hat_d)`` are distributed like ``(beta*, eta(beta* + tau Z))``,
``Z ~ N(0, 1)`` independent of ``(beta*, kappa, phi) ~ P``, where ``eta = prox_{theta f}`` is the
proximal operator of the coordinate's own penalty,

    ``eta(x) = argmin_b (b - x)^2 / 2 + theta f(b)``,

and the two scalars ``(tau, theta)`` solve

    (E1)  ``alpha tau^2 = s2 + E[(eta(beta* + tau Z) - beta*)^2]``,
    (E2)  ``alpha       = E[eta'(beta* + tau Z)]``,

with ``s2 = sigma^2 / D`` (the label noise per sample in units where the coordinates are O(1)).
The normalized generalization error is then
``|beta_hat - beta*|^2 / |beta*|^2 -> E[(eta - beta*)^2] / E[beta*^2] = (alpha tau^2 - s2) / m2``.

Derivation. Divide the constraint by ``sqrt(n)``: ``A = X / sqrt(n)`` has ``N(0, 1/n)`` entries
and the noise has variance ``sigma^2 / n = s2 / alpha``. Approximate message passing for the
penalized problem ``min |y - A b|^2 / 2 + lam sum f_d(b_d)`` (Donoho, Maleki & Montanari 2009;
Bayati & Montanari 2011, 2012, for separable convex penalties) iterates
``b <- eta(b + A^T z; theta)`` with the Onsager-corrected residual ``z``; at its fixed point
``A^T z in theta d f(b)`` and ``z = (y - A b) / (1 - <eta'>/alpha)``, hence the KKT conditions of
the penalized problem hold with ``lam = theta (1 - <eta'> / alpha)``. The state evolution of the
effective noise is ``tau^2 = s2/alpha + E[(eta - beta*)^2] / alpha`` (E1). The equality-constrained
problem is the limit ``lam -> 0+`` at fixed ``theta > 0``, i.e. ``<eta'> = alpha`` (E2). The convex
Gaussian min-max theorem gives the same pair of equations for strictly convex separable penalties
(Thrampoulidis, Abbasi & Hassibi 2018, generalized LASSO with ``lam -> 0``); the replica-symmetric
computation is exact here because the problem is convex. For ``alpha > 1`` the flow reaches least
squares (``theta = 0``, ``eta`` the identity): ``tau^2 = s2 / (alpha - 1)`` and the error is
``s2 / ((alpha - 1) m2)``; at ``alpha = 1`` it diverges unless ``s2 = 0``.

The proximal operator. With ``u = arcsinh(b / kappa)`` the stationarity condition
``b - x + theta (u - phi) / 2 = 0`` reads

    ``x(u) = kappa sinh(u) + theta (u - phi) / 2``,  ``b(u) = kappa sinh(u)``,

strictly increasing in ``u``: ``eta(x) = kappa sinh(u(x))`` (one monotone scalar equation, solved
by a safeguarded Newton iteration, :func:`prox_penalty`) and
``eta'(x) = kappa cosh(u) / (kappa cosh(u) + theta / 2)``.

Quadrature. Every expectation over ``Z`` is computed in the variable ``u`` rather than ``x``:
``E[g(eta(beta* + tau Z))] = int g(kappa sinh u) p(x(u)) x'(u) du`` with ``p`` the
``N(beta*, tau^2)`` density and ``x'(u) = kappa cosh u + theta / 2``, and
``E[eta'] = int kappa cosh(u) p(x(u)) du``. The integrands are analytic in ``u`` even when the
penalty is nearly l1 (``kappa -> 0``), where ``eta`` has a sharp knee as a function of ``x``. The
``u``-window is the image of ``beta* +- 9 tau``, cut at the images of fixed quantiles of ``Z`` and
at a uniform grid in ``u`` (so that no panel is long in either variable), with Gauss-Legendre nodes
on each panel. The weights integrate the Gaussian to 1 within about ``1e-10``
(:attr:`StateEvolution.quadrature_error` reports it). The derivatives of (E1, E2) in ``tau`` and
``theta`` are the same integrals with the derivative of ``p(x(u)) x'(u)`` inside, which gives a
Newton iteration on ``(log tau, log theta)`` with an exact Jacobian; warm-started from the
neighbouring ``alpha`` it converges in a few steps. When it does not, a nested bracketing
search takes over: ``theta(tau)`` from (E2) by Brent's method between ``theta -> 0``, where
``E[eta'] -> 1 > alpha``, and ``theta -> inf``, where ``E[eta'] -> 0`` (for ``phi = 0`` the root
is unique: ``eta' = 1 / (1 + theta f''(eta))`` and both ``theta`` and ``f''(eta) =
1 / (2 sqrt(kappa^2 + eta^2))`` grow with ``theta``), then ``tau`` from (E1) by Brent's method
between a small ``tau``, where the right side of (E1) exceeds the left, and a large one, where
it does not (the right side grows like ``tau^2`` times a factor below ``alpha``). The tests check
that (E1) changes sign once along ``theta(tau)``. A solve that finds no bracket returns
``status="no_solution"``; one that ends above the tolerance, ``status="did_not_converge"``.

At finite ``D`` the error of one run fluctuates by ``O(1 / sqrt(D))`` around its mean, and the
mean differs from the limit by finite-size corrections that the equations do not contain (they
are largest where few coordinates are active, e.g. ``rho_FT D`` of a few tens);
:func:`spread_scale` gives an approximate (conservative) size of the fluctuation.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from transferscope.records import NOT_RECORDED, Record

__all__ = [
    "CoordinateLaw",
    "StateEvolution",
    "prox_derivative",
    "prox_penalty",
    "pushforward",
    "solve_state_evolution",
    "spread_scale",
]

#: Half-width of the Gaussian window, in standard deviations (tail mass 2e-19).
WINDOW = 9.0
#: Cuts of the window at these quantiles of Z (besides its ends).
_Z_CUTS = np.array([-6.0, -4.0, -3.0, -2.0, -1.3, -0.65, 0.0, 0.65, 1.3, 2.0, 3.0, 4.0, 6.0])
_SQRT_2PI = math.sqrt(2.0 * math.pi)


class _Quad(TypedDict):
    """Quadrature options passed down to :func:`_moments`."""

    n_uniform: int
    order: int


_MAX_U = 700.0


def prox_penalty(
    x: ArrayLike, kappa: ArrayLike, theta: ArrayLike, phi: ArrayLike = 0.0
) -> NDArray[np.float64]:
    """Compute ``argmin_b (b - x)^2 / 2 + theta (q_k(b) - phi b / 2)``, ``kappa = sqrt(k) / 2``.

    Parameters
    ----------
    x : array_like
        Points.
    kappa : array_like
        ``sqrt(k) / 2 > 0`` of the penalty, broadcast against ``x``.
    theta : array_like
        Strength ``>= 0``.
    phi : array_like
        Offset of the linear term (0 for a network that starts at ``beta = 0``).

    Returns
    -------
    numpy.ndarray
        ``kappa sinh(u)`` with ``kappa sinh(u) + theta (u - phi) / 2 = x``.
    """
    k = np.asarray(kappa, dtype=float)
    th = np.asarray(theta, dtype=float)
    r = np.asarray(x, dtype=float) + th * np.asarray(phi, dtype=float) / 2.0
    return np.asarray(k * np.sinh(_invert(r, k, th)), dtype=float)


def prox_derivative(
    x: ArrayLike, kappa: ArrayLike, theta: ArrayLike, phi: ArrayLike = 0.0
) -> NDArray[np.float64]:
    """Compute the derivative of :func:`prox_penalty` in ``x``.

    Parameters
    ----------
    x, kappa, theta, phi : array_like
        As in :func:`prox_penalty`.

    Returns
    -------
    numpy.ndarray
        ``kappa cosh u / (kappa cosh u + theta / 2)``, in (0, 1].
    """
    k = np.asarray(kappa, dtype=float)
    th = np.asarray(theta, dtype=float)
    r = np.asarray(x, dtype=float) + th * np.asarray(phi, dtype=float) / 2.0
    ch = k * np.cosh(_invert(r, k, th))
    return np.asarray(ch / (ch + th / 2.0), dtype=float)


def _invert(
    r: NDArray[np.float64], kappa: NDArray[np.float64], theta: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Solve ``kappa sinh(u) + theta u / 2 = r`` for ``u`` (vectorized, to rounding).

    On ``u >= 0`` the left side is convex and increasing, and both
    ``arcsinh(|r| / kappa)`` and ``2 |r| / theta`` bound the root from above; Newton's method from
    the smaller bound decreases monotonically to the root. Odd symmetry handles ``r < 0``.
    """
    r, kappa, theta = np.broadcast_arrays(r, kappa, theta)
    a = np.abs(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.arcsinh(a / kappa)
        lin = np.where(theta > 0, 2.0 * a / np.where(theta > 0, theta, 1.0), np.inf)
    u = np.minimum(np.minimum(u, lin), _MAX_U)
    half = theta / 2.0
    for _ in range(100):
        sh = np.sinh(u)
        g = kappa * sh + half * u - a
        step = g / (kappa * np.cosh(u) + half)
        step = np.where(np.isfinite(step), step, 0.0)
        u = np.maximum(u - step, 0.0)
        if np.all(np.abs(step) <= 1e-15 * (1.0 + u)):
            break
    return np.asarray(np.sign(r) * u, dtype=float)


@dataclass(frozen=True, kw_only=True)
class CoordinateLaw(Record):
    """A discrete law of ``(beta*_d, kappa_d, phi_d)``: the atoms of the state evolution.

    Attributes
    ----------
    beta_star, kappa, phi, weight : numpy.ndarray
        Atoms (one entry each) and their probabilities (summing to 1).
    group : numpy.ndarray, optional
        Integer group of each atom: the part of the law that is fixed by the teacher (e.g. the
        coordinate's category), over which the finite-``D`` spread is not taken
        (:attr:`StateEvolution.sd_scale`).
    label : str
        What the law describes (e.g. ``"lazy_pt_dependent on subset"``).
    """

    beta_star: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    kappa: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    phi: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    weight: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    group: NDArray[np.int64] | None = field(default=None, metadata=NOT_RECORDED)
    label: str = ""

    def groups(self) -> NDArray[np.int64]:
        """Group of every atom (all 0 when none was given)."""
        if self.group is None:
            return np.zeros(self.weight.size, dtype=np.int64)
        return np.asarray(self.group, dtype=np.int64)

    @property
    def second_moment(self) -> float:
        """``E[beta*^2]``."""
        return float(np.sum(self.weight * self.beta_star**2))

    def to_record(self) -> dict[str, Any]:
        """Return the label, the number of atoms and ``E[beta*^2]``."""
        return {
            "label": self.label,
            "n_atoms": int(self.weight.size),
            "second_moment": self.second_moment,
        }

    def folded(self) -> CoordinateLaw:
        """Merge atoms that the mirror symmetry ``b -> -b`` makes equivalent.

        ``f(b; kappa, phi)`` with teacher ``beta*`` has the same statistics as
        ``f(b; kappa, -phi)`` with ``-beta*``: atoms are mapped to ``beta* >= 0`` (and ``phi >= 0``
        when ``beta* = 0``), then equal atoms (to 12 significant digits) are merged.
        """
        b = self.beta_star.copy()
        ph = self.phi.copy()
        neg = (b < 0) | ((b == 0) & (ph < 0))
        b[neg] *= -1.0
        ph[neg] *= -1.0
        grp = self.groups()
        key = np.stack([grp.astype(float), _round(b), _round(self.kappa), _round(ph)], axis=1)
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        weight = np.bincount(inverse.ravel(), weights=self.weight, minlength=len(uniq)).astype(
            float
        )
        first = np.zeros(len(uniq), dtype=int)
        first[inverse[::-1]] = np.arange(len(b))[::-1]
        return CoordinateLaw(
            beta_star=b[first],
            kappa=self.kappa[first],
            phi=ph[first],
            weight=weight,
            group=grp[first],
            label=self.label,
        )


def _round(v: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.zeros_like(v)
    nz = v != 0
    mag = 10.0 ** np.floor(np.log10(np.abs(v[nz])))
    out[nz] = np.round(v[nz] / mag, 11) * mag
    return out


@dataclass(frozen=True)
class _Grid:
    """Quadrature nodes of every atom for one ``(tau, theta)``: shape ``(atoms, nodes)``."""

    u: NDArray[np.float64]
    w: NDArray[np.float64]  # Gauss-Legendre weights in u


@functools.lru_cache(maxsize=16)
def _legendre(m: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t, w = np.polynomial.legendre.leggauss(m)
    return np.asarray(t), np.asarray(w)


def _grid(law: CoordinateLaw, tau: float, theta: float, *, n_uniform: int, order: int) -> _Grid:
    """Panels in ``u`` for every atom: images of the Z cuts merged with a uniform grid."""
    cuts = np.concatenate([[-WINDOW], _Z_CUTS, [WINDOW]])
    x = law.beta_star[:, None] + tau * cuts[None, :]
    r = x + theta * law.phi[:, None] / 2.0
    u_cut = _invert(r, law.kappa[:, None], np.full_like(r, theta))
    lo, hi = u_cut[:, :1], u_cut[:, -1:]
    uniform = lo + (hi - lo) * np.linspace(0.0, 1.0, n_uniform + 2)[None, 1:-1]
    edges = np.sort(np.concatenate([u_cut, uniform], axis=1), axis=1)
    a, b = edges[:, :-1], edges[:, 1:]
    t, w = _legendre(order)
    mid, half = (a + b) / 2.0, (b - a) / 2.0
    u = (mid[:, :, None] + half[:, :, None] * t[None, None, :]).reshape(len(law.weight), -1)
    wu = (half[:, :, None] * w[None, None, :]).reshape(len(law.weight), -1)
    return _Grid(u=u, w=wu)


@dataclass(frozen=True)
class _Moments:
    """Expectations at one ``(tau, theta)`` and their derivatives."""

    mass: float
    err: float  # E[(eta - beta*)^2]
    deta: float  # E[eta']
    err_tau: float
    err_theta: float
    deta_tau: float
    deta_theta: float


def _moments(
    law: CoordinateLaw,
    tau: float,
    theta: float,
    *,
    n_uniform: int,
    order: int,
    derivatives: bool = True,
    grid: _Grid | None = None,
) -> _Moments:
    g = _grid(law, tau, theta, n_uniform=n_uniform, order=order) if grid is None else grid
    kap = law.kappa[:, None]
    ch = kap * np.cosh(g.u)
    b = kap * np.sinh(g.u)
    shift = g.u - law.phi[:, None]
    z = (b + (theta / 2.0) * shift - law.beta_star[:, None]) / tau
    wp = (law.weight[:, None] / (_SQRT_2PI * tau)) * g.w * np.exp(-0.5 * z * z)
    a = wp * (ch + theta / 2.0)  # weight of dx
    e2 = b - law.beta_star[:, None]
    e2 *= e2
    c = wp * ch  # weight of d eta
    mass = float(a.sum())
    ae2 = a * e2
    err = float(ae2.sum())
    deta = float(c.sum())
    if not derivatives:
        return _Moments(mass, err, deta, math.nan, math.nan, math.nan, math.nan)
    d_tau = (z * z - 1.0) / tau  # d log p / d tau
    d_theta = z * shift  # times -1 / (2 tau): d log p / d theta
    k = -1.0 / (2.0 * tau)
    return _Moments(
        mass=mass,
        err=err,
        deta=deta,
        err_tau=float(np.vdot(ae2, d_tau)),
        err_theta=k * float(np.vdot(ae2, d_theta)) + 0.5 * float(np.vdot(wp, e2)),
        deta_tau=float(np.vdot(c, d_tau)),
        deta_theta=k * float(np.vdot(c, d_theta)),
    )


def spread_scale(
    law: CoordinateLaw,
    alpha: float,
    tau: float,
    theta: float,
    *,
    noise_var: float = 0.0,
    n_uniform: int = 8,
    order: int = 5,
) -> float:
    """``sqrt(D)`` times the standard deviation of one run's normalized error (approximation).

    A delta method on (E1, E2) at finite ``D``: the two expectations become averages over the
    ``D`` coordinates, ``E_D[psi]`` (``psi = (eta - beta*)^2``) and ``E_D[eta']``, and the noise
    variance becomes ``s2 (1 + e)`` with ``Var(e) = 2 / n``. Treating the coordinates as
    independent given their group (the teacher is fixed; the pretraining noise, the data and the
    scalar noise ``Z`` are redrawn), their fluctuations are Gaussian with covariance
    ``sum_g P(g) Cov[(psi, eta') | g] / D``; they move ``(tau, theta)`` through the Jacobian of
    (E1, E2), and the error ``E_D[psi]`` with them. This is not exact: the coordinates of the
    finite-``D`` solution are not independent. For minimum-l2-norm interpolation without noise
    it gives ``2 alpha (2 - alpha) / D`` against the exact ``2 alpha (1 - alpha) / D``; against
    the simulator (``benchmarks/dln_theory.py stderr``, four regimes, three tasks, alpha 0.1 to
    0.9) it lies between 0.9 and 5.7 times the measured standard deviation at D = 300 and
    D = 1000 (median 1.8 at both), largest near ``alpha = 1``: a conservative figure, not an
    exact one. (Leaving out the feedback through ``(tau, theta)`` instead underestimates, by a
    median factor of about 0.6, as low as 0.24.)

    Parameters
    ----------
    law : CoordinateLaw
        The law (its groups say what the teacher fixes).
    alpha, tau, theta : float
        A solution of (E1, E2) with ``alpha < 1``.
    noise_var : float
        ``s2``.
    n_uniform, order : int
        Quadrature.

    Returns
    -------
    float
        ``sqrt(D) * sd(|beta_hat - beta*|^2 / |beta*|^2)``; NaN when it cannot be formed.
    """
    g = _grid(law, tau, theta, n_uniform=n_uniform, order=order)
    kap = law.kappa[:, None]
    ch = kap * np.cosh(g.u)
    b = kap * np.sinh(g.u)
    z = (b + (theta / 2.0) * (g.u - law.phi[:, None]) - law.beta_star[:, None]) / tau
    dens = g.w * np.exp(-0.5 * z * z) * (ch + theta / 2.0) / (_SQRT_2PI * tau)
    dens /= dens.sum(axis=1, keepdims=True)
    psi = (b - law.beta_star[:, None]) ** 2
    deta = ch / (ch + theta / 2.0)
    grp = law.groups()
    size = int(grp.max()) + 1
    w = law.weight
    cov = np.zeros((2, 2))
    for k in range(size):
        sel = grp == k
        pg = float(w[sel].sum())
        if pg <= 0:
            continue
        pw = (w[sel, None] / pg) * dens[sel]
        fa, fb = psi[sel], deta[sel]
        m_a, m_b = float(np.sum(pw * fa)), float(np.sum(pw * fb))
        cov[0, 0] += pg * (float(np.sum(pw * fa * fa)) - m_a * m_a)
        cov[0, 1] += pg * (float(np.sum(pw * fa * fb)) - m_a * m_b)
        cov[1, 1] += pg * (float(np.sum(pw * fb * fb)) - m_b * m_b)
    cov[1, 0] = cov[0, 1]
    mo = _moments(law, tau, theta, n_uniform=n_uniform, order=order, grid=g)
    jac = np.array([[mo.err_tau - 2.0 * alpha * tau, mo.err_theta], [mo.deta_tau, mo.deta_theta]])
    try:
        k_vec = -np.array([mo.err_tau, mo.err_theta]) @ np.linalg.inv(jac)
    except np.linalg.LinAlgError:
        return math.nan
    # d error = (1 + k1) d_psi + k2 d_eta' + k1 d_noise
    coef = np.array([1.0 + k_vec[0], k_vec[1]])
    var = float(coef @ cov @ coef) + k_vec[0] ** 2 * noise_var**2 * 2.0 / alpha
    if not (var >= 0 and math.isfinite(var)):
        return math.nan
    return math.sqrt(var) / law.second_moment


def pushforward(
    law: CoordinateLaw,
    tau: float,
    theta: float,
    *,
    n_uniform: int = 6,
    order: int = 4,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Nodes and weights of the law of ``eta(beta* + tau Z)`` for every atom of ``law``.

    Parameters
    ----------
    law : CoordinateLaw
        Atoms ``(beta*, kappa, phi)``.
    tau : float
        Effective noise (> 0).
    theta : float
        Strength of the proximal operator (0: the identity, i.e. ``beta* + tau Z`` itself).
    n_uniform, order : int
        Uniform cuts in ``u`` and Gauss-Legendre nodes per panel.

    Returns
    -------
    values : numpy.ndarray
        Shape ``(atoms, nodes)``: values of ``eta``.
    weights : numpy.ndarray
        Same shape: probabilities (each row sums to the atom's weight, to about 1e-10).
    """
    g = _grid(law, tau, theta, n_uniform=n_uniform, order=order)
    kap = law.kappa[:, None]
    b = kap * np.sinh(g.u)
    x = b + theta * (g.u - law.phi[:, None]) / 2.0
    z = (x - law.beta_star[:, None]) / tau
    p = np.exp(-0.5 * z * z) / (_SQRT_2PI * tau)
    w = law.weight[:, None] * g.w * p * (kap * np.cosh(g.u) + theta / 2.0)
    return b, w


@dataclass(frozen=True, kw_only=True)
class StateEvolution(Record):
    """Solution of the state-evolution equations (E1, E2) at one ``alpha``.

    Attributes
    ----------
    alpha : float
        Samples per dimension ``n / D``.
    status : str
        ``ok`` (interpolation, ``alpha < 1``), ``least_squares`` (``alpha > 1``, closed form),
        ``no_solution`` (no bracket found, or the error diverges at ``alpha = 1``) or
        ``did_not_converge``.
    message : str
        Why, when the status is not ``ok``; how it was solved otherwise.
    tau : float
        Effective noise of the scalar channel ``beta* + tau Z``.
    theta : float
        Strength of the proximal operator (0 for least squares).
    excess_error : float
        ``E[(eta - beta*)^2] = |beta_hat - beta*|^2 / D``.
    gen_error : float
        Normalized error ``excess_error / E[beta*^2]``.
    sd_scale : float
        ``sqrt(D)`` times the standard deviation of one run's normalized error, a conservative
        approximation (:func:`spread_scale`); NaN when not computed, and for least squares.
    residual : float
        Largest relative residual of (E1, E2) at the solution.
    quadrature_error : float
        ``|total quadrature mass - 1|`` at the solution.
    iterations : int
        Newton steps, or evaluations of the nested search.
    """

    alpha: float
    status: str
    message: str
    tau: float
    theta: float
    excess_error: float
    gen_error: float
    sd_scale: float
    residual: float
    quadrature_error: float
    iterations: int

    def describe(self) -> str:
        """Return one line: alpha, status and the normalized error."""
        return f"alpha {self.alpha:g}: {self.status}, gen_error {self.gen_error:.6g}"

    @classmethod
    def failed(cls, alpha: float, status: str, message: str) -> StateEvolution:
        """Make the result of a solve that found no solution (NaN statistics).

        Parameters
        ----------
        alpha : float
            Samples per dimension.
        status : str
            ``no_solution`` or ``did_not_converge``.
        message : str
            Why.

        Returns
        -------
        StateEvolution
            With NaN statistics and no iterations.
        """
        nan = math.nan
        return cls(alpha=alpha, status=status, message=message, tau=nan, theta=nan,
                   excess_error=nan, gen_error=nan, sd_scale=nan, residual=nan,
                   quadrature_error=nan, iterations=0)  # fmt: skip


def solve_state_evolution(
    law: CoordinateLaw,
    alpha: float,
    *,
    noise_var: float = 0.0,
    start: tuple[float, float] | None = None,
    tol: float = 1e-10,
    spread: bool = True,
    n_uniform: int = 8,
    order: int = 5,
) -> StateEvolution:
    """Solve (E1, E2) of the module docstring for one sample ratio.

    Parameters
    ----------
    law : CoordinateLaw
        Law of ``(beta*, kappa, phi)`` over coordinates.
    alpha : float
        ``n / D > 0``.
    noise_var : float
        ``s2 = sigma^2 / D``: label-noise variance per sample, in units of the coordinates.
    start : tuple of float, optional
        ``(tau, theta)`` to start Newton's method from (e.g. the solution at a neighbouring
        ``alpha``); without it the nested bracketing search is used directly.
    tol : float
        Largest relative residual of (E1, E2) accepted.
    spread : bool
        Also compute ``sd_scale`` (:func:`spread_scale`; one more pass over the nodes).
    n_uniform, order : int
        Quadrature: uniform cuts in ``u`` per atom and Gauss-Legendre nodes per panel.

    Returns
    -------
    StateEvolution
        The solution, or a status saying why there is none (never an exception for a valid law).
    """
    m2 = law.second_moment
    if not (alpha > 0 and math.isfinite(alpha)):
        return StateEvolution.failed(float(alpha), "no_solution", f"alpha must be > 0, got {alpha}")
    if m2 <= 0:
        return StateEvolution.failed(
            alpha, "no_solution", "the teacher is zero: the error is undefined"
        )
    if alpha >= 1.0:
        if alpha == 1.0:
            if noise_var > 0:
                return StateEvolution.failed(
                    alpha, "no_solution", "the error diverges at alpha = 1 with noise"
                )
            excess = 0.0
            tau = 0.0
        else:
            tau = math.sqrt(noise_var / (alpha - 1.0))
            excess = noise_var / (alpha - 1.0)
        return StateEvolution(
            alpha=alpha,
            status="least_squares",
            message="n >= D: gradient flow reaches the least-squares solution",
            tau=tau,
            theta=0.0,
            excess_error=excess,
            gen_error=excess / m2,
            sd_scale=math.nan,
            residual=0.0,
            quadrature_error=0.0,
            iterations=0,
        )
    q: _Quad = {"n_uniform": n_uniform, "order": order}
    if start is None or not all(math.isfinite(v) and v > 0 for v in start):
        start = _initial(law, alpha, noise_var, q)
    sol = _newton(law, alpha, noise_var, start, tol, q) if start is not None else None
    if sol is None:
        sol = _nested(law, alpha, noise_var, tol, q)
    if spread and sol.status == "ok":
        sd = spread_scale(law, alpha, sol.tau, sol.theta, noise_var=noise_var, **q)
        sol = dataclasses.replace(sol, sd_scale=sd)
    return sol


def _initial(law: CoordinateLaw, alpha: float, s2: float, q: _Quad) -> tuple[float, float] | None:
    """Start for Newton: ``tau`` of minimum-l2-norm interpolation, ``theta`` solving (E2) there."""
    m2 = law.second_moment
    tau = math.sqrt((s2 + (1.0 - alpha) * m2) / (alpha * (1.0 - alpha)))
    try:
        return tau, _theta_of(law, alpha, tau, q, [0])
    except _NoBracket:
        return None


def _theta_of(law: CoordinateLaw, alpha: float, tau: float, q: _Quad, count: list[int]) -> float:
    """Find the ``theta`` solving (E2) at ``tau`` by Brent's method (E[eta'] decreases in it)."""
    kmax = float(np.max(law.kappa))

    def g(lth: float) -> float:
        count[0] += 1
        return _moments(law, tau, math.exp(lth), derivatives=False, **q).deta / alpha - 1.0

    lo = math.log(1e-14 * (tau + kmax))
    hi = math.log(1e4 * (tau + kmax))
    g_lo, g_hi = g(lo), g(hi)
    for _ in range(20):
        if g_hi < 0:
            break
        lo, g_lo = hi, g_hi
        hi += math.log(100.0)
        g_hi = g(hi)
    for _ in range(20):
        if g_lo > 0:
            break
        hi, g_hi = lo, g_lo
        lo -= math.log(100.0)
        g_lo = g(lo)
    if not (g_lo > 0 > g_hi):
        raise _NoBracket(f"no theta solves E[eta'] = alpha at tau = {tau:.3g}")
    return math.exp(brentq(g, lo, hi, xtol=1e-13, rtol=1e-14, maxiter=200))


def _residuals(mo: _Moments, alpha: float, s2: float, tau: float) -> tuple[float, float]:
    return (s2 + mo.err) / (alpha * tau * tau) - 1.0, mo.deta / alpha - 1.0


def _result(
    law: CoordinateLaw,
    alpha: float,
    s2: float,
    tau: float,
    theta: float,
    iterations: int,
    message: str,
    q: _Quad,
) -> StateEvolution:
    mo = _moments(law, tau, theta, derivatives=False, **q)
    res = np.array(_residuals(mo, alpha, s2, tau))
    return _from_moments(law, alpha, tau, theta, mo, res, iterations, message)


def _from_moments(
    law: CoordinateLaw,
    alpha: float,
    tau: float,
    theta: float,
    mo: _Moments,
    res: NDArray[np.float64],
    iterations: int,
    message: str,
) -> StateEvolution:
    excess = mo.err / mo.mass
    return StateEvolution(
        alpha=alpha,
        status="ok",
        message=message,
        tau=tau,
        theta=theta,
        excess_error=excess,
        gen_error=excess / law.second_moment,
        sd_scale=math.nan,
        residual=float(np.max(np.abs(res))),
        quadrature_error=abs(mo.mass - 1.0),
        iterations=iterations,
    )


def _newton(
    law: CoordinateLaw,
    alpha: float,
    s2: float,
    start: tuple[float, float],
    tol: float,
    q: _Quad,
) -> StateEvolution | None:
    """Damped Newton on ``(log tau, log theta)``; ``None`` when it fails (the caller brackets)."""
    lt, lth = math.log(start[0]), math.log(start[1])

    def evaluate(a: float, b: float) -> tuple[_Moments, NDArray[np.float64]]:
        mo = _moments(law, math.exp(a), math.exp(b), **q)
        return mo, np.array(_residuals(mo, alpha, s2, math.exp(a)))

    mo, res = evaluate(lt, lth)
    for it in range(1, 41):
        if np.max(np.abs(res)) <= tol:
            return _from_moments(law, alpha, math.exp(lt), math.exp(lth), mo, res, it - 1, "newton")
        tau, theta = math.exp(lt), math.exp(lth)
        # d r1 / d log tau, d log theta; d r2 likewise
        c = 1.0 / (alpha * tau * tau)
        j11 = c * mo.err_tau * tau - 2.0 * (res[0] + 1.0)
        j12 = c * mo.err_theta * theta
        j21 = mo.deta_tau * tau / alpha
        j22 = mo.deta_theta * theta / alpha
        jac = np.array([[j11, j12], [j21, j22]])
        try:
            step = -np.linalg.solve(jac, res)
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(step)):
            return None
        step *= min(1.0, 2.0 / max(float(np.max(np.abs(step))), 1e-300))  # at most e^2 per step
        norm0 = float(np.max(np.abs(res)))
        t = 1.0
        for _ in range(30):
            mo1, res1 = evaluate(lt + t * step[0], lth + t * step[1])
            if np.all(np.isfinite(res1)) and float(np.max(np.abs(res1))) < (1 - 1e-4 * t) * norm0:
                break
            t *= 0.5
        else:
            return None
        lt, lth, mo, res = lt + t * step[0], lth + t * step[1], mo1, res1
    return None


def _nested(law: CoordinateLaw, alpha: float, s2: float, tol: float, q: _Quad) -> StateEvolution:
    """Bracketing: ``theta(tau)`` from (E2) inside Brent's method on (E1) in ``log tau``."""
    m2 = law.second_moment
    scale = math.sqrt((s2 + m2) / alpha)
    count = [0]

    def theta_of(tau: float) -> float:
        return _theta_of(law, alpha, tau, q, count)

    def h(lt: float) -> float:
        tau = math.exp(lt)
        mo = _moments(law, tau, theta_of(tau), derivatives=False, **q)
        return (s2 + mo.err) / (alpha * tau * tau) - 1.0

    try:
        lo, hi = math.log(1e-7 * scale), math.log(4.0 * scale)
        h_hi = h(hi)
        for _ in range(12):
            if h_hi < 0:
                break
            hi += math.log(4.0)
            h_hi = h(hi)
        h_lo = h(lo)
        if h_hi >= 0:
            return StateEvolution.failed(
                alpha, "no_solution", "(E1) keeps its sign up to a large tau"
            )
        if h_lo <= 0:
            tau = math.exp(lo)
            sol = _result(law, alpha, s2, tau, theta_of(tau), count[0], "exact recovery", q)
            return sol
        lt = brentq(h, lo, hi, xtol=1e-13, rtol=1e-14, maxiter=200)
        tau = math.exp(lt)
        sol = _result(law, alpha, s2, tau, theta_of(tau), count[0], "bracketing", q)
    except _NoBracket as exc:
        return StateEvolution.failed(alpha, "no_solution", str(exc))
    if not sol.residual <= max(tol, 1e-8):
        return dataclasses.replace(
            sol, status="did_not_converge", message="residual above tolerance"
        )
    return sol


class _NoBracket(Exception):
    """Raised inside the nested search when (E2) has no bracket."""
