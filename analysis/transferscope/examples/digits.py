"""The worked example on real data and real networks: a ladder of MLPs on scikit-learn's digits.

Offline and CPU-only: the 1,797 handwritten digits of 8 x 8 pixels ship with scikit-learn
(``sklearn.datasets.load_digits``, the UCI optical-digits test set; no download).

- **Surrogate (upstream) task**: classify digits 0-4. Small ReLU networks 64 -> 64 -> 16 -> 5
  (:mod:`transferscope.examples.mlp`) are pretrained with Adam (minibatches of 64, images
  shifted by up to one pixel) for increasing numbers of steps: the checkpoints Ap1..ApN. The
  checkpoints of one seed are points of one training run (the same initialization and
  minibatches, stopped earlier or later). Upstream score: accuracy on 200 held-out images of
  digits 0-4.
- **Target (downstream) task**: classify digits 5-9 from ``shots`` labelled images (25 by
  default, five per class, drawn per seed from a pool; every method and checkpoint of a seed
  sees the same images), scored on a fixed test set of 400 other images of digits 5-9.
- **Methods** (:data:`METHODS`): ``linear_probe`` (multinomial logistic regression, scikit-learn's
  L-BFGS, on the frozen 16 features of the last hidden layer, as CLIP's linear probes are
  trained); ``top_layer`` (the probe's head, then Adam on the last hidden layer and the head,
  the first layer frozen); ``full_ft`` (the probe's head, then Adam on every layer: "LP-FT").
  The scratch rows run the same code on a network that was not pretrained (a fresh He
  initialization): a probe of random features, top-layer training over a random first layer,
  and ``full_ft`` from scratch, which is training from scratch.
- **Knowledge** (for ``full_ft`` and ``top_layer`` on pretrained checkpoints): Harsanyi
  interactions over the 16 patches of 2 x 2 pixels (masked patches set to 0, blank paper) of
  the log-odds of the true class, on the first ``interaction_images`` test images, for the
  pretrained model P (the checkpoint with its linear probe, which speaks about digits 5-9), the
  fine-tuned model F and the scratch model R (``full_ft`` from scratch with the same seed: the
  model of the scratch row). Their shares (:mod:`transferscope.knowledge.compare`) and the
  universal-matching errors (:mod:`transferscope.knowledge.matching`) are kept in the runs'
  hparams as ``knowledge_*`` (:data:`KNOWLEDGE_FIELDS`).

Why numpy networks and scikit-learn: see :mod:`transferscope.examples.mlp`; scikit-learn gives
the data and the linear probe.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from transferscope.errors import InputError
from transferscope.examples.mlp import MLP, init_mlp, train_mlp
from transferscope.knowledge import DEFAULT_TAU, compare_knowledge, model_interactions
from transferscope.knowledge.matching import comparison_matching

#: Fine-tuning methods of the example.
METHODS: Final[tuple[str, ...]] = ("full_ft", "linear_probe", "top_layer")
#: Methods whose fine-tuned model is compared with the pretrained and scratch ones.
KNOWLEDGE_METHODS: Final[tuple[str, ...]] = ("full_ft", "top_layer")
#: Name of the ladder (the source in a store).
LADDER_NAME: Final[str] = "digits-mlp"
UPSTREAM_TASK: Final[str] = "digits_0_4"
DOWNSTREAM_TASK: Final[str] = "digits_5_9"
#: The measurements kept in hparams (prefixed ``knowledge_``) and what they are.
KNOWLEDGE_FIELDS: Final[dict[str, str]] = {
    "preserved_share_of_p": "share of P's salient strength still salient in F (preserved)",
    "discarded_share_of_p": "share of P's salient strength no longer salient in F (discarded)",
    "preserved_share_of_f": "share of F's salient strength that was salient in P (preserved)",
    "newly_learned_share_of_f": "share of F's salient strength not salient in P (newly learned)",
    "exclusive_share_of_f": "share of F's salient strength preserved and not salient in R",
    "shared_with_scratch_share_of_p": "share of P's salient strength also salient in R",
    "n_salient_p": "salient interactions of P (mean per image)",
    "n_salient_f": "salient interactions of F (mean per image)",
    "n_salient_r": "salient interactions of R (mean per image)",
    "unexplained_p": "universal-matching error of P's salient set over all masked inputs",
    "unexplained_f": "universal-matching error of F's salient set over all masked inputs",
    "unexplained_r": "universal-matching error of R's salient set over all masked inputs",
}


@dataclass(frozen=True)
class DigitsConfig:
    """Settings of the digits ladder (the defaults run in about a minute on two cores).

    Attributes
    ----------
    budgets : tuple of int
        Pretraining steps of the checkpoints Ap1..ApN.
    hidden : tuple of int
        Hidden widths.
    pretrain_lr, pretrain_batch : float, int
        Adam learning rate and minibatch size of pretraining.
    shift : bool
        Shift pretraining images by up to one pixel at random.
    shots : int
        Labelled downstream training images per seed (a multiple of 5).
    finetune_steps, finetune_lr : int, float
        Full-batch Adam steps and learning rate of ``top_layer`` and ``full_ft``.
    probe_c : float
        Inverse L2 strength of the logistic-regression probe.
    weight_decay : float
        L2 penalty of fine-tuning.
    n_test, n_upstream_test : int
        Fixed downstream and upstream test images.
    measure_knowledge : bool
        Measure the knowledge shares.
    interaction_images : int
        Test images whose interactions are computed.
    tau : float
        Salience threshold.
    data_seed : int
        Seed of the fixed splits of the data.
    """

    budgets: tuple[int, ...] = (20, 40, 80, 160, 320, 640)
    hidden: tuple[int, ...] = (64, 16)
    pretrain_lr: float = 1e-3
    pretrain_batch: int = 64
    shift: bool = True
    shots: int = 25
    finetune_steps: int = 200
    finetune_lr: float = 1e-3
    probe_c: float = 1.0
    weight_decay: float = 1e-4
    n_test: int = 400
    n_upstream_test: int = 200
    measure_knowledge: bool = True
    interaction_images: int = 10
    tau: float = DEFAULT_TAU
    data_seed: int = 0

    def checkpoints(self) -> dict[str, int]:
        """Checkpoint names and budgets: ``{"Ap1": budgets[0], ...}``.

        Returns
        -------
        dict of str to int
            Names in increasing budget.
        """
        return {f"Ap{i + 1}": int(b) for i, b in enumerate(self.budgets)}

    def check(self) -> None:
        """Raise InputError for unusable settings."""
        if not self.budgets or any(int(b) < 1 for b in self.budgets):
            raise InputError("budgets must be positive step counts")
        if list(self.budgets) != sorted(set(self.budgets)):
            raise InputError("budgets must increase")
        if self.shots < 5 or self.shots % 5:
            raise InputError(f"shots must be a positive multiple of 5, got {self.shots}")
        if not 1 <= self.interaction_images <= self.n_test:
            raise InputError("interaction_images must lie in [1, n_test]")


@dataclass(frozen=True, eq=False)
class DigitsData:
    """The fixed splits of the digits (pixels scaled to [0, 1], images flattened to 64)."""

    x_up: NDArray[np.float64]
    y_up: NDArray[np.int64]
    x_up_test: NDArray[np.float64]
    y_up_test: NDArray[np.int64]
    x_pool: NDArray[np.float64]
    y_pool: NDArray[np.int64]
    x_test: NDArray[np.float64]
    y_test: NDArray[np.int64]


@functools.lru_cache(maxsize=4)
def digits_data(data_seed: int = 0, n_test: int = 400, n_upstream_test: int = 200) -> DigitsData:
    """Load the digits and split them (cached per process).

    Parameters
    ----------
    data_seed : int, default 0
        Seed of the splits.
    n_test, n_upstream_test : int
        Sizes of the fixed downstream and upstream test sets.

    Returns
    -------
    DigitsData
        Upstream (digits 0-4, labels 0-4) training and test images; the downstream (digits 5-9,
        labels 0-4 for 5-9) pool the labelled shots are drawn from, and the test set.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    rng = np.random.default_rng(data_seed)
    up = np.flatnonzero(y < 5)
    down = np.flatnonzero(y >= 5)
    up = up[rng.permutation(up.size)]
    down = down[rng.permutation(down.size)]
    if n_test >= down.size - 25 or n_upstream_test >= up.size - 100:
        raise InputError("the test sets leave too few training images")
    return DigitsData(
        x_up=x[up[n_upstream_test:]],
        y_up=y[up[n_upstream_test:]],
        x_up_test=x[up[:n_upstream_test]],
        y_up_test=y[up[:n_upstream_test]],
        x_pool=x[down[n_test:]],
        y_pool=y[down[n_test:]] - 5,
        x_test=x[down[:n_test]],
        y_test=y[down[:n_test]] - 5,
    )


def patch_groups(side: int = 8, patch: int = 2) -> NDArray[np.int64]:
    """Variable index of each pixel of a flattened ``side x side`` image: its ``patch``-square.

    Parameters
    ----------
    side : int, default 8
        Image side.
    patch : int, default 2
        Patch side.

    Returns
    -------
    numpy.ndarray
        Shape ``(side * side,)``: pixel ``(r, c)`` belongs to patch
        ``(r // patch) * (side // patch) + c // patch`` (16 patches for 8 x 8 and 2 x 2).
    """
    r, c = np.divmod(np.arange(side * side), side)
    return ((r // patch) * (side // patch) + c // patch).astype(np.int64)


def shifted(x: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
    """Shift each 8 x 8 image by -1, 0 or +1 pixel along each axis (blank borders).

    Parameters
    ----------
    x : numpy.ndarray
        Images ``(m, 64)``.
    rng : numpy.random.Generator
        Draws the shifts.

    Returns
    -------
    numpy.ndarray
        Shifted images ``(m, 64)``.
    """
    m = len(x)
    padded = np.pad(x.reshape(m, 8, 8), ((0, 0), (1, 1), (1, 1)))
    dr = rng.integers(0, 3, size=m)
    dc = rng.integers(0, 3, size=m)
    rows = dr[:, None] + np.arange(8)[None, :]
    cols = dc[:, None] + np.arange(8)[None, :]
    out = padded[np.arange(m)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(m, 64)


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A pretrained network with its budget and its upstream test accuracy."""

    net: MLP
    steps: int
    upstream_accuracy: float


def _sizes(cfg: DigitsConfig) -> list[int]:
    return [64, *cfg.hidden, 5]


@dataclass(frozen=True)
class DigitsPretrain:
    """``pretrain(checkpoint, seed)`` of the example (picklable): see the module docstring."""

    config: DigitsConfig = field(default_factory=DigitsConfig)

    def __call__(self, checkpoint: int | None, seed: int) -> Checkpoint | None:
        """Pretrain for ``checkpoint`` steps; None (scratch) gives None.

        Parameters
        ----------
        checkpoint : int or None
            Adam steps.
        seed : int
            Seed of the initialization and the minibatches.

        Returns
        -------
        Checkpoint or None
            The pretrained network.
        """
        if checkpoint is None:
            return None
        cfg = self.config
        data = digits_data(cfg.data_seed, cfg.n_test, cfg.n_upstream_test)
        rng = np.random.default_rng(seed)
        net = init_mlp(_sizes(cfg), rng)
        x = data.x_up
        n_steps = int(checkpoint)
        batches = rng.integers(0, len(x), size=(n_steps, cfg.pretrain_batch))
        images = x[batches.ravel()]
        if cfg.shift:
            images = shifted(images, rng)
        net = train_mlp(
            net,
            images,
            data.y_up[batches.ravel()],
            steps=n_steps,
            lr=cfg.pretrain_lr,
            batches=np.arange(images.shape[0]).reshape(n_steps, cfg.pretrain_batch),
        )
        return Checkpoint(net, n_steps, net.accuracy(data.x_up_test, data.y_up_test))


def _stratified(
    y: NDArray[np.int64], per_class: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    picks = [rng.choice(np.flatnonzero(y == c), size=per_class, replace=False) for c in range(5)]
    return np.sort(np.concatenate(picks))


def _probe(body: MLP, x: NDArray[np.float64], y: NDArray[np.int64], c: float) -> MLP:
    from sklearn.linear_model import LogisticRegression

    features = body.features(x)
    clf = LogisticRegression(C=c, solver="newton-cholesky", max_iter=100, tol=1e-8)
    clf.fit(features, y)
    return body.with_head(clf.coef_.T.copy(), clf.intercept_.copy())


@dataclass(frozen=True, eq=False)
class Adapted:
    """The models of one fine-tuning: the probe (P for a checkpoint) and the final network."""

    probe: MLP
    net: MLP


def adapt(cfg: DigitsConfig, model: Checkpoint | None, method: str, seed: int) -> Adapted:
    """Fine-tune a checkpoint (or a fresh network when ``model`` is None) with a method.

    Parameters
    ----------
    cfg : DigitsConfig
        Settings.
    model : Checkpoint or None
        The pretrained network; None starts from a He initialization drawn from ``seed``.
    method : {"full_ft", "linear_probe", "top_layer"}
        The method.
    seed : int
        Seed of the labelled images and of a fresh initialization.

    Returns
    -------
    Adapted
        The linear-probe model and the adapted one (the same for ``linear_probe``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; the example has {', '.join(METHODS)}")
    data = digits_data(cfg.data_seed, cfg.n_test, cfg.n_upstream_test)
    rng = np.random.default_rng(seed)
    idx = _stratified(data.y_pool, cfg.shots // 5, rng)
    x, y = data.x_pool[idx], data.y_pool[idx]
    body = model.net if model is not None else init_mlp(_sizes(cfg), rng)
    probe = _probe(body, x, y, cfg.probe_c)
    if method == "linear_probe":
        return Adapted(probe, probe)
    n_layers = len(probe.weights)
    trainable = [True] * n_layers if method == "full_ft" else [False] * (n_layers - 2) + [True] * 2
    net = train_mlp(
        probe,
        x,
        y,
        steps=cfg.finetune_steps,
        lr=cfg.finetune_lr,
        trainable=trainable,
        weight_decay=cfg.weight_decay,
    )
    return Adapted(probe, net)


def _digest(net: MLP) -> str:
    h = hashlib.sha256()
    for a in (*net.weights, *net.biases):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=64)
def _cached_interactions(key: str, net: MLP, images: int, data_key: tuple[int, int, int]) -> Any:
    data = digits_data(*data_key)
    return model_interactions(
        net,
        data.x_test[:images],
        targets=data.y_test[:images],
        output="logits",
        baseline="zero",
        groups=patch_groups(),
    )


def knowledge_interactions(cfg: DigitsConfig, net: MLP) -> NDArray[np.float64]:
    """Interactions of a network on the knowledge images (cached per process by its weights).

    Parameters
    ----------
    cfg : DigitsConfig
        Settings (``interaction_images``, the data split).
    net : MLP
        A network with five outputs (digits 5-9).

    Returns
    -------
    numpy.ndarray
        Shape ``(interaction_images, 2**16)``: the Harsanyi interactions over the 16 patches of
        the log-odds of the true class, masked patches set to 0.
    """
    data_key = (cfg.data_seed, cfg.n_test, cfg.n_upstream_test)
    return np.asarray(_cached_interactions(_digest(net), net, cfg.interaction_images, data_key))


@functools.lru_cache(maxsize=16)
def _scratch_reference(cfg: DigitsConfig, seed: int) -> MLP:
    return adapt(cfg, None, "full_ft", seed).net


def knowledge_fields(cfg: DigitsConfig, probe: MLP, fine_tuned: MLP, seed: int) -> dict[str, float]:
    """Knowledge shares and matching errors of one fine-tuning (keys of KNOWLEDGE_FIELDS).

    Parameters
    ----------
    cfg : DigitsConfig
        Settings.
    probe : MLP
        P: the checkpoint with its linear probe.
    fine_tuned : MLP
        F: the fine-tuned network.
    seed : int
        The fine-tuning seed (R is ``full_ft`` from scratch with this seed).

    Returns
    -------
    dict of str to float
        The measurements, scope ``input_mean`` (means over the knowledge images).
    """
    scratch = _scratch_reference(cfg, seed)
    comp = compare_knowledge(
        knowledge_interactions(cfg, probe),
        knowledge_interactions(cfg, fine_tuned),
        knowledge_interactions(cfg, scratch),
        tau=cfg.tau,
        task=DOWNSTREAM_TASK,
    )
    table = comp.summary()
    table = table[table["scope"] == "input_mean"].set_index("set")
    match = comparison_matching(comp)
    match = match[match["scope"] == "input_mean"].set_index("role")
    out: dict[str, Any] = {
        "preserved_share_of_p": table.loc["preserved", "share_of_p"],
        "discarded_share_of_p": table.loc["discarded", "share_of_p"],
        "preserved_share_of_f": table.loc["preserved", "share_of_f"],
        "newly_learned_share_of_f": table.loc["newly_learned", "share_of_f"],
        "exclusive_share_of_f": table.loc["exclusive", "share_of_f"],
        "shared_with_scratch_share_of_p": table.loc["shared_with_scratch", "share_of_p"],
        "n_salient_p": table.loc["salient_pretrained", "n_interactions"],
        "n_salient_f": table.loc["salient_fine_tuned", "n_interactions"],
        "n_salient_r": table.loc["salient_scratch", "n_interactions"],
        "unexplained_p": match.loc["pretrained", "unexplained_all"],
        "unexplained_f": match.loc["fine_tuned", "unexplained_all"],
        "unexplained_r": match.loc["scratch", "unexplained_all"],
    }
    return {k: float(v) for k, v in out.items()}


@dataclass(frozen=True)
class DigitsFinetune:
    """``finetune(model, method, seed)`` of the example (picklable): see the module docstring."""

    config: DigitsConfig = field(default_factory=DigitsConfig)

    def __call__(self, model: Checkpoint | None, method: str, seed: int) -> dict[str, Any]:
        """Adapt, score, and measure the knowledge kept.

        Parameters
        ----------
        model : Checkpoint or None
            From :class:`DigitsPretrain`.
        method : str
            One of :data:`METHODS`.
        seed : int
            Fine-tuning seed.

        Returns
        -------
        dict
            ``downstream_score`` (test accuracy on digits 5-9), ``upstream_score`` and
            ``pretrain_steps`` (None for scratch), ``params``, and ``knowledge_*``
            measurements where they apply.
        """
        cfg = self.config
        data = digits_data(cfg.data_seed, cfg.n_test, cfg.n_upstream_test)
        out = adapt(cfg, model, method, seed)
        scores: dict[str, Any] = {
            "downstream_score": out.net.accuracy(data.x_test, data.y_test),
            "upstream_score": None if model is None else model.upstream_accuracy,
            "pretrain_steps": None if model is None else model.steps,
            "params": out.net.n_params,
        }
        if cfg.measure_knowledge and model is not None and method in KNOWLEDGE_METHODS:
            fields = knowledge_fields(cfg, out.probe, out.net, seed)
            scores.update({f"knowledge_{k}": v for k, v in fields.items()})
            scores["knowledge_tau"] = cfg.tau
            scores["knowledge_images"] = cfg.interaction_images
        return scores


def ladder_hparams(cfg: DigitsConfig) -> dict[str, Any]:
    """Return the example's settings as recorded on every run.

    Parameters
    ----------
    cfg : DigitsConfig
        Settings.

    Returns
    -------
    dict
        Every field except the budgets (each run records its own checkpoint).
    """
    rec = asdict(cfg)
    rec.pop("budgets")
    rec["hidden"] = list(cfg.hidden)
    return rec


def digits_ladder(
    *,
    config: DigitsConfig | None = None,
    methods: Sequence[str] = METHODS,
    seeds: int | Sequence[int] = 5,
    store: Any = None,
    name: str = LADDER_NAME,
    replace: bool = False,
    seed: int = 0,
    n_jobs: int = 1,
    progress: bool = False,
) -> Any:
    """Run the digits ladder with :func:`transferscope.ladders.run_ladder`.

    Parameters
    ----------
    config : DigitsConfig, optional
        Settings; :class:`DigitsConfig()` by default.
    methods : sequence of str
        Methods among :data:`METHODS`.
    seeds : int or sequence of int, default 5
        Replicates.
    store : Store, path or None
        Where the runs go as they finish (resumable); None only returns them.
    name : str, default "digits-mlp"
        The ladder's source name.
    replace : bool, default False
        Run anew, removing a stored ladder of that name.
    seed : int, default 0
        Seed the cells' seeds are derived from.
    n_jobs : int, default 1
        Worker processes.
    progress : bool, default False
        Progress bar on stderr.

    Returns
    -------
    LadderResult
        Cells and runs (see :func:`~transferscope.ladders.run_ladder`).
    """
    from transferscope.ladders import run_ladder

    cfg = config if config is not None else DigitsConfig()
    cfg.check()
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(f"unknown method(s) {unknown}; the example has {', '.join(METHODS)}")
    return run_ladder(
        DigitsPretrain(cfg),
        DigitsFinetune(cfg),
        checkpoints=cfg.checkpoints(),
        methods=list(methods),
        seeds=seeds,
        store=store,
        name=name,
        task=DOWNSTREAM_TASK,
        upstream_task=UPSTREAM_TASK,
        shots=cfg.shots,
        architecture="mlp_" + "_".join(str(s) for s in _sizes(cfg)),
        pretrain_data="sklearn_digits_0_4",
        hparams=ladder_hparams(cfg),
        replace=replace,
        title="Digits ladder: MLPs pretrained on digits 0-4, fine-tuned on digits 5-9",
        seed=seed,
        n_jobs=n_jobs,
        progress=progress,
    )


def knowledge_descriptions() -> Mapping[str, str]:
    """Describe what each ``knowledge_*`` hparams key of the example holds.

    Returns
    -------
    mapping of str to str
        :data:`KNOWLEDGE_FIELDS`.
    """
    return KNOWLEDGE_FIELDS
