"""The canonical run: its columns and types, metric directions, names, and validation.

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
    Direction,
    is_accuracy_metric,
    metric_direction,
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
    "NAME_COLUMNS",
    "REQUIRED_COLUMNS",
    "RUN_COLUMNS",
    "RUN_DTYPES",
    "AliasTable",
    "Direction",
    "SourceInfo",
    "ValidatedRuns",
    "canonical_json",
    "default_aliases",
    "is_accuracy_metric",
    "match_names",
    "metric_direction",
    "name_key",
    "resolve_aliases",
    "scored_on_upstream_task",
    "snake_case",
    "validate_runs",
]
