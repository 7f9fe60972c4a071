"""Store.ingest: one transaction, idempotent, changed content refused or replaced, lossless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import transferscope.store.store as store_module
from transferscope.errors import InputError
from transferscope.ingest.pipeline import file_source, ingest_file, parse_column_map
from transferscope.schema import INPUT_COLUMNS, RUN_COLUMNS, SourceInfo
from transferscope.schema.validate import canonical_json, validate_runs
from transferscope.store import Store, open_store


def _contents(store: Store) -> tuple[str, str]:
    return store.runs().to_json(), store.sources().to_json(date_format="iso", date_unit="us")


def test_ingest_then_read_back(memory_store: Store, runs_frame: pd.DataFrame) -> None:
    info = SourceInfo(name="small", title="Small", url="https://example.org", license="MIT")
    result = memory_store.ingest(runs_frame, info)
    assert (result.n_read, result.n_rows, result.n_added, result.n_unchanged) == (4, 4, 4, 0)
    assert result.describe() == "source 'small': 4 rows read, 4 added, 0 unchanged -> :memory:"
    back = memory_store.runs()
    assert back["source"].tolist() == ["small"] * 4
    expected = validate_runs(runs_frame).frame
    got = back.drop(columns=["run_id", "source"])
    order = ["model", "method"]
    pd.testing.assert_frame_equal(
        got.sort_values(order).reset_index(drop=True),
        expected.sort_values(order).reset_index(drop=True),
    )
    row = memory_store.sources().iloc[0]
    assert (row["name"], row["title"], row["url"], row["license"], row["n_rows"]) == (
        "small",
        "Small",
        "https://example.org",
        "MIT",
        4,
    )
    assert result.to_record()["n_added"] == 4 and len(result.summary()) == 1


def test_reingest_adds_nothing(memory_store: Store, runs_frame: pd.DataFrame) -> None:
    memory_store.ingest(runs_frame, "small")
    before = _contents(memory_store)
    again = memory_store.ingest(runs_frame.iloc[::-1], "small")  # order does not matter
    assert (again.n_added, again.n_unchanged, again.replaced) == (0, 4, False)
    assert _contents(memory_store) == before  # not even ingested_at changes


def test_same_rows_under_another_name_are_other_runs(
    memory_store: Store, runs_frame: pd.DataFrame
) -> None:
    memory_store.ingest(runs_frame, "a")
    memory_store.ingest(runs_frame, "b")
    assert memory_store.runs().shape[0] == 8
    assert memory_store.runs(source="b").shape[0] == 4


def test_changed_content_is_refused_then_replaced(
    memory_store: Store, runs_frame: pd.DataFrame
) -> None:
    memory_store.ingest(runs_frame, "small")
    before = _contents(memory_store)
    changed = runs_frame.copy()
    changed.loc[0, "downstream_score"] = 0.96  # one run changed
    changed = changed.drop(index=3)  # one gone
    changed.loc[9] = ["vit_l16", True, 0.85, "cifar10", "Linear Probe", 10, 0, 0.9, 0.01]
    with pytest.raises(InputError) as info:
        memory_store.ingest(changed, "small")
    assert "(1 runs new, 1 changed, 1 gone); pass --replace" in str(info.value)
    assert _contents(memory_store) == before
    result = memory_store.ingest(changed, "small", replace=True)
    assert (result.n_added, result.n_changed, result.n_removed, result.n_unchanged) == (1, 1, 1, 2)
    assert result.replaced
    runs = memory_store.runs(source="small")
    assert sorted(runs["model"]) == ["r50", "r50", "vit_b16", "vit_l16"]
    assert runs.loc[runs["method"] == "full_ft", "downstream_score"].tolist() == [0.96]
    assert memory_store.sources()["n_rows"].tolist() == [4]


class _Injected(RuntimeError):
    pass


@pytest.mark.parametrize("replace", [False, True])
def test_failure_in_the_middle_leaves_the_store_as_it_was(
    tmp_path: Path, runs_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, replace: bool
) -> None:
    """A new source (replace=False), or the replacement of a held one, fails after its runs
    were written inside the transaction: the store keeps exactly what it held."""
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        store.ingest(runs_frame, "other")
        if replace:
            store.ingest(runs_frame.iloc[:2], "small")
        before = _contents(store)
        seen: list[int] = []

        def fail_after_runs(con: duckdb.DuckDBPyConnection, info: SourceInfo, n: int) -> None:
            (held,) = con.execute("SELECT count(*) FROM runs WHERE source = 'small'").fetchall()
            seen.append(held[0])
            raise _Injected("disk on fire")

        monkeypatch.setattr(store_module, "_write_source_row", fail_after_runs)
        with pytest.raises(_Injected):
            store.ingest(runs_frame, "small", replace=replace)
        assert seen == [4]  # the four runs were in when it failed
        assert _contents(store) == before
    with open_store(db, read_only=True) as store:  # and so does the file
        assert _contents(store) == before
        assert store.runs(source="small").shape[0] == (2 if replace else 0)


def test_failure_inside_the_insert_rolls_back(
    memory_store: Store, runs_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory_store.ingest(runs_frame.iloc[:1], "first")
    before = _contents(memory_store)
    real_insert = store_module._insert_runs

    def insert_then_fail(con: duckdb.DuckDBPyConnection, name: str) -> None:
        real_insert(con, name)
        raise _Injected("killed during the insert")

    monkeypatch.setattr(store_module, "_insert_runs", insert_then_fail)
    with pytest.raises(_Injected):
        memory_store.ingest(runs_frame, "second")
    assert _contents(memory_store) == before


def test_ingest_file_and_source_info(tmp_path: Path, write_csv: Any) -> None:
    path = write_csv("my runs.csv.gz" if False else "my_runs.csv")
    info = file_source(path)
    assert info.name == "my_runs" and info.title == "my_runs.csv"
    assert info.url == path.resolve().as_uri() and info.sha256 is not None
    assert len(info.sha256) == 64
    db = tmp_path / "s.duckdb"
    stages: list[str] = []
    result = ingest_file(path, db=db, progress=stages.append)
    assert stages == ["read", "validate", "write"]
    assert (result.source, result.n_added) == ("my_runs", 4)
    with open_store(db, read_only=True) as store:
        assert store.sources()["sha256"].tolist() == [info.sha256]


def test_bad_file_never_creates_a_store(tmp_path: Path, write_csv: Any) -> None:
    path = write_csv(rows=["r50,true,0.76,cifar10,Full FT,,0,95,0.1"])
    db = tmp_path / "never.duckdb"
    with pytest.raises(InputError, match="--percent"):
        ingest_file(path, db=db)
    assert not db.exists()


def test_parse_column_map() -> None:
    assert parse_column_map(["acc=downstream_score", "a=b=model"]) == {
        "acc": "downstream_score",
        "a=b": "model",
    }
    for bad in ("acc", "=model", "acc=", "acc=accuracy"):
        with pytest.raises(InputError, match="--map"):
            parse_column_map([bad])
    with pytest.raises(InputError, match="twice"):
        parse_column_map(["a=model", "a=task"])


# --------------------------------------------------------------- lossless round trip

_TEXT = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=10
)  # no surrounding white space to strip
_NAME = st.from_regex(r"[a-z][a-z0-9]{0,5}(_[a-z0-9]{1,4}){0,2}", fullmatch=True)
_METRICS = ["accuracy", "top1", "acc_norm", "loss", "ppl", "bits_per_byte"]
_JSON_VALUE = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    _TEXT,
)


@st.composite
def _runs(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 12))
    rows = []
    for i in range(n):
        metric = draw(st.sampled_from(_METRICS))
        accuracy = metric in {"accuracy", "top1", "acc_norm"}
        score = (
            st.floats(0, 1)
            if accuracy
            else st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False)
        )
        pretrained = draw(st.booleans())
        hparams = draw(st.none() | st.dictionaries(_TEXT, _JSON_VALUE, min_size=1, max_size=3))
        rows.append(
            {
                "model": draw(_TEXT),
                "pretrained": pretrained,
                "upstream_task": draw(st.none() | _TEXT),
                "upstream_metric": "top1",
                "upstream_score": draw(st.floats(0, 1)) if pretrained else None,
                "task": draw(_TEXT),
                "method": draw(_NAME),
                "shots": draw(st.none() | st.integers(0, 2**63 - 1)),
                "seed": i if draw(st.booleans()) else -(2**63) + i,  # unique run keys
                "downstream_metric": metric,
                "downstream_score": draw(score),
                "downstream_stderr": draw(st.none() | st.floats(0, 1e6)),
                "architecture": draw(st.none() | _TEXT),
                "params": draw(st.none() | st.integers(0, 2**63 - 1)),
                "pretrain_data": draw(st.none() | _TEXT),
                "pretrain_steps": draw(st.none() | st.integers(0, 2**63 - 1)),
                "hparams": None if hparams is None else canonical_json(hparams),
            }
        )
    frame = pd.DataFrame(
        {c: [r[c] for r in rows] for c in INPUT_COLUMNS if RUN_COLUMNS[c] != "BIGINT"}
    )
    for column in ("shots", "seed", "params", "pretrain_steps"):  # no float round trip
        values = [r[column] for r in rows]
        mask = np.array([v is None for v in values])
        data = np.array([0 if v is None else v for v in values], dtype=np.int64)
        frame[column] = pd.arrays.IntegerArray(data, mask)
    return frame[list(INPUT_COLUMNS)]


@pytest.fixture(scope="module")
def shared_store() -> Any:
    """One in-memory store for all examples (each example ingests under its own name)."""
    with open_store(":memory:") as store:
        yield store


def test_dataframe_store_dataframe_is_lossless(shared_store: Store) -> None:
    names = iter(range(10**6))

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(frame=_runs())
    def round_trip(frame: pd.DataFrame) -> None:
        name = f"prop{next(names)}"
        valid = validate_runs(frame)
        expected = valid.frame
        shared_store.ingest(valid, name)
        back = shared_store.runs(source=name).drop(columns=["run_id", "source"])
        assert list(back.columns) == list(expected.columns)
        pd.testing.assert_frame_equal(
            back.sort_values("seed").reset_index(drop=True),
            expected.sort_values("seed").reset_index(drop=True),
            check_exact=True,
        )
        # the canonical frame is the generated one: nothing was lost on the way in either
        for column in INPUT_COLUMNS:
            left = expected[column].astype(object).where(expected[column].notna(), None)
            right = frame[column].astype(object).where(frame[column].notna(), None)
            assert left.tolist() == right.tolist(), column

    round_trip()
