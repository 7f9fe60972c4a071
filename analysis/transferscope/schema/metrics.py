"""Metric names: which are accuracy-type fractions, and whether higher or lower is better."""

from __future__ import annotations

import re
from typing import Final, Literal

#: Default metric name when a table names none (an accuracy, stored as a fraction).
DEFAULT_METRIC: Final[str] = "accuracy"

#: Metrics known to be accuracy-type: higher is better and the score is a fraction in [0, 1].
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
        ``"lower"`` for losses, perplexities and error rates, ``"higher"`` otherwise.
    """
    if metric is None:
        return "higher"
    return "lower" if _LOWER_IS_BETTER.search(metric.lower()) else "higher"
