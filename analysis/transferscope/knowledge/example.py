"""A worked example: what a small network keeps, discards and learns when it is fine-tuned.

Three two-layer tanh networks (numpy, Adam on softmax cross-entropy) on ``n = 8`` Gaussian
input variables:

- **pretrained (P)**: the body is trained on a large pretraining task (8000 examples); its
  downstream model is that body with a linear probe (a new head trained on the downstream data,
  body frozen), so that its log-odds speak about the downstream classes;
- **fine-tuned (F)**: P with all weights trained further on the downstream data;
- **scratch (R)**: the same architecture trained on the downstream data from a random start.

The tasks are noisy sign functions of sums of products of variables. The downstream task
shares the pretraining task's third-order term ``x0 x1 x2`` and adds terms of its own, and it
has only 100 training examples: the third-order term is inherited by F and learned only partly
by R. Interactions of the log-odds of the true class are computed on held-out downstream inputs
(variables outside ``T`` set to the mean of the downstream training inputs) and compared with
:func:`~transferscope.knowledge.result.compare_knowledge`.

What the default settings show, measured over seeds 0-99 (``benchmarks/knowledge.py --sweep``):
for the typical input (scope ``input_mean``) F keeps a larger strength-weighted share of P's
salient interactions than R shares with P, in every seed, and a part of F's salient strength is
exclusive (kept from P, not salient in R). F is more accurate downstream than R in most seeds,
not all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from transferscope.errors import InputError
from transferscope.knowledge.result import KnowledgeComparison, compare_knowledge
from transferscope.knowledge.value import model_interactions
from transferscope.records import NOT_RECORDED, Record
from transferscope.rng import make_rng

#: A task: (coefficient, variables of the product) terms of the score; label = score + noise > 0.
Terms = tuple[tuple[float, tuple[int, ...]], ...]

#: Pretraining task on 8 variables.
PRETRAIN_TERMS: Final[Terms] = (
    (1.0, (0, 1, 2)),
    (1.0, (3, 4)),
    (-1.0, (5,)),
)

#: Downstream task: shares the third-order term, adds its own.
DOWNSTREAM_TERMS: Final[Terms] = (
    (1.0, (0, 1, 2)),
    (-0.5, (6,)),
    (0.4, (3, 7)),
)


def task_score(x: NDArray[np.float64], terms: Terms) -> NDArray[np.float64]:
    """Score of a task: ``sum of c * prod(x[:, vars])`` over its terms.

    Parameters
    ----------
    x : numpy.ndarray
        Inputs, shape ``(m, n)``.
    terms : tuple of (float, tuple of int)
        Coefficients and the variables of each product.

    Returns
    -------
    numpy.ndarray
        Shape ``(m,)``.
    """
    score = np.zeros(x.shape[0])
    for coef, variables in terms:
        score += coef * np.prod(x[:, list(variables)], axis=1)
    return score


def make_task(
    terms: Terms,
    n_samples: int,
    rng: np.random.Generator,
    *,
    n_variables: int = 8,
    noise: float = 0.1,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Draw a labelled sample: ``x ~ N(0, I)``, ``y = 1[score(x) + noise * N(0, 1) > 0]``.

    Parameters
    ----------
    terms : tuple
        The task, see :func:`task_score`.
    n_samples : int
        Number of examples.
    rng : numpy.random.Generator
        Source of randomness.
    n_variables : int, default 8
        Input dimension.
    noise : float, default 0.1
        Standard deviation of the label noise added to the score.

    Returns
    -------
    x, y : numpy.ndarray
        Inputs ``(n_samples, n_variables)`` and labels in {0, 1}.
    """
    x = rng.standard_normal((n_samples, n_variables))
    y = (task_score(x, terms) + noise * rng.standard_normal(n_samples) > 0).astype(np.int64)
    return x, y


@dataclass(frozen=True, eq=False)
class MLP:
    """Two-layer network ``logits = tanh(x w1 + b1) w2 + b2``.

    Attributes
    ----------
    w1, b1 : numpy.ndarray
        First layer, shapes ``(d, h)`` and ``(h,)``.
    w2, b2 : numpy.ndarray
        Readout, shapes ``(h, c)`` and ``(c,)``.
    """

    w1: NDArray[np.float64]
    b1: NDArray[np.float64]
    w2: NDArray[np.float64]
    b2: NDArray[np.float64]

    def hidden(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Hidden activations, shape ``(m, h)``.

        Parameters
        ----------
        x : numpy.ndarray
            Inputs, shape ``(m, d)``.

        Returns
        -------
        numpy.ndarray
            ``tanh(x w1 + b1)``.
        """
        return np.tanh(x @ self.w1 + self.b1)

    def __call__(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Logits, shape ``(m, c)``.

        Parameters
        ----------
        x : numpy.ndarray
            Inputs, shape ``(m, d)``.

        Returns
        -------
        numpy.ndarray
            Class logits.
        """
        return np.asarray(self.hidden(x) @ self.w2 + self.b2, dtype=np.float64)

    def accuracy(self, x: NDArray[np.float64], y: NDArray[np.int64]) -> float:
        """Share of examples whose largest logit is the label.

        Parameters
        ----------
        x : numpy.ndarray
            Inputs.
        y : numpy.ndarray
            Labels.

        Returns
        -------
        float
            Accuracy in [0, 1].
        """
        return float(np.mean(np.argmax(self(x), axis=1) == y))


def init_mlp(
    n_in: int, n_hidden: int, n_out: int, rng: np.random.Generator, *, scale: float = 1.0
) -> MLP:
    """Random network: weights ``N(0, scale**2 / fan_in)``, zero biases.

    Parameters
    ----------
    n_in, n_hidden, n_out : int
        Layer sizes.
    rng : numpy.random.Generator
        Source of randomness.
    scale : float, default 1.0
        Multiplier of the weights' standard deviation.

    Returns
    -------
    MLP
        The network.
    """
    return MLP(
        w1=rng.standard_normal((n_in, n_hidden)) * scale / np.sqrt(n_in),
        b1=np.zeros(n_hidden),
        w2=rng.standard_normal((n_hidden, n_out)) * scale / np.sqrt(n_hidden),
        b2=np.zeros(n_out),
    )


def train_mlp(
    net: MLP,
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    *,
    steps: int,
    lr: float,
    weight_decay: float = 0.0,
    train_body: bool = True,
    batch_size: int | None = None,
    rng: np.random.Generator | None = None,
) -> MLP:
    """Adam on the mean softmax cross-entropy (plus ``weight_decay * |w|^2 / 2``).

    Parameters
    ----------
    net : MLP
        Starting weights (not modified).
    x, y : numpy.ndarray
        Training inputs ``(m, d)`` and labels ``(m,)``.
    steps : int
        Number of Adam steps.
    lr : float
        Learning rate.
    weight_decay : float, default 0.0
        L2 penalty on ``w1`` and ``w2``.
    train_body : bool, default True
        False trains only the readout (a linear probe).
    batch_size : int, optional
        Examples per step, drawn with replacement; None = full batch.
    rng : numpy.random.Generator, optional
        Draws the minibatches; required with ``batch_size``.

    Returns
    -------
    MLP
        The trained network.
    """
    params = [net.w1.copy(), net.b1.copy(), net.w2.copy(), net.b2.copy()]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    beta1, beta2, tiny = 0.9, 0.999, 1e-8
    onehot_all = np.eye(params[3].size)[y]
    h_all = np.tanh(x @ params[0] + params[1]) if not train_body else None
    if batch_size is not None and rng is None:
        raise InputError("train_mlp: batch_size needs rng")
    for step in range(1, steps + 1):
        w1, b1, w2, b2 = params
        if batch_size is not None and rng is not None and batch_size < x.shape[0]:
            idx = rng.integers(0, x.shape[0], size=batch_size)
            xb, onehot = x[idx], onehot_all[idx]
            hb = h_all[idx] if h_all is not None else None
        else:
            xb, onehot, hb = x, onehot_all, h_all
        m = xb.shape[0]
        h = hb if hb is not None else np.tanh(xb @ w1 + b1)
        z = h @ w2 + b2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        dz = (p - onehot) / m
        grads = [np.zeros_like(w1), np.zeros_like(b1), h.T @ dz + weight_decay * w2, dz.sum(0)]
        if train_body:
            dh = (dz @ w2.T) * (1.0 - h**2)
            grads[0] = xb.T @ dh + weight_decay * w1
            grads[1] = dh.sum(axis=0)
        for i, g in enumerate(grads):
            if not train_body and i < 2:
                continue
            first[i] = beta1 * first[i] + (1 - beta1) * g
            second[i] = beta2 * second[i] + (1 - beta2) * g**2
            hat1 = first[i] / (1 - beta1**step)
            hat2 = second[i] / (1 - beta2**step)
            params[i] = params[i] - lr * hat1 / (np.sqrt(hat2) + tiny)
    return MLP(*params)


@dataclass(frozen=True)
class ExampleConfig:
    """Settings of the worked example (defaults run in about a second).

    Attributes
    ----------
    n_variables : int
        Input variables.
    n_hidden : int
        Hidden units.
    n_pretrain, n_downstream, n_test : int
        Examples of the pretraining task, downstream training set and downstream test set.
    pretrain_steps, probe_steps, finetune_steps, scratch_steps : int
        Adam steps of each stage.
    pretrain_lr, probe_lr, finetune_lr, scratch_lr : float
        Learning rates.
    weight_decay : float
        L2 penalty during (pre)training, fine-tuning and training from scratch.
    batch_size : int
        Minibatch size of pretraining (the downstream stages use full batches).
    n_inputs : int
        Held-out downstream inputs whose interactions are computed.
    tau : float
        Salience threshold.
    noise : float
        Label noise of both tasks.
    pretrain_terms, downstream_terms : Terms
        The two tasks, see :func:`task_score`.
    """

    n_variables: int = 8
    n_hidden: int = 32
    n_pretrain: int = 8000
    n_downstream: int = 100
    n_test: int = 4000
    pretrain_steps: int = 1500
    probe_steps: int = 300
    finetune_steps: int = 100
    scratch_steps: int = 1000
    pretrain_lr: float = 0.01
    probe_lr: float = 0.05
    finetune_lr: float = 0.003
    scratch_lr: float = 0.01
    weight_decay: float = 1e-3
    batch_size: int = 256
    n_inputs: int = 16
    tau: float = 0.1
    noise: float = 0.1
    pretrain_terms: Terms = PRETRAIN_TERMS
    downstream_terms: Terms = DOWNSTREAM_TERMS


@dataclass(frozen=True, eq=False, kw_only=True)
class KnowledgeExample(Record):
    """Outcome of :func:`run_example`.

    Attributes
    ----------
    seed : int
        Seed of the run.
    config : ExampleConfig
        Settings.
    models : dict of str to MLP
        The pretrained body with its probe (``pretrained``), ``fine_tuned`` and ``scratch``.
    accuracy : pandas.DataFrame
        Columns ``role`` (str), ``task`` (str: pretraining or downstream), ``accuracy`` (float,
        on a fresh test sample of that task). One pretraining row (the pretrained network with
        its own pretraining head) and one downstream row per model.
    comparison : KnowledgeComparison
        Interactions of the three models on held-out downstream inputs, compared.
    """

    seed: int
    config: ExampleConfig = field(metadata=NOT_RECORDED)
    models: dict[str, MLP] = field(metadata=NOT_RECORDED)
    accuracy: pd.DataFrame = field(metadata=NOT_RECORDED)
    comparison: KnowledgeComparison = field(metadata=NOT_RECORDED)

    html_title: ClassVar[str | None] = "Worked example"

    def to_record(self) -> dict[str, Any]:
        """JSON-safe row: seed, downstream accuracies and the comparison's record.

        Returns
        -------
        dict
            ``seed``, ``accuracy_pretrained``, ``accuracy_fine_tuned``, ``accuracy_scratch``
            (downstream test accuracies) and the keys of
            :meth:`KnowledgeComparison.to_record`.
        """
        down = self.accuracy[self.accuracy["task"] == "downstream"]
        rec: dict[str, Any] = super().to_record()
        for role, acc in zip(down["role"], down["accuracy"].to_numpy(float), strict=True):
            rec[f"accuracy_{role}"] = float(acc)
        rec.update(self.comparison.to_record())
        return rec

    def describe(self) -> str:
        """One line: the seed.

        Returns
        -------
        str
            E.g. ``seed 0``.
        """
        return f"seed {self.seed}"

    def summary(self) -> pd.DataFrame:
        """Test accuracy of every model on its task.

        Returns
        -------
        pandas.DataFrame
            The ``accuracy`` table: ``role``, ``task``, ``accuracy``.
        """
        return self.accuracy

    def _repr_html_(self) -> str:
        return super()._repr_html_() + self.comparison._repr_html_()


def run_example(
    seed: int = 0,
    config: ExampleConfig | None = None,
    *,
    rng: np.random.Generator | None = None,
) -> KnowledgeExample:
    """Pretrain, probe, fine-tune and train from scratch; compare the three models' interactions.

    Parameters
    ----------
    seed : int, default 0
        Seed of every draw (data, initializations).
    config : ExampleConfig, optional
        Settings; defaults to :class:`ExampleConfig()`.
    rng : numpy.random.Generator, optional
        Generator of every draw; wins over ``seed`` when given.

    Returns
    -------
    KnowledgeExample
        Models, accuracies and the :class:`KnowledgeComparison`.
    """
    cfg = config if config is not None else ExampleConfig()
    rng = make_rng(seed, rng)
    d = cfg.n_variables
    pre, down = cfg.pretrain_terms, cfg.downstream_terms
    x_pre, y_pre = make_task(pre, cfg.n_pretrain, rng, n_variables=d, noise=cfg.noise)
    x_down, y_down = make_task(down, cfg.n_downstream, rng, n_variables=d, noise=cfg.noise)
    x_pre_test, y_pre_test = make_task(pre, cfg.n_test, rng, n_variables=d, noise=cfg.noise)
    x_test, y_test = make_task(down, cfg.n_test, rng, n_variables=d, noise=cfg.noise)

    base = train_mlp(
        init_mlp(d, cfg.n_hidden, 2, rng),
        x_pre,
        y_pre,
        steps=cfg.pretrain_steps,
        lr=cfg.pretrain_lr,
        weight_decay=cfg.weight_decay,
        batch_size=cfg.batch_size,
        rng=rng,
    )
    head = init_mlp(d, cfg.n_hidden, 2, rng)
    probed = train_mlp(
        replace(base, w2=head.w2, b2=head.b2),
        x_down,
        y_down,
        steps=cfg.probe_steps,
        lr=cfg.probe_lr,
        train_body=False,
    )
    fine = train_mlp(
        probed,
        x_down,
        y_down,
        steps=cfg.finetune_steps,
        lr=cfg.finetune_lr,
        weight_decay=cfg.weight_decay,
    )
    scratch = train_mlp(
        init_mlp(d, cfg.n_hidden, 2, rng),
        x_down,
        y_down,
        steps=cfg.scratch_steps,
        lr=cfg.scratch_lr,
        weight_decay=cfg.weight_decay,
    )
    models = {"pretrained": probed, "fine_tuned": fine, "scratch": scratch}
    rows = [("pretrained", "pretraining", base.accuracy(x_pre_test, y_pre_test))]
    rows += [(role, "downstream", net.accuracy(x_test, y_test)) for role, net in models.items()]
    accuracy = pd.DataFrame(rows, columns=["role", "task", "accuracy"])

    held_x = x_test[: cfg.n_inputs]
    held_y = y_test[: cfg.n_inputs]
    inter = [
        model_interactions(
            net, held_x, targets=held_y, output="logits", baseline="mean", background=x_down
        )
        for net in models.values()
    ]
    comparison = compare_knowledge(
        *inter,
        tau=cfg.tau,
        task="downstream",
        comparison=f"example_seed{seed}",
    )
    return KnowledgeExample(
        seed=seed, config=cfg, models=models, accuracy=accuracy, comparison=comparison
    )


def example_sweep(seeds: Sequence[int], config: ExampleConfig | None = None) -> pd.DataFrame:
    """Run the example for several seeds: one row of :meth:`KnowledgeExample.to_record` each.

    Parameters
    ----------
    seeds : sequence of int
        Seeds to run.
    config : ExampleConfig, optional
        Settings shared by all runs.

    Returns
    -------
    pandas.DataFrame
        One row per seed; the columns are the keys of :meth:`KnowledgeExample.to_record`:
        ``seed``, ``accuracy_pretrained``, ``accuracy_fine_tuned``, ``accuracy_scratch``, the
        settings of the comparison, and for each knowledge set ``X`` and scope ``C``
        (input_mean, pooled) ``X_n_interactions_C``, ``X_share_of_p_C``, ``X_share_of_f_C``,
        ``X_share_of_r_C``.
    """
    return pd.DataFrame([run_example(int(s), config).to_record() for s in seeds])
