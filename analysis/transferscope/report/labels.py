"""Plain-text labels of groups, metrics and axes (escape them before HTML or Markdown)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from transferscope.report.html import _missing
from transferscope.schema import is_accuracy_metric, metric_direction

#: Readable names of the metrics of the published tables and of the simulator.
METRIC_NAMES: dict[str, str] = {
    "accuracy": "accuracy",
    "acc": "accuracy",
    "acc_norm": "length-normalized accuracy",
    "acc1": "top-1 accuracy",
    "acc5": "top-5 accuracy",
    "top1": "top-1 accuracy",
    "top5": "top-5 accuracy",
    "lp_acc1": "linear-probe top-1 accuracy",
    "exact_match": "exact match",
    "em": "exact match",
    "ppl": "perplexity",
    "word_perplexity": "word perplexity",
    "byte_perplexity": "byte perplexity",
    "bits_per_byte": "bits per byte",
    "pct_stereotype": "share of stereotyped choices",
    "likelihood_difference": "likelihood difference",
    "one_minus_nge": "1 − normalized generalization error",
    "loss": "loss",
}

#: Metrics whose score is the fraction of items answered correctly.
_FRACTION_CORRECT = frozenset(
    {"accuracy", "acc", "acc_norm", "acc1", "acc5", "top1", "top5", "lp_acc1", "lp_acc5",
     "exact_match", "em", "balanced_accuracy"}
)  # fmt: skip


def label_value(column: str, value: Any) -> str:
    """Text of one group key value: ``shots`` as ``"10-shot"``, ``"zero-shot"`` or ``"full data"``.

    Parameters
    ----------
    column : str
        Key column.
    value : Any
        Its value.

    Returns
    -------
    str
        Plain text.
    """
    if column == "shots":
        return shots_label(value)
    if _missing(value):
        return f"{column}: none"
    return str(value)


def shots_label(value: Any, *, full: str = "full data") -> str:
    """Name a number of shots: ``"full data"`` (missing), ``"zero-shot"`` (0) or ``"N-shot"``.

    Parameters
    ----------
    value : Any
        The ``shots`` value of a run (missing means the full training set).
    full : str
        Text for a missing value (the command line prints ``"full"``).

    Returns
    -------
    str
        Plain text.
    """
    if _missing(value):
        return full
    number = int(value)
    return "zero-shot" if number == 0 else f"{number}-shot"


_NUMBERS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9, "ten": 10}  # fmt: skip
_SHOT_METHOD = re.compile(r"^([a-z]+)[_-]shot$")


def _says_shots(method: Any, shots: Any) -> bool:
    """Whether a method's name already says its number of shots (``five_shot`` and 5)."""
    if _missing(method) or _missing(shots):
        return False
    found = _SHOT_METHOD.match(str(method).lower())
    return found is not None and _NUMBERS.get(found.group(1)) == int(shots)


def group_label(keys: dict[str, Any]) -> str:
    """Human label of a group, e.g. ``"cifar10 · linear_probe · 10-shot"``.

    The number of shots is left out when the method's name says it (``zero_shot`` with 0
    shots, ``five_shot`` with 5).

    Parameters
    ----------
    keys : dict
        Group columns and values.

    Returns
    -------
    str
        Plain text (escape it before use in HTML).
    """
    redundant = "shots" in keys and _says_shots(keys.get("method"), keys["shots"])
    return " · ".join(
        label_value(c, v) for c, v in keys.items() if not (c == "shots" and redundant)
    )


def metric_name(metric: Any) -> str:
    """Readable name of a metric (``"acc1"`` -> ``"top-1 accuracy"``); unknown names as stored.

    Parameters
    ----------
    metric : Any
        Metric name as stored.

    Returns
    -------
    str
        Plain text.
    """
    if _missing(metric):
        return "score"
    text = str(metric)
    return METRIC_NAMES.get(text, text)


def metric_unit(metric: Any) -> str:
    """Name the unit of a metric's scores (``"fraction correct"``, ``"0 to 1"``, ...).

    Parameters
    ----------
    metric : Any
        Metric name as stored.

    Returns
    -------
    str
        Plain text; ``"as published"`` when nothing more is known.
    """
    name = None if _missing(metric) else str(metric)
    if name is None or name in _FRACTION_CORRECT:
        return "fraction correct"
    if is_accuracy_metric(name):
        return "0 to 1"
    if metric_direction(name) == "lower":
        return "lower is better"
    return "as published"


def lower_is_better(metric: Any) -> bool:
    """Whether a smaller score of ``metric`` is better.

    Parameters
    ----------
    metric : Any
        Metric name as stored (missing: an accuracy).

    Returns
    -------
    bool
        True for losses, perplexities and error rates.
    """
    return not _missing(metric) and metric_direction(str(metric)) == "lower"


def short_axis_title(kind: str, metrics: Sequence[Any]) -> str:
    """Make a short axis title for small charts: ``"upstream top-1 accuracy"``.

    Parameters
    ----------
    kind : str
        E.g. ``"upstream"``.
    metrics : sequence
        Metric names on the axis.

    Returns
    -------
    str
        Plain text.
    """
    names = sorted({str(m) for m in metrics if not _missing(m)})
    text = f"{kind} {metric_name(names[0])}" if len(names) == 1 else f"{kind} score"
    return text + (", reversed" if len(names) == 1 and lower_is_better(names[0]) else "")


def score_axis_title(kind: str, metrics: Sequence[Any], tasks: Sequence[Any] = ()) -> str:
    """Axis title naming the metric, its task and its unit.

    Parameters
    ----------
    kind : str
        E.g. ``"Upstream"`` or ``"Downstream"``.
    metrics : sequence
        Metric names present on the axis.
    tasks : sequence
        Tasks of the metric (named when there is exactly one).

    Returns
    -------
    str
        E.g. ``"Upstream top-1 accuracy on imagenet-1k (fraction correct)"`` or
        ``"Upstream loss_c4_val (lower is better)"``; several metrics are joined by ``/`` and
        described ``"as published"``.
    """
    names = sorted({str(m) for m in metrics if not _missing(m)})
    where = sorted({str(t) for t in tasks if not _missing(t)})
    on = f" on {where[0]}" if len(where) == 1 else ""
    if len(names) == 1:
        return f"{kind} {metric_name(names[0])}{on} ({metric_unit(names[0])})"
    metric = " / ".join(names) if names else "score"
    return f"{kind} {metric}{on} (as published)"


_SEPARATORS = ("/", "-", "_")


def _prefix(task: str) -> str:
    cut = [i for i in (task.find(s) for s in _SEPARATORS) if i > 0]
    return task[: min(cut)] if cut else task


def task_families(tasks: Sequence[Any], *, min_size: int = 3) -> dict[str, str]:
    """Group task names into families by their leading word (``hendrycksTest-*``, ``vtab/*``).

    A family is the text before the first ``/``, ``-`` or ``_`` of a task name when at least
    ``min_size`` of the tasks share it, labelled by the longest prefix its tasks share
    (``hendrycksTest-anatomy`` and 56 more subjects form ``hendrycksTest-*``); every other task
    goes to ``"other tasks"``. When no family forms, when
    one family holds every task, or when there are at most ``2 min_size + 2`` tasks, every task
    is in ``"all tasks"``.

    Parameters
    ----------
    tasks : sequence
        Task names (one source's, typically).
    min_size : int
        Tasks a family needs.

    Returns
    -------
    dict of str to str
        Task name to family label.
    """
    names = sorted({str(t) for t in tasks if not _missing(t)})
    prefixes = {t: _prefix(t) for t in names}
    sizes: dict[str, int] = {}
    for p in prefixes.values():
        sizes[p] = sizes.get(p, 0) + 1
    families = {p for p, n in sizes.items() if n >= min_size}
    if len(names) <= 2 * min_size + 2 or (len(families) == 1 and len(sizes) == 1):
        return dict.fromkeys(names, "all tasks")  # a few tasks, or one family: no need to split
    rest = "other tasks" if families else "all tasks"
    labels = {}
    for p in families:
        members = [t for t in names if prefixes[t] == p]
        common = os.path.commonprefix(members)  # noqa: RUF071 (text prefixes, not paths)
        labels[p] = f"{common}*"
    return {t: labels.get(prefixes[t], rest) for t in names}
