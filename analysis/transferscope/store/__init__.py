"""The store: one DuckDB file, the only place with state, and all of the package's SQL.

:func:`open_store` opens (and migrates) a store; :class:`Store` ingests validated runs and reads
them back; :mod:`~transferscope.store.fits` and :mod:`~transferscope.store.interactions` hold the
SQL of the tables that the frontier and knowledge layers keep their results in;
:mod:`~transferscope.store.migrations` is the schema history.
"""

from transferscope.store.migrations import Migration, run_id, supported_version
from transferscope.store.store import MEMORY, IngestResult, Store, open_store

__all__ = [
    "MEMORY",
    "IngestResult",
    "Migration",
    "Store",
    "open_store",
    "run_id",
    "supported_version",
]
