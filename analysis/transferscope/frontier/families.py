"""Saturating curve families: downstream accuracy as a function of the upstream score.

Each family is an :class:`lmfit.Model` that declares its parameters (through the signature of
:meth:`Family.curve`), their bounds, a data-driven starting point and its plateau (the limit of the
curve at the best possible upstream score: accuracy 1, or loss 0). The curve is written with numpy
broadcasting only, so the same function serves lmfit for one fit and the batched solvers in
:mod:`transferscope.frontier.kernels` for thousands of bootstrap refits at once (``x`` of shape
``(B, n)`` with parameters of shape ``(B, 1)``). A family may also give its partial derivatives
(:meth:`Family.jacobian`); otherwise central differences are used.

Adding a family is a few lines::

    class Exponential(Family):
        family_name = "exponential"
        bounds = {"c": (0.0, 1.0), "k": (0.0, np.inf), "r": (0.0, np.inf)}

        @staticmethod
        def curve(x, c, k, r):
            return c - k * np.exp(-r * x)

        def initial(self, x, y):
            return {"c": float(np.max(y)), "k": 1.0, "r": 1.0}

    register(Exponential)
"""

from __future__ import annotations

import hashlib
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import lmfit
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from transferscope.registry import Registry

Array = NDArray[np.float64]
#: Lower and upper bound per parameter name.
Bounds = dict[str, tuple[float, float]]

#: Smallest distance from 0 and 1 at which logits and probits of scores are taken: a score of
#: exactly 0 or 1 (an infinite logit) is clipped to ``[CLIP_EPSILON, 1 - CLIP_EPSILON]``. The
#: fits count such scores and say so in their message (``clipped`` flag).
CLIP_EPSILON = 1e-9
_EDGE = CLIP_EPSILON


def _lstsq_line(u: Array, v: Array) -> tuple[float, float]:
    """Slope and intercept of ``v ~ u`` by least squares; (1, 0) when it cannot be fitted."""
    ok = np.isfinite(u) & np.isfinite(v)
    if ok.sum() < 2 or np.ptp(u[ok]) == 0:
        return 1.0, float(np.mean(v[ok])) if ok.any() else 0.0
    slope, intercept = np.polyfit(u[ok], v[ok], 1)
    return float(slope), float(intercept)


def _logit(p: ArrayLike) -> Array:
    return np.asarray(special.logit(np.clip(p, _EDGE, 1.0 - _EDGE)), dtype=np.float64)


def _probit(p: ArrayLike) -> Array:
    return np.asarray(special.ndtri(np.clip(p, _EDGE, 1.0 - _EDGE)), dtype=np.float64)


def _power(x: Any, alpha: Any) -> tuple[Any, Any]:
    """``(1 - x)**alpha`` (0 where ``x >= 1``) and ``log(1 - x)`` (0 there).

    Written as ``exp(alpha * log(1 - x))`` so that the logarithm is taken once per upstream score
    even when ``alpha`` varies over a batch of rows (``x`` of shape ``(1, n)``).
    """
    e = np.maximum(1.0 - np.asarray(x, dtype=np.float64), 0.0)
    with np.errstate(divide="ignore"):
        log_e = np.log(np.where(e > 0, e, 1.0))
        pw = np.where(e > 0, 1.0, 0.0) * np.exp(alpha * log_e)
    return pw, log_e


class Family(lmfit.Model):
    """Base class of the saturating families: an :class:`lmfit.Model` with bounds and a plateau.

    Subclasses set :attr:`family_name` and :attr:`bounds`, write :meth:`curve` as a static method
    whose first argument is the upstream score ``x`` and whose other arguments are the parameters,
    and give a data-driven :meth:`initial` guess. :meth:`plateau` and :meth:`jacobian` have
    defaults that subclasses may override.

    Parameters
    ----------
    **kwargs
        Passed to :class:`lmfit.Model` (e.g. ``nan_policy``).
    """

    #: Name used in the API, the output and the store.
    family_name: ClassVar[str] = ""
    #: ``(lower, upper)`` for every parameter, in the order of :meth:`curve`'s signature.
    bounds: ClassVar[Bounds] = {}
    #: ``"higher"``: the upstream score is an accuracy in [0, 1]; ``"lower"``: a loss (>= 0).
    upstream: ClassVar[Literal["higher", "lower"]] = "higher"
    #: The best possible upstream score, where the plateau is read.
    best_upstream: ClassVar[float] = 1.0
    #: Whether the curve is a straight line ``axis(y) = a + b * axis(x)`` on transformed axes
    #: (then :meth:`axis` and :meth:`from_axis` are the transform and its inverse, and the
    #: family can be fitted with ``loss_space="transformed"``).
    linear_axes: ClassVar[bool] = False
    #: The parameter the plateau is a monotone function of, with the others held (``None``:
    #: the plateau is fixed by the family, e.g. 1 for ``power``; then it has no interval).
    #: Profile-likelihood intervals and the test of "no saturation" hold this parameter fixed.
    plateau_param: ClassVar[str | None] = None
    #: Whether the curve takes the logit or probit of the upstream score (so that scores of
    #: exactly 0 or 1 are clipped at :data:`CLIP_EPSILON`).
    clips_upstream: ClassVar[bool] = False

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("nan_policy", "raise")
        super().__init__(type(self).curve, independent_vars=["x"], **kwargs)
        for name, (low, high) in self.bounds.items():
            self.set_param_hint(name, min=low, max=high)

    @staticmethod
    def curve(x: Any, *theta: Any) -> Any:
        """Predicted downstream accuracy at upstream score ``x`` (numpy broadcasting).

        Parameters
        ----------
        x : array_like
            Upstream scores.
        *theta : array_like
            Parameters in the order of :attr:`bounds`.

        Returns
        -------
        numpy.ndarray
            Predicted downstream accuracy, broadcast over ``x`` and the parameters.
        """
        raise NotImplementedError

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in order."""
        return tuple(self.param_names)

    @property
    def lower(self) -> Array:
        """Lower bounds in parameter order."""
        return np.array([self.bounds[n][0] for n in self.names], dtype=np.float64)

    @property
    def upper(self) -> Array:
        """Upper bounds in parameter order."""
        return np.array([self.bounds[n][1] for n in self.names], dtype=np.float64)

    def evaluate(self, x: ArrayLike, theta: ArrayLike) -> Array:
        """Evaluate the curve for parameter vectors.

        Parameters
        ----------
        x : array_like
            Upstream scores, shape ``(n,)`` or ``(B, n)``.
        theta : array_like
            Parameters, shape ``(p,)`` or ``(B, p)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(n,)`` for one parameter vector, ``(B, n)`` for ``B`` of them.
        """
        t = np.asarray(theta, dtype=np.float64)
        xa = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            if t.ndim == 1:
                return np.asarray(self.curve(xa, *t), dtype=np.float64)
            cols = [t[:, j : j + 1] for j in range(t.shape[1])]
            return np.asarray(self.curve(xa, *cols), dtype=np.float64)

    def jacobian(self, x: Array, *theta: Array) -> list[Array] | None:
        """Partial derivatives of :meth:`curve` with respect to each parameter, or ``None``.

        Parameters
        ----------
        x : numpy.ndarray
            Upstream scores.
        *theta : numpy.ndarray
            Parameters (broadcastable against ``x``).

        Returns
        -------
        list of numpy.ndarray or None
            One array per parameter, or ``None`` to let the solver use central differences.
        """
        return None

    def plateau(self, *theta: Any) -> Any:
        """Return the plateau: the curve at :attr:`best_upstream` (vectorized over parameters).

        Parameters
        ----------
        *theta : float or numpy.ndarray
            Parameters in order.

        Returns
        -------
        float or numpy.ndarray
            Predicted downstream accuracy at the best possible upstream score.
        """
        with np.errstate(all="ignore"):
            return self.curve(np.float64(self.best_upstream), *theta)

    def axis(self, p: ArrayLike) -> Array:
        """Transform scores onto the axes on which the family is a straight line.

        Parameters
        ----------
        p : array_like
            Scores strictly inside (0, 1).

        Returns
        -------
        numpy.ndarray
            Transformed scores (e.g. ``logit(p)``).

        Raises
        ------
        NotImplementedError
            For a family that is not a straight line on transformed axes.
        """
        raise NotImplementedError(f"family {self.family_name!r} has no transformed axes")

    def from_axis(self, z: ArrayLike) -> Array:
        """Map transformed scores back to scores (the inverse of :meth:`axis`).

        Parameters
        ----------
        z : array_like
            Transformed scores.

        Returns
        -------
        numpy.ndarray
            Scores in (0, 1).

        Raises
        ------
        NotImplementedError
            For a family that is not a straight line on transformed axes.
        """
        raise NotImplementedError(f"family {self.family_name!r} has no transformed axes")

    def initial(self, x: Array, y: Array) -> dict[str, float]:
        """Guess a starting point from the data.

        Parameters
        ----------
        x, y : numpy.ndarray
            Upstream and downstream scores of the points to fit.

        Returns
        -------
        dict
            Starting value per parameter, inside the bounds.
        """
        raise NotImplementedError

    def guess(self, data: ArrayLike, x: ArrayLike, **kwargs: Any) -> lmfit.Parameters:
        """Make starting parameters for :meth:`lmfit.Model.fit` (lmfit's ``guess`` protocol).

        Parameters
        ----------
        data : array_like
            Downstream scores.
        x : array_like
            Upstream scores.
        **kwargs
            Parameter values that override the guess.

        Returns
        -------
        lmfit.Parameters
            Parameters with bounds and starting values.
        """
        start = self.clip(self.initial(np.asarray(x, float), np.asarray(data, float)))
        start.update({k: float(v) for k, v in kwargs.items()})
        return self.make_params(**start)

    def clip(self, values: Mapping[str, float]) -> dict[str, float]:
        """Move values strictly inside the bounds (lmfit rejects starting values on a bound).

        Parameters
        ----------
        values : mapping
            Parameter values.

        Returns
        -------
        dict
            The values, each inside its bounds (a small margin from a finite bound).
        """
        out = {}
        for name in self.names:
            low, high = self.bounds[name]
            value = float(values[name])
            if not np.isfinite(value):
                value = low + 1.0 if np.isfinite(low) else (high - 1.0 if np.isfinite(high) else 0)
            span = (high - low) if np.isfinite(high - low) else 1.0
            margin = 1e-6 * span
            out[name] = float(min(max(value, low + margin), high - margin))
        return out


class Abnar(Family):
    """Abnar et al. (2021): ``e_DS = k * e_US**alpha + e_IR`` with ``e = 1 - accuracy``.

    Plateau ``1 - e_IR``; ``e_IR`` is the irreducible downstream error.
    """

    family_name = "abnar"
    plateau_param = "e_ir"
    bounds: ClassVar[Bounds] = {
        "k": (0.0, np.inf),
        "alpha": (1e-3, 20.0),
        "e_ir": (0.0, 1.0),
    }

    @staticmethod
    def curve(x: Any, k: Any, alpha: Any, e_ir: Any) -> Any:
        """``1 - e_ir - k * (1 - x)**alpha``."""
        return 1.0 - e_ir - k * _power(x, alpha)[0]

    def jacobian(self, x: Array, *theta: Array) -> list[Array]:
        """Analytic partial derivatives."""
        k, alpha, _ = theta
        pw, log_e = _power(x, alpha)
        return [-pw, -k * pw * log_e, -np.ones_like(pw)]

    def plateau(self, *theta: Any) -> Any:
        """``1 - e_ir``."""
        return 1.0 - theta[2]

    def initial(self, x: Array, y: Array) -> dict[str, float]:
        """Irreducible error just below the best point, then a log-log line."""
        e_ir = max(1.0 - float(np.max(y)) - 0.01, 0.0)
        e_us, e_ds = 1.0 - x, 1.0 - y - e_ir
        ok = (e_us > 0) & (e_ds > 0)
        alpha, log_k = _lstsq_line(np.log(e_us[ok]), np.log(e_ds[ok]))
        return {"k": float(np.exp(log_k)), "alpha": float(np.clip(alpha, 0.05, 10.0)), "e_ir": e_ir}


class Power(Family):
    """The power law without irreducible error: ``e_DS = k * e_US**alpha`` (plateau 1)."""

    family_name = "power"
    bounds: ClassVar[Bounds] = {"k": (0.0, np.inf), "alpha": (1e-3, 20.0)}

    @staticmethod
    def curve(x: Any, k: Any, alpha: Any) -> Any:
        """``1 - k * (1 - x)**alpha``."""
        return 1.0 - k * _power(x, alpha)[0]

    def jacobian(self, x: Array, *theta: Array) -> list[Array]:
        """Analytic partial derivatives."""
        k, alpha = theta
        pw, log_e = _power(x, alpha)
        return [-pw, -k * pw * log_e]

    def plateau(self, *theta: Any) -> Any:
        """Return 1 (no irreducible error)."""
        return np.ones_like(np.asarray(theta[0], dtype=np.float64))[()]

    def initial(self, x: Array, y: Array) -> dict[str, float]:
        """Fit a line to the log errors."""
        e_us, e_ds = 1.0 - x, 1.0 - y
        ok = (e_us > 0) & (e_ds > 0)
        alpha, log_k = _lstsq_line(np.log(e_us[ok]), np.log(e_ds[ok]))
        return {"k": float(np.exp(log_k)), "alpha": float(np.clip(alpha, 0.05, 10.0))}


def _sign_plateau(b: Any, at_zero: Any) -> Any:
    b = np.asarray(b, dtype=np.float64)
    return np.where(b > 0, 1.0, np.where(b < 0, 0.0, at_zero))[()]


class Logit(Family):
    """Kornblith et al. (2019): ``logit(y) = a + b * logit(x)``; plateau 1 when ``b > 0``."""

    family_name = "logit"
    clips_upstream = True
    bounds: ClassVar[Bounds] = {
        "a": (-np.inf, np.inf),
        "b": (-np.inf, np.inf),
    }
    linear_axes = True

    @staticmethod
    def curve(x: Any, a: Any, b: Any) -> Any:
        """``expit(a + b * logit(x))``."""
        return special.expit(a + b * _logit(x))

    def jacobian(self, x: Array, *theta: Array) -> list[Array]:
        """Analytic partial derivatives."""
        a, b = theta
        lx = _logit(x)
        p = special.expit(a + b * lx)
        d = p * (1.0 - p)
        return [d, d * lx]

    def plateau(self, *theta: Any) -> Any:
        """1 for ``b > 0``, 0 for ``b < 0``, ``expit(a)`` for ``b == 0``."""
        return _sign_plateau(theta[1], special.expit(theta[0]))

    def initial(self, x: Array, y: Array) -> dict[str, float]:
        """Fit a line to the logits."""
        b, a = _lstsq_line(_logit(x), _logit(y))
        return {"a": a, "b": b}

    def axis(self, p: ArrayLike) -> Array:
        """``logit(p)``."""
        return np.asarray(special.logit(p), dtype=np.float64)

    def from_axis(self, z: ArrayLike) -> Array:
        """``expit(z)``."""
        return np.asarray(special.expit(z), dtype=np.float64)


class Probit(Family):
    """Taori et al. (2020), Miller et al. (2021): ``probit(y) = a + b * probit(x)``."""

    family_name = "probit"
    clips_upstream = True
    bounds: ClassVar[Bounds] = {
        "a": (-np.inf, np.inf),
        "b": (-np.inf, np.inf),
    }
    linear_axes = True

    @staticmethod
    def curve(x: Any, a: Any, b: Any) -> Any:
        """``Phi(a + b * Phi^-1(x))``."""
        return special.ndtr(a + b * _probit(x))

    def jacobian(self, x: Array, *theta: Array) -> list[Array]:
        """Analytic partial derivatives."""
        a, b = theta
        px = _probit(x)
        d = np.exp(-0.5 * (a + b * px) ** 2) / np.sqrt(2.0 * np.pi)
        return [d, d * px]

    def plateau(self, *theta: Any) -> Any:
        """1 for ``b > 0``, 0 for ``b < 0``, ``Phi(a)`` for ``b == 0``."""
        return _sign_plateau(theta[1], special.ndtr(theta[0]))

    def initial(self, x: Array, y: Array) -> dict[str, float]:
        """Fit a line to the probits."""
        b, a = _lstsq_line(_probit(x), _probit(y))
        return {"a": a, "b": b}

    def axis(self, p: ArrayLike) -> Array:
        """``Phi^-1(p)``."""
        return np.asarray(special.ndtri(p), dtype=np.float64)

    def from_axis(self, z: ArrayLike) -> Array:
        """``Phi(z)``."""
        return np.asarray(special.ndtr(z), dtype=np.float64)


class Sigmoid(Family):
    """Observational scaling laws: ``floor + (ceiling - floor) * expit(w * logit(x) + a)``.

    ``w >= 0`` keeps the curve rising, so the plateau is ``ceiling`` (``floor`` is chance level).
    """

    family_name = "sigmoid"
    clips_upstream = True
    plateau_param = "ceiling"
    bounds: ClassVar[Bounds] = {
        "floor": (0.0, 1.0),
        "ceiling": (0.0, 1.0),
        "w": (0.0, np.inf),
        "a": (-np.inf, np.inf),
    }

    @staticmethod
    def curve(x: Any, floor: Any, ceiling: Any, w: Any, a: Any) -> Any:
        """``floor + (ceiling - floor) * expit(w * logit(x) + a)``."""
        return floor + (ceiling - floor) * special.expit(w * _logit(x) + a)

    def jacobian(self, x: Array, *theta: Array) -> list[Array]:
        """Analytic partial derivatives."""
        floor, ceiling, w, a = theta
        lx = _logit(x)
        s = special.expit(w * lx + a)
        d = (ceiling - floor) * s * (1.0 - s)
        return [1.0 - s, s, d * lx, d]

    def plateau(self, *theta: Any) -> Any:
        """``ceiling`` for ``w > 0``; the constant curve's value for ``w == 0``."""
        floor, ceiling, w, a = (np.asarray(t, dtype=np.float64) for t in theta)
        flat = floor + (ceiling - floor) * special.expit(a)
        return np.where(w > 0, ceiling, flat)[()]

    def initial(self, x: Array, y: Array) -> dict[str, float]:
        """Floor and ceiling just outside the data, then a line of logits."""
        floor = max(float(np.min(y)) - 0.02, 0.0)
        ceiling = min(float(np.max(y)) + 0.02, 1.0)
        z = _logit((y - floor) / max(ceiling - floor, 1e-6))
        w, a = _lstsq_line(_logit(x), z)
        return {"floor": floor, "ceiling": ceiling, "w": max(w, 0.1), "a": a}


class LossExp(Family):
    """Gadre et al. (2024), for a loss ``L`` as upstream score: ``err = eps - k * exp(-gamma * L)``.

    Downstream accuracy is ``1 - err``. The plateau is the accuracy predicted at zero loss,
    ``1 - eps + k``, capped at 1; ``1 - eps`` is the accuracy as the loss grows (chance level).
    """

    family_name = "loss_exp"
    bounds: ClassVar[Bounds] = {
        "eps": (0.0, 1.0),
        "k": (0.0, np.inf),
        "gamma": (0.0, 50.0),
    }
    upstream = "lower"
    best_upstream = 0.0

    @staticmethod
    def curve(x: Any, eps: Any, k: Any, gamma: Any) -> Any:
        """``1 - eps + k * exp(-gamma * x)``."""
        return 1.0 - eps + k * np.exp(-gamma * x)

    def jacobian(self, x: Array, *theta: Array) -> list[Array]:
        """Analytic partial derivatives."""
        _, k, gamma = theta
        ex = np.exp(-gamma * x)
        return [-np.ones_like(ex), ex, -k * x * ex]

    def plateau(self, *theta: Any) -> Any:
        """``min(1, 1 - eps + k)``."""
        return np.minimum(1.0, 1.0 - np.asarray(theta[0]) + np.asarray(theta[1]))[()]

    def initial(self, x: Array, y: Array) -> dict[str, float]:
        """Chance level just below the worst point, then a log-linear line."""
        eps = min(1.0 - float(np.min(y)) + 0.01, 1.0)
        gain = y - (1.0 - eps)
        ok = gain > 0
        slope, log_k = _lstsq_line(x[ok], np.log(gain[ok]))
        return {"eps": eps, "k": float(np.exp(log_k)), "gamma": float(np.clip(-slope, 0.01, 20.0))}


#: Registered families by name.
FAMILIES: Registry[Family] = Registry("family", Family, lambda cls: cls.family_name)


def register(cls: type[Family], *, replace: bool = False) -> type[Family]:
    """Make a family available by its :attr:`Family.family_name` (usable as a decorator).

    Parameters
    ----------
    cls : type
        A subclass of :class:`Family`.
    replace : bool, default False
        Replace a different family registered under the same name (a built-in one included).

    Returns
    -------
    type
        ``cls`` unchanged.

    Raises
    ------
    InputError
        ``cls`` is not a :class:`Family` or has no name, or its name is taken by another family
        and ``replace`` is false.
    """
    return FAMILIES.register(cls, replace=replace)


def definition_fingerprint(cls: type, base: type) -> str:
    """Hash a class's definition: its name, its class attributes and the code of its methods.

    Stored fits are keyed by the fingerprints of their family and estimator, so a class whose
    code or bounds changed is refitted even under its old name. Code positions (line numbers)
    do not enter, so moving a class within its file changes nothing.

    Parameters
    ----------
    cls : type
        The class (a family or an estimator).
    base : type
        Its framework base class; the base's own code (and what is above it) is not hashed.

    Returns
    -------
    str
        Hex SHA-256 of the definition.
    """
    digest = hashlib.sha256(f"{cls.__module__}.{cls.__qualname__}".encode())
    for klass in cls.__mro__:
        if klass is base or not issubclass(klass, base):
            continue
        for name in sorted(vars(klass)):
            if name.startswith("__") and name != "__init__":
                continue
            member = inspect.getattr_static(klass, name)
            func = member.fget if isinstance(member, property) else member
            func = getattr(func, "__func__", func)
            code = getattr(func, "__code__", None)
            digest.update(name.encode())
            digest.update(_code_bytes(code) if code is not None else repr(member).encode())
    return digest.hexdigest()


def family_fingerprint(cls: type[Family]) -> str:
    """Hash a family's definition (see :func:`definition_fingerprint`).

    Parameters
    ----------
    cls : type
        A subclass of :class:`Family`.

    Returns
    -------
    str
        Hex SHA-256.
    """
    return definition_fingerprint(cls, Family)


def _code_bytes(code: types.CodeType) -> bytes:
    """Bytes of a code object that do not depend on where it sits in its file."""
    parts = [code.co_code, repr(code.co_names).encode(), repr(code.co_varnames).encode()]
    for const in code.co_consts:
        nested = isinstance(const, types.CodeType)
        parts.append(_code_bytes(const) if nested else repr(const).encode())
    return b"|".join(parts)


for _cls in (Abnar, Power, Logit, Probit, Sigmoid, LossExp):
    register(_cls)


def get_family(name: str) -> Family:
    """Return the family called ``name`` (instances are shared; they hold no fit state).

    Parameters
    ----------
    name : str
        A registered family name, see :data:`FAMILIES`.

    Returns
    -------
    Family
        The model.

    Raises
    ------
    InputError
        For an unknown name.
    """
    return FAMILIES.instance(name)


def families_for(upstream: Literal["higher", "lower"]) -> tuple[str, ...]:
    """Names of the families that accept an upstream score of the given direction.

    Parameters
    ----------
    upstream : {"higher", "lower"}
        ``"higher"`` for accuracies, ``"lower"`` for losses.

    Returns
    -------
    tuple of str
        Registered family names in registration order.
    """
    return tuple(n for n, c in FAMILIES.items() if c.upstream == upstream)


def central_jacobian(
    func: Callable[..., Any], x: Array, theta: list[Array], lower: Array, upper: Array
) -> list[Array]:
    """Partial derivatives of ``func(x, *theta)`` by central differences (one-sided at a bound).

    Parameters
    ----------
    func : callable
        ``func(x, *theta)`` with numpy broadcasting.
    x : numpy.ndarray
        Independent variable, e.g. shape ``(B, n)``.
    theta : list of numpy.ndarray
        Parameters, each broadcastable against ``x`` (e.g. shape ``(B, 1)``).
    lower, upper : numpy.ndarray
        Bounds per parameter.

    Returns
    -------
    list of numpy.ndarray
        One derivative array per parameter.
    """
    out = []
    for j, t in enumerate(theta):
        h = 1e-6 * np.maximum(np.abs(t), 1e-3)
        up = np.minimum(t + h, upper[j])
        down = np.maximum(t - h, lower[j])
        args_up = [*theta[:j], up, *theta[j + 1 :]]
        args_down = [*theta[:j], down, *theta[j + 1 :]]
        with np.errstate(all="ignore"):
            diff = np.asarray(func(x, *args_up)) - np.asarray(func(x, *args_down))
        out.append(diff / np.where(up - down > 0, up - down, 1.0))
    return out
