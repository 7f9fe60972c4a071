"""Ingest runs into the store: a file of canonical runs, or a published source by name.

Both paths validate everything first (:func:`transferscope.schema.validate_runs`) and open
the store only when the input is good, so a bad input leaves the store, or its absence,
untouched; the write itself is one transaction (:meth:`transferscope.store.Store.ingest`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from transferscope.errors import InputError
from transferscope.ingest.readers import SUPPORTED_SUFFIXES, read_table
from transferscope.ingest.sources import load_source
from transferscope.schema import INPUT_COLUMNS, AliasTable, MetricInfo, SourceInfo, resolve_aliases
from transferscope.schema.validate import ValidatedRuns, validate_runs
from transferscope.store import IngestResult, open_store

#: Stages reported to a ``progress`` callback, in order.
STAGES = ("read", "validate", "write")

Progress = Callable[[str], None]


def parse_column_map(pairs: Sequence[str]) -> dict[str, str]:
    """Parse ``SOURCE=canonical`` pairs (the command line's ``--map``).

    Parameters
    ----------
    pairs : sequence of str
        Each ``input column=canonical column``; the last ``=`` splits (canonical names have
        none).

    Returns
    -------
    dict of str to str
        Input column -> canonical column.

    Raises
    ------
    InputError
        For a pair without ``=``, with an empty side, an unknown canonical name, or an input
        column mapped twice.
    """
    mapping: dict[str, str] = {}
    for pair in pairs:
        src, sep, dst = pair.rpartition("=")
        src, dst = src.strip(), dst.strip()
        if not sep or not src or not dst:
            raise InputError(
                f"--map {pair!r}: expected SOURCE=CANONICAL, e.g. acc=downstream_score"
            )
        if dst not in INPUT_COLUMNS:
            raise InputError(
                f"--map {pair!r}: {dst!r} is not a canonical column; expected one of "
                f"{', '.join(INPUT_COLUMNS)}"
            )
        if src in mapping and mapping[src] != dst:
            raise InputError(f"--map names column {src!r} twice")
        mapping[src] = dst
    return mapping


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return path.stem


def file_source(path: str | Path, name: str | None = None) -> SourceInfo:
    """Describe a local file as a source: name, file name, ``file://`` URL and SHA-256.

    Parameters
    ----------
    path : str or pathlib.Path
        The input file.
    name : str, optional
        Source name in the store; the file name without its type suffixes by default
        (``runs.csv.gz`` -> ``runs``).

    Returns
    -------
    SourceInfo
        With ``name``, ``title`` (the file name), ``url`` and ``sha256`` set.

    Raises
    ------
    InputError
        For an empty ``name``.
    """
    if name is not None and not name.strip():
        raise InputError("--name: a source needs a non-empty name")
    file = Path(path)
    with file.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return SourceInfo(
        name=name if name is not None else _stem(file),
        title=file.name,
        url=file.resolve().as_uri(),
        sha256=digest,
    )


def read_runs(
    path: str | Path,
    *,
    column_map: Mapping[str, str] | None = None,
    percent: bool = False,
    require_upstream: bool = True,
    aliases: AliasTable | None = None,
    source: str | None = None,
    progress: Progress | None = None,
) -> ValidatedRuns:
    """Read and validate a file of runs (CSV, TSV, Parquet, JSON Lines; text types gzipped).

    Parameters
    ----------
    path : str or pathlib.Path
        The file (see :mod:`transferscope.ingest.readers`).
    column_map : mapping of str to str, optional
        Input column -> canonical column.
    percent : bool, default False
        Accuracy-type scores are percentages.
    require_upstream : bool, default True
        Require ``upstream_score`` on pretrained rows.
    aliases : AliasTable, optional
        Names that are the same thing (default: the shipped table).
    source : str, optional
        The source name the runs will have (its own aliases apply).
    progress : callable, optional
        Called with ``"read"`` and ``"validate"`` as each stage starts.

    Returns
    -------
    ValidatedRuns
        The canonical runs.

    Raises
    ------
    InputError
        For the first problem with the file or its rows.
    """
    if progress is not None:
        progress("read")
    frame = read_table(path, column_map=column_map)
    if progress is not None:
        progress("validate")
    return validate_runs(
        frame,
        column_map=column_map,
        percent=percent,
        require_upstream=require_upstream,
        aliases=aliases,
        source=source,
        file=str(path),
    )


def ingest_file(
    path: str | Path,
    *,
    db: str | Path | None = None,
    name: str | None = None,
    column_map: Mapping[str, str] | None = None,
    percent: bool = False,
    aliases: AliasTable | str | Path | Sequence[str | Path] | None = None,
    replace: bool = False,
    metrics: Iterable[MetricInfo] = (),
    progress: Progress | None = None,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> IngestResult:
    """Read, validate and store a file of runs as one source.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    db : str or pathlib.Path, optional
        The store (default: ``config.default_db_path()``).
    name : str, optional
        Source name; the file name without its type suffixes by default.
    column_map : mapping of str to str, optional
        Input column -> canonical column.
    percent : bool, default False
        Accuracy-type scores are percentages.
    aliases : AliasTable, path(s) of alias files, or None
        Names that are the same thing across sources: a table, or files that extend the
        shipped one (:func:`~transferscope.schema.resolve_aliases`).
    replace : bool, default False
        Replace the source's runs if its content changed (and metric definitions recorded
        differently).
    metrics : iterable of MetricInfo, optional
        Metric definitions (direction, range) to record in the store with the runs, for the
        metrics the built-in registry does not know or knows differently (see
        :func:`transferscope.schema.parse_metric`).
    progress : callable, optional
        Called with each of :data:`STAGES` as it starts.
    wait : float, default 0.0
        Seconds to wait for a store locked by another process.
    on_wait : callable, optional
        Called once with a message when waiting starts.

    Returns
    -------
    IngestResult
        What was read, added and left unchanged.

    Raises
    ------
    InputError
        Bad input (the store is not opened) or changed content without ``replace``.
    StoreError
        A store that cannot be used.
    """
    if name is not None and not name.strip():
        raise InputError("--name: a source needs a non-empty name")
    runs = read_runs(
        path,
        column_map=column_map,
        percent=percent,
        aliases=resolve_aliases(aliases),
        source=name if name is not None else _stem(Path(path)),
        progress=progress,
    )
    info = file_source(path, name)
    if progress is not None:
        progress("write")
    with open_store(db, wait=wait, on_wait=on_wait) as store:
        return store.ingest(runs, info, replace=replace, metrics=metrics)


def ingest_source(
    name: str,
    *,
    db: str | Path | None = None,
    from_dir: Path | None = None,
    cache_dir: Path | None = None,
    aliases: AliasTable | str | Path | Sequence[str | Path] | None = None,
    replace: bool = False,
    metrics: Iterable[MetricInfo] = (),
    progress: Progress | None = None,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> IngestResult:
    """Load a published source by name (see :mod:`transferscope.ingest.sources`) and store it.

    Parameters
    ----------
    name : str
        The source's name (a spec shipped with the package; see
        :func:`~transferscope.ingest.known_sources`).
    db : str or pathlib.Path, optional
        The store (default: ``config.default_db_path()``).
    from_dir : pathlib.Path, optional
        A folder laid out like ``../shared/data`` to read local copies from; otherwise the
        files are downloaded from the pinned address (checksums verified, cached).
    cache_dir : pathlib.Path, optional
        Where downloads are cached.
    aliases : AliasTable, path(s) of alias files, or None
        As for :func:`ingest_file`.
    replace : bool, default False
        Replace the source's runs if its content changed (and metric definitions recorded
        differently).
    metrics : iterable of MetricInfo, optional
        Metric definitions (direction, range) to record in the store with the runs, for the
        metrics the built-in registry does not know or knows differently (see
        :func:`transferscope.schema.parse_metric`).
    progress : callable, optional
        Called with each of :data:`STAGES` as it starts.
    wait : float, default 0.0
        Seconds to wait for a store locked by another process.
    on_wait : callable, optional
        Called once with a message when waiting starts.

    Returns
    -------
    IngestResult
        What was read, added and left unchanged.

    Raises
    ------
    InputError
        An unknown source, a checksum mismatch, invalid rows, or changed content without
        ``replace``.
    StoreError
        A store that cannot be used.
    """
    if progress is not None:
        progress("read")
    loaded = load_source(name, from_dir=from_dir, cache_dir=cache_dir)
    if progress is not None:
        progress("validate")
    runs = validate_runs(
        loaded.frame,
        require_upstream=loaded.require_upstream,
        aliases=resolve_aliases(aliases),
        source=loaded.info.name,
        file=f"source {name}",
    )
    if progress is not None:
        progress("write")
    with open_store(db, wait=wait, on_wait=on_wait) as store:
        return store.ingest(runs, loaded.info, replace=replace, metrics=metrics)


def ingest_format(
    path: str | Path,
    fmt: str,
    *,
    db: str | Path | None = None,
    name: str | None = None,
    upstream: str | None = None,
    spec: str | Path | None = None,
    method: str | None = None,
    aliases: AliasTable | str | Path | Sequence[str | Path] | None = None,
    replace: bool = False,
    metrics: Iterable[MetricInfo] = (),
    progress: Progress | None = None,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> IngestResult:
    """Read results in a native format (lm-eval, Every Eval Ever, MLflow, W&B) and store them.

    The same validation, provenance and single transaction as :func:`ingest_file`; an error
    names the input's file and the key (or row) where it sits.

    Parameters
    ----------
    path : str or pathlib.Path
        File or folder (for ``mlflow``, a tracking URI or ``mlruns`` folder).
    fmt : str
        One of :data:`transferscope.ingest.formats.FORMATS`.
    db : str or pathlib.Path, optional
        The store (default: ``config.default_db_path()``).
    name : str, optional
        Source name (default: from the path).
    upstream : str, optional
        ``TASK:METRIC[:SHOTS]``: the score of each model that is its upstream score.
    spec : str or pathlib.Path, optional
        Mapping of an MLflow or W&B run's fields to canonical columns (TOML).
    method : str, optional
        Adaptation method of Every Eval Ever records that do not say.
    aliases : AliasTable, path(s) of alias files, or None
        As for :func:`ingest_file`.
    replace : bool, default False
        Replace the source's runs if its content changed (and metric definitions recorded
        differently).
    metrics : iterable of MetricInfo, optional
        As for :func:`ingest_file`.
    progress : callable, optional
        Called with each of :data:`STAGES` as it starts.
    wait : float, default 0.0
        Seconds to wait for a store locked by another process.
    on_wait : callable, optional
        Called once with a message when waiting starts.

    Returns
    -------
    IngestResult
        What was read, added and left unchanged.

    Raises
    ------
    InputError
        A broken input (the store is not opened) or changed content without ``replace``.
    StoreError
        A store that cannot be used.
    """
    from transferscope.ingest.formats import read_format, relocate

    if progress is not None:
        progress("read")
    read = read_format(path, fmt, name=name, upstream=upstream, spec=spec, method=method)
    if progress is not None:
        progress("validate")
    try:
        runs = validate_runs(
            read.frame,
            require_upstream=read.require_upstream,
            aliases=resolve_aliases(aliases),
            source=read.info.name,
            file=str(path),
        )
    except InputError as exc:
        raise relocate(exc, read) from None
    if progress is not None:
        progress("write")
    with open_store(db, wait=wait, on_wait=on_wait) as store:
        return store.ingest(runs, read.info, replace=replace, metrics=metrics)
