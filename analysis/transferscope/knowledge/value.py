"""Value functions of a model on one input: the model's output with some variables masked.

For an input ``x`` whose features are grouped into ``n`` variables (patches, tokens, features),
``v(T)`` is the model's output on the input in which the features of the variables outside
``T`` are replaced by a baseline. The output is, by default, the log-odds of a target class:

- ``output="logits"``: the model returns logits ``z`` of shape ``(m, c)``; the log-odds of class
  ``t`` is ``log p_t - log(1 - p_t) = z_t - logsumexp(z_j, j != t)`` with ``p = softmax(z)``,
  computed stably and finite without clipping. A 1-d (or ``(m, 1)``) output is the logit of
  class 1 of a binary model: class 1 has log-odds ``z``, class 0 has ``-z``.
- ``output="probabilities"``: the model returns probabilities; ``p_t`` is clipped to
  ``[eps, 1 - eps]`` and the log-odds is ``log(p_t) - log(1 - p_t)``, so it lies within
  ``+-log((1 - eps) / eps)`` (about 16.1 for the default ``eps = 1e-7``). A 1-d output is the
  probability of class 1.
- ``output="scalar"``: the model's output is used as it is: a 1-d output directly, column
  ``target`` of a 2-d one.

Numpy only; the model is any callable from a numpy array of inputs to a numpy array of outputs.

A model whose first layer is affine (a multilayer perceptron, a linear model) may say so by
implementing :class:`AffineInput`; it is then evaluated on masks without building the masked
inputs: the first layer's pre-activation of a masked input is
``z(T) = baseline W + b + sum over variables i in T of D_i``, with
``D_i = sum over the features f of variable i of (x_f - baseline_f) W_f``, so a batch of ``m``
masks costs an ``(m, n) @ (n, h)`` product instead of building ``m`` inputs and an
``(m, d) @ (d, h)`` product. The values are the same up to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from transferscope.errors import InputError
from transferscope.knowledge.transform import (
    DEFAULT_BATCH_SIZE,
    MAX_VARIABLES,
    evaluate_subsets,
    interactions,
)

OutputKind = Literal["logits", "probabilities", "scalar"]
Model = Callable[[NDArray[np.float64]], ArrayLike]

#: Default clipping of probabilities before taking log-odds.
DEFAULT_EPS: Final[float] = 1e-7

_OUTPUTS: Final[tuple[str, ...]] = ("logits", "probabilities", "scalar")

#: Subsets per block (as a power of two) when an affine-input model is evaluated on all subsets.
AFFINE_BLOCK_BITS: Final[int] = 12


@runtime_checkable
class AffineInput(Protocol):
    """A model whose first layer is affine, ``z = x W + b`` on the flattened input."""

    def first_layer(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return ``(W, b)``: ``W`` of shape ``(d, h)`` on the flattened input, ``b`` ``(h,)``."""
        ...

    def from_first_layer(self, z: NDArray[np.float64]) -> ArrayLike:
        """Return the model's outputs from the first layer's pre-activations ``(m, h)``."""
        ...


def log_odds(
    outputs: ArrayLike,
    target: int | None,
    output: OutputKind = "logits",
    *,
    eps: float = DEFAULT_EPS,
) -> NDArray[np.float64]:
    """Turn model outputs into one number per row: log-odds of ``target``, or a chosen scalar.

    Parameters
    ----------
    outputs : array_like
        Shape ``(m,)``, ``(m, 1)`` (binary: logit or probability of class 1, or a scalar) or
        ``(m, c)``.
    target : int or None
        Target class (or output column for ``"scalar"``); may be None only for a 1-d scalar
        output. For a binary 1-d output, 0 or 1.
    output : {"logits", "probabilities", "scalar"}, default "logits"
        What the outputs are; see the module docstring for the exact formulas.
    eps : float, default 1e-7
        Clipping of probabilities to ``[eps, 1 - eps]`` (``"probabilities"`` only).

    Returns
    -------
    numpy.ndarray
        Shape ``(m,)``, float64, finite for finite outputs.
    """
    if output not in _OUTPUTS:
        raise InputError(f"output must be one of {', '.join(_OUTPUTS)}, got {output!r}")
    if not 0.0 < eps < 0.5:
        raise InputError(f"eps must lie in (0, 0.5), got {eps}")
    arr = np.asarray(outputs, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim not in (1, 2):
        raise InputError(f"model outputs must have shape (m,) or (m, c), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError("model outputs contain NaN or inf")
    if arr.ndim == 1:
        if output == "scalar":
            if target not in (None, 0):
                raise InputError(f"a 1-d scalar output has no column {target}")
            return arr
        if target not in (0, 1):
            raise InputError(f"a binary (1-d) output needs target 0 or 1, got {target!r}")
        if output == "logits":
            return arr if target == 1 else -arr
        p = np.clip(arr if target == 1 else 1.0 - arr, eps, 1.0 - eps)
        return np.log(p) - np.log1p(-p)
    c = arr.shape[1]
    if target is None or not 0 <= int(target) < c:
        raise InputError(f"target must be a class index in [0, {c}), got {target!r}")
    t = int(target)
    if output == "scalar":
        return arr[:, t]
    if output == "probabilities":
        p = np.clip(arr[:, t], eps, 1.0 - eps)
        return np.log(p) - np.log1p(-p)
    others = np.delete(arr, t, axis=1)
    top = others.max(axis=1)
    return arr[:, t] - (top + np.log(np.exp(others - top[:, None]).sum(axis=1)))


def _resolve_baseline(
    baseline: Literal["zero", "mean"] | ArrayLike,
    x: NDArray[np.float64],
    background: ArrayLike | None,
) -> NDArray[np.float64]:
    if isinstance(baseline, str):
        if baseline == "zero":
            return np.zeros_like(x)
        if baseline == "mean":
            if background is None:
                raise InputError('baseline="mean" needs a background sample')
            bg = np.asarray(background, dtype=np.float64)
            if bg.ndim != x.ndim + 1 or bg.shape[1:] != x.shape or bg.shape[0] < 1:
                raise InputError(
                    f"background must have shape (k, {', '.join(map(str, x.shape))}) with "
                    f"k >= 1, got {bg.shape}"
                )
            return np.asarray(bg.mean(axis=0), dtype=np.float64)
        raise InputError(f'baseline must be "zero", "mean" or an array, got {baseline!r}')
    try:
        base = np.broadcast_to(np.asarray(baseline, dtype=np.float64), x.shape).copy()
    except ValueError:
        raise InputError(
            f"baseline of shape {np.shape(baseline)} does not broadcast to the input's {x.shape}"
        ) from None
    return base


def _resolve_groups(groups: ArrayLike | None, x: NDArray[np.float64]) -> NDArray[np.int64]:
    if groups is None:
        if x.ndim != 1:
            raise InputError(
                f"an input of shape {x.shape} needs groups (one variable index per feature)"
            )
        return np.arange(x.size, dtype=np.int64)
    g = np.asarray(groups)
    if g.shape != x.shape or g.dtype.kind not in "iu":
        raise InputError(f"groups must be integers of the input's shape {x.shape}")
    g = g.astype(np.int64)
    n = int(g.max()) + 1 if g.size else 0
    if g.size and (g.min() < 0 or np.unique(g).size != n):
        raise InputError("groups must use every variable index 0, 1, ..., n - 1")
    return g


@dataclass(frozen=True, eq=False)
class ModelValue:
    """The value function ``v(T)`` of a model on one input (a callable on masks).

    Build it with :func:`model_value`. Calling it with a boolean array ``masks`` of shape
    ``(m, n)`` evaluates the model on ``m`` copies of the input, in copy ``j`` every feature of a
    variable ``i`` with ``masks[j, i]`` False replaced by the baseline, and returns ``m`` values.

    Attributes
    ----------
    model : callable
        Array of shape ``(m, *x.shape)`` -> outputs of shape ``(m,)`` or ``(m, c)``.
    x : numpy.ndarray
        The input (float64).
    baseline : numpy.ndarray
        Values of masked features, shape of ``x``.
    groups : numpy.ndarray
        Variable index of each feature, shape of ``x``.
    n_variables : int
        Number of variables ``n``.
    target : int or None
        Target class or output column.
    output : {"logits", "probabilities", "scalar"}
        How outputs become values; see :func:`log_odds`.
    eps : float
        Probability clipping for ``"probabilities"``.
    affine : tuple of numpy.ndarray or None
        For an :class:`AffineInput` model: the first layer's pre-activation on the baseline
        ``(h,)`` and the change ``D`` of each variable ``(n, h)``; the model is then evaluated
        from these (see the module docstring).
    """

    model: Model
    x: NDArray[np.float64]
    baseline: NDArray[np.float64]
    groups: NDArray[np.int64]
    n_variables: int
    target: int | None
    output: OutputKind
    eps: float = field(default=DEFAULT_EPS)
    affine: tuple[NDArray[np.float64], NDArray[np.float64]] | None = field(default=None)

    def masked_inputs(self, masks: ArrayLike) -> NDArray[np.float64]:
        """Return the masked copies of the input, shape ``(m, *x.shape)``.

        Parameters
        ----------
        masks : array_like of bool
            Shape ``(m, n)``: True keeps a variable.

        Returns
        -------
        numpy.ndarray
            Inputs with the features of dropped variables set to the baseline.
        """
        m = np.asarray(masks)
        if m.ndim != 2 or m.shape[1] != self.n_variables or m.dtype != np.bool_:
            raise InputError(f"masks must be booleans of shape (m, {self.n_variables})")
        keep = m[:, self.groups]
        return np.where(keep, self.x[None, ...], self.baseline[None, ...])

    def all_values(self, batch_size: int = DEFAULT_BATCH_SIZE) -> NDArray[np.float64]:
        """Evaluate ``v`` on all ``2**n`` subsets, indexed by bitmask.

        For an :class:`AffineInput` model the first layer's pre-activations of a batch of
        ``2**b`` consecutive masks are one table of the subsets of the low ``b`` variables plus
        the part of the high variables (built by doubling, ``O(2**b h)``), so neither masks nor
        masked inputs are built; any other model goes through :func:`evaluate_subsets`.

        Parameters
        ----------
        batch_size : int, default 65536
            Subsets per call of the model (rounded down to a power of two; at most
            ``2**AFFINE_BLOCK_BITS`` for an affine-input model).

        Returns
        -------
        numpy.ndarray
            Shape ``(2**n,)``, float64.
        """
        n = self.n_variables
        if self.affine is None or not isinstance(self.model, AffineInput):
            return evaluate_subsets(self, n, batch_size=batch_size)
        if batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size}")
        z0, delta = self.affine
        # small blocks stay in the processor's cache: faster than one large block
        b = min(n, int(batch_size).bit_length() - 1, AFFINE_BLOCK_BITS)
        low = np.zeros((1 << b, delta.shape[1]))
        for i in range(b):
            low[1 << i : 2 << i] = low[: 1 << i] + delta[i]
        out = np.empty(1 << n)
        for high in range(1 << (n - b)):
            bits = (high >> np.arange(n - b)) & 1
            shift = z0 + bits.astype(np.float64) @ delta[b:]
            got = log_odds(
                self.model.from_first_layer(low + shift), self.target, self.output, eps=self.eps
            )
            if got.shape != (1 << b,):
                raise InputError(f"the model returned {got.shape[0]} rows for {1 << b} inputs")
            out[high << b : (high + 1) << b] = got
        return out

    def __call__(self, masks: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Evaluate ``v`` on a batch of subsets.

        Parameters
        ----------
        masks : numpy.ndarray of bool
            Shape ``(m, n)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(m,)``, float64.
        """
        if self.affine is not None and isinstance(self.model, AffineInput):
            m = np.asarray(masks)
            if m.ndim != 2 or m.shape[1] != self.n_variables or m.dtype != np.bool_:
                raise InputError(f"masks must be booleans of shape (m, {self.n_variables})")
            z0, delta = self.affine
            out = self.model.from_first_layer(z0 + m.astype(np.float64) @ delta)
        else:
            out = self.model(self.masked_inputs(masks))
        values = log_odds(out, self.target, self.output, eps=self.eps)
        if values.shape != (masks.shape[0],):
            raise InputError(
                f"the model returned {values.shape[0]} rows for {masks.shape[0]} inputs"
            )
        return values


def model_value(
    model: Model,
    x: ArrayLike,
    *,
    target: int | None = None,
    output: OutputKind = "logits",
    baseline: Literal["zero", "mean"] | ArrayLike = "zero",
    background: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    eps: float = DEFAULT_EPS,
) -> ModelValue:
    """Value function of ``model`` on input ``x``: masked variables take a baseline.

    Parameters
    ----------
    model : callable
        Numpy in, numpy out: inputs of shape ``(m, *x.shape)`` -> outputs ``(m,)`` or ``(m, c)``.
    x : array_like
        One input.
    target : int, optional
        Target class (or output column for ``"scalar"``); see :func:`log_odds`.
    output : {"logits", "probabilities", "scalar"}, default "logits"
        What the model returns; the value is the log-odds of ``target`` (or the scalar).
    baseline : {"zero", "mean"} or array_like, default "zero"
        Masked features are set to zero, to the mean of ``background`` over its first axis, or
        to the given array (broadcast to the input's shape).
    background : array_like, optional
        Sample of inputs, shape ``(k, *x.shape)``, for ``baseline="mean"``.
    groups : array_like of int, optional
        Variable index of each feature (shape of ``x``, indices ``0..n-1`` all used). Default:
        each feature of a 1-d input is its own variable.
    eps : float, default 1e-7
        Probability clipping for ``output="probabilities"``.

    Returns
    -------
    ModelValue
        A callable on boolean masks of shape ``(m, n)``, ready for :func:`interactions`.
    """
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputError("the input contains NaN or inf")
    if output not in _OUTPUTS:
        raise InputError(f"output must be one of {', '.join(_OUTPUTS)}, got {output!r}")
    base = _resolve_baseline(baseline, arr, background)
    if not np.all(np.isfinite(base)):
        raise InputError("the baseline contains NaN or inf")
    g = _resolve_groups(groups, arr)
    n = int(g.max()) + 1 if g.size else 0
    if n > MAX_VARIABLES:
        raise InputError(f"{n} variables exceed the limit of {MAX_VARIABLES}")
    affine = None
    if isinstance(model, AffineInput):
        w, b = (np.asarray(a, dtype=np.float64) for a in model.first_layer())
        if w.ndim != 2 or w.shape[0] != arr.size or b.shape != (w.shape[1],):
            raise InputError(
                f"first_layer() must give W of shape ({arr.size}, h) and b of shape (h,), got "
                f"{w.shape} and {b.shape}"
            )
        delta = np.zeros((n, w.shape[1]))
        np.add.at(delta, g.ravel(), (arr - base).reshape(-1, 1) * w)
        affine = (base.reshape(-1) @ w + b, delta)
    return ModelValue(model, arr, base, g, n, target, output, eps, affine)


def model_interactions(
    model: Model,
    inputs: ArrayLike,
    *,
    targets: int | ArrayLike | None = None,
    output: OutputKind = "logits",
    baseline: Literal["zero", "mean"] | ArrayLike = "zero",
    background: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    eps: float = DEFAULT_EPS,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> NDArray[np.float64]:
    """Harsanyi interactions of a model on each of several inputs.

    Parameters
    ----------
    model : callable
        See :func:`model_value`.
    inputs : array_like
        Shape ``(k, *input_shape)``: ``k`` inputs.
    targets : int or array_like of int, optional
        One target for all inputs, or one per input (e.g. the true labels).
    output, baseline, background, groups, eps
        See :func:`model_value`.
    batch_size : int, default 65536
        Masked inputs per model call.

    Returns
    -------
    numpy.ndarray
        Shape ``(k, 2**n)``, float64: row ``j`` holds ``I(S | inputs[j])`` at bitmask ``S``.
    """
    xs = np.asarray(inputs, dtype=np.float64)
    if xs.ndim < 2 or xs.shape[0] < 1:
        raise InputError(f"inputs must have shape (k, ...) with k >= 1, got {xs.shape}")
    k = xs.shape[0]
    if targets is None or np.ndim(targets) == 0:
        one = None if targets is None else int(np.asarray(targets))
        per_input: list[int | None] = [one] * k
    else:
        t = np.asarray(targets)
        if t.shape != (k,) or t.dtype.kind not in "iu":
            raise InputError(f"targets must be one integer or {k} integers, got shape {t.shape}")
        per_input = [int(v) for v in t]
    rows = []
    for j in range(k):
        vf = model_value(
            model,
            xs[j],
            target=per_input[j],
            output=output,
            baseline=baseline,
            background=background,
            groups=groups,
            eps=eps,
        )
        rows.append(np.asarray(interactions(vf.all_values(batch_size))))
    return np.stack(rows).astype(np.float64)
