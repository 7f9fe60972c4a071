"""Where things are by default.

Paths come from arguments or the environment, never from the package's location on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the default store.
DB_ENV = "TRANSFERSCOPE_DB"

#: Store used when neither an argument nor ``$TRANSFERSCOPE_DB`` names one (relative to the
#: working directory).
DEFAULT_DB = Path("data") / "transferscope.duckdb"


def default_db_path() -> Path:
    """Return the store path: ``$TRANSFERSCOPE_DB`` if set, else ``data/transferscope.duckdb``.

    Returns
    -------
    pathlib.Path
        Path of the DuckDB file (it need not exist yet).
    """
    env = os.environ.get(DB_ENV)
    return Path(env) if env else DEFAULT_DB
