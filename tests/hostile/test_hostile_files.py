"""A corpus of hostile input files made by the tests: one line and exit 2 each, or read right.

Every case runs ``transferscope ingest FILE --db STORE`` against a store that already holds four
runs. A refused file leaves one line on stderr naming the file (and the row and column where they
apply), exit status 2 and the store exactly as it was; an accepted file's runs are checked in
the store. No case may hang (FIFOs are refused by ``stat`` before anything opens them), and no
case may end in a traceback.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.store import open_store

HEADER = "model,pretrained,upstream_score,task,method,downstream_score"
GOOD = "r50,true,0.7,cifar10,ft,0.8"
OBJECT = {"model": "a", "task": "t", "method": "m", "downstream_score": 0.5, "upstream_score": 0.4}
TEN_MB = 10 * 1024 * 1024


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("transferscope: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding two runs, made once."""
    folder = tmp_path_factory.mktemp("template")
    (folder / "runs.csv").write_text(f"{HEADER}\n{GOOD}\nvit,true,0.8,cifar10,ft,0.9\n")
    path = folder / "store.duckdb"
    assert main(["ingest", str(folder / "runs.csv"), "--db", str(path)]) == 0
    return path


@pytest.fixture
def db(template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A copy of the template store for one test."""
    capsys.readouterr()
    path = tmp_path / "store.duckdb"
    shutil.copyfile(template, path)
    return path


def _fingerprint(folder: Path) -> dict[str, str]:
    """Every file in the store's folder (the store, and a write-ahead log if any) by content."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.iterdir()
        if p.name.startswith("store.duckdb")
    }


# --------------------------------------------------------------------------- the corpus


def _text(name: str, text: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_text(text, encoding="utf-8", newline="")
        return path

    return make


def _bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def _jsonl(name: str, *lines: object) -> Callable[[Path], Path]:
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    return _text(name, text)


def _late(header: str, last: str) -> Callable[[Path], Path]:
    """A CSV whose last row (row 3001) starts after the first 64 KiB."""

    def make(folder: Path) -> Path:
        width = header.count(",") - HEADER.count(",")
        rows = [f"m{i:05d},true,0.7,t,ft,0.8" + ",x" * width for i in range(3000)]
        path = folder / "late.csv"
        path.write_text("\n".join([header, *rows, last]) + "\n")
        assert path.stat().st_size > 65536
        return path

    return make


def _parquet_with(column: str, value: object) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        frame = pd.DataFrame([{**OBJECT, column: value}])
        path = folder / "p.parquet"
        frame.to_parquet(path)
        return path

    return make


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.csv"
    os.mkfifo(path)  # no writer: opening it would block forever
    return path


def _socket(folder: Path) -> Path:
    path = folder / "sock.csv"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    return path


def _device(folder: Path) -> Path:
    path = folder / "zero.csv"
    path.symlink_to("/dev/zero")  # endless: reading it would never finish
    return path


def _loop(folder: Path) -> Path:
    a, b = folder / "a.csv", folder / "b.csv"
    a.symlink_to(b)
    b.symlink_to(a)
    return a


def _broken_link(folder: Path) -> Path:
    path = folder / "gone.csv"
    path.symlink_to(folder / "nowhere.csv")
    return path


def _directory(folder: Path) -> Path:
    path = folder / "folder.csv"
    path.mkdir()
    return path


def _under_a_file(folder: Path) -> Path:
    (folder / "plain.txt").write_text("x")
    return folder / "plain.txt" / "runs.csv"


def _cell(text: str) -> str:
    """One quoted CSV field."""
    return '"' + text.replace('"', '""') + '"'


def _deep(opening: str, closing: str, depth: int) -> str:
    return opening * depth + closing * depth


def _big_gz(folder: Path) -> Path:
    path = folder / "big.tsv.gz"
    text = "model\ttask\tmethod\tdownstream_score\tupstream_score\tnotes\n"
    text += f"m\tt\tft\t0.5\t0.5\t{'x' * TEN_MB}\n"
    path.write_bytes(gzip.compress(text.encode()))
    return path


_NESTED_OBJECTS = '{"a":' * 100 + "1" + "}" * 100


@dataclass(frozen=True)
class Refused:
    make: Callable[[Path], Path]
    expected: str  # part of the one-line error, after the file name


REFUSED: dict[str, Refused] = {
    # JSON Lines: every line one object, and every error names its row
    "jsonl array line": Refused(_jsonl("a.jsonl", OBJECT, [1, 2]), "row 2: expected a JSON object"),
    "jsonl number line": Refused(_jsonl("a.jsonl", OBJECT, 3), "row 2: expected a JSON object"),
    "jsonl null line": Refused(_jsonl("a.jsonl", OBJECT, None), "got null"),
    "jsonl string line": Refused(_jsonl("a.jsonl", '"text"'), "row 1: expected a JSON object"),
    "jsonl true line": Refused(_jsonl("a.jsonl", OBJECT, OBJECT, "true"), "row 3"),
    "jsonl broken line": Refused(
        _jsonl("a.jsonl", OBJECT, '{"model":'), "row 2: invalid JSON at character 10"
    ),
    "jsonl row count skips blank lines": Refused(
        _text("a.jsonl", json.dumps(OBJECT) + "\n\n\n[]\n"), "row 2: expected a JSON object"
    ),
    "jsonl nested 100000 deep": Refused(
        _jsonl("a.jsonl", OBJECT, '{"x": ' + _deep("[", "]", 100_000) + "}"),
        "row 2: a value nested more than 64 levels deep",
    ),
    "jsonl nested 65 deep": Refused(
        _jsonl("a.jsonl", {**OBJECT, "x": json.loads(_deep("[", "]", 65))}),
        "row 1, column 'x': nested more than 64 levels deep",
    ),
    "jsonl NUL by escape": Refused(
        _text("a.jsonl", json.dumps({**OBJECT, "model": "a\u0000b"}) + "\n"),
        "row 1, column 'model': a NUL character",
    ),
    "jsonl NUL in an hparams key": Refused(
        _jsonl("a.jsonl", {**OBJECT, "extra": {"k\u0000": 1}}),
        "row 1, column 'extra': a NUL character (\\x00) in a key or text",
    ),
    "jsonl gzip of garbage": Refused(_bytes("a.jsonl.gz", b"\x1f\x8bnot gzip"), "gzip"),
    # NUL bytes, wherever they are
    "NUL after the first 64 KiB": Refused(
        _late(HEADER, "bad\x00name,true,0.7,t,ft,0.8"), "row 3001, column 'model': a NUL character"
    ),
    "NUL in the first 64 KiB": Refused(
        _text("a.csv", f"{HEADER},note\n{GOOD},x\x00y\n"), "binary content, not CSV text"
    ),
    "NUL late in an unknown column": Refused(
        _late(f"{HEADER},note", "r,true,0.7,t,ft,0.8,x\x00y"), "row 3001, column 'note': a NUL"
    ),
    "NUL in a column name": Refused(
        _jsonl("a.jsonl", {**OBJECT, "no\u0000te": 1}), "column 6 has a NUL character"
    ),
    "NUL escaped inside hparams JSON": Refused(
        _text("a.csv", f'{HEADER},hparams\n{GOOD},"{{""a"": ""x\\u0000""}}"\n'),
        "row 1, column 'hparams': a NUL character",
    ),
    "NUL in a Parquet string": Refused(
        _parquet_with("task", "t\x00"), "row 1, column 'task': a NUL character"
    ),
    # nesting depth of hparams
    "hparams nested 100000 deep": Refused(
        _text("a.csv", f'{HEADER},hparams\n{GOOD},"{{""a"": {_deep("[", "]", 100_000)}}}"\n'),
        "row 1, column 'hparams': nested more than 64 levels deep",
    ),
    "hparams objects nested 100 deep": Refused(
        _text("a.csv", f"{HEADER},hparams\n{GOOD},{_cell(_NESTED_OBJECTS)}\n"),
        "row 1, column 'hparams': nested more than 64 levels deep",
    ),
    # empty text is missing, and a model needs a name
    "empty model": Refused(_text("a.csv", f"{HEADER}\n,true,0.7,t,ft,0.8\n"), "empty value"),
    "NA in a number column that needs a value": Refused(
        _text("a.csv", f"{HEADER}\nr50,true,0.7,t,ft,NA\n"),
        "row 1, column 'downstream_score': empty value",
    ),
    # things that are not regular files: refused before opening, with the right reason
    "FIFO without a writer": Refused(_fifo, "is a FIFO (named pipe), not a regular file"),
    "socket": Refused(_socket, "is a socket, not a regular file"),
    "character device": Refused(_device, "is a character device, not a regular file"),
    "symbolic link loop": Refused(_loop, "a symbolic link loop"),
    "broken symbolic link": Refused(_broken_link, "a broken symbolic link"),
    "directory": Refused(_directory, "is a directory"),
    "path under a regular file": Refused(_under_a_file, "plain.txt' is a file, not a folder"),
    # damaged text
    "ragged row after a quoted line break": Refused(
        _text("a.csv", f'{HEADER}\n"r\n50",true,0.7,t,ft,0.8\nx,1,2\n'), "row 2: 3 fields"
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_hostile_file_is_one_line_exit_2_and_changes_nothing(
    case: str, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "input"
    folder.mkdir()
    path = REFUSED[case].make(folder)
    before = _fingerprint(db.parent)
    code, out, err = _run(["ingest", str(path), "--db", str(db)], capsys)
    line = _one_line_error(err)
    assert (code, out) == (2, ""), line
    assert line.startswith(f"transferscope: error: {path}"), line
    assert REFUSED[case].expected in line
    assert _fingerprint(db.parent) == before  # not a byte of the store changed


# ------------------------------------------------------------- accepted, and read right


def _stored(db: Path, source: str) -> pd.DataFrame:
    with open_store(db, read_only=True) as store:
        return store.runs(source=source)


def test_text_cells_keep_their_text(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only an empty cell is missing in a text column: NA, NULL, N/A, nan, null are names."""
    header = "model,architecture,pretrained,upstream_score,task,method,downstream_score,params"
    rows = [
        "NA,NA,true,0.7,t,ft,0.8,NA",
        '"NULL","NULL",true,0.7,t,ft,0.8,',
        "N/A,N/A,true,0.7,t,ft,0.8,",
        '"nan",nan,true,0.7,t,ft,0.8,nan',
        "null,,false,NA,t,ft,0.8,",
    ]
    path = tmp_path / "names.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    code, _, err = _run(["ingest", str(path), "--db", str(db)], capsys)
    assert code == 0, err
    runs = _stored(db, "names").set_index("model")
    assert sorted(runs.index) == ["N/A", "NA", "NULL", "nan", "null"]
    kept = runs["architecture"].drop(index="null")
    assert kept.to_dict() == {"N/A": "N/A", "NA": "NA", "NULL": "NULL", "nan": "nan"}
    assert pd.isna(runs.loc["null", "architecture"])  # the empty cell, and only it, is missing
    # in columns of numbers the same words are missing values
    assert runs["params"].isna().all()
    assert pd.isna(runs.loc["null", "upstream_score"])


def test_the_same_words_are_names_in_every_file_type(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["NA", "NULL", "N/A", "nan", "null", "None"]
    frame = pd.DataFrame(
        {
            "model": names,
            "task": "t",
            "method": "m",
            "architecture": names,
            "downstream_score": 0.5,
            "upstream_score": 0.5,
        }
    )
    for suffix in ("csv", "tsv", "jsonl", "parquet", "csv.gz"):
        path = tmp_path / f"words_{suffix.replace('.', '_')}.{suffix}"
        if suffix == "parquet":
            frame.to_parquet(path)
        elif suffix == "jsonl":
            frame.to_json(path, orient="records", lines=True)
        else:
            sep = "\t" if suffix == "tsv" else ","
            frame.to_csv(path, sep=sep, index=False)
        code, _, err = _run(["ingest", str(path), "--db", str(db)], capsys)
        assert code == 0, err
        runs = _stored(db, path.name.split(".")[0])
        assert sorted(runs["model"]) == sorted(names), suffix
        assert (runs["model"] == runs["architecture"]).all(), suffix


@pytest.mark.parametrize("where", ["csv model", "tsv.gz unknown column", "jsonl hparams"])
def test_a_10_mb_field_is_read(
    where: str, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = "x" * TEN_MB
    if where == "csv model":
        path = _text("long.csv", f"{HEADER}\n{long},true,0.7,t,ft,0.8\n")(tmp_path)
    elif where == "tsv.gz unknown column":
        path = _big_gz(tmp_path)
    else:
        path = _jsonl("long.jsonl", {**OBJECT, "hparams": {"note": long}})(tmp_path)
    code, out, err = _run(["ingest", str(path), "--db", str(db)], capsys)
    assert code == 0, err
    assert "1 rows read, 1 added" in out
    runs = _stored(db, path.name.split(".")[0])
    text = runs["model"].iloc[0] if where == "csv model" else runs["hparams"].iloc[0]
    assert long in text


def test_a_quoted_line_break_is_part_of_the_value(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"m{i:06d},true,0.7,t,ft,0.8" for i in range(45_000)]  # two Arrow blocks
    rows.insert(30_000, '"two\nlines",true,0.7,t,ft,0.8')
    path = tmp_path / "breaks.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    code, out, err = _run(["ingest", str(path), "--db", str(db)], capsys)
    assert code == 0, err
    assert "45001 rows read" in out
    assert "two\nlines" in set(_stored(db, "breaks")["model"])


def test_64_levels_of_hparams_are_kept(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    value = json.loads(_deep("[", "]", 63))  # 63 levels inside the hparams object: 64 in all
    path = _jsonl("deep.jsonl", {**OBJECT, "hparams": {"x": value}})(tmp_path)
    code, _, err = _run(["ingest", str(path), "--db", str(db)], capsys)
    assert code == 0, err
    assert json.loads(_stored(db, "deep")["hparams"].iloc[0]) == {"x": value}
