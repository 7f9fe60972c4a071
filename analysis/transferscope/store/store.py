"""The store: one DuckDB file with tables ``sources``, ``runs``, ``fits``, ``interactions``, ...

The file stays an ordinary DuckDB database: ``duckdb data/transferscope.duckdb`` and
``SELECT * FROM runs`` work. Tables (schema version 3):

- ``schema_info(version, description, applied_at)``: one row per applied migration; the store's
  schema version is the largest.
- ``sources(name, title, citation, url, commit, sha256, license, ingested_at, n_rows)``: one row
  per ingest name, with its provenance; ``ingested_at`` is UTC.
- ``runs(run_id, <schema.RUN_COLUMNS>)``: one canonical run per row. ``run_id`` is
  :func:`run_id` of the run's key (``schema.KEY_COLUMNS``), the primary key.
- ``fits``: fitted frontiers (SQL in :mod:`transferscope.store.fits`; what a fit holds is the
  frontier layer's business).
- ``interactions``: knowledge comparisons (SQL in :mod:`transferscope.store.interactions`).
- ``ladder_cells``: the status of every cell (checkpoint x method x seed) of a ladder run by
  :func:`transferscope.ladders.run_ladder`, failed ones with their error (SQL in
  :mod:`transferscope.store.ladders`).

An older store is migrated when opened for writing (all migrations in one transaction, see
:mod:`transferscope.store.migrations`); a store with a newer schema than this code supports is
refused. Every ingest is one transaction.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from transferscope.config import default_db_path
from transferscope.errors import InputError, StoreError
from transferscope.records import Record, is_missing, plain
from transferscope.schema import (
    KEY_COLUMNS,
    NAME_COLUMNS,
    RUN_COLUMNS,
    RUN_DTYPES,
    SourceInfo,
    match_names,
)
from transferscope.schema.validate import ValidatedRuns, validate_runs
from transferscope.store.migrations import (
    RUN_ID_SQL,
    ident,
    migrate,
    schema_version,
    supported_version,
)

__all__ = ["MEMORY", "IngestResult", "Store", "append_staged", "open_store"]

MEMORY = ":memory:"
_INCOMING = "_transferscope_incoming"
_SOURCE_COLUMNS = (
    "name",
    "title",
    "citation",
    "url",
    "commit",
    "sha256",
    "license",
    "ingested_at",
    "n_rows",
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _one_row(
    con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None
) -> tuple[Any, ...]:
    """Run a query that returns exactly one row, fetching the result completely."""
    rows = con.execute(query, params or []).fetchall()
    return tuple(rows[0])


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# ------------------------------------------------------------------------------ the result


@dataclass(frozen=True, kw_only=True)
class IngestResult(Record):
    """What one ingest did.

    Parameters
    ----------
    source : str
        Name of the source in the store.
    store : str
        Path of the store (``:memory:`` for an in-memory one).
    n_read : int
        Rows in the input.
    n_rows : int
        Canonical runs after collapsing identical duplicates.
    n_collapsed : int
        Identical duplicate rows dropped.
    n_added : int
        Runs written that the store did not hold.
    n_unchanged : int
        Runs the store held already, identical.
    n_changed : int
        Runs replaced with different values (only with ``replace=True``).
    n_removed : int
        Runs of the source that the new content no longer has (only with ``replace=True``).
    replaced : bool
        Whether the source's runs were replaced.
    """

    source: str
    store: str
    n_read: int
    n_rows: int
    n_collapsed: int
    n_added: int
    n_unchanged: int
    n_changed: int = 0
    n_removed: int = 0
    replaced: bool = False

    def describe(self) -> str:
        """One line for people: rows read, added, unchanged, source and store.

        Returns
        -------
        str
            E.g. ``source 'runs': 120 rows read, 120 added, 0 unchanged -> data/x.duckdb``.
        """
        parts = [
            f"{self.n_read} rows read",
            f"{self.n_added} added",
            f"{self.n_unchanged} unchanged",
        ]
        if self.replaced:
            parts += [f"{self.n_changed} changed", f"{self.n_removed} removed"]
        if self.n_collapsed:
            parts.append(f"{self.n_collapsed} identical duplicate rows collapsed")
        return f"source {self.source!r}: {', '.join(parts)} -> {self.store}"


# ------------------------------------------------------------------------------- the store


class Store:
    """An open store. Use :func:`open_store` to get one; close it, or use ``with``.

    Parameters
    ----------
    connection : duckdb.DuckDBPyConnection
        The open connection (migrated to :func:`supported_version`).
    path : pathlib.Path or None
        The file, or None for an in-memory store.
    read_only : bool
        Whether writes are refused.
    """

    def __init__(
        self, connection: duckdb.DuckDBPyConnection, path: Path | None, read_only: bool
    ) -> None:
        self._con = connection
        self._path = path
        self._read_only = read_only
        self._closed = False

    # -- plumbing
    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, for SQL of other modules (bind parameters)."""
        return self._con

    @property
    def path(self) -> Path | None:
        """The store's file, or None when in memory."""
        return self._path

    @property
    def label(self) -> str:
        """The path as text, or ``:memory:``."""
        return MEMORY if self._path is None else str(self._path)

    @property
    def read_only(self) -> bool:
        """Whether the store was opened read-only."""
        return self._read_only

    @property
    def schema_version(self) -> int:
        """The store's recorded schema version."""
        return schema_version(self._con, self.label)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: committed when it ends, rolled back on any exception.

        ``KeyboardInterrupt`` and ``SystemExit`` roll back too, so an interrupted write leaves
        the store as it was.

        Yields
        ------
        duckdb.DuckDBPyConnection
            The connection, inside the transaction.

        Raises
        ------
        StoreError
            The store is read-only, or DuckDB cannot write the file.
        """
        if self._read_only:
            raise StoreError("opened read-only; cannot write", file=self.label)
        con = self._con
        try:
            con.begin()
            try:
                yield con
                con.commit()
            except BaseException:
                con.rollback()
                raise
        except duckdb.IOException as exc:
            raise StoreError(f"cannot write the store: {_one_line(exc)}", file=self.label) from None

    @contextlib.contextmanager
    def registered(self, name: str, table: pd.DataFrame | pa.Table) -> Iterator[str]:
        """Make ``table`` visible to SQL as view ``name`` for the block, then remove it.

        Parameters
        ----------
        name : str
            View name (not user text).
        table : pandas.DataFrame or pyarrow.Table
            The rows.

        Yields
        ------
        str
            ``name``.
        """
        self._con.register(name, table)
        try:
            yield name
        finally:
            self._con.unregister(name)

    @contextlib.contextmanager
    def staged(self, runs: ValidatedRuns) -> Iterator[None]:
        """Make validated runs visible to the SQL of :func:`append_staged` for the block.

        Parameters
        ----------
        runs : ValidatedRuns
            The rows to stage.

        Yields
        ------
        None
            Inside the block the rows are staged.
        """
        table = pa.Table.from_pandas(runs.frame, preserve_index=False)
        with self.registered(_INCOMING, table):
            yield

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self._closed:
            self._con.close()
            self._closed = True

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self._read_only else "read-write"
        return f"Store({self.label!r}, {mode})"

    # -- ingest
    def ingest(
        self,
        runs: ValidatedRuns | pd.DataFrame,
        source: SourceInfo | str,
        *,
        replace: bool = False,
        require_upstream: bool = True,
    ) -> IngestResult:
        """Write the runs of one source, in one transaction: all rows land or none do.

        Parameters
        ----------
        runs : ValidatedRuns or pandas.DataFrame
            The output of :func:`transferscope.schema.validate_runs`, or a DataFrame with
            canonical columns, which is validated here first.
        source : SourceInfo or str
            Provenance, or just the source's name.
        replace : bool, default False
            Replace the source's runs when its content changed. Without it, a source whose
            content differs from what the store holds under the same name is refused.
        require_upstream : bool, default True
            Passed to the validation of a DataFrame.

        Returns
        -------
        IngestResult
            Counts of rows read, added, unchanged, changed and removed.

        Raises
        ------
        InputError
            Invalid runs, or changed content without ``replace``; nothing is written.
        StoreError
            A read-only store, or a failure to write (nothing is written).
        """
        if self._read_only:
            raise StoreError("opened read-only; cannot ingest", file=self.label)
        info = source if isinstance(source, SourceInfo) else SourceInfo(name=source)
        if not info.name or not info.name.strip():
            raise InputError("a source needs a non-empty name")
        valid = (
            runs
            if isinstance(runs, ValidatedRuns)
            else validate_runs(
                runs, require_upstream=require_upstream, source=info.name, file=info.name
            )
        )
        table = pa.Table.from_pandas(valid.frame, preserve_index=False)
        with self.registered(_INCOMING, table), self.transaction():
            return self._ingest_in_transaction(valid, info, replace)

    def append(
        self,
        runs: ValidatedRuns | pd.DataFrame,
        source: SourceInfo | str,
        *,
        require_upstream: bool = True,
    ) -> IngestResult:
        """Add runs to a source, keeping the runs it holds (one transaction).

        Unlike :meth:`ingest`, which takes a source's whole content, this adds rows to a source
        that grows as its runs finish (a ladder run by :func:`transferscope.ladders.run_ladder`).
        Runs the store holds already with the same values add nothing; the source's row in
        ``sources`` is created with the given provenance, or keeps its provenance and counts the
        new runs.

        Parameters
        ----------
        runs : ValidatedRuns or pandas.DataFrame
            Validated runs, or a DataFrame that :func:`~transferscope.schema.validate_runs`
            accepts.
        source : SourceInfo or str
            The source the runs belong to.
        require_upstream : bool, default True
            Passed to the validation of a DataFrame.

        Returns
        -------
        IngestResult
            ``n_added`` new runs, ``n_unchanged`` runs held already; never replaced.

        Raises
        ------
        InputError
            For invalid rows, or a run the store holds with other values (nothing is written).
        StoreError
            A read-only store, or a failure to write.
        """
        if self._read_only:
            raise StoreError("opened read-only; cannot append runs", file=self.label)
        info = source if isinstance(source, SourceInfo) else SourceInfo(name=source)
        if not info.name or not info.name.strip():
            raise InputError("a source needs a non-empty name")
        valid = (
            runs
            if isinstance(runs, ValidatedRuns)
            else validate_runs(runs, require_upstream=require_upstream, file=info.name)
        )
        with self.staged(valid), self.transaction() as con:
            added = append_staged(con, info, label=self.label)
        counts = {"n_added": added, "n_unchanged": valid.n_rows - added}
        return self._result(valid, info, counts, replaced=False)

    def _ingest_in_transaction(
        self, valid: ValidatedRuns, info: SourceInfo, replace: bool
    ) -> IngestResult:
        con = self._con
        n = valid.n_rows
        held = con.execute("SELECT n_rows FROM sources WHERE name = ?", [info.name]).fetchall()
        if not held:
            _insert_runs(con, info.name)
            _write_source_row(con, info, n)
            counts = {"n_added": n, "n_unchanged": 0, "n_changed": 0, "n_removed": 0}
            return self._result(valid, info, counts, replaced=False)
        added, changed, removed = _compare(con, info.name)
        counts = {
            "n_added": added,
            "n_unchanged": n - added - changed,
            "n_changed": changed,
            "n_removed": removed,
        }
        differs = bool(added or changed or removed)
        if differs and not replace:
            raise InputError(
                f"source {info.name!r} is in the store with different content ({added} runs "
                f"new, {changed} changed, {removed} gone); pass --replace to replace its runs",
                file=self.label,
            )
        if differs:
            con.execute("DELETE FROM runs WHERE source = ?", [info.name])
            _insert_runs(con, info.name)
        if replace:  # also refreshes the provenance of unchanged content
            _write_source_row(con, info, n)
        return self._result(valid, info, counts, replaced=differs)

    def _result(
        self, valid: ValidatedRuns, info: SourceInfo, counts: dict[str, int], replaced: bool
    ) -> IngestResult:
        return IngestResult(
            source=info.name,
            store=self.label,
            n_read=valid.n_read,
            n_rows=valid.n_rows,
            n_collapsed=valid.n_collapsed,
            replaced=replaced,
            **counts,
        )

    # -- queries
    def _where(self, filters: Mapping[str, Any], allowed: Sequence[str]) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, wanted in filters.items():
            if column not in allowed:
                raise InputError(
                    f"unknown filter column {column!r}; expected one of {', '.join(allowed)}"
                )
            ref = ident(column) + ("::VARCHAR" if column == "hparams" else "")
            values = (
                list(wanted)
                if isinstance(wanted, list | tuple | set | frozenset | pd.Series)
                else [wanted]
            )
            present = [plain(v) for v in values if not is_missing(v)]
            if column in NAME_COLUMNS and present:
                # names match as ingest normalizes them: case, separators, camel case aside
                present = self._stored_names(column, present) or present
            options = [f"{ref} IN ({', '.join('?' * len(present))})"] if present else []
            if len(present) < len(values):
                options.append(f"{ref} IS NULL")
            clauses.append("(" + " OR ".join(options) + ")" if options else "FALSE")
            params.extend(present)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _stored_names(self, column: str, wanted: list[Any]) -> list[Any]:
        """Return the stored values of a name column that match ``wanted`` (schema.match_names)."""
        stored = self._con.sql(
            f"SELECT DISTINCT {ident(column)} FROM runs WHERE {ident(column)} IS NOT NULL"
        ).fetchall()
        return list(match_names(wanted, [row[0] for row in stored]))

    def _frame(self, query: str, params: list[Any]) -> pd.DataFrame:
        try:
            table = self._con.sql(query, params=params).to_arrow_table()
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            raise InputError(f"a filter value does not fit its column: {_one_line(exc)}") from None
        return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)

    def runs(self, **filters: Any) -> pd.DataFrame:
        """Return runs as a tidy DataFrame, filtered by column equality.

        Parameters
        ----------
        **filters
            ``column=value`` keeps rows whose column equals value; a list (tuple, set) means
            any of its values; ``None`` matches a missing value. Columns: ``run_id`` and those
            of ``schema.RUN_COLUMNS``. Names (``schema.NAME_COLUMNS``: source, model, task,
            method, metrics, ...) match as ingest normalizes them, whatever their case,
            separators or camel case (``schema.name_key``).

        Returns
        -------
        pandas.DataFrame
            Columns ``run_id`` then ``schema.RUN_COLUMNS`` (source, model, pretrained,
            upstream_task, upstream_metric, upstream_score, task, method, shots, seed,
            downstream_metric, downstream_score, downstream_stderr, architecture, params,
            pretrain_data, pretrain_steps, hparams) with ``schema.RUN_DTYPES``; sorted by the
            run key (source, model, task, method, shots, seed, downstream_metric, hparams).

        Raises
        ------
        InputError
            For an unknown filter column or a value that does not fit its column.
        """
        where, params = self._where(filters, ("run_id", *RUN_COLUMNS))
        columns = ", ".join(
            ident(c) + ("::VARCHAR AS hparams" if c == "hparams" else "") for c in RUN_COLUMNS
        )
        order = ", ".join(f"{ident(c)} NULLS FIRST" for c in KEY_COLUMNS)
        frame = self._frame(
            f"SELECT run_id, {columns} FROM runs{where} ORDER BY {order}, run_id", params
        )
        return frame.astype({"run_id": "str", **RUN_DTYPES})

    def run_counts(
        self, by: Sequence[str] = ("source", "task", "method", "shots"), **filters: Any
    ) -> pd.DataFrame:
        """Count runs per group.

        Parameters
        ----------
        by : sequence of str, default ("source", "task", "method", "shots")
            Columns of ``schema.RUN_COLUMNS`` to group by.
        **filters
            As for :meth:`runs`.

        Returns
        -------
        pandas.DataFrame
            The ``by`` columns, then ``n_runs`` (runs), ``n_models`` (distinct models),
            ``n_pretrained`` (runs with pretraining); sorted by ``by``, missing values last.
        """
        unknown = [c for c in by if c not in RUN_COLUMNS or c == "hparams"]
        if unknown or not by:
            raise InputError(
                f"cannot group runs by {unknown or list(by)}; expected columns of "
                f"{', '.join(c for c in RUN_COLUMNS if c != 'hparams')}"
            )
        where, params = self._where(filters, ("run_id", *RUN_COLUMNS))
        keys = ", ".join(ident(c) for c in by)
        query = (
            f"SELECT {keys}, count(*) AS n_runs, count(DISTINCT model) AS n_models, "
            f"count(*) FILTER (WHERE pretrained) AS n_pretrained FROM runs{where} "
            f"GROUP BY {keys} ORDER BY {', '.join(ident(c) + ' NULLS LAST' for c in by)}"
        )
        frame = self._frame(query, params)
        return frame.astype(
            {**{c: RUN_DTYPES[c] for c in by}, "n_runs": "int64", "n_models": "int64"}
            | {"n_pretrained": "int64"}
        )

    def sources(self) -> pd.DataFrame:
        """Return what was ingested, with provenance: one row per source.

        Returns
        -------
        pandas.DataFrame
            Columns ``name, title, citation, url, commit, sha256, license`` (text),
            ``ingested_at`` (UTC timestamp), ``n_rows`` (runs held); sorted by name.
        """
        columns = ", ".join(ident(c) for c in _SOURCE_COLUMNS)
        frame = self._frame(f"SELECT {columns} FROM sources ORDER BY name", [])
        dtypes = dict.fromkeys(_SOURCE_COLUMNS[:7], "str") | {"n_rows": "int64"}
        frame = frame.astype(dtypes)
        frame["ingested_at"] = pd.to_datetime(frame["ingested_at"])
        return frame

    def export(self, path: str | Path) -> Path:
        """Write all runs to a Parquet file (DuckDB ``COPY``), in the order of :meth:`runs`.

        Parameters
        ----------
        path : str or pathlib.Path
            Target file; overwritten if it exists.

        Returns
        -------
        pathlib.Path
            The file written. Its columns are those of :meth:`runs`.

        Raises
        ------
        InputError
            When the file cannot be written.
        """
        target = Path(path)
        columns = ", ".join(ident(c) for c in RUN_COLUMNS)
        order = ", ".join(f"{ident(c)} NULLS FIRST" for c in KEY_COLUMNS)
        query = f"SELECT run_id, {columns} FROM runs ORDER BY {order}, run_id"
        try:
            self._con.execute(f"COPY ({query}) TO ? (FORMAT parquet)", [str(target)])
        except duckdb.IOException as exc:
            raise InputError(f"cannot write: {_one_line(exc)}", file=str(target)) from None
        return target


def _staged(columns: Iterable[str]) -> str:
    """Select the incoming rows with their source and run_id, as a subquery."""
    listed = ", ".join(ident(c) for c in columns)
    return (
        f"(SELECT {RUN_ID_SQL} AS run_id, {listed} FROM "
        f"(SELECT CAST($1 AS VARCHAR) AS source, * FROM {_INCOMING}))"
    )


def _compare(con: duckdb.DuckDBPyConnection, name: str) -> tuple[int, int, int]:
    """Count incoming runs new, changed (same run_id, other values) and held runs gone."""
    values = [c for c in RUN_COLUMNS if c not in KEY_COLUMNS]
    differs = " OR ".join(f"new.{ident(c)} IS DISTINCT FROM old.{ident(c)}" for c in values)
    old_columns = ", ".join(ident(c) for c in values)
    query = (
        f"SELECT count(*) FILTER (WHERE old.run_id IS NULL), "
        f"count(*) FILTER (WHERE new.run_id IS NOT NULL AND old.run_id IS NOT NULL "
        f"AND ({differs})), "
        f"count(*) FILTER (WHERE new.run_id IS NULL) "
        f"FROM {_staged(RUN_COLUMNS)} AS new FULL OUTER JOIN "
        f"(SELECT run_id, {old_columns} FROM runs WHERE source = $1) AS old "
        "ON new.run_id = old.run_id"
    )
    added, changed, removed = _one_row(con, query, [name])
    return int(added), int(changed), int(removed)


def append_staged(con: duckdb.DuckDBPyConnection, info: SourceInfo, *, label: str) -> int:
    """Add the staged runs (see :meth:`Store.staged`) to a source, inside a transaction.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The store's connection, inside a transaction.
    info : SourceInfo
        The source; its row in ``sources`` is created when missing, else its count updated.
    label : str
        The store's path, for error messages.

    Returns
    -------
    int
        Runs added (runs held already with the same values add nothing).

    Raises
    ------
    InputError
        A staged run is held with other values.
    """
    added, changed = _compare_incoming(con, info.name)
    if changed:
        raise InputError(
            f"{changed} run(s) of source {info.name!r} are in the store with other values; "
            "refusing to change them",
            file=label,
        )
    listed = ", ".join(ident(c) for c in RUN_COLUMNS)
    con.execute(
        f"INSERT INTO runs (run_id, {listed}) SELECT run_id, {listed} FROM "
        f"{_staged(RUN_COLUMNS)} AS new WHERE NOT EXISTS "
        "(SELECT 1 FROM runs WHERE runs.run_id = new.run_id)",
        [info.name],
    )
    ((held,),) = con.execute("SELECT count(*) FROM runs WHERE source = ?", [info.name]).fetchall()
    if con.execute("SELECT 1 FROM sources WHERE name = ?", [info.name]).fetchall():
        con.execute("UPDATE sources SET n_rows = ? WHERE name = ?", [held, info.name])
    else:
        _write_source_row(con, info, int(held))
    return added


def _compare_incoming(con: duckdb.DuckDBPyConnection, name: str) -> tuple[int, int]:
    """Count incoming runs that are new, and those held with other values."""
    values = [c for c in RUN_COLUMNS if c not in KEY_COLUMNS]
    differs = " OR ".join(f"new.{ident(c)} IS DISTINCT FROM old.{ident(c)}" for c in values)
    old_columns = ", ".join(ident(c) for c in values)
    query = (
        f"SELECT count(*) FILTER (WHERE old.run_id IS NULL), "
        f"count(*) FILTER (WHERE old.run_id IS NOT NULL AND ({differs})) "
        f"FROM {_staged(RUN_COLUMNS)} AS new LEFT JOIN "
        f"(SELECT run_id, {old_columns} FROM runs WHERE source = $1) AS old "
        "ON new.run_id = old.run_id"
    )
    added, changed = _one_row(con, query, [name])
    return int(added), int(changed)


def _insert_runs(con: duckdb.DuckDBPyConnection, name: str) -> None:
    listed = ", ".join(ident(c) for c in RUN_COLUMNS)
    con.execute(
        f"INSERT INTO runs (run_id, {listed}) SELECT run_id, {listed} FROM {_staged(RUN_COLUMNS)}",
        [name],
    )


def _write_source_row(con: duckdb.DuckDBPyConnection, info: SourceInfo, n_rows: int) -> None:
    con.execute("DELETE FROM sources WHERE name = ?", [info.name])
    con.execute(
        f"INSERT INTO sources ({', '.join(ident(c) for c in _SOURCE_COLUMNS)}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            info.name,
            info.title,
            info.citation,
            info.url,
            info.commit,
            info.sha256,
            info.license,
            _now(),
            n_rows,
        ],
    )


# ------------------------------------------------------------------------------- opening

_LOCK = re.compile(r"PID (\d+)")


def _open_error(exc: duckdb.Error, label: str) -> StoreError:
    message = _one_line(exc)
    if "lock" in message.lower():
        pid = _LOCK.search(message)
        holder = f" (PID {pid.group(1)})" if pid else ""
        return StoreError(
            f"locked by another process{holder}; close it or wait for it to finish",
            file=label,
        )
    if "not a valid DuckDB database" in message:
        return StoreError("not a DuckDB database; choose another --db", file=label)
    return StoreError(f"cannot open the store: {message}", file=label)


def open_store(path: str | Path | None = None, *, read_only: bool = False) -> Store:
    """Open (and create or migrate, when writable) a store.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The DuckDB file; ``config.default_db_path()`` when omitted (``$TRANSFERSCOPE_DB``,
        else ``data/transferscope.duckdb``); ``":memory:"`` for an in-memory store. The parent
        folder is created when needed.
    read_only : bool, default False
        Open without write access (other processes may read at the same time). The store must
        exist and have the current schema version.

    Returns
    -------
    Store
        The open store; close it, or use it as a context manager.

    Raises
    ------
    StoreError
        For a file that is not a DuckDB database, a directory, a store with a newer schema
        than this code supports, a store locked by another process, a missing store opened
        read-only, or a failed migration.
    """
    target = default_db_path() if path is None else path
    if str(target) == MEMORY:
        if read_only:
            raise StoreError("an in-memory store cannot be opened read-only", file=MEMORY)
        file: Path | None = None
        label = MEMORY
    else:
        file = Path(target)
        label = str(file)
        if file.is_dir():
            raise StoreError("is a directory; expected a DuckDB file", file=label)
        if read_only and not file.exists():
            raise StoreError(
                "no store here yet; ingest a table first (transferscope ingest PATH)",
                file=label,
            )
        if not read_only:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create its folder: {exc.strerror or exc}", file=label
                ) from None
    try:
        con = duckdb.connect(label, read_only=read_only)
    except duckdb.Error as exc:
        raise _open_error(exc, label) from None
    try:
        # DuckDB draws its own progress bar on stdout for long queries; stdout is for results.
        # Inside Jupyter without ipywidgets DuckDB refuses to touch that setting at all; there
        # is no terminal bar to silence then, so the refusal is harmless.
        with contextlib.suppress(duckdb.InvalidInputException):
            con.execute("SET enable_progress_bar = false")
        version = schema_version(con, label)
        latest = supported_version()
        if version > latest:
            raise StoreError(
                f"the store has schema version {version}, newer than this transferscope "
                f"supports ({latest}); upgrade transferscope",
                file=label,
            )
        if version < latest:
            if read_only:
                raise StoreError(
                    f"the store has schema version {version} and needs migrating to {latest}; "
                    "open it once for writing (e.g. transferscope ingest)",
                    file=label,
                )
            migrate(con, version, label)
    except BaseException:
        con.close()
        raise
    return Store(con, file, read_only)
