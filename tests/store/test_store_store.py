"""The store itself: opening, schema versions and migrations, unusable stores, queries, export."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import transferscope.store.migrations as store_schema
from transferscope.errors import InputError, StoreError
from transferscope.schema import KEY_COLUMNS, RUN_COLUMNS
from transferscope.store import Migration, Store, open_store, run_id, supported_version

#: A schema version newer than this code's, for tests of the migration machinery.
NEXT = supported_version() + 1


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def test_new_store_has_the_tables_and_version(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "dir" / "s.duckdb"  # the parent folders are created
    with open_store(db) as store:
        assert store.schema_version == supported_version() == 5
        assert _tables(store.connection) == {
            "schema_info",
            "sources",
            "runs",
            "fits",
            "interactions",
            "ladder_cells",
            "metrics",
            "effective_transfer",
        }
        columns = store.connection.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'runs' "
            "ORDER BY column_index"
        ).fetchall()
        assert columns == [("run_id", "VARCHAR"), *RUN_COLUMNS.items()]
        fits = store.connection.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'fits' "
            "ORDER BY column_index"
        ).fetchall()
        assert [c for (c,) in fits] == [
            "fingerprint",
            "family",
            "frontier",
            "group_key",
            "status",
            "record",
            "created_at",
        ]
    # an ordinary DuckDB file: plain duckdb reads it
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT max(version) FROM schema_info").fetchall() == [(5,)]


def test_default_path_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSFERSCOPE_DB", str(tmp_path / "env.duckdb"))
    with open_store() as store:
        assert store.path == tmp_path / "env.duckdb"
    assert (tmp_path / "env.duckdb").exists()


def test_empty_database_is_migrated_from_version_0(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    duckdb.connect(str(db)).close()  # version 0: a DuckDB file without our tables
    with open_store(db) as store:
        assert store.schema_version == 5
        rows = store.connection.execute(
            "SELECT version, description FROM schema_info ORDER BY version"
        ).fetchall()
        assert rows == [
            (1, "tables schema_info, sources, runs and fits"),
            (2, "table interactions (knowledge kept, discarded and learned)"),
            (3, "table ladder_cells (status of every cell of a ladder run)"),
            (4, "table metrics (user-defined metric directions and ranges)"),
            (5, "table effective_transfer (per-model residuals with their baseline fit)"),
        ]


def test_a_real_version_1_store_is_migrated_to_2_keeping_its_runs(
    tmp_path: Path, runs_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "made-by-v1.duckdb"
    with monkeypatch.context() as patch:  # the code of schema version 1, as it was released
        patch.setattr(store_schema, "MIGRATIONS", store_schema.MIGRATIONS[:1])
        with open_store(db) as store:
            store.ingest(runs_frame, "small")
            before = store.runs()
            assert "interactions" not in _tables(store.connection)
    with open_store(db) as store:
        assert store.schema_version == supported_version()
        assert {"interactions", "ladder_cells", "metrics", "effective_transfer"} <= _tables(
            store.connection
        )
        pd.testing.assert_frame_equal(store.runs(), before)


def test_a_version_3_store_is_migrated_keeping_its_runs(
    tmp_path: Path, runs_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "made-by-v3.duckdb"
    with monkeypatch.context() as patch:  # the code of schema version 3 (main's ladder_cells)
        patch.setattr(store_schema, "MIGRATIONS", store_schema.MIGRATIONS[:3])
        with open_store(db) as store:
            store.ingest(runs_frame, "small")
            before = store.runs()
            assert "ladder_cells" in _tables(store.connection)
            assert "metrics" not in _tables(store.connection)
    with open_store(db) as store:
        assert store.schema_version == supported_version() and store.metrics() == {}
        pd.testing.assert_frame_equal(store.runs(), before)


def test_a_version_4_store_gains_the_effective_transfer_table(
    tmp_path: Path, runs_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "made-by-v4.duckdb"
    with monkeypatch.context() as patch:  # the code of schema version 4 (main's metrics)
        patch.setattr(store_schema, "MIGRATIONS", store_schema.MIGRATIONS[:4])
        with open_store(db) as store:
            store.ingest(runs_frame, "small")
            before = store.runs()
            assert store.schema_version == 4
            assert "effective_transfer" not in _tables(store.connection)
    with open_store(db) as store:
        assert store.schema_version == 5
        assert "effective_transfer" in _tables(store.connection)
        versions = store.connection.execute("SELECT version FROM schema_info ORDER BY 1")
        assert [v for (v,) in versions.fetchall()] == [1, 2, 3, 4, 5]
        pd.testing.assert_frame_equal(store.runs(), before)


@pytest.fixture
def current_store(tmp_path: Path, runs_frame: pd.DataFrame) -> Path:
    db = tmp_path / "v1.duckdb"
    with open_store(db) as store:
        store.ingest(runs_frame, "small")
    return db


def test_migration_to_a_newer_version_keeps_the_data(
    current_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def add_note(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("ALTER TABLE runs ADD COLUMN note VARCHAR")
        con.execute("UPDATE runs SET note = 'migrated'")

    with open_store(current_store) as store:
        before = store.runs()
    monkeypatch.setattr(
        store_schema, "MIGRATIONS", (*store_schema.MIGRATIONS, Migration(NEXT, "note", add_note))
    )
    with open_store(current_store) as store:
        assert store.schema_version == NEXT
        notes = store.connection.execute("SELECT DISTINCT note FROM runs").fetchall()
        assert notes == [("migrated",)]
        pd.testing.assert_frame_equal(store.runs(), before)
        versions = store.connection.execute("SELECT version FROM schema_info ORDER BY 1")
        assert versions.fetchall() == [(v,) for v in range(1, NEXT + 1)]


def test_failed_migration_changes_nothing(
    current_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("ALTER TABLE runs ADD COLUMN note VARCHAR")
        con.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(
        store_schema, "MIGRATIONS", (*store_schema.MIGRATIONS, Migration(NEXT, "broken", broken))
    )
    with pytest.raises(StoreError, match=f"migration of the store to schema version {NEXT} failed"):
        open_store(current_store)
    monkeypatch.undo()
    with open_store(current_store, read_only=True) as store:
        assert store.schema_version == NEXT - 1
        assert "note" not in store.runs().columns
        assert len(store.runs()) == 4


def test_read_only_store_needing_migration_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    with pytest.raises(
        StoreError, match=f"schema version 0 and needs migrating to {supported_version()}"
    ):
        open_store(db, read_only=True)


def test_newer_schema_is_refused(current_store: Path) -> None:
    with duckdb.connect(str(current_store)) as con:
        con.execute("INSERT INTO schema_info VALUES (7, 'from the future', now())")
    with pytest.raises(StoreError) as info:
        open_store(current_store)
    message = str(info.value)
    assert str(current_store) in message
    assert f"schema version 7, newer than this transferscope supports ({NEXT - 1})" in message


def test_not_a_database(tmp_path: Path) -> None:
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database\n" * 100)
    with pytest.raises(StoreError, match="not a DuckDB database"):
        open_store(text)
    assert text.read_text() == "not a database\n" * 100
    with pytest.raises(StoreError, match="is a directory"):
        open_store(tmp_path)
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("CREATE TABLE mine (x INTEGER)")
    with pytest.raises(StoreError, match=r"not a transferscope store: it has tables \(mine\)"):
        open_store(foreign)
    with pytest.raises(StoreError, match="no store here yet"):
        open_store(tmp_path / "absent.duckdb", read_only=True)


@pytest.fixture
def locked(current_store: Path, hold_open: Callable[[Path], Callable[[], None]]) -> Path:
    hold_open(current_store)
    return current_store


def test_locked_store(locked: Path) -> None:
    for read_only in (False, True):
        with pytest.raises(StoreError) as info:
            open_store(locked, read_only=read_only)
        assert "locked by another process (PID " in str(info.value)
        assert str(info.value).startswith(str(locked))


def test_read_only_store_refuses_to_ingest(current_store: Path, runs_frame: pd.DataFrame) -> None:
    with (
        open_store(current_store, read_only=True) as store,
        pytest.raises(StoreError, match="opened read-only"),
    ):
        store.ingest(runs_frame, "other")


def test_memory_store_cannot_be_read_only() -> None:
    with pytest.raises(StoreError):
        open_store(":memory:", read_only=True)


def test_runs_filters(memory_store: Store, runs_frame: pd.DataFrame) -> None:
    memory_store.ingest(runs_frame, "small")
    assert memory_store.runs(method="linear_probe")["model"].tolist() == ["r50", "vit_b16"]
    assert memory_store.runs(shots=None)["method"].tolist() == ["full_ft", "scratch"]
    assert memory_store.runs(shots=[10, None]).shape[0] == 4
    assert memory_store.runs(model=["r50", "scratch"], pretrained=True).shape[0] == 2
    assert memory_store.runs(model=[]).shape[0] == 0
    assert memory_store.runs(hparams='{"lr":0.1}')["method"].tolist() == ["full_ft"]
    injection = "x' OR '1'='1"
    assert memory_store.runs(model=injection).shape[0] == 0
    with pytest.raises(InputError, match="unknown filter column 'colour'"):
        memory_store.runs(colour="red")
    with pytest.raises(InputError, match="does not fit its column"):
        memory_store.runs(shots="ten")


def test_run_counts_and_sources(memory_store: Store, runs_frame: pd.DataFrame) -> None:
    memory_store.ingest(runs_frame, "small")
    counts = memory_store.run_counts()
    assert counts.to_dict("list") == {
        "source": ["small"] * 3,
        "task": ["cifar10"] * 3,
        "method": ["full_ft", "linear_probe", "scratch"],
        "shots": [None, 10, None],
        "n_runs": [1, 2, 1],
        "n_models": [1, 2, 1],
        "n_pretrained": [1, 2, 0],
    }
    sources = memory_store.sources()
    assert sources["name"].tolist() == ["small"] and sources["n_rows"].tolist() == [4]
    assert str(sources["ingested_at"].dtype).startswith("datetime64")


def test_export_writes_parquet(
    memory_store: Store, runs_frame: pd.DataFrame, tmp_path: Path
) -> None:
    memory_store.ingest(runs_frame, "small")
    target = memory_store.export(tmp_path / "we'ird name.parquet")
    back = pd.read_parquet(target)
    expected = memory_store.runs()
    assert list(back.columns) == list(expected.columns)
    assert back["run_id"].tolist() == expected["run_id"].tolist()
    assert back["downstream_score"].tolist() == expected["downstream_score"].tolist()
    with pytest.raises(InputError, match="cannot write"):
        memory_store.export(tmp_path / "no" / "such" / "dir" / "x.parquet")


_text = st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cs",)), max_size=12))
_integer = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    key=st.fixed_dictionaries(
        {c: (_integer if RUN_COLUMNS[c] == "BIGINT" else _text) for c in KEY_COLUMNS}
    )
)
def test_run_id_in_python_equals_the_sql(key: dict[str, object]) -> None:
    with duckdb.connect() as con:
        relation = ", ".join(
            f"CAST(? AS {'BIGINT' if RUN_COLUMNS[c] == 'BIGINT' else 'VARCHAR'}) AS {c}"
            for c in KEY_COLUMNS
        )
        sql = f"SELECT {store_schema.RUN_ID_SQL} FROM (SELECT {relation})"
        (found,) = con.execute(sql, [key[c] for c in KEY_COLUMNS]).fetchall()[0]
    assert found == run_id(key)


def test_run_id_is_stable() -> None:
    # pinned key text: a change would orphan every stored run
    key = {"source": "vtab", "model": "r50", "task": "cifar10", "method": "full_ft", "shots": 10}
    text = "4:vtab|3:r50|7:cifar10|7:full_ft|10|~|~|~"
    assert run_id(key) == hashlib.md5(text.encode()).hexdigest()
