"""Read a table of runs from a file into a pandas DataFrame, with one-line errors.

Supported types, chosen by the file name's suffix:

=====================  ===========================================
suffix                 read as
=====================  ===========================================
``.csv``               comma-separated text, header row first
``.tsv``, ``.tab``     tab-separated text, header row first
``.parquet``, ``.pq``  Apache Parquet
``.jsonl``, ``.ndjson``  JSON Lines: one JSON object per line
``.gz`` after any text suffix (``.csv.gz``, ...)  the same, gzip-compressed
=====================  ===========================================

Row numbers in error messages count data rows from 1 (the header is row 0, blank lines are
skipped and not counted), the convention of :class:`transferscope.errors.Location`. Columns
whose canonical name is text (``model``, ``task``, ...) are read as text, so that a model named
``007`` stays ``007``; every other column keeps the type the reader infers, and validation
(:mod:`transferscope.schema.validate`) converts and checks it.

Missing values in delimited text: only an empty cell is missing in a column of text. ``NA``,
``NULL``, ``N/A``, ``nan`` or ``null`` (quoted or not) are kept as text there, so a model named
``NA`` or an architecture ``NA`` stays what it is. In columns of numbers or true/false values
those words (and an empty cell) mean missing, as pandas and R write them.

What is refused before any parsing: a path that is not a regular file (a directory, a FIFO, a
device, a socket, a symbolic link loop; checked with ``stat``, so a FIFO without a writer
cannot hang the read), and an empty or binary file. Fields of any size are read (a 10 MB cell
is legal). A JSON Lines line must hold one JSON object; an array, a number, a string, ``null``
or a value nested deeper than :data:`transferscope.schema.validate.MAX_JSON_DEPTH` levels is an
error naming its row.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet

from transferscope.errors import InputError
from transferscope.paths import check_input_file
from transferscope.schema import RUN_COLUMNS
from transferscope.schema.validate import MAX_JSON_DEPTH

#: Suffixes read as delimited text, with their delimiter.
_DELIMITED: dict[str, str] = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_JSON_LINES = (".jsonl", ".ndjson")
_PARQUET = (".parquet", ".pq")

#: Suffixes that :func:`read_table` accepts (a text suffix may be followed by ``.gz``).
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    *_DELIMITED,
    *_PARQUET,
    *_JSON_LINES,
    *(s + ".gz" for s in (*_DELIMITED, *_JSON_LINES)),
)

_TEXT_TYPES = frozenset({"VARCHAR", "JSON"})
#: Arrow block sizes tried, in order, when a field is longer than the default block (1 MiB).
_LARGE_BLOCKS = (1 << 26, 1 << 30)
_SNIFF_BYTES = 1 << 16
_PARQUET_MAGIC = b"PAR1"


def _supported() -> str:
    return ", ".join(SUPPORTED_SUFFIXES)


def file_kind(path: Path) -> tuple[str, bool]:
    """Say how a file is read, from its name.

    Parameters
    ----------
    path : pathlib.Path
        The input file.

    Returns
    -------
    kind : {"csv", "tsv", "parquet", "jsonl"}
        The reader.
    gzipped : bool
        Whether the file is gzip-compressed (suffix ``.gz``).

    Raises
    ------
    InputError
        For a suffix that is not supported; the message lists the supported ones.
    """
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in _DELIMITED:
        return ("csv" if _DELIMITED[last] == "," else "tsv"), gzipped
    if last in _JSON_LINES:
        return "jsonl", gzipped
    if last in _PARQUET and not gzipped:
        return "parquet", False
    shown = "".join(path.suffixes) or "no suffix"
    raise InputError(
        f"unknown file type ({shown}); supported: {_supported()}",
        file=str(path),
    )


def _check_readable(path: Path) -> None:
    check_input_file(path, "a file")  # stat only: a FIFO or a device is never opened
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=str(path)) from None
    if path.stat().st_size == 0:
        raise InputError("empty file; expected a header row and data rows", file=str(path))


def _sniff_text(path: Path, gzipped: bool, kind: str) -> None:
    """Refuse binary or non-UTF-8 content before a text reader sees it."""
    try:
        if gzipped:
            with gzip.open(path, "rb") as handle:
                head = handle.read(_SNIFF_BYTES)
        else:
            with path.open("rb") as handle:
                head = handle.read(_SNIFF_BYTES)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise InputError(f"not a readable gzip file ({exc})", file=str(path)) from None
    if not head.strip():
        raise InputError("empty file; expected a header row and data rows", file=str(path))
    if b"\x00" in head or head.startswith(_PARQUET_MAGIC):
        raise InputError(
            f"binary content, not {kind.upper()} text; supported: {_supported()}",
            file=str(path),
        )
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start + 1}); save the file as UTF-8",
            file=str(path),
        ) from None


def _arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas with nullable integers (no float round trip) and pandas strings."""
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def _text_lines(path: Path, gzipped: bool) -> IO[str]:
    opener = gzip.open if gzipped else open
    return opener(path, "rt", encoding="utf-8-sig", newline="")


def _header(path: Path, gzipped: bool, delimiter: str) -> list[str]:
    try:
        with _text_lines(path, gzipped) as handle:
            records = csv.reader(handle, delimiter=delimiter)
            for record in records:
                if record:
                    return record
    except csv.Error as exc:
        raise InputError(f"cannot read the header row: {exc}", file=str(path)) from None
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise InputError(f"cannot read the header row: {_one_line(exc)}", file=str(path)) from None
    return []


_ARROW_TYPES = {"DOUBLE": pa.float64(), "BIGINT": pa.int64(), "BOOLEAN": pa.bool_()}


def _column_types(
    names: list[str], column_map: Mapping[str, str], *, typed: bool
) -> dict[str, pa.DataType]:
    """Arrow types by input column: text columns as text; with ``typed``, numbers too."""
    types = {}
    for name in names:
        sql_type = RUN_COLUMNS.get(column_map.get(name.strip(), name.strip()))
        if sql_type in _TEXT_TYPES:
            types[name] = pa.string()
        elif typed and sql_type in _ARROW_TYPES:
            types[name] = _ARROW_TYPES[sql_type]
    return types


def _read_delimited(
    path: Path, gzipped: bool, delimiter: str, column_map: Mapping[str, str]
) -> pd.DataFrame:
    names = _header(path, gzipped, delimiter)
    if not any(n.strip() for n in names):
        raise InputError("no header row; expected column names on the first line", file=str(path))
    unnamed = [i for i, n in enumerate(names, start=1) if not n.strip()]
    if unnamed:
        raise InputError(f"column {unnamed[0]} has no name in the header row", file=str(path))
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputError(f"duplicate column name {duplicated[0]!r} in the header", file=str(path))

    def read(typed: bool, newlines: bool, block_size: int | None) -> pa.Table:
        parse = pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines)
        convert = pa_csv.ConvertOptions(
            column_types=_column_types(names, column_map, typed=typed),
            # text keeps its text: only an empty cell is missing in a text column, while
            # numbers and true/false values read NA, NULL, nan, ... as missing
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        options = pa_csv.ReadOptions(block_size=block_size) if block_size else None
        source = pa.input_stream(str(path), compression="gzip" if gzipped else None)
        return pa_csv.read_csv(
            source, read_options=options, parse_options=parse, convert_options=convert
        )

    def read_sized(typed: bool, newlines: bool) -> pa.Table:
        # a field longer than Arrow's block (1 MiB by default) is legal: read with larger blocks
        for block_size in (None, *_LARGE_BLOCKS):
            try:
                return read(typed, newlines, block_size)
            except pa.ArrowInvalid as exc:
                if "straddl" not in str(exc) or block_size == _LARGE_BLOCKS[-1]:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # 1. the fast path: canonical numeric columns parsed as numbers straight away;
    # 2. a value that is not a number: read as the reader infers, so that validation can name
    #    its row and column;
    # 3. a quoted value holding a line break (legal CSV), which the fast chunker may split
    attempts = ((True, False), (False, False), (False, True))
    try:
        for number, (typed, newlines) in enumerate(attempts, start=1):
            try:
                table = read_sized(typed, newlines)
                break
            except pa.ArrowInvalid:
                if number == len(attempts):
                    raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        ragged = _first_ragged_row(path, gzipped, delimiter, len(names))
        if ragged is not None:
            row, n_fields = ragged
            raise InputError(
                f"{n_fields} fields where the header has {len(names)}; check the delimiter "
                "and quoting",
                file=str(path),
                row=row,
            ) from None
        raise InputError(f"cannot parse the file: {_one_line(exc)}", file=str(path)) from None
    return _arrow_to_frame(table)


def _first_ragged_row(
    path: Path, gzipped: bool, delimiter: str, n_columns: int
) -> tuple[int, int] | None:
    """Find the first data row whose field count differs from the header's (error path only)."""
    try:
        with _text_lines(path, gzipped) as handle:
            records = (r for r in csv.reader(handle, delimiter=delimiter) if r)
            next(records, None)  # the header
            for row, record in enumerate(records, start=1):
                if len(record) != n_columns:
                    return row, len(record)
    except (UnicodeDecodeError, csv.Error, OSError, EOFError):
        return None  # the reader's own message is reported instead
    return None


_JSON_KINDS = {
    list: "an array",
    str: "a string",
    bool: "true or false",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _json_objects(handle: IO[str], file: str) -> Iterator[dict[str, Any]]:
    """Parse one JSON object per non-blank line, naming the row of any problem."""
    row = 0
    for line in handle:
        if not line.strip():
            continue
        row += 1
        try:
            value = json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"invalid JSON at character {exc.pos + 1} ({exc.msg}); expected one JSON object "
                "per line",
                file=file,
                row=row,
            ) from None
        except RecursionError:
            raise InputError(
                f"a value nested more than {MAX_JSON_DEPTH} levels deep", file=file, row=row
            ) from None
        if not isinstance(value, dict):
            kind = _JSON_KINDS.get(type(value), type(value).__name__)
            raise InputError(
                f'expected a JSON object like {{"model": ...}} on each line, got {kind}',
                file=file,
                row=row,
            )
        yield value


def _column(values: list[Any]) -> Any:
    """Make a column of Python values: nullable numbers, text or booleans where uniform."""
    try:
        return pd.array(values)
    except (TypeError, ValueError, OverflowError):  # e.g. integers beyond 64 bits
        return pd.array(values, dtype=object)


def _read_json_lines(path: Path, gzipped: bool) -> pd.DataFrame:
    try:
        with _text_lines(path, gzipped) as handle:
            records = list(_json_objects(handle, str(path)))
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise InputError(
            f"cannot read as JSON Lines text: {_one_line(exc)}", file=str(path)
        ) from None
    names = list(dict.fromkeys(name for record in records for name in record))
    return pd.DataFrame({name: _column([r.get(name) for r in records]) for name in names})


def _read_parquet(path: Path) -> pd.DataFrame:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != _PARQUET_MAGIC:
        raise InputError(
            f"not a Parquet file (no PAR1 magic bytes); supported: {_supported()}",
            file=str(path),
        )
    try:
        table = pa_parquet.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            f"cannot read the Parquet file: {_one_line(exc)}", file=str(path)
        ) from None
    return _arrow_to_frame(table)


def read_table(path: str | Path, *, column_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a table of runs from CSV, TSV, Parquet or JSON Lines (text types also gzipped).

    Parameters
    ----------
    path : str or pathlib.Path
        The file; its suffix says the type (see :data:`SUPPORTED_SUFFIXES`).
    column_map : mapping of str to str, optional
        Input column name -> canonical name, as validation will apply it; used here only to
        read the columns that become canonical text columns as text.

    Returns
    -------
    pandas.DataFrame
        One row per data row, in file order, with a RangeIndex (position + 1 = the row number
        in error messages); columns as in the file. Not yet validated.

    Raises
    ------
    InputError
        For a missing, unreadable, empty, header-only, binary, non-UTF-8 or unparseable file,
        or an unsupported type.
    """
    path = Path(path)
    kind, gzipped = file_kind(path)
    _check_readable(path)
    mapping = dict(column_map or {})
    if kind == "parquet":
        frame = _read_parquet(path)
    else:
        _sniff_text(path, gzipped, kind)
        if kind == "jsonl":
            frame = _read_json_lines(path, gzipped)
        else:
            frame = _read_delimited(path, gzipped, "," if kind == "csv" else "\t", mapping)
    if len(frame) == 0:
        raise InputError("no data rows (only a header); expected at least one run", file=str(path))
    return frame.reset_index(drop=True)
