"""The canonical run: its columns and types, the metric registry, names, and validation.

The ground floor of the package: every other layer agrees on the names defined here, and the store
only ever holds rows that :func:`validate_runs` has brought into the canonical form.
"""

from transferscope.schema.columns import (
    INPUT_COLUMNS,
    KEY_COLUMNS,
    KNOWLEDGE_COLUMNS,
    REQUIRED_COLUMNS,
    RUN_COLUMNS,
    RUN_DTYPES,
    SourceInfo,
    scored_on_upstream_task,
)
from transferscope.schema.metrics import (
    ACCURACY_METRICS,
    DEFAULT_METRIC,
    METRICS,
    Direction,
    MetricDirection,
    MetricInfo,
    is_accuracy_metric,
    metric_direction,
    metric_info,
    parse_metric,
    register_metric,
    same_metric,
)
from transferscope.schema.names import (
    ALIAS_KINDS,
    NAME_COLUMNS,
    AliasTable,
    default_aliases,
    match_names,
    name_key,
    resolve_aliases,
    snake_case,
)
from transferscope.schema.validate import ValidatedRuns, canonical_json, validate_runs

__all__ = [
    "ACCURACY_METRICS",
    "ALIAS_KINDS",
    "DEFAULT_METRIC",
    "INPUT_COLUMNS",
    "KEY_COLUMNS",
    "KNOWLEDGE_COLUMNS",
    "METRICS",
    "NAME_COLUMNS",
    "REQUIRED_COLUMNS",
    "RUN_COLUMNS",
    "RUN_DTYPES",
    "AliasTable",
    "Direction",
    "MetricDirection",
    "MetricInfo",
    "SourceInfo",
    "ValidatedRuns",
    "canonical_json",
    "default_aliases",
    "is_accuracy_metric",
    "match_names",
    "metric_direction",
    "metric_info",
    "name_key",
    "parse_metric",
    "register_metric",
    "resolve_aliases",
    "same_metric",
    "scored_on_upstream_task",
    "snake_case",
    "validate_runs",
]
