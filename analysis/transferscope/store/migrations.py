"""The store's schema history (migrations) and the run key.

Version 0 is an empty database. Each :class:`Migration` moves a store one version up; all
pending migrations run in one transaction when a store is opened for writing, and each one
leaves a row in ``schema_info``. A new schema version appends a migration to
:data:`MIGRATIONS`, never edits an old one.

``run_id`` identifies a run by its key (``schema.KEY_COLUMNS``): :func:`run_id` computes it in
Python and :data:`RUN_ID_SQL` in DuckDB, identically.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from transferscope.errors import StoreError
from transferscope.schema import KEY_COLUMNS, KNOWLEDGE_COLUMNS, RUN_COLUMNS

__all__ = [
    "LADDER_CELL_COLUMNS",
    "MIGRATIONS",
    "RUN_ID_SQL",
    "Migration",
    "expected_tables",
    "migrate",
    "missing_tables",
    "run_id",
    "schema_version",
    "supported_version",
]

_NOT_NULL = frozenset(
    {"source", "model", "pretrained", "task", "method", "downstream_metric", "downstream_score"}
)

_FITS_DDL = """
CREATE TABLE fits (
    fingerprint VARCHAR NOT NULL,
    family VARCHAR NOT NULL,
    frontier VARCHAR NOT NULL,
    group_key JSON NOT NULL,
    status VARCHAR NOT NULL,
    record JSON NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (fingerprint, family)
)
"""


def ident(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@dataclass(frozen=True)
class Migration:
    """One step of the store's schema history.

    Parameters
    ----------
    version : int
        Schema version after this step.
    description : str
        What the step does (kept in ``schema_info``).
    apply : callable
        ``apply(connection)`` runs the DDL/DML inside the migration transaction.
    """

    version: int
    description: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


def _create_v1(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE schema_info (version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    con.execute(
        "CREATE TABLE sources (name VARCHAR PRIMARY KEY, title VARCHAR, citation VARCHAR, "
        'url VARCHAR, "commit" VARCHAR, sha256 VARCHAR, license VARCHAR, '
        "ingested_at TIMESTAMP NOT NULL, n_rows BIGINT NOT NULL)"
    )
    columns = ", ".join(
        f"{ident(c)} {t}{' NOT NULL' if c in _NOT_NULL else ''}" for c, t in RUN_COLUMNS.items()
    )
    con.execute(f"CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, {columns})")
    con.execute(_FITS_DDL)


def _create_v2(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f"{ident(c)} {t}" for c, t in KNOWLEDGE_COLUMNS.items())
    con.execute(
        f"CREATE TABLE interactions ({columns}, "
        "created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )


#: Columns of table ``ladder_cells`` (one cell of a ladder run by
#: :func:`transferscope.ladders.run_ladder`: checkpoint x method x seed), with their DuckDB types.
LADDER_CELL_COLUMNS: dict[str, str] = {
    "source": "VARCHAR NOT NULL",
    "model": "VARCHAR NOT NULL",
    "pretrained": "BOOLEAN NOT NULL",
    "method": "VARCHAR NOT NULL",
    "seed": "BIGINT NOT NULL",
    "status": "VARCHAR NOT NULL",
    "message": "VARCHAR",
    "n_rows": "INTEGER NOT NULL",
    "seconds": "DOUBLE",
    "settings": "JSON NOT NULL",
    "finished_at": "TIMESTAMP NOT NULL",
}


def _create_v3(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f"{ident(c)} {t}" for c, t in LADDER_CELL_COLUMNS.items())
    con.execute(f"CREATE TABLE ladder_cells ({columns}, PRIMARY KEY (source, model, method, seed))")


def _create_v4(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE metrics (name VARCHAR PRIMARY KEY, direction VARCHAR NOT NULL, "
        "low DOUBLE, high DOUBLE, description VARCHAR, "
        "recorded_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )


_EFFECTIVE_DDL = """
CREATE TABLE effective_transfer (
    analysis VARCHAR NOT NULL,
    baseline_fingerprint VARCHAR NOT NULL,
    group_key VARCHAR NOT NULL,
    unit VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    residual DOUBLE,
    residual_ci_low DOUBLE,
    residual_ci_high DOUBLE,
    efficiency DOUBLE,
    record JSON NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (analysis, group_key, unit)
)
"""


def _create_v5(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_EFFECTIVE_DDL)


#: The schema history, oldest first. Version 0 is an empty database; each store records the
#: versions it went through in ``schema_info``.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tables schema_info, sources, runs and fits", _create_v1),
    Migration(2, "table interactions (knowledge kept, discarded and learned)", _create_v2),
    Migration(3, "table ladder_cells (status of every cell of a ladder run)", _create_v3),
    Migration(4, "table metrics (user-defined metric directions and ranges)", _create_v4),
    Migration(
        5, "table effective_transfer (per-model residuals with their baseline fit)", _create_v5
    ),
)


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main' ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


@functools.cache
def expected_tables(version: int) -> tuple[str, ...]:
    """Return the tables a complete store of ``version`` holds (its migrations, replayed).

    Parameters
    ----------
    version : int
        A schema version.

    Returns
    -------
    tuple of str
        Table names, sorted; found by applying the migrations up to ``version`` to an empty
        in-memory database, so that a new migration needs no list kept by hand.
    """
    with duckdb.connect(":memory:") as con:
        for step in MIGRATIONS:
            if step.version <= version:
                step.apply(con)
        return tuple(_tables(con))


def missing_tables(con: duckdb.DuckDBPyConnection, version: int) -> list[str]:
    """Return the tables a store of ``version`` should hold but does not.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection to the store.
    version : int
        Its schema version.

    Returns
    -------
    list of str
        Missing table names, sorted.
    """
    present = set(_tables(con))
    return [t for t in expected_tables(version) if t not in present]


def supported_version() -> int:
    """Return the schema version this code reads and writes (the last migration's).

    Returns
    -------
    int
        The newest schema version.
    """
    return MIGRATIONS[-1].version


def schema_version(con: duckdb.DuckDBPyConnection, label: str) -> int:
    """Return a store's schema version: 0 for an empty database.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection to the store.
    label : str
        The store's path, for error messages.

    Returns
    -------
    int
        The largest version in ``schema_info``.

    Raises
    ------
    StoreError
        For a database with tables but no ``schema_info`` (not a transferscope store).
    """
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main'"
    ).fetchall()
    tables = sorted(r[0] for r in rows)
    if "schema_info" in tables:
        ((found,),) = con.execute("SELECT max(version) FROM schema_info").fetchall()
        return int(found) if found is not None else 0
    if tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(
            f"not a transferscope store: it has tables ({shown}) but no schema_info; "
            "choose another --db",
            file=label,
        )
    return 0


def migrate(con: duckdb.DuckDBPyConnection, version: int, label: str) -> None:
    """Apply every migration newer than ``version``, all in one transaction.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection to the store, opened for writing.
    version : int
        The store's current version.
    label : str
        The store's path, for error messages.

    Raises
    ------
    StoreError
        When a migration fails; the store stays at ``version``.
    """
    pending = [m for m in MIGRATIONS if m.version > version]
    con.begin()
    step = pending[0]
    try:
        for step in pending:
            step.apply(con)
            con.execute(
                "INSERT INTO schema_info VALUES (?, ?, ?)",
                [step.version, step.description, _now()],
            )
        con.commit()
    except (duckdb.IOException, duckdb.CatalogException) as exc:
        # a full disk, or a table in the way: the store's state, not a fault of the program
        con.rollback()
        raise StoreError(
            f"migration of the store to schema version {step.version} failed "
            f"(it stays at version {version}): {_one_line(exc)}",
            file=label,
        ) from None
    except BaseException:
        con.rollback()
        raise


def _key_sql(column: str) -> str:
    ref = ident(column)
    if RUN_COLUMNS[column] == "BIGINT":
        return f"coalesce(CAST({ref} AS VARCHAR), '~')"
    text = f"CAST({ref} AS VARCHAR)"
    return f"CASE WHEN {ref} IS NULL THEN '~' ELSE concat(strlen({text}), ':', {text}) END"


#: SQL for ``run_id`` over a relation with the key columns (one ``concat``: cheaper than
#: chains of ``||`` on a million rows).
RUN_ID_SQL = "md5(concat(" + ", '|', ".join(_key_sql(c) for c in KEY_COLUMNS) + "))"


def run_id(key: Mapping[str, Any]) -> str:
    """Compute the stable identifier of a run from its key, as the store does in SQL.

    The key text joins, in the order of ``schema.KEY_COLUMNS``, one field per column with
    ``|``: a missing value is ``~``, an integer its decimal digits, a text its length in UTF-8
    bytes, ``:``, and the text (so the encoding is unambiguous). ``run_id`` is the MD5 hex
    digest of that text's UTF-8 bytes. ``hparams`` enters as its canonical JSON text.

    Parameters
    ----------
    key : mapping
        Values of ``source, model, task, method, shots, seed, downstream_metric, hparams``;
        missing entries count as missing values.

    Returns
    -------
    str
        32 lower-case hex digits.
    """
    fields = []
    for column in KEY_COLUMNS:
        value = key.get(column)
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            fields.append("~")
        elif RUN_COLUMNS[column] == "BIGINT":
            fields.append(str(int(value)))
        else:
            text = str(value)
            fields.append(f"{len(text.encode('utf-8'))}:{text}")
    return hashlib.md5("|".join(fields).encode("utf-8"), usedforsecurity=False).hexdigest()
