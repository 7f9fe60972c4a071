"""Plain-text labels of groups and axes (escape them before they reach HTML or Markdown)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transferscope.report.html import _missing
from transferscope.schema import is_accuracy_metric, metric_direction


def label_value(column: str, value: Any) -> str:
    """Text of one group key value: ``shots`` as ``"10-shot"`` or ``"full data"``.

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
    if _missing(value):
        return "full data" if column == "shots" else f"{column}: none"
    if column == "shots":
        return f"{value}-shot"
    return str(value)


def group_label(keys: dict[str, Any]) -> str:
    """Human label of a group, e.g. ``"cifar10 · linear_probe · 10-shot"``.

    Parameters
    ----------
    keys : dict
        Group columns and values.

    Returns
    -------
    str
        Plain text (escape it before use in HTML).
    """
    return " · ".join(label_value(c, v) for c, v in keys.items())


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
        E.g. ``"Upstream top1 on imagenet-1k (fraction correct)"`` or
        ``"Upstream loss_c4_val (lower is better)"``.
    """
    names = sorted({str(m) for m in metrics if not _missing(m)})
    where = sorted({str(t) for t in tasks if not _missing(t)})
    metric = names[0] if len(names) == 1 else (" / ".join(names) if names else "score")
    on = f" on {where[0]}" if len(where) == 1 else ""
    if all(is_accuracy_metric(m) for m in names):
        unit = "fraction correct" if names else "fraction"
    elif all(metric_direction(m) == "lower" for m in names):
        unit = "lower is better"
    else:
        unit = "as published"
    return f"{kind} {metric}{on} ({unit})"
