"""A small numpy multilayer perceptron whose layers can be frozen, trained with Adam.

Why our own network rather than scikit-learn's ``MLPClassifier``: fine-tuning methods differ in
which layers they train (a linear probe trains the head on frozen features, top-layer
fine-tuning the last hidden layer and the head, full fine-tuning everything), and
``MLPClassifier`` can neither freeze a layer nor take a new head for new classes. A ReLU network
of two hidden layers on 64 pixels is a few lines of numpy, fast on a CPU, and exactly
reproducible from a seed. The network also exposes its first (affine) layer, so that the
interaction analysis can evaluate it on thousands of masked copies of an input without building
them (:class:`transferscope.knowledge.value.AffineInput`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from transferscope.errors import InputError

Array = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class MLP:
    """``logits = W_L relu(... relu(W_1 x + b_1) ...) + b_L``.

    Attributes
    ----------
    weights : tuple of numpy.ndarray
        ``W_l`` of shape ``(fan_in, fan_out)``, first layer first.
    biases : tuple of numpy.ndarray
        ``b_l`` of shape ``(fan_out,)``.
    """

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths, input first."""
        return (self.weights[0].shape[0], *(w.shape[1] for w in self.weights))

    @property
    def n_params(self) -> int:
        """Number of weights and biases."""
        return int(sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True)))

    def activations(self, x: Array) -> list[Array]:
        """Input, every hidden activation, and the logits.

        Parameters
        ----------
        x : numpy.ndarray
            Inputs ``(m, d)``.

        Returns
        -------
        list of numpy.ndarray
            ``[x, h_1, ..., h_{L-1}, logits]``.
        """
        out = [x]
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = out[-1] @ w + b
            out.append(np.maximum(z, 0.0) if i < last else z)
        return out

    def features(self, x: Array) -> Array:
        """Return the last hidden layer (what a linear probe sees), ``(m, h_{L-1})``.

        Parameters
        ----------
        x : numpy.ndarray
            Inputs ``(m, d)``.

        Returns
        -------
        numpy.ndarray
            Features.
        """
        return self.activations(x)[-2]

    def __call__(self, x: Array) -> Array:
        """Logits ``(m, c)`` of inputs ``(m, d)`` (images are flattened).

        Parameters
        ----------
        x : numpy.ndarray
            Inputs ``(m, d)`` or ``(m, *image_shape)``.

        Returns
        -------
        numpy.ndarray
            Logits.
        """
        x2 = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        return self.activations(x2)[-1]

    def first_layer(self) -> tuple[Array, Array]:
        """Return the first layer's weights ``(d, h_1)`` and bias ``(h_1,)``.

        Returns
        -------
        tuple of numpy.ndarray
            ``(W_1, b_1)``, acting on the flattened input.
        """
        return self.weights[0], self.biases[0]

    def from_first_layer(self, z: Array) -> Array:
        """Logits from the first layer's pre-activations ``z = x W_1 + b_1``.

        Parameters
        ----------
        z : numpy.ndarray
            Shape ``(m, h_1)``.

        Returns
        -------
        numpy.ndarray
            Logits ``(m, c)``.
        """
        h = np.asarray(z, dtype=np.float64)
        for i in range(1, len(self.weights)):
            h = np.maximum(h, 0.0) @ self.weights[i]
            h += self.biases[i]
        return h

    def accuracy(self, x: Array, y: NDArray[np.int64]) -> float:
        """Share of inputs whose largest logit is the label.

        Parameters
        ----------
        x : numpy.ndarray
            Inputs.
        y : numpy.ndarray
            Labels.

        Returns
        -------
        float
            In [0, 1].
        """
        return float(np.mean(np.argmax(self(x), axis=1) == y))

    def with_head(self, weight: Array, bias: Array) -> MLP:
        """Return the same body with another last layer.

        Parameters
        ----------
        weight : numpy.ndarray
            ``(h_{L-1}, c)``.
        bias : numpy.ndarray
            ``(c,)``.

        Returns
        -------
        MLP
            A new network sharing the body's arrays.
        """
        return MLP(
            weights=(*self.weights[:-1], np.asarray(weight, dtype=np.float64)),
            biases=(*self.biases[:-1], np.asarray(bias, dtype=np.float64)),
        )


def init_mlp(sizes: Sequence[int], rng: np.random.Generator) -> MLP:
    """He-initialized ReLU network: ``W_l ~ N(0, 2 / fan_in)``, zero biases.

    Parameters
    ----------
    sizes : sequence of int
        Widths, input first, classes last (at least two).
    rng : numpy.random.Generator
        Source of the weights.

    Returns
    -------
    MLP
        The network.
    """
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise InputError(f"an MLP needs at least two positive layer sizes, got {list(sizes)}")
    pairs = list(itertools.pairwise(sizes))
    return MLP(
        weights=tuple(rng.standard_normal((a, b)) * np.sqrt(2.0 / a) for a, b in pairs),
        biases=tuple(np.zeros(b) for _, b in pairs),
    )


def train_mlp(
    net: MLP,
    x: Array,
    y: NDArray[np.int64],
    *,
    steps: int,
    lr: float,
    trainable: Sequence[bool] | None = None,
    weight_decay: float = 0.0,
    batch_size: int | None = None,
    rng: np.random.Generator | None = None,
    batches: NDArray[np.int64] | None = None,
) -> MLP:
    """Adam on the mean softmax cross-entropy (plus ``weight_decay * |W|^2 / 2``).

    Parameters
    ----------
    net : MLP
        Starting weights (not modified).
    x, y : numpy.ndarray
        Inputs ``(m, d)`` and labels in ``[0, c)``.
    steps : int
        Adam steps.
    lr : float
        Learning rate.
    trainable : sequence of bool, optional
        Which layers are trained (first layer first); all by default. Gradients stop below the
        lowest trained layer.
    weight_decay : float, default 0.0
        L2 penalty on the weights of trained layers.
    batch_size : int, optional
        Examples per step, drawn with replacement; None = full batch.
    rng : numpy.random.Generator, optional
        Draws the minibatches; required with ``batch_size``.
    batches : numpy.ndarray of int, optional
        Rows of ``x`` of each step's minibatch, shape ``(steps, batch)``: a given sequence of
        minibatches instead of ``batch_size`` and ``rng``.

    Returns
    -------
    MLP
        The trained network.
    """
    n_layers = len(net.weights)
    train = [True] * n_layers if trainable is None else [bool(t) for t in trainable]
    if len(train) != n_layers:
        raise InputError(f"trainable needs {n_layers} flags, got {len(train)}")
    if batch_size is not None and rng is None:
        raise InputError("train_mlp: batch_size needs rng")
    if batches is not None and (batches.ndim != 2 or len(batches) != steps):
        raise InputError("train_mlp: batches must have shape (steps, batch)")
    ws = [w.copy() for w in net.weights]
    bs = [b.copy() for b in net.biases]
    lowest = train.index(True) if any(train) else n_layers
    m1 = [(np.zeros_like(w), np.zeros_like(b)) for w, b in zip(ws, bs, strict=True)]
    m2 = [(np.zeros_like(w), np.zeros_like(b)) for w, b in zip(ws, bs, strict=True)]
    onehot_all = np.eye(ws[-1].shape[1])[y]
    # frozen bottom layers: their output is fixed, computed once
    frozen_net = MLP(tuple(ws[:lowest]), tuple(bs[:lowest]))
    base = _hidden(frozen_net, x) if lowest > 0 else x
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1 if lowest < n_layers else 1):
        if batches is not None:
            xb, ob = base[batches[step - 1]], onehot_all[batches[step - 1]]
        elif batch_size is not None and rng is not None and batch_size < len(base):
            idx = rng.integers(0, len(base), size=batch_size)
            xb, ob = base[idx], onehot_all[idx]
        else:
            xb, ob = base, onehot_all
        acts = [xb]
        for i in range(lowest, n_layers):
            z = acts[-1] @ ws[i] + bs[i]
            acts.append(np.maximum(z, 0.0) if i < n_layers - 1 else z)
        z = acts[-1] - acts[-1].max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - ob) / len(xb)
        for i in range(n_layers - 1, lowest - 1, -1):
            a = acts[i - lowest]
            gw = a.T @ g + weight_decay * ws[i]
            gb = g.sum(axis=0)
            if i > lowest:
                g = (g @ ws[i].T) * (a > 0.0)
            if not train[i]:
                continue
            for j, grad in enumerate((gw, gb)):
                first, second = m1[i][j], m2[i][j]
                first *= beta1
                first += (1.0 - beta1) * grad
                second *= beta2
                second += (1.0 - beta2) * grad * grad
                update = (
                    lr
                    * (first / (1.0 - beta1**step))
                    / (np.sqrt(second / (1.0 - beta2**step)) + eps)
                )
                if j == 0:
                    ws[i] -= update
                else:
                    bs[i] -= update
    return MLP(tuple(ws), tuple(bs))


def _hidden(body: MLP, x: Array) -> Array:
    """Output of a stack of hidden ReLU layers (no head)."""
    h = x
    for w, b in zip(body.weights, body.biases, strict=True):
        h = np.maximum(h @ w + b, 0.0)
    return h
