"""Metric names: which direction is better, what range a score has, and a registry to extend.

Every metric a result table can carry has a :class:`MetricInfo`: its ``direction`` (``"higher"``
or ``"lower"`` is better, or ``"none"`` for a score that is neither, such as a bias percentage
whose ideal lies in the middle) and the ``low`` and ``high`` ends of its range. The registry
(:data:`METRICS`) holds the metrics of the published tables; :func:`register_metric` adds one (and
``transferscope ingest --metric NAME=DIRECTION[:LOW:HIGH]`` records one in a store, where
``fit``, ``rank`` and ``report`` read it). :func:`metric_info` answers for any name: a registered
metric, else a name that reads as a loss, perplexity or error (lower is better), else an unknown
metric (assumed higher is better, range unknown, and said so by ``known = False``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from transferscope.errors import InputError
from transferscope.records import Record

#: Default metric name when a table names none (an accuracy, stored as a fraction).
DEFAULT_METRIC: Final[str] = "accuracy"

#: Metrics known to be accuracy-type: higher is better and the score is a fraction in [0, 1]
#: (the ingest checks their range and converts them from percent).
ACCURACY_METRICS: Final[frozenset[str]] = frozenset(
    {
        "accuracy",
        "acc",
        "acc_norm",
        "acc1",
        "acc5",
        "top1",
        "top5",
        "lp_acc1",
        "lp_acc5",
        "mean_per_class_recall",
        "balanced_accuracy",
        "exact_match",
        "em",
        "f1",
        "auc",
        "recall",
        "precision",
        "mcc",
        # the simulator's score: 1 - normalized generalization error, clipped to [0, 1]
        "one_minus_nge",
    }
)

_LOWER_IS_BETTER = re.compile(
    r"(^|_)(loss|ppl|perplexity|err|error|bpb|bits_per_byte|nll|word_perplexity|"
    r"byte_perplexity|mse|rmse|mae)($|_)"
)

Direction = Literal["higher", "lower"]
#: A metric's direction: which end is better, or ``"none"`` (neither end is better).
MetricDirection = Literal["higher", "lower", "none"]
DIRECTIONS: Final[tuple[str, ...]] = ("higher", "lower", "none")


@dataclass(frozen=True, kw_only=True)
class MetricInfo(Record):
    """What a metric's scores mean: which direction is better and what range they have.

    Parameters
    ----------
    name : str
        Metric name as stored (snake_case).
    direction : {"higher", "lower", "none"}
        Which scores are better; ``"none"`` for a score with no better end (e.g. crows_pairs'
        ``pct_stereotype``, whose ideal is 0.5).
    low, high : float
        Range of the scores (``-inf`` / ``inf`` when unbounded; NaN when unknown).
    description : str
        One line on what the metric is.
    known : bool
        False for a name that is neither registered nor read as a loss: its direction is assumed.
    """

    name: str
    direction: MetricDirection
    low: float = math.nan
    high: float = math.nan
    description: str = ""
    known: bool = field(default=True)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"a metric needs a name, got {self.name!r}")
        if self.direction not in DIRECTIONS:
            raise InputError(
                f"metric {self.name!r}: direction must be one of {DIRECTIONS}, "
                f"got {self.direction!r}"
            )
        for end in ("low", "high"):
            value = getattr(self, end)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise InputError(f"metric {self.name!r}: {end} must be a number, got {value!r}")
            object.__setattr__(self, end, float(value))
        if self.low >= self.high:  # False when either is NaN
            raise InputError(
                f"metric {self.name!r}: low must be below high, got [{self.low:g}, {self.high:g}]"
            )

    @property
    def is_fraction(self) -> bool:
        """Whether scores lie in [0, 1] (an accuracy, an error rate, a share)."""
        return self.low == 0.0 and self.high == 1.0

    def describe(self) -> str:
        """One line: name, direction and range.

        Returns
        -------
        str
            E.g. ``top1: higher is better, in [0, 1]``.
        """
        better = {"higher": "higher is better", "lower": "lower is better"}.get(
            self.direction, "neither end is better"
        )
        span = (
            f"in [{self.low:g}, {self.high:g}]"
            if not (math.isnan(self.low) or math.isnan(self.high))
            else "range unknown"
        )
        known = "" if self.known else " (not registered; assumed)"
        return f"{self.name}: {better}, {span}{known}"


_INF = math.inf


def _builtin() -> dict[str, MetricInfo]:
    out: dict[str, MetricInfo] = {}

    def add(
        names: Iterable[str], direction: MetricDirection, low: float, high: float, text: str
    ) -> None:
        for n in names:
            out[n] = MetricInfo(name=n, direction=direction, low=low, high=high, description=text)

    add(
        sorted(ACCURACY_METRICS - {"mcc"}),
        "higher",
        0.0,
        1.0,
        "accuracy-type score (a fraction)",
    )
    add(["mcc"], "higher", -1.0, 1.0, "Matthews correlation coefficient")
    add(
        ["error", "err", "top1_err", "top5_err", "error_rate", "wer", "cer"],
        "lower",
        0.0,
        1.0,
        "error rate (a fraction)",
    )
    add(
        ["pct_stereotype"],
        "none",
        0.0,
        1.0,
        "share of sentence pairs where the stereotype is preferred (crows_pairs; ideal 0.5)",
    )
    add(
        ["likelihood_difference"],
        "lower",
        0.0,
        _INF,
        "mean absolute log-likelihood difference between sentence pairs (crows_pairs)",
    )
    add(
        ["ppl", "perplexity", "word_perplexity", "byte_perplexity", "token_perplexity"],
        "lower",
        1.0,
        _INF,
        "perplexity",
    )
    add(["bits_per_byte", "bpb", "nll", "loss"], "lower", 0.0, _INF, "a loss (bits or nats)")
    add(["mse", "rmse", "mae"], "lower", 0.0, _INF, "an error of a regression")
    return out


#: The registry: metric name to :class:`MetricInfo` (the published tables' metrics and more).
METRICS: dict[str, MetricInfo] = _builtin()


def register_metric(
    name: str,
    direction: MetricDirection,
    *,
    low: float = math.nan,
    high: float = math.nan,
    description: str = "",
    replace: bool = False,
) -> MetricInfo:
    """Register a metric (in this process), or check that it is registered the same way.

    Parameters
    ----------
    name : str
        Metric name as stored (snake_case, as the ingest normalizes it).
    direction : {"higher", "lower", "none"}
        Which scores are better.
    low, high : float
        Range of the scores (NaN: unknown; ``-inf`` / ``inf``: unbounded).
    description : str
        One line on the metric.
    replace : bool
        Replace a metric registered differently under the same name (a built-in one included).

    Returns
    -------
    MetricInfo
        The registered metric.

    Raises
    ------
    InputError
        For a bad direction or range, or a name registered differently and ``replace`` false.
    """
    info = MetricInfo(name=name, direction=direction, low=low, high=high, description=description)
    held = METRICS.get(name)
    if held is not None and not replace and not same_metric(held, info):
        raise InputError(
            f"metric {name!r} is already registered ({held.describe()}); pass replace=True "
            "to replace it"
        )
    METRICS[name] = info
    return info


def same_metric(a: MetricInfo, b: MetricInfo) -> bool:
    """Whether two definitions agree on direction and range (descriptions may differ).

    Parameters
    ----------
    a, b : MetricInfo
        Two definitions.

    Returns
    -------
    bool
        True when name, direction, low and high agree (NaN equals NaN).
    """

    def eq(u: float, v: float) -> bool:
        return (math.isnan(u) and math.isnan(v)) or u == v

    return (
        a.name == b.name and a.direction == b.direction and eq(a.low, b.low) and eq(a.high, b.high)
    )


def parse_metric(text: str) -> MetricInfo:
    """Read a metric definition written ``NAME=DIRECTION[:LOW:HIGH]`` (the ingest option).

    Parameters
    ----------
    text : str
        E.g. ``"toxicity=lower:0:1"``, ``"bleu=higher:0:100"``, ``"pct_bias=none"``.

    Returns
    -------
    MetricInfo
        The definition (not registered).

    Raises
    ------
    InputError
        When the text does not have that form.
    """
    name, sep, rest = text.partition("=")
    parts = rest.split(":")
    if not sep or not name.strip() or len(parts) not in (1, 3):
        raise InputError(
            f"--metric {text!r}: expected NAME=DIRECTION or NAME=DIRECTION:LOW:HIGH "
            "(e.g. toxicity=lower:0:1)"
        )
    from transferscope.schema.names import snake_case

    bounds = [math.nan, math.nan]
    if len(parts) == 3:
        try:
            bounds = [float(parts[1]), float(parts[2])]
        except ValueError:
            raise InputError(f"--metric {text!r}: LOW and HIGH must be numbers") from None
    return MetricInfo(
        name=snake_case(name.strip()),
        direction=parts[0].strip().lower(),  # type: ignore[arg-type]
        low=bounds[0],
        high=bounds[1],
    )


def metric_info(metric: str | None, extra: Mapping[str, MetricInfo] | None = None) -> MetricInfo:
    """Say what a metric's scores mean.

    Parameters
    ----------
    metric : str or None
        Metric name (snake_case). ``None`` is the default metric, an accuracy.
    extra : mapping, optional
        Definitions that take precedence over the registry (e.g. those recorded in a store).

    Returns
    -------
    MetricInfo
        The definition in ``extra`` or :data:`METRICS`; else, for a name that reads as a loss,
        perplexity or error, ``direction="lower"`` with range ``[0, inf)``; else an unknown
        metric: ``direction="higher"``, range unknown, ``known=False``.
    """
    name = DEFAULT_METRIC if metric is None else str(metric)
    if extra and name in extra:
        return extra[name]
    if name in METRICS:
        return METRICS[name]
    if _LOWER_IS_BETTER.search(name.lower()):
        return MetricInfo(
            name=name, direction="lower", low=0.0, high=_INF, description="read as a loss"
        )
    return MetricInfo(name=name, direction="higher", known=False)


def is_accuracy_metric(metric: str | None) -> bool:
    """Whether scores of ``metric`` are accuracy-type fractions that must lie in [0, 1].

    Parameters
    ----------
    metric : str or None
        Metric name as stored (snake_case). ``None`` means the default metric, an accuracy.

    Returns
    -------
    bool
        True for the accuracy-type metrics in :data:`ACCURACY_METRICS`, or for ``None``.
    """
    return metric is None or metric in ACCURACY_METRICS


def metric_direction(metric: str | None) -> Direction:
    """Say whether a larger score of ``metric`` is better.

    Parameters
    ----------
    metric : str or None
        Metric name (snake_case), e.g. ``"top1"``, ``"loss_c4_val"``, ``"ppl"``.

    Returns
    -------
    {"higher", "lower"}
        ``"lower"`` for losses, perplexities and error rates (registered or read from the
        name), ``"higher"`` otherwise (a metric with no better end included; see
        :func:`metric_info` for the full answer).
    """
    return "lower" if metric_info(metric).direction == "lower" else "higher"
