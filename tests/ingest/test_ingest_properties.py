"""Properties of the readers, checked by hypothesis on generated tables and on random bytes.

- Any text (no NUL, not blank) in a text column survives every file type and the store exactly
  (after stripping surrounding spaces): names such as ``NA``, ``007`` or ``1e3`` included.
- Whatever bytes a file holds, reading it gives runs or an InputError with one line: never
  another exception.
- A JSON Lines file is read when every line is an object; otherwise the error names the row of
  the first line that is not.

Hypothesis runs derandomized (the same examples every time).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transferscope.errors import InputError
from transferscope.ingest.pipeline import read_runs
from transferscope.store import open_store

SETTINGS = settings(
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
SUFFIXES = ("csv", "tsv", "jsonl", "parquet", "csv.gz")

# any Unicode text that UTF-8 can hold, without NUL, that is not blank
names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40
).filter(lambda s: s.strip() != "")


def _write(frame: pd.DataFrame, folder: Path, suffix: str) -> Path:
    path = folder / f"runs.{suffix}"
    if suffix == "parquet":
        frame.to_parquet(path)
    elif suffix == "jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        # RFC 4180 line ends, so that a value holding a CR or LF is quoted (with pandas' default
        # "\n" a bare CR is written unquoted, and every reader takes it for a line break)
        sep = "\t" if suffix == "tsv" else ","
        frame.to_csv(path, sep=sep, index=False, encoding="utf-8", lineterminator="\r\n")
    return path


@settings(SETTINGS, max_examples=40)
@given(
    models=st.lists(names, min_size=1, max_size=4, unique_by=str.strip),
    task=names,
    architecture=names,
    suffix=st.sampled_from(SUFFIXES),
)
def test_text_survives_every_file_type_and_the_store(
    models: list[str], task: str, architecture: str, suffix: str
) -> None:
    frame = pd.DataFrame(
        {
            "model": models,
            "task": task,
            "method": "ft",
            "architecture": architecture,
            "upstream_score": 0.5,
            "downstream_score": 0.25,
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        runs = read_runs(_write(frame, Path(folder), suffix))
    assert sorted(runs.frame["model"]) == sorted(m.strip() for m in models)
    assert set(runs.frame["task"]) == {task.strip()}
    assert set(runs.frame["architecture"]) == {architecture.strip()}
    with open_store(":memory:") as store:
        store.ingest(runs, "s")
        back = store.runs()
    assert sorted(back["model"]) == sorted(m.strip() for m in models)
    assert set(back["architecture"]) == {architecture.strip()}


@settings(SETTINGS, max_examples=150)
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_give_runs_or_one_line(data: bytes, suffix: str) -> None:
    _read_or_one_line(data, suffix)


# text that looks a little like a table: delimiters, quotes, line breaks, numbers, NA words
_cells = st.sampled_from(
    ["model", "task", "method", "downstream_score", "upstream_score", "hparams", "a", "0.5",
     "1e3", "NA", "", '"', '""', "\n", "\r\n", ",", "\t", "{", "[1]", '{"a": 1}', "-1", "\x00",
     "true", "é", "\ufeff"]
)  # fmt: skip
tables = st.lists(_cells, max_size=60).map("".join)


@settings(SETTINGS, max_examples=150)
@given(text=tables, suffix=st.sampled_from(("csv", "tsv", "jsonl")))
def test_table_like_text_gives_runs_or_one_line(text: str, suffix: str) -> None:
    _read_or_one_line(text.encode("utf-8"), suffix)


def _read_or_one_line(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"x.{suffix}"
        path.write_bytes(data)
        try:
            runs = read_runs(path)
        except InputError as exc:
            message = str(exc)
            assert message.startswith(str(path)) and "\n" not in message.strip()
            return
    assert runs.n_rows >= 1  # read: at least one canonical run


_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
RUN = {"model": "m", "task": "t", "method": "ft", "downstream_score": 0.5, "upstream_score": 0.5}


@settings(SETTINGS, max_examples=100)
@given(lines=st.lists(json_values, min_size=1, max_size=6))
def test_json_lines_name_the_first_line_that_is_not_an_object(lines: list[Any]) -> None:
    records = [({**RUN, "model": f"m{i}", "extra": v} if isinstance(v, dict) else v)
               for i, v in enumerate(lines)]  # fmt: skip
    text = "".join(json.dumps(r) + "\n" for r in records)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.jsonl"
        path.write_text(text, encoding="utf-8")
        first_bad = next((i for i, r in enumerate(records, 1) if not isinstance(r, dict)), None)
        try:
            runs = read_runs(path)
        except InputError as exc:
            assert first_bad is not None or exc.location.column == "extra", exc
            if first_bad is not None:
                assert exc.location.row == first_bad and "expected a JSON object" in exc.reason
            return
    assert first_bad is None and runs.n_rows == len(records)
