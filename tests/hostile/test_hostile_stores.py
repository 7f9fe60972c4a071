"""Hostile stores: every command says what is wrong in one line, exit 2, and leaves the file alone.

``--db`` may name a CSV (DuckDB would open it as an in-memory database and lose every write), a
FIFO, a device, a directory, a link loop or an empty file; a store may be damaged (a checksum
error), cut short, or miss a table. Each case runs on every command that opens a store.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.store import open_store

RUNS = (
    "model,pretrained,upstream_score,task,method,downstream_score\n"
    "r50,true,0.7,cifar10,ft,0.8\nvit,true,0.8,cifar10,ft,0.9\nscratch,false,,cifar10,ft,0.5\n"
)
COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "ingest": lambda d: ["ingest", str(d / "new.csv")],
    "sources": lambda d: ["sources"],
    "runs": lambda d: ["runs"],
    "fit": lambda d: ["fit", "--bootstrap", "0"],
    "rank": lambda d: ["rank", "--bootstrap", "0"],
    "report": lambda d: ["report", "--out", str(d / "report"), "--no-images"],
}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("transferscope: error: ")
    return lines[0]


def _content(path: Path) -> dict[str, str]:
    """The files of a store (and any write-ahead log) by content; a FIFO or folder by kind."""
    out = {}
    for p in sorted(path.parent.glob(path.name + "*")):
        out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "other"
    return out


@pytest.fixture(scope="module")
def good_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("good")
    (folder / "runs.csv").write_text(RUNS)
    path = folder / "store.duckdb"
    assert main(["ingest", str(folder / "runs.csv"), "--db", str(path)]) == 0
    return path


# ------------------------------------------------------------------ what --db may name


def _csv(path: Path) -> None:
    path.write_text(RUNS)


def _parquet(path: Path) -> None:
    pd.DataFrame({"a": [1, 2]}).to_parquet(path)


def _gzip(path: Path) -> None:
    path.write_bytes(gzip.compress(RUNS.encode()))


def _json(path: Path) -> None:
    path.write_text('[{"model": "a"}]\n')


NOT_A_STORE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "csv": ("store.csv", _csv, "not a DuckDB database (it is a text file, e.g. CSV or JSON)"),
    "tsv": ("store.tsv", lambda p: p.write_text(RUNS.replace(",", "\t")), "a text file"),
    "parquet": ("store.parquet", _parquet, "not a DuckDB database (it holds Parquet data)"),
    "json": ("store.json", _json, "it is a text file"),
    "csv.gz": ("store.csv.gz", _gzip, "it holds gzip-compressed data"),
    "empty file": ("store.duckdb", lambda p: p.write_bytes(b""), "an empty file"),
    "short file": ("store.duckdb", lambda p: p.write_bytes(b"12345678DUCK"), "truncated"),
    "FIFO": ("store.duckdb", lambda p: os.mkfifo(p), "is a FIFO (named pipe), not a DuckDB"),
    "device": ("store.duckdb", lambda p: p.symlink_to("/dev/zero"), "is a character device"),
    "directory": ("store.duckdb", lambda p: p.mkdir(), "is a directory"),
    "link loop": ("store.duckdb", lambda p: p.symlink_to(p), "a symbolic link loop"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(NOT_A_STORE))
def test_a_db_that_is_not_a_store_is_refused(
    case: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, make, expected = NOT_A_STORE[case]
    db = tmp_path / name
    make(db)
    (tmp_path / "new.csv").write_text(RUNS)
    before = _content(db)
    code, out, err = _run([*COMMANDS[command](tmp_path), "--db", str(db), "--wait", "0"], capsys)
    line = _one_line_error(err)
    assert (code, out) == (2, ""), line
    assert line.startswith(f"transferscope: error: {db}: ") and expected in line
    assert _content(db) == before  # nothing written, and no data lost silently


def test_a_new_db_named_like_a_table_is_a_real_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in.csv").write_text(RUNS)
    db = tmp_path / "store.csv"  # an odd name, but a new file: DuckDB creates a database file
    code, out, _ = _run(["ingest", str(tmp_path / "in.csv"), "--db", str(db)], capsys)
    assert code == 0 and "3 added" in out
    assert db.read_bytes()[8:12] == b"DUCK"
    code, out, _ = _run(["runs", "--db", str(db), "--format", "csv"], capsys)
    # runs lists the downstream metric too (issue 14)
    assert code == 0 and out.splitlines()[1] == "in,cifar10,ft,,accuracy,3,3,2"


# ------------------------------------------------------------ damaged and incomplete


def _corrupt_every_block(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(3 * 4096 + 1000, len(data), 256 * 1024):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _cut_in_the_headers(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:5000])


def _drop(table: str) -> Callable[[Path], None]:
    def drop(path: Path) -> None:
        with duckdb.connect(str(path)) as con:
            con.execute(f"DROP TABLE {table}")

    return drop


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "checksum errors": (_corrupt_every_block, "the store file is damaged (Corrupt database file"),
    "cut in half": (_cut_in_half, "the store file is truncated"),
    "cut in its headers": (_cut_in_the_headers, "the store file is truncated (5000 bytes"),
    "runs table dropped": (_drop("runs"), "the store is incomplete: table runs missing"),
    "fits table dropped": (_drop("fits"), "the store is incomplete: table fits missing"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_store_is_reported_with_the_way_to_recover(
    case: str,
    command: str,
    good_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    damage, expected = DAMAGE[case]
    db = tmp_path / "store.duckdb"
    shutil.copyfile(good_store, db)
    damage(db)
    (tmp_path / "new.csv").write_text(RUNS.replace("r50", "r101"))
    before = _content(db)
    code, out, err = _run([*COMMANDS[command](tmp_path), "--db", str(db), "--wait", "0"], capsys)
    line = _one_line_error(err)
    assert (code, out) == (2, ""), line
    assert expected in line
    assert line.endswith(
        "restore the file from a backup, or ingest the sources again into a new store (--db NEW)"
    )
    assert _content(db) == before


def test_one_damaged_block_is_reported_when_it_is_read(
    good_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "store.duckdb"
    shutil.copyfile(good_store, db)
    with duckdb.connect(str(db), read_only=True) as con:
        blocks = con.execute("SELECT DISTINCT block_id FROM pragma_storage_info('runs')").fetchall()
    data = bytearray(db.read_bytes())
    for (block,) in blocks:
        if block is not None and block >= 0:
            data[3 * 4096 + block * 256 * 1024 + 500] ^= 0xFF
    db.write_bytes(bytes(data))
    code, _, err = _run(["runs", "--db", str(db)], capsys)
    assert code == 2 and "the store file is damaged" in _one_line_error(err)


# ---------------------------------------------------------------------------- locks


def test_a_reader_waits_for_a_lock_and_says_so(
    good_store: Path,
    tmp_path: Path,
    hold_open: Callable[[Path], Callable[[], None]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "store.duckdb"
    shutil.copyfile(good_store, db)
    release = hold_open(db)
    code, _, err = _run(["runs", "--db", str(db), "--wait", "0.3"], capsys)
    notice, error = err.splitlines()
    assert code == 2
    assert notice.startswith(f"transferscope: {db}: locked by PID ")
    assert notice.endswith("waiting up to 0.3 s for it")
    assert "locked by another process (PID " in error and "--wait SECONDS" in error
    # released while it waits: it goes on
    timer = threading.Timer(0.5, release)
    timer.start()
    try:
        code, out, err = _run(["runs", "--db", str(db), "--wait", "60", "--format", "csv"], capsys)
    finally:
        timer.join()
    assert code == 0 and "waiting up to 60 s" in err
    assert out.splitlines()[1] == "runs,cifar10,ft,,accuracy,3,3,2"


def test_wait_is_bounded_and_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("-1", "1e9", "soon"):
        code, _, err = _run(["runs", "--db", str(tmp_path / "s.duckdb"), "--wait", value], capsys)
        (line,) = err.splitlines()
        assert code == 2 and line.startswith("transferscope runs: argument --wait: expected")


def test_a_store_opened_without_holding_its_lock_lets_others_read(
    good_store: Path, tmp_path: Path
) -> None:
    db = tmp_path / "store.duckdb"
    shutil.copyfile(good_store, db)
    with open_store(db, hold_lock=False) as writer:
        with open_store(db, read_only=True) as reader:  # another reader, meanwhile
            assert len(reader.runs()) == 3
        with writer.transaction() as con:  # takes the write lock for the transaction only
            con.execute("DELETE FROM runs WHERE model = 'scratch'")
        assert len(writer.runs()) == 2
        with open_store(db, read_only=True) as reader:
            assert len(reader.runs()) == 2
