"""What every native reader returns, and the pieces they share (JSON files, upstream choice)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from transferscope.errors import InputError
from transferscope.records import NOT_RECORDED, Record, json_safe
from transferscope.schema import SourceInfo, snake_case

#: One row's origin: the file and where in it (a key path, a row, a run id).
Where = tuple[str, str]


@dataclass(frozen=True, eq=False, kw_only=True)
class FormatRead(Record):
    """Runs read from a native format, before validation.

    Parameters
    ----------
    frame : pandas.DataFrame
        One run per row, columns named canonically (unknown columns become hparams); not yet
        validated (:func:`transferscope.schema.validate_runs` does that).
    info : SourceInfo
        Provenance: where the results came from.
    locations : tuple of (str, str)
        Per row, the file and the place in it (``results.piqa.acc,none``, ``row 3``), so that a
        validation error names them instead of a row of ``frame``.
    columns : mapping of str to str
        Canonical column -> the input's name for it, for error messages.
    require_upstream : bool
        Whether pretrained rows must have an upstream score.
    """

    frame: pd.DataFrame = field(metadata=NOT_RECORDED)
    info: SourceInfo
    locations: tuple[Where, ...] = field(default=(), metadata=NOT_RECORDED)
    columns: Mapping[str, str] = field(default_factory=dict, metadata=NOT_RECORDED)
    require_upstream: bool = True

    def to_record(self) -> dict[str, Any]:
        """Return the provenance and the number of rows, JSON-safe.

        Returns
        -------
        dict
            Keys of :class:`~transferscope.schema.SourceInfo`, ``n_rows`` and
            ``require_upstream``.
        """
        return {
            **json_safe(dataclasses.asdict(self.info)),
            "n_rows": len(self.frame),
            "require_upstream": self.require_upstream,
        }

    def describe(self) -> str:
        """One line: source name, title and number of runs.

        Returns
        -------
        str
            E.g. ``evals: lm-evaluation-harness results (120 runs)``.
        """
        return f"{self.info.name}: {self.info.title or ''} ({len(self.frame)} runs)"


_ROWS = re.compile(r"\brows (\d+) and (\d+)\b")


def relocate(error: InputError, read: FormatRead) -> InputError:
    """Say where in the input a validation error sits (file and key, or file and row).

    Parameters
    ----------
    error : InputError
        Raised by :func:`transferscope.schema.validate_runs` on ``read.frame``.
    read : FormatRead
        What was validated.

    Returns
    -------
    InputError
        The same reason, naming the input's file, place and column.
    """
    locations = read.locations
    reason = error.reason
    column = error.location.column
    shown = read.columns.get(column, column) if column is not None else None

    def place(row: int) -> Where | None:
        return locations[row - 1] if 0 < row <= len(locations) else None

    pair = _ROWS.search(reason)
    if pair is not None:
        a, b = place(int(pair.group(1))), place(int(pair.group(2)))
        if a is not None and b is not None:
            where = f"{a[1]} ({a[0]}) and {b[1]} ({b[0]})"
            reason = reason[: pair.start()] + where + reason[pair.end() :]
            return InputError(reason, file=a[0] if a[0] == b[0] else None, column=shown)
    row = error.location.row
    at = place(row) if row is not None else None
    if at is None:
        return InputError(reason, file=error.location.file, column=shown)
    file, where = at
    if where.startswith("row ") and where[4:].isdigit():
        return InputError(reason, file=file, row=int(where[4:]), column=shown)
    suffix = f" ({shown})" if shown is not None and shown not in where else ""
    return InputError(f"{where}{suffix}: {reason}", file=file)


def load_json(path: Path) -> Any:
    """Read a JSON file, with a one-line error naming the file, line and column.

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    object
        The parsed document.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start + 1})", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", file=str(path)) from None
    if not text.strip():
        raise InputError("empty file; expected a JSON object", file=str(path))
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=str(path)
        ) from None
    except ValueError as exc:
        raise InputError(str(exc), file=str(path)) from None


def _no_constant(name: str) -> float:
    # NaN and Infinity are not JSON; lm-evaluation-harness writes them for failed metrics
    return math.nan if name == "NaN" else math.inf if name == "Infinity" else -math.inf


def json_files(path: Path, pattern: str = "*.json") -> list[Path]:
    """List the JSON files of an input: the file itself, or every match under a folder.

    Parameters
    ----------
    path : pathlib.Path
        A file or a folder.
    pattern : str
        Glob of the files to read in a folder (searched recursively).

    Returns
    -------
    list of pathlib.Path
        Sorted.
    """
    if not path.exists():
        raise InputError("no such file or folder", file=str(path))
    if path.is_dir():
        files = sorted(p for p in path.rglob(pattern) if p.is_file())
        if not files:
            raise InputError(f"no {pattern} files in this folder", file=str(path))
        return files
    return [path]


def digest(files: Sequence[Path], root: Path) -> str:
    """SHA-256 of one file, or of the list of several files' names and checksums.

    Parameters
    ----------
    files : sequence of pathlib.Path
        The files read.
    root : pathlib.Path
        The input (a file or a folder); names are relative to a folder.

    Returns
    -------
    str
        Hex SHA-256.
    """
    sums = []
    for file in files:
        with file.open("rb") as handle:
            sums.append(hashlib.file_digest(handle, "sha256").hexdigest())
    if len(files) == 1 and not root.is_dir():
        return sums[0]
    lines = "".join(
        f"{f.relative_to(root).as_posix()}  {s}\n" for f, s in zip(files, sums, strict=True)
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def source_name(path: Path, name: str | None) -> str:
    """Return the source's name: ``name``, else the file's stem or the folder's name."""
    if name is not None:
        if not name.strip():
            raise InputError("--name: a source needs a non-empty name")
        return name
    return path.name if path.is_dir() else path.name.split(".")[0] or path.name


def number(value: Any, file: Path, where: str, *, missing: Iterable[Any] = ()) -> float | None:
    """Return a finite number from a JSON value, or None for a value listed as ``missing``.

    Parameters
    ----------
    value : object
        The value.
    file : pathlib.Path
        File, for the error.
    where : str
        Key path, for the error.
    missing : iterable
        Values that mean "no number" (e.g. ``"N/A"``).

    Returns
    -------
    float or None
        The number.
    """
    if value is None or any(value == m for m in missing):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = json.dumps(value)[:40]
        raise InputError(f"{where}: expected a number, got {shown}", file=str(file))
    if not math.isfinite(value):
        raise InputError(f"{where}: expected a finite number, got {value}", file=str(file))
    return float(value)


_UPSTREAM = re.compile(r"^(?P<task>[^:]+):(?P<metric>[^:]+)(?::(?P<shots>\d+))?$")


@dataclass(frozen=True)
class Upstream:
    """The score chosen as every model's upstream score: ``TASK:METRIC[:SHOTS]``."""

    task: str
    metric: str
    shots: int | None = None

    @classmethod
    def parse(cls, text: str | None, *, fmt: str) -> Upstream:
        """Parse the command line's ``--upstream``; refuse a missing or malformed one."""
        if text is None:
            raise InputError(
                f"--format {fmt} needs --upstream TASK:METRIC, the score that places each model "
                "on the upstream axis (e.g. --upstream lambada_openai:acc)"
            )
        match = _UPSTREAM.match(text.strip())
        if match is None:
            raise InputError(f"--upstream {text!r}: expected TASK:METRIC or TASK:METRIC:SHOTS")
        shots = match.group("shots")
        return cls(
            match.group("task").strip(),
            snake_case(match.group("metric")),
            int(shots) if shots is not None else None,
        )

    def attach(self, rows: pd.DataFrame, first_file: Mapping[str, str]) -> pd.DataFrame:
        """Give every row its model's upstream score (columns ``upstream_*``).

        Parameters
        ----------
        rows : pandas.DataFrame
            Columns ``model``, ``task``, ``downstream_metric`` (snake_case), ``shots``,
            ``downstream_score``.
        first_file : mapping of str to str
            A file of each model, for errors.

        Returns
        -------
        pandas.DataFrame
            ``rows`` with ``upstream_task``, ``upstream_metric`` and ``upstream_score``.

        Raises
        ------
        InputError
            When a model has no such score, or several that the shots do not tell apart.
        """
        metric = rows["downstream_metric"].map(snake_case)
        chosen = rows[(rows["task"] == self.task) & (metric == self.metric)]
        if self.shots is not None:
            chosen = chosen[chosen["shots"] == self.shots]
        label = f"{self.task}:{self.metric}" + (f":{self.shots}" if self.shots is not None else "")
        scores: dict[str, float] = {}
        for model, group in chosen.groupby("model", sort=True):
            shots = sorted(set(group["shots"].dropna().astype(int)))
            if len(shots) > 1:
                if 0 not in shots:
                    raise InputError(
                        f"model {model!r} has {label} at {len(shots)} numbers of shots "
                        f"({', '.join(map(str, shots))}); choose one with "
                        f"--upstream {label}:SHOTS",
                        file=first_file.get(str(model)),
                    )
                group = group[group["shots"] == 0]  # zero-shot, as Pythia's evaluations
            values = sorted(set(group["downstream_score"]))
            if len(values) > 1:
                raise InputError(
                    f"model {model!r} has {len(values)} different {label} scores "
                    f"({', '.join(f'{v:g}' for v in values[:3])}); keep one result per model",
                    file=first_file.get(str(model)),
                )
            scores[str(model)] = float(values[0])
        missing = sorted(set(rows["model"]) - set(scores))
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise InputError(
                f"model {missing[0]!r}{more} has no {label} score; every model needs the "
                "upstream score (choose another with --upstream)",
                file=first_file.get(missing[0]),
            )
        return rows.assign(
            upstream_task=self.task,
            upstream_metric=self.metric,
            upstream_score=rows["model"].map(scores).astype("float64"),
        )
