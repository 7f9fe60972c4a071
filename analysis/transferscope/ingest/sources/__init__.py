"""Published result tables by name: specs, checksummed files, and their canonical runs.

Each published table is described by a spec file ``NAME.toml`` (shipped in ``specs/`` beside this
module): where it is published (repository, pinned commit, paths), each file's SHA-256, license and
citation, and how its columns map and reshape into canonical runs. :func:`load_source` reads
the files from a local copy (``from_dir``) or downloads them once into a cache, verifies every
checksum, and returns the runs with their provenance::

    loaded = load_source("vtab", from_dir=Path("../shared/data"))
    loaded.frame        # canonical columns (schema.INPUT_COLUMNS)
    loaded.info         # schema.SourceInfo for table ``sources``
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from transferscope.errors import InputError
from transferscope.ingest.sources._fetch import (
    CACHE_ENV,
    DEFAULT_URL,
    URL_ENV,
    fetched_files,
    local_files,
    sha256_file,
)
from transferscope.ingest.sources._language import mlf_scaling, pythia
from transferscope.ingest.sources._spec import (
    SPECS_ENV,
    FileSpec,
    SourceSpec,
    read_spec,
    spec_names,
)
from transferscope.ingest.sources._spec import specs_dir as _specs_dir
from transferscope.ingest.sources._vision import clip, timm, vtab
from transferscope.records import NOT_RECORDED, Record, json_safe
from transferscope.schema import SourceInfo

__all__ = [
    "CACHE_ENV",
    "DEFAULT_URL",
    "SPECS_ENV",
    "URL_ENV",
    "FileSpec",
    "LoadedSource",
    "SourceSpec",
    "get_spec",
    "known_sources",
    "load_source",
    "sha256_file",
]

Reshape = Callable[[SourceSpec, dict[str, Path]], pd.DataFrame]

#: Reshapes by the name a spec gives in its ``reshape`` key.
RESHAPES: dict[str, Reshape] = {
    "vtab": vtab,
    "timm": timm,
    "clip": clip,
    "pythia": pythia,
    "mlf_scaling": mlf_scaling,
}


@dataclass(frozen=True, eq=False, kw_only=True)
class LoadedSource(Record):
    """A published source read into canonical runs.

    Parameters
    ----------
    frame : pandas.DataFrame
        Canonical runs: columns ``schema.INPUT_COLUMNS``; accuracies as fractions in [0, 1];
        what has no canonical column is in ``hparams`` (JSON text, sorted keys).
    info : SourceInfo
        Provenance: name, title, citation, url pinned to the commit, commit, sha256, license.
    require_upstream : bool
        False only for a table that publishes no upstream score (its spec says why).
    """

    frame: pd.DataFrame = dataclasses.field(metadata=NOT_RECORDED)
    info: SourceInfo
    require_upstream: bool

    def to_record(self) -> dict[str, Any]:
        """JSON-safe summary: the provenance, ``n_rows`` and ``require_upstream``.

        Returns
        -------
        dict
            Keys of :class:`SourceInfo`, plus ``n_rows`` and ``require_upstream``.
        """
        return {
            **json_safe(dataclasses.asdict(self.info)),
            "n_rows": len(self.frame),
            "require_upstream": self.require_upstream,
        }

    def summary(self) -> pd.DataFrame:
        """Count rows, models, tasks and metrics per adaptation method.

        Returns
        -------
        pandas.DataFrame
            One row per method with columns ``source``, ``method``, ``n_rows``, ``n_models``,
            ``n_tasks``, ``n_metrics``, ``n_scratch_rows`` (rows with ``pretrained`` false) and
            ``n_with_upstream`` (rows with an upstream score).
        """
        frame = self.frame
        grouped = frame.groupby("method", sort=True)
        out = pd.DataFrame(
            {
                "n_rows": grouped.size(),
                "n_models": grouped["model"].nunique(),
                "n_tasks": grouped["task"].nunique(),
                "n_metrics": grouped["downstream_metric"].nunique(dropna=False),
                "n_scratch_rows": grouped["pretrained"].agg(lambda s: int((~s).sum())),
                "n_with_upstream": grouped["upstream_score"].count(),
            }
        ).reset_index()
        out.insert(0, "source", self.info.name)
        return out

    def describe(self) -> str:
        """One line: name, title and number of runs.

        Returns
        -------
        str
            E.g. ``vtab: VTAB-1k ... (608 runs)``.
        """
        return f"{self.info.name}: {self.info.title or ''} ({len(self.frame)} runs)"


def known_sources(*, specs_dir: Path | None = None) -> list[str]:
    """Names of the published sources that have a spec.

    Parameters
    ----------
    specs_dir : pathlib.Path, optional
        Folder of specs; default ``$TRANSFERSCOPE_SOURCES``, else the copy packaged with
        transferscope.

    Returns
    -------
    list of str
        Sorted source names.
    """
    return spec_names(_specs_dir(specs_dir))


def get_spec(name: str, *, specs_dir: Path | None = None) -> SourceSpec:
    """Read the spec of a published source.

    Parameters
    ----------
    name : str
        Source name (see :func:`known_sources`).
    specs_dir : pathlib.Path, optional
        Folder of specs (see :func:`known_sources`).

    Returns
    -------
    SourceSpec
        The parsed spec.

    Raises
    ------
    InputError
        Unknown name (the message lists the known ones) or a broken spec.
    """
    return read_spec(name, _specs_dir(specs_dir))


def load_source(
    name: str,
    *,
    from_dir: Path | None = None,
    cache_dir: Path | None = None,
    specs_dir: Path | None = None,
    base_url: str | None = None,
) -> LoadedSource:
    """Load a published source into canonical runs, checking every file's checksum.

    Parameters
    ----------
    name : str
        Source name (see :func:`known_sources`).
    from_dir : pathlib.Path, optional
        Local copy laid out like ``../shared/data`` (``from_dir/<folder>/<file>``). Without
        it, files are downloaded once from the published address pinned to the commit and
        cached.
    cache_dir : pathlib.Path, optional
        Download cache; default ``$TRANSFERSCOPE_CACHE``, else ``data/cache``.
    specs_dir : pathlib.Path, optional
        Folder of specs (see :func:`known_sources`).
    base_url : str, optional
        Mirror to download from instead of the published address: a base URL laid out like
        ``../shared/data``, or a template with ``{repo}``, ``{commit}``, ``{path}``,
        ``{folder}``, ``{name}``, ``{source}``; default ``$TRANSFERSCOPE_SOURCES_URL``.

    Returns
    -------
    LoadedSource
        The runs, their provenance, and whether pretrained rows need an upstream score.

    Raises
    ------
    InputError
        Unknown source (listing the known ones); a missing file; a checksum mismatch (naming
        the file, expected and actual checksum); a failed download (one line).
    """
    spec = get_spec(name, specs_dir=specs_dir)
    reshape = RESHAPES.get(spec.reshape)
    if reshape is None:
        raise InputError(
            f"unknown reshape {spec.reshape!r}; known: {', '.join(sorted(RESHAPES))}",
            file=spec.spec_file,
        )
    if from_dir is not None:
        paths = local_files(spec, Path(from_dir))
    else:
        paths = fetched_files(spec, cache_dir=cache_dir, base_url=base_url)
    frame = reshape(spec, paths)
    return LoadedSource(frame=frame, info=spec.info(), require_upstream=spec.require_upstream)
