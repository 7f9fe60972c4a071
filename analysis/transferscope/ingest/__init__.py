"""Getting runs into the store: file readers, published sources by name, and the ingest itself.

:func:`read_table` reads CSV, TSV, Parquet or JSON Lines; :func:`load_source` turns a published
table (a spec in ``sources/specs``) into canonical runs with provenance; :func:`ingest_file`,
:func:`ingest_format` (lm-evaluation-harness, Every Eval Ever, MLflow, Weights & Biases; see
:mod:`transferscope.ingest.formats`) and :func:`ingest_source` validate everything, then write
it in one transaction.
"""

from transferscope.ingest.pipeline import (
    STAGES,
    Progress,
    ingest_file,
    ingest_format,
    ingest_source,
    parse_column_map,
)
from transferscope.ingest.readers import SUPPORTED_SUFFIXES, read_table
from transferscope.ingest.sources import LoadedSource, known_sources, load_source

__all__ = [
    "STAGES",
    "SUPPORTED_SUFFIXES",
    "LoadedSource",
    "Progress",
    "ingest_file",
    "ingest_format",
    "ingest_source",
    "known_sources",
    "load_source",
    "parse_column_map",
    "read_table",
]
