"""Reading tables of runs from files: every supported type, and one-line errors for bad files."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from transferscope.errors import InputError
from transferscope.ingest.pipeline import read_runs
from transferscope.ingest.readers import read_table
from transferscope.schema.validate import validate_runs


def _error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_runs(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_every_type_reads_the_same_runs(
    tmp_path: Path, write_csv: Callable[..., Path], runs_frame: pd.DataFrame
) -> None:
    expected = validate_runs(runs_frame).frame
    csv = write_csv("runs.csv")
    tsv = write_csv("runs.tsv", text=csv.read_text().replace(",", "\t"))
    gz = tmp_path / "runs.csv.gz"
    gz.write_bytes(gzip.compress(csv.read_bytes()))
    parquet = tmp_path / "runs.parquet"
    runs_frame.to_parquet(parquet)
    jsonl = tmp_path / "runs.jsonl"
    runs_frame.to_json(jsonl, orient="records", lines=True)
    for path in (csv, tsv, gz, parquet, jsonl):
        pd.testing.assert_frame_equal(read_runs(path).frame, expected, obj=path.name)


def test_text_columns_stay_text(write_csv: Callable[..., Path]) -> None:
    path = write_csv(
        rows=["007,true,0.5,1e3,10,,,0.5,", "0.10,true,0.5,1e3,10,,,0.5,"],
    )
    frame = read_runs(path).frame
    assert frame["model"].tolist() == ["007", "0.10"]
    assert frame["task"].tolist() == ["1e3", "1e3"]
    assert frame["method"].tolist() == ["10", "10"]


def test_mapped_text_column_is_read_as_text(write_csv: Callable[..., Path]) -> None:
    path = write_csv(
        header="id,task,method,downstream_score,upstream_score", rows=["007,t,m,0.5,0.5"]
    )
    assert read_table(path, column_map={"id": "model"})["id"].tolist() == ["007"]
    assert read_runs(path, column_map={"id": "model"}).frame["model"].tolist() == ["007"]


def test_empty_and_header_only(write_csv: Callable[..., Path]) -> None:
    assert "empty file" in _error(write_csv("empty.csv", text=""))
    assert "empty file" in _error(write_csv("blank.csv", text="\n \n"))
    assert "no data rows (only a header)" in _error(write_csv("header.csv", rows=[]))


def test_binary_and_non_utf8_files(tmp_path: Path, runs_frame: pd.DataFrame) -> None:
    binary = tmp_path / "runs.csv"
    binary.write_bytes(b"model,task\x00\x01\x02\xff")
    assert "binary content, not CSV text" in _error(binary)
    parquet_named_csv = tmp_path / "p.csv"
    runs_frame.to_parquet(parquet_named_csv)
    assert "binary content" in _error(parquet_named_csv)
    latin1 = tmp_path / "latin.csv"
    latin1.write_bytes("model,task\ncaf\u00e9,t\n".encode("latin-1"))
    assert "not UTF-8 text (byte 15)" in _error(latin1)
    fake = tmp_path / "runs.parquet"
    fake.write_text("model,task\n")
    assert "not a Parquet file" in _error(fake)
    fake_gz = tmp_path / "runs.csv.gz"
    fake_gz.write_text("model,task\n")
    assert "not a readable gzip file" in _error(fake_gz)


def test_unknown_type_lists_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "runs.xlsx"
    path.write_bytes(b"PK\x03\x04")
    message = _error(path)
    assert "unknown file type (.xlsx); supported: .csv, .tsv" in message
    assert ".parquet" in message and ".jsonl" in message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "no such file" in _error(tmp_path / "nothere.csv")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    assert "is a directory" in _error(folder)


def test_ragged_row_is_located(write_csv: Callable[..., Path]) -> None:
    path = write_csv(
        header="model,task,method,downstream_score", rows=["a,t,m,0.5", "", "b,t,m,0.5,9"]
    )
    message = _error(path)
    # blank lines are not counted: the second data row
    assert "row 2: 5 fields where the header has 4" in message


def test_unnamed_and_duplicate_header_columns(write_csv: Callable[..., Path]) -> None:
    assert "column 3 has no name" in _error(write_csv(header="model,task,,x", rows=["a,b,c,d"]))
    assert "duplicate column name 'task'" in _error(
        write_csv(header="model,task,task", rows=["a,b,c"])
    )


def test_row_numbers_count_data_rows(write_csv: Callable[..., Path]) -> None:
    path = write_csv(
        header="model,task,method,downstream_score,upstream_score",
        rows=["a,t,m,0.5,0.5", "b,t,m,0.6,0.5", "c,t,m,1.7,0.5"],
    )
    with pytest.raises(InputError) as info:
        read_runs(path)
    assert info.value.location.row == 3  # header = row 0, first data row = row 1
    assert str(info.value).startswith(f"{path}, row 3, column 'downstream_score': 1.7 is outside")
