"""Frontier estimators: which points a curve is fitted to, how, and how the bootstrap refits it.

Each estimator is one class behind one protocol (:class:`Estimator`), registered once
(:func:`register_estimator`); the rest of the package asks it rather than comparing names:

- ``hull``: least squares on the rising part of the upper convex hull (Abnar et al. 2021);
- ``pareto``: least squares on the points where the running maximum of y over increasing x rises;
- ``quantile``: all points, smoothed pinball loss at level ``tau``;
- ``stochastic``: stochastic frontier analysis, ``y = f(x) - u + v`` by maximum likelihood;
- ``all``: least squares on all points (the average model, not a frontier).

Adding an estimator is one class (and a test)::

    class Median(Quantile):
        name = "median"

        def fit(self, family, x, y, settings, start=None):
            return super().fit(family, x, y, settings.replace(tau=0.5), start)

        def resample_problem(self, family, x, y, counts, settings):
            return super().resample_problem(family, x, y, counts, settings.replace(tau=0.5))

    register_estimator(Median)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final, cast, get_args

import numpy as np
from numpy.typing import NDArray

from transferscope.frontier import kernels
from transferscope.frontier.families import Family
from transferscope.frontier.settings import FitSettings
from transferscope.frontier.single import (
    CurveFit,
    fit_least_squares,
    fit_quantile,
    fit_stochastic,
    fit_two_part,
)
from transferscope.registry import Registry

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]


def difference_noise(x: Array, y: Array) -> float:
    """Noise standard deviation of points about a smooth curve, without fitting the curve.

    The pseudo-residuals of Gasser, Sroka and Jennen-Steinmetz (1986): each point's distance
    from the straight line through its two neighbours (in order of ``x``), scaled so that its
    variance is the noise variance when the curve is locally linear. It does not depend on a
    fitted family, so a family that misses the points does not inflate it.

    Parameters
    ----------
    x, y : numpy.ndarray
        The points (any order).

    Returns
    -------
    float
        The root mean square of the scaled pseudo-residuals; NaN with fewer than 3 points.
    """
    if len(x) < 3:
        return float("nan")
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    span = xs[2:] - xs[:-2]
    safe = np.where(span > 0, span, 1.0)
    a = np.where(span > 0, (xs[2:] - xs[1:-1]) / safe, 0.5)  # weight of the left neighbour
    b = 1.0 - a
    resid = a * ys[:-2] + b * ys[2:] - ys[1:-1]
    return float(np.sqrt(np.mean(resid * resid / (a * a + b * b + 1.0))))


class Estimator:
    """How a frontier is estimated from a group's points; subclass and register to add one.

    A subclass sets :attr:`name` (and :attr:`extra_params`, :attr:`upper_frontier` where they
    differ) and implements :meth:`fit` and :meth:`resample_problem`; :meth:`select`,
    :meth:`min_points`, :meth:`warm_starts` and :meth:`location` have defaults.
    """

    #: Name used in the API, the output and the store.
    name: ClassVar[str] = ""
    #: Parameters the estimator adds to the family's (e.g. the scales of the stochastic frontier).
    extra_params: ClassVar[tuple[str, ...]] = ()
    #: Whether the curve estimates an upper frontier (``all`` estimates the average model).
    upper_frontier: ClassVar[bool] = True
    #: Whether a fit is checked for being an upper frontier (residuals skewed below the curve,
    #: few models above it) and replaced by ``settings.fallback`` when it is not.
    checked_upper: ClassVar[bool] = False

    def extra_names(self, settings: FitSettings | None = None) -> tuple[str, ...]:
        """List the parameters the estimator adds under ``settings`` (default :attr:`extra_params`).

        Parameters
        ----------
        settings : FitSettings, optional
            Options (e.g. the shortfall distribution of ``stochastic``).

        Returns
        -------
        tuple of str
            Parameter names.
        """
        return self.extra_params

    def likelihood(
        self,
        family: Family,
        x: Array,
        y: Array,
        settings: FitSettings,
        fit: CurveFit | None = None,
    ) -> tuple[kernels.Problem, int] | None:
        """Return the full-data objective a profile-likelihood interval is computed from.

        Parameters
        ----------
        family : Family
            The curve.
        x, y : numpy.ndarray
            All points of the group.
        settings : FitSettings
            Options.
        fit : CurveFit, optional
            The fit whose model the objective is (its shortfall's tail, for ``stochastic``).

        Returns
        -------
        tuple or None
            ``(problem, m)``: a one-row problem whose minimum is the fit, and ``m`` = 0 when
            its objective is a negative log-likelihood (deviance ``2 (objective - minimum)``),
            else the number of points of a least-squares objective (deviance
            ``m log(objective / minimum)``); None when the estimator has no likelihood.
        """
        return None

    def bootstrap_fit(self, fit: CurveFit) -> CurveFit:
        """Return the fit whose model the bootstrap refits (by default the fit itself).

        Parameters
        ----------
        fit : CurveFit
            The fit to all data.

        Returns
        -------
        CurveFit
            The fit :meth:`resample_problem`'s problems start from.
        """
        return fit

    def noise(self, fit: CurveFit, x: Array, y: Array) -> float:
        """Return the noise standard deviation of the fit (NaN when the estimator has none).

        It judges which models lie above the curve "beyond noise", so it must not grow with
        the curve's lack of fit: a curve that misses the frontier would otherwise make every
        model lie within noise of it.

        Parameters
        ----------
        fit : CurveFit
            A fit of this estimator.
        x, y : numpy.ndarray
            All points of the group.

        Returns
        -------
        float
            ``sigma_v`` for ``stochastic``; for ``hull`` and ``pareto`` the difference-based
            estimate of the frontier points' scatter (:func:`difference_noise`); NaN otherwise.
        """
        return float("nan")

    #: Whether a fit without a given start starts from least squares on all points (estimators
    #: whose loss is not least squares), rather than from the family's guess.
    starts_from_least_squares: ClassVar[bool] = False

    def min_points(self, family: Family) -> int:
        """Fewest distinct points a fit needs: one more than the number of parameters.

        Parameters
        ----------
        family : Family
            The curve.

        Returns
        -------
        int
            The minimum.
        """
        return len(family.names) + len(self.extra_params) + 1

    def select(self, x: Array, y: Array) -> BoolArray:
        """Mark the points that define the frontier (by default all of them).

        Parameters
        ----------
        x, y : numpy.ndarray
            Upstream and downstream scores.

        Returns
        -------
        numpy.ndarray of bool
            One flag per point.
        """
        return np.ones(len(x), dtype=bool)

    def starting_point(
        self, family: Family, x: Array, y: Array, start: Mapping[str, float] | None
    ) -> dict[str, float]:
        """Return where a fit starts: ``start``, else the family's guess (and least squares).

        Parameters
        ----------
        family : Family
            The curve.
        x, y : numpy.ndarray
            The points fitted.
        start : mapping, optional
            Starting values given by the caller.

        Returns
        -------
        dict
            Parameter values inside the family's bounds.
        """
        guess = family.clip(start if start is not None else family.initial(x, y))
        if start is None and self.starts_from_least_squares:
            problem = kernels.LeastSquares(family, x[None, :], y[None, :], np.ones((1, len(x))))
            theta0 = np.array([[guess[k] for k in family.names]])
            base = kernels.solve(problem, theta0, max_iter=200, ftol=1e-8, xtol=1e-6)
            if np.isfinite(base.theta).all():
                guess = family.clip(dict(zip(family.names, base.theta[0].tolist(), strict=True)))
        return guess

    def fit(
        self,
        family: Family,
        x: Array,
        y: Array,
        settings: FitSettings,
        start: Mapping[str, float] | None = None,
    ) -> CurveFit:
        """Fit the family to a group's points.

        Parameters
        ----------
        family : Family
            The curve.
        x, y : numpy.ndarray
            All points of the group.
        settings : FitSettings
            Options (``tau``, ``inefficiency``, ...).
        start : mapping, optional
            Starting values; by default the family's data-driven guess.

        Returns
        -------
        CurveFit
            The fit.
        """
        raise NotImplementedError

    def resample_problem(
        self, family: Family, x: Array, y: Array, counts: Array, settings: FitSettings
    ) -> tuple[kernels.Problem, IntArray]:
        """Build the batched objective of B resamples for :func:`kernels.solve`.

        Parameters
        ----------
        family : Family
            The curve.
        x, y : numpy.ndarray
            All points of the group, shape ``(n,)``.
        counts : numpy.ndarray
            Shape ``(B, n)``: how often each point was drawn in each resample.
        settings : FitSettings
            Options.

        Returns
        -------
        problem : kernels.Problem
            The B problems.
        n_fit : numpy.ndarray
            Shape ``(B,)``: distinct points each problem is fitted to.
        """
        raise NotImplementedError

    def warm_starts(self, fit: CurveFit) -> list[Array]:
        """Solver starts of the bootstrap refits: the fit to all data (and any other maximum).

        Parameters
        ----------
        fit : CurveFit
            The fit to all data.

        Returns
        -------
        list of numpy.ndarray
            Parameter vectors; every resample starts from each and keeps the best.
        """
        return [fit.theta]

    def location(self, family: Family, fit: CurveFit, settings: FitSettings, x: Array) -> Array:
        """Where the fit puts a typical point at ``x`` (by default the curve).

        Parameters
        ----------
        family : Family
            The curve.
        fit : CurveFit
            A fit of it by this estimator.
        settings : FitSettings
            Options.
        x : numpy.ndarray
            Upstream scores.

        Returns
        -------
        numpy.ndarray
            Predicted downstream scores.
        """
        return family.evaluate(x, fit.values[: len(family.names)])

    def param_names(self, family: Family, settings: FitSettings | None = None) -> tuple[str, ...]:
        """Names of the fitted parameters: the family's, then :meth:`extra_names`.

        Parameters
        ----------
        family : Family
            The curve.
        settings : FitSettings, optional
            Options.

        Returns
        -------
        tuple of str
            Parameter names.
        """
        return (*family.names, *self.extra_names(settings))


class _PointFrontier(Estimator):
    """Least squares on a subset of points that defines the frontier (``hull``, ``pareto``)."""

    kind: ClassVar[str] = ""

    def select(self, x: Array, y: Array) -> BoolArray:
        """Mark the frontier points of the group (see :func:`kernels.frontier_masks`)."""
        order = kernels.sort_order(x, y)
        present = np.ones((1, len(x)), dtype=bool)
        sorted_mask = kernels.frontier_masks(x[order], y[order], present, self.kind)[0]  # type: ignore[arg-type]
        mask = np.zeros(len(x), dtype=bool)
        mask[order] = sorted_mask
        return mask

    def fit(
        self,
        family: Family,
        x: Array,
        y: Array,
        settings: FitSettings,
        start: Mapping[str, float] | None = None,
    ) -> CurveFit:
        """Fit least squares (lmfit) to the frontier points."""
        mask = self.select(x, y)
        xf, yf = x[mask], y[mask]
        return fit_least_squares(family, xf, yf, self.starting_point(family, xf, yf, start))

    def noise(self, fit: CurveFit, x: Array, y: Array) -> float:
        """Return the scatter of the frontier points about a smooth line through their neighbours.

        Not the residual standard deviation about the fitted curve: that one absorbs the
        curve's lack of fit (a family that cannot follow the frontier has a large one, and
        models far above the curve would then lie "within noise").
        """
        mask = self.select(x, y)
        return difference_noise(x[mask], y[mask])

    def likelihood(
        self,
        family: Family,
        x: Array,
        y: Array,
        settings: FitSettings,
        fit: CurveFit | None = None,
    ) -> tuple[kernels.Problem, int] | None:
        """Gaussian least squares on the frontier points (deviance ``m log(RSS_c / RSS)``)."""
        mask = self.select(x, y)
        m = int(mask.sum())
        problem = kernels.LeastSquares(family, x[None, mask], y[None, mask], np.ones((1, m)))
        return problem, m

    def resample_problem(
        self, family: Family, x: Array, y: Array, counts: Array, settings: FitSettings
    ) -> tuple[kernels.Problem, IntArray]:
        """Fit least squares to each resample's frontier points, packed into ``(B, m)``."""
        order = kernels.sort_order(x, y)
        xs, ys = x[order], y[order]
        masks = kernels.frontier_masks(xs, ys, counts[:, order] > 0, self.kind)  # type: ignore[arg-type]
        index, valid = kernels.compact(masks)
        problem = kernels.LeastSquares(family, xs[index], ys[index], valid.astype(np.float64))
        return problem, valid.sum(axis=1)


class Hull(_PointFrontier):
    """The rising part of the upper convex hull (Abnar et al. 2021)."""

    name = "hull"
    kind = "hull"


class Pareto(_PointFrontier):
    """The points where the running maximum of downstream over increasing upstream rises."""

    name = "pareto"
    kind = "pareto"


class AllPoints(Estimator):
    """Least squares on all points: the average model, not an upper frontier."""

    name = "all"
    upper_frontier = False

    def fit(
        self,
        family: Family,
        x: Array,
        y: Array,
        settings: FitSettings,
        start: Mapping[str, float] | None = None,
    ) -> CurveFit:
        """Fit least squares (lmfit) to all points."""
        return fit_least_squares(family, x, y, self.starting_point(family, x, y, start))

    def likelihood(
        self,
        family: Family,
        x: Array,
        y: Array,
        settings: FitSettings,
        fit: CurveFit | None = None,
    ) -> tuple[kernels.Problem, int] | None:
        """Gaussian least squares on all points (deviance ``n log(RSS_c / RSS)``)."""
        problem = kernels.LeastSquares(family, x[None, :], y[None, :], np.ones((1, len(x))))
        return problem, len(x)

    def resample_problem(
        self, family: Family, x: Array, y: Array, counts: Array, settings: FitSettings
    ) -> tuple[kernels.Problem, IntArray]:
        """Weight least squares by the resample's multiplicities."""
        problem = kernels.LeastSquares(family, x[None, :], y[None, :], counts)
        return problem, (counts > 0).sum(axis=1)


class Quantile(Estimator):
    """The curve below which a share ``tau`` of the points lie (smoothed pinball loss)."""

    name = "quantile"
    starts_from_least_squares = True

    def fit(
        self,
        family: Family,
        x: Array,
        y: Array,
        settings: FitSettings,
        start: Mapping[str, float] | None = None,
    ) -> CurveFit:
        """Minimize the pinball loss at ``settings.tau`` (from least squares by default)."""
        guess = self.starting_point(family, x, y, start)
        return fit_quantile(family, x, y, guess, tau=settings.tau, smoothing=settings.smoothing)

    def resample_problem(
        self, family: Family, x: Array, y: Array, counts: Array, settings: FitSettings
    ) -> tuple[kernels.Problem, IntArray]:
        """Weight the pinball loss by the resample's multiplicities."""
        problem = kernels.Quantile(
            family, x[None, :], y[None, :], counts, settings.tau, settings.smoothing
        )
        return problem, (counts > 0).sum(axis=1)


class Stochastic(Estimator):
    """Stochastic frontier analysis: ``y = f(x) - u + v`` by maximum likelihood.

    With ``inefficiency="cluster"`` (the default) the shortfall ``u`` is the two-part mixture of
    :class:`kernels.ClusterFrontier`, with the tail shape the likelihood prefers
    (:func:`~transferscope.frontier.single.fit_two_part`); the bootstrap then refits the
    half-normal model the mixture contains (refitting the mixture thousands of times would cost
    minutes per group), and the profile-likelihood interval is the mixture's (see
    :mod:`~transferscope.frontier.profile`), joined with the other tail's when that fits nearly
    as well.
    """

    name = "stochastic"
    extra_params = ("sigma_v", "sigma_u")
    checked_upper = True
    starts_from_least_squares = True

    def extra_names(self, settings: FitSettings | None = None) -> tuple[str, ...]:
        """``sigma_v``, ``sigma_u`` (and ``sigma_c``, ``pi_c`` for the two-part shortfall)."""
        if settings is not None and settings.inefficiency == "cluster":
            return (*self.extra_params, "sigma_c", "pi_c")
        return self.extra_params

    def fit(
        self,
        family: Family,
        x: Array,
        y: Array,
        settings: FitSettings,
        start: Mapping[str, float] | None = None,
    ) -> CurveFit:
        """Maximize the likelihood (from least squares on all points by default)."""
        guess = self.starting_point(family, x, y, start)
        if settings.inefficiency == "cluster":
            extra = ("sigma_v", "sigma_u", "sigma_c", "pi_c")
            warm = None
            if start is not None and all(k in start for k in extra):
                warm = np.array([guess[k] for k in family.names] + [float(start[k]) for k in extra])
            return fit_two_part(
                family,
                x,
                y,
                guess,
                noise_floor=settings.noise_floor,
                contamination=settings.contamination,
                warm=warm,
            )
        return fit_stochastic(
            family,
            x,
            y,
            guess,
            inefficiency=settings.inefficiency,
            noise_floor=settings.noise_floor,
            contamination=settings.contamination,
        )

    def likelihood(
        self,
        family: Family,
        x: Array,
        y: Array,
        settings: FitSettings,
        fit: CurveFit | None = None,
    ) -> tuple[kernels.Problem, int] | None:
        """Return the (contaminated) stochastic-frontier likelihood of all points.

        For the two-part shortfall, the tail is the one ``fit`` chose (half-normal without it).
        """
        w = np.ones((1, len(x)))
        if settings.inefficiency == "cluster":
            tail = kernels.tail_of(fit.shortfall if fit is not None else "")
            cluster = kernels.ClusterFrontier(
                family,
                x[None, :],
                y[None, :],
                w,
                settings.noise_floor,
                settings.contamination,
                tail,
            )
            return cluster, 0
        problem = kernels.StochasticFrontier(
            family,
            x[None, :],
            y[None, :],
            w,
            settings.inefficiency,
            settings.noise_floor,
            contamination=settings.contamination,
        )
        return problem, 0

    def bootstrap_fit(self, fit: CurveFit) -> CurveFit:
        """Return the half-normal model nested in a two-part fit; else the fit itself."""
        return fit.nested if fit.nested is not None else fit

    def noise(self, fit: CurveFit, x: Array, y: Array) -> float:
        """``sigma_v``."""
        return float(fit.as_dict().get("sigma_v", float("nan")))

    def resample_problem(
        self, family: Family, x: Array, y: Array, counts: Array, settings: FitSettings
    ) -> tuple[kernels.Problem, IntArray]:
        """Weight the likelihood by the resample's multiplicities (half-normal for cluster)."""
        inefficiency = (
            "half_normal" if settings.inefficiency == "cluster" else settings.inefficiency
        )
        problem = kernels.StochasticFrontier(
            family,
            x[None, :],
            y[None, :],
            counts,
            inefficiency,
            settings.noise_floor,
            contamination=settings.contamination,
        )
        return problem, (counts > 0).sum(axis=1)

    def warm_starts(self, fit: CurveFit) -> list[Array]:
        """Start at the maximum, and at the likelihood's other maximum when the data have one."""
        return [fit.theta] if fit.alternative is None else [fit.theta, fit.alternative]

    def location(self, family: Family, fit: CurveFit, settings: FitSettings, x: Array) -> Array:
        """Subtract the mean shortfall from the curve: where a typical model lands."""
        p = len(family.names)
        # a two-part fit has p + 4 values; the half-normal model nested in it (what the
        # bootstrap refits, see bootstrap_fit) has p + 2
        kind = shortfall_kind(fit, p, settings)
        shortfall = kernels.mean_shortfall(fit.values[p:], kind)
        return np.asarray(family.evaluate(x, fit.values[:p]) - shortfall, dtype=np.float64)


def shortfall_kind(fit: CurveFit, p: int, settings: FitSettings) -> kernels.Inefficiency:
    """Return the shortfall distribution of a stochastic fit with ``p`` curve parameters.

    Parameters
    ----------
    fit : CurveFit
        A stochastic-frontier fit (or the half-normal model nested in a two-part one).
    p : int
        Number of the family's parameters.
    settings : FitSettings
        The options it was fitted with (read when the fit does not say).

    Returns
    -------
    str
        A :data:`kernels.Inefficiency`.
    """
    if fit.shortfall in get_args(kernels.Inefficiency):
        return cast(kernels.Inefficiency, fit.shortfall)
    if len(fit.values) > p + 2:
        return "cluster"
    return "half_normal" if settings.inefficiency == "cluster" else settings.inefficiency


#: Registered estimators by name, in the order they are documented.
ESTIMATORS: Registry[Estimator] = Registry("frontier estimator", Estimator, lambda cls: cls.name)


def register_estimator(cls: type[Estimator], *, replace: bool = False) -> type[Estimator]:
    """Make an estimator available by its :attr:`Estimator.name` (usable as a decorator).

    Parameters
    ----------
    cls : type
        A subclass of :class:`Estimator`.
    replace : bool, default False
        Replace a different estimator registered under the same name.

    Returns
    -------
    type
        ``cls`` unchanged.

    Raises
    ------
    InputError
        ``cls`` is not an :class:`Estimator` or has no name, or the name is taken and
        ``replace`` is false.
    """
    return ESTIMATORS.register(cls, replace=replace)


def get_estimator(name: str) -> Estimator:
    """Return the estimator called ``name``.

    Parameters
    ----------
    name : str
        A registered name, see :data:`ESTIMATORS`.

    Returns
    -------
    Estimator
        The (shared, stateless) instance.

    Raises
    ------
    InputError
        For an unknown name.
    """
    return ESTIMATORS.instance(name)


for _cls in (Hull, Pareto, Quantile, Stochastic, AllPoints):
    register_estimator(_cls)

#: Names of the built-in estimators, in the order they are documented.
FRONTIERS: Final[tuple[str, ...]] = tuple(ESTIMATORS)
