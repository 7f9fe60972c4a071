"""The store: one DuckDB file with tables ``sources``, ``runs``, ``fits``, ``interactions``, ...

The file stays an ordinary DuckDB database: ``duckdb data/transferscope.duckdb`` and
``SELECT * FROM runs`` work. Tables (schema version 5):

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
- ``effective_transfer``: per-model residuals from a baseline, each with the fingerprint of the
  baseline's fit in ``fits`` (SQL in :mod:`transferscope.store.transfer`).

An older store is migrated when opened for writing (all migrations in one transaction, see
:mod:`transferscope.store.migrations`); a store with a newer schema than this code supports is
refused. Every ingest is one transaction.

Before DuckDB sees a path, :func:`open_store` checks it: a directory, FIFO, device or symbolic
link loop is refused with its reason, and an existing file must begin with DuckDB's header
(DuckDB itself would open a CSV, Parquet or JSON file as an in-memory database, and everything
written to it would be lost on exit). A file that is not DuckDB's three headers plus whole
blocks is truncated; a store whose tables are missing is incomplete; a block whose checksum
fails is damaged. Each is a
:class:`~transferscope.errors.StoreError` that names the way to recover, on every command.

Locks: DuckDB lets one process write a file, or many read it. ``wait`` makes :func:`open_store`
retry a locked store for that many seconds. A store opened with ``hold_lock=False`` holds only a
read lock between its transactions and takes the write lock for each transaction alone, so
other processes can read while a long fit or report runs.
"""

from __future__ import annotations

import contextlib
import re
import stat
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from transferscope.paths import file_type, stat_path
from transferscope.records import Record, is_missing, plain
from transferscope.schema import (
    KEY_COLUMNS,
    NAME_COLUMNS,
    RUN_COLUMNS,
    RUN_DTYPES,
    MetricInfo,
    SourceInfo,
    match_names,
)
from transferscope.schema.validate import ValidatedRuns, validate_runs
from transferscope.store.metrics import read_metrics, record_metrics, write_metrics_in
from transferscope.store.migrations import (
    RUN_ID_SQL,
    ident,
    migrate,
    missing_tables,
    schema_version,
    supported_version,
)

__all__ = ["MEMORY", "IngestResult", "Store", "append_staged", "open_store", "store_failure"]

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


#: How to recover a store that cannot be read as it is (the same advice on every command).
RECOVER = "restore the file from a backup, or ingest the sources again into a new store (--db NEW)"
_DAMAGED = ("corrupt database file", "could not read enough bytes", "checksum")
_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist")


def store_failure(exc: duckdb.Error, label: str) -> StoreError | None:
    """Say what a DuckDB error means for the store, when it is the store's state and no bug.

    Parameters
    ----------
    exc : duckdb.Error
        The error DuckDB raised.
    label : str
        The store's path.

    Returns
    -------
    StoreError or None
        A damaged file (checksum failure, truncated blocks), a missing table, or a full or
        unwritable disk, with the way to recover; None for anything else (a fault of the
        program, which should surface as one).
    """
    message = _one_line(exc)
    lowered = message.lower()
    if any(word in lowered for word in _DAMAGED):
        return StoreError(f"the store file is damaged ({message}); {RECOVER}", file=label)
    missing = _MISSING_TABLE.search(message)
    if isinstance(exc, duckdb.CatalogException) and missing:
        return StoreError(
            f"the store is incomplete: its table {missing.group(1)} is missing; {RECOVER}",
            file=label,
        )
    if isinstance(exc, duckdb.IOException):
        return StoreError(f"cannot read or write the store: {message}", file=label)
    return None


@contextlib.contextmanager
def _guarded(label: str) -> Iterator[None]:
    """Turn DuckDB errors that are the store's state into a :class:`StoreError`."""
    try:
        yield
    except duckdb.Error as exc:
        failure = store_failure(exc, label)
        if failure is None:
            raise
        raise failure from None


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
    hold_lock : bool, default True
        False: ``connection`` is read-only and each :meth:`transaction` takes the write lock
        for its duration only (see :func:`open_store`).
    wait : float, default 0.0
        Seconds to wait for a lock when a connection is (re)opened.
    on_wait : callable, optional
        Called once with a message when waiting for a lock.
    """

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        path: Path | None,
        read_only: bool,
        *,
        hold_lock: bool = True,
        wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self._con = connection
        self._path = path
        self._read_only = read_only
        self._hold_lock = hold_lock or read_only or path is None
        self._wait = wait
        self._on_wait = on_wait
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
    def holds_lock(self) -> bool:
        """Whether the store holds its lock while open (False: only during transactions)."""
        return self._hold_lock

    @property
    def schema_version(self) -> int:
        """The store's recorded schema version."""
        with _guarded(self.label):
            return schema_version(self._con, self.label)

    def guarded(self) -> contextlib.AbstractContextManager[None]:
        """Report DuckDB errors that are the store's state (damaged, incomplete) as StoreError.

        Returns
        -------
        contextlib.AbstractContextManager
            Wrap SQL of other modules in it: ``with store.guarded(): ...``.
        """
        return _guarded(self.label)

    def _reconnect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        assert self._path is not None
        return _connect(self._path, self.label, read_only, self._wait, self._on_wait)

    @contextlib.contextmanager
    def transaction(
        self, views: Mapping[str, pd.DataFrame | pa.Table] | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: committed when it ends, rolled back on any exception.

        ``KeyboardInterrupt`` and ``SystemExit`` roll back too, so an interrupted write leaves
        the store as it was. A store opened with ``hold_lock=False`` takes the write lock for
        the transaction only (waiting for it as :func:`open_store` does).

        Parameters
        ----------
        views : mapping of str to DataFrame or pyarrow.Table, optional
            Tables visible to SQL under these names (not user text) during the transaction, on
            its connection; removed after it.

        Yields
        ------
        duckdb.DuckDBPyConnection
            The connection, inside the transaction.

        Raises
        ------
        StoreError
            The store is read-only, damaged or incomplete, or DuckDB cannot write the file.
        """
        if self._read_only:
            raise StoreError("opened read-only; cannot write", file=self.label)
        if self._hold_lock:
            with _guarded(self.label):
                yield from self._in_transaction(self._con, views or {})
            return
        # take the write lock for this transaction only: read-only connection out, writer in
        self._con.close()
        try:
            self._con = self._reconnect(read_only=False)
        except StoreError:  # e.g. still locked after the wait: stay usable for reading
            self._con = self._reconnect(read_only=True)
            raise
        try:
            with _guarded(self.label):
                yield from self._in_transaction(self._con, views or {})
        finally:
            self._con.close()
            self._con = self._reconnect(read_only=True)

    @staticmethod
    def _in_transaction(
        con: duckdb.DuckDBPyConnection, views: Mapping[str, pd.DataFrame | pa.Table]
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        for name, table in views.items():
            con.register(name, table)
        try:
            con.begin()
            try:
                yield con
                con.commit()
            except BaseException:
                con.rollback()
                raise
        finally:
            for name in views:
                con.unregister(name)

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

    @staticmethod
    def staging(runs: ValidatedRuns) -> dict[str, pa.Table]:
        """Return the views that stage validated runs for the SQL of :func:`append_staged`.

        Pass them to :meth:`transaction` (``store.transaction(store.staging(runs))``), so that
        they live on the transaction's connection and are removed after it.

        Parameters
        ----------
        runs : ValidatedRuns
            The rows to stage.

        Returns
        -------
        dict of str to pyarrow.Table
            View name to rows.
        """
        return {_INCOMING: pa.Table.from_pandas(runs.frame, preserve_index=False)}

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
        metrics: Iterable[MetricInfo] = (),
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
        metrics : iterable of MetricInfo, optional
            Metric definitions (direction, range) to record with the runs in the same
            transaction (table ``metrics``; see :meth:`record_metrics`).

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
        with self.transaction({_INCOMING: table}) as con:
            write_metrics_in(con, metrics, replace=replace, label=self.label)
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
        with self.transaction(self.staging(valid)) as con:
            added = append_staged(con, info, label=self.label)
        counts = {"n_added": added, "n_unchanged": valid.n_rows - added}
        return self._result(valid, info, counts, replaced=False)

    def metrics(self) -> dict[str, MetricInfo]:
        """Return the metric definitions recorded in the store (name to definition).

        Returns
        -------
        dict
            See :func:`transferscope.store.metrics.read_metrics`.
        """
        return read_metrics(self)

    def record_metrics(self, metrics: Iterable[MetricInfo], *, replace: bool = False) -> int:
        """Record metric definitions (direction, range) for every later command on this store.

        Parameters
        ----------
        metrics : iterable of MetricInfo
            Definitions, e.g. ``transferscope.schema.parse_metric("toxicity=lower:0:1")``.
        replace : bool
            Replace a definition recorded differently under the same name.

        Returns
        -------
        int
            Definitions written (new or changed).
        """
        return record_metrics(self, metrics, replace=replace)

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
            with _guarded(self.label):
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
    """Add the staged runs (see :meth:`Store.staging`) to a source, inside a transaction.

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
_LOCKED = re.compile(r"could not set lock|conflicting lock", re.IGNORECASE)
#: DuckDB's file layout: a main header (checksum, then the magic bytes at offset 8) and two
#: database headers of 4 KiB each, then the blocks.
_MAGIC = b"DUCK"
_HEADER_SIZE = 4096
_RETRY_SECONDS = 0.1
_FORMATS = (
    (b"PAR1", "Parquet data"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"PK\x03\x04", "a ZIP archive (e.g. an Excel workbook)"),
)


def _locked(exc: duckdb.Error) -> bool:
    """Whether DuckDB refused the file because another process holds its lock."""
    return _LOCKED.search(_one_line(exc)) is not None


def _open_error(exc: duckdb.Error, label: str) -> StoreError:
    message = _one_line(exc)
    if _locked(exc):
        pid = _LOCK.search(message)
        holder = f" (PID {pid.group(1)})" if pid else ""
        return StoreError(
            f"locked by another process{holder}; close it or wait for it to finish "
            "(--wait SECONDS waits for it)",
            file=label,
        )
    if "not a valid DuckDB database" in message:
        return StoreError("not a DuckDB database; choose another --db", file=label)
    failure = store_failure(exc, label)
    if failure is not None:
        return failure
    return StoreError(f"cannot open the store: {message}", file=label)


def _what_it_holds(head: bytes) -> str:
    for magic, name in _FORMATS:
        if head.startswith(magic):
            return f" (it holds {name})"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
            return ""
    return " (it is a text file, e.g. CSV or JSON)" if head.strip() else ""


def _check_file(file: Path, label: str) -> bool:
    """Check an existing store file before DuckDB opens it; False when there is none yet.

    DuckDB would open a CSV, Parquet or JSON file as an in-memory database (the data written
    to it is lost), block on a FIFO, and fail on a truncated file only when it reaches the
    missing blocks. The header and the size are checked here instead.
    """
    try:
        info = stat_path(file, "a DuckDB file")
    except InputError as exc:
        raise StoreError(exc.reason, file=label) from None
    if info is None:
        return False
    if stat.S_ISDIR(info.st_mode):
        raise StoreError("is a directory; expected a DuckDB file", file=label)
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(
            f"is {file_type(info.st_mode)}, not a DuckDB file; choose another --db", file=label
        )
    try:
        with file.open("rb") as handle:
            head = handle.read(3 * _HEADER_SIZE)
    except OSError as exc:
        raise StoreError(f"cannot read the file ({exc.strerror or exc})", file=label) from None
    if len(head) < 12 or head[8:12] != _MAGIC:
        if not head:
            raise StoreError(
                "an empty file, not a DuckDB database; choose another --db", file=label
            )
        raise StoreError(
            f"not a DuckDB database{_what_it_holds(head[:512])}; choose another --db", file=label
        )
    if len(head) < 3 * _HEADER_SIZE:  # the three headers of every DuckDB file are not all there
        raise StoreError(
            f"the store file is truncated ({len(head)} bytes, shorter than DuckDB's headers); "
            f"{RECOVER}",
            file=label,
        )
    return True


def _check_size(file: Path, label: str) -> None:
    """Refuse a store whose size is not its headers plus whole blocks: it was cut short.

    DuckDB writes its file in whole blocks after three 4 KiB headers; the newest database
    header holds, after its 8-byte checksum, the iteration, meta block, free list, block count
    and block size (unsigned 64-bit, little-endian). Called while the store is locked, so no
    writer can be extending it; an unreadable or unexpected header skips the check.
    """
    try:
        with file.open("rb") as handle:
            head = handle.read(3 * _HEADER_SIZE)
        size = file.stat().st_size
    except OSError:
        return
    if len(head) < 3 * _HEADER_SIZE:
        return
    headers = [struct.unpack_from("<5Q", head, offset + 8) for offset in (4096, 8192)]
    iteration, _, _, _, block = max(headers, key=lambda h: h[0])
    if iteration == 0 or not (4096 <= block <= 1 << 28) or block & (block - 1):
        return
    if (size - 3 * _HEADER_SIZE) % block:
        whole = (size - 3 * _HEADER_SIZE) // block
        raise StoreError(
            f"the store file is truncated ({size} bytes: {whole} whole blocks of {block} and a "
            f"part of one); {RECOVER}",
            file=label,
        )


def _connect(
    file: Path | None,
    label: str,
    read_only: bool,
    wait: float,
    on_wait: Callable[[str], None] | None,
) -> duckdb.DuckDBPyConnection:
    """Connect, retrying a locked file for up to ``wait`` seconds; check it is file-backed."""
    deadline = time.monotonic() + max(0.0, wait)
    told = False
    while True:
        try:
            con = duckdb.connect(label, read_only=read_only)
            break
        except duckdb.Error as exc:
            if not _locked(exc) or time.monotonic() >= deadline:
                raise _open_error(exc, label) from None
            if on_wait is not None and not told:
                pid = _LOCK.search(_one_line(exc))
                holder = f" by PID {pid.group(1)}" if pid else ""
                on_wait(f"{label}: locked{holder}; waiting up to {wait:g} s for it")
                told = True
            time.sleep(_RETRY_SECONDS)
    if file is not None:
        rows = con.execute(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchall()
        if not rows or rows[0][0] is None:
            con.close()
            raise StoreError(
                "DuckDB opened it as an in-memory database (nothing would be saved); "
                "choose a .duckdb file for --db",
                file=label,
            )
        try:
            _check_size(file, label)
        except StoreError:
            con.close()
            raise
    # DuckDB draws its own progress bar on stdout for long queries; stdout is for results.
    # Inside Jupyter without ipywidgets DuckDB refuses to touch that setting at all; there
    # is no terminal bar to silence then, so the refusal is harmless.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    return con


def _prepare(con: duckdb.DuckDBPyConnection, label: str, read_only: bool) -> None:
    """Check the schema version (migrating a writable store) and that no table is missing."""
    version = schema_version(con, label)
    latest = supported_version()
    if version > latest:
        raise StoreError(
            f"the store has schema version {version}, newer than this transferscope "
            f"supports ({latest}); upgrade transferscope",
            file=label,
        )
    missing = missing_tables(con, version)
    if missing:
        names = ", ".join(missing)
        raise StoreError(
            f"the store is incomplete: table{'s' if len(missing) > 1 else ''} {names} "
            f"missing; {RECOVER}",
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


def open_store(
    path: str | Path | None = None,
    *,
    read_only: bool = False,
    create: bool = True,
    hold_lock: bool = True,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> Store:
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
    create : bool, default True
        Create a missing store (when writable); False refuses it, as ``read_only`` does.
    hold_lock : bool, default True
        For a writable file store: False holds only a read lock while open and takes the write
        lock for each :meth:`Store.transaction` alone, so that other processes can read in
        between (for long work that writes now and then, such as fitting).
    wait : float, default 0.0
        Seconds to wait for a store locked by another process before giving up.
    on_wait : callable, optional
        Called once with a one-line message when it starts waiting.

    Returns
    -------
    Store
        The open store; close it, or use it as a context manager.

    Raises
    ------
    StoreError
        For a path that is not a DuckDB file (a CSV, a directory, a FIFO, a device, a link
        loop, an empty file), a truncated, damaged or incomplete store, a store with a newer
        schema than this code supports, a store locked by another process (after ``wait``), a
        missing store opened read-only, or a failed migration.
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
        exists = _check_file(file, label)
        if (read_only or not create) and not exists:
            raise StoreError(
                "no store here yet; ingest a table first (transferscope ingest PATH)",
                file=label,
            )
        if not read_only and not exists:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create its folder: {exc.strerror or exc}", file=label
                ) from None
    shared = not hold_lock and not read_only and file is not None
    con = _connect(file, label, read_only, wait, on_wait)
    try:
        with _guarded(label):
            _prepare(con, label, read_only)
        if shared:  # created and migrated: from now on only a read lock between writes
            con.close()
            con = _connect(file, label, True, wait, on_wait)
    except BaseException:
        con.close()
        raise
    return Store(con, file, read_only, hold_lock=not shared, wait=wait, on_wait=on_wait)
