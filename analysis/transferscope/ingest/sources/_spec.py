"""Source specs: where the TOML files describing published tables live, and what they say.

A spec (``specs/NAME.toml`` beside this module, shipped as package data) names the published
repository and the commit its files are pinned to, each file with its checksum, the provenance
(title, citation, license, url), the reshape that turns the files into canonical runs, and that
reshape's parameters (``[mapping]``).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from transferscope.errors import InputError
from transferscope.schema import SourceInfo

#: Environment variable naming the folder of source specs.
SPECS_ENV = "TRANSFERSCOPE_SOURCES"

_REQUIRED = ("name", "title", "citation", "license", "repo", "commit", "url", "folder", "reshape")


@dataclass(frozen=True)
class FileSpec:
    """One file of a published source.

    Parameters
    ----------
    name : str
        File name in the source's folder (as in ``../shared/data/<folder>/``).
    sha256 : str
        Hex SHA-256 of the file's bytes.
    role : str
        What the reshape uses the file for (e.g. ``"runs"``, ``"upstream"``, ``"shift"``).
    path : str or None
        Path of the file in the published repository at the pinned commit; ``None`` when the
        file is a reshaped copy that is not published as one file.
    derived_from : str or None
        For a reshaped copy: the published folder it was made from.
    task : str or None
        Downstream task the file holds, for reshapes with one file per task.
    """

    name: str
    sha256: str
    role: str
    path: str | None = None
    derived_from: str | None = None
    task: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    """A published source as its spec file describes it.

    Parameters
    ----------
    name : str
        Source name (the spec file's stem), e.g. ``"vtab"``.
    title, citation, license, url : str
        Provenance; ``url`` is pinned to ``commit``.
    repo : str
        Publishing GitHub repository, ``owner/name``.
    commit : str
        Commit the files are pinned to.
    folder : str
        Sub-folder of a local copy (``--from DIR``) holding the files.
    reshape : str
        Name of the reshape that turns the files into canonical runs.
    require_upstream : bool
        False only for a table that publishes no upstream score.
    expected_rows : int or None
        Number of canonical rows the reshape yields (documented, checked by the tests).
    files : tuple of FileSpec
        The files the reshape reads.
    mapping : Mapping
        The reshape's parameters (the spec's ``[mapping]`` table).
    spec_file : str
        Where the spec was read from.
    """

    name: str
    title: str
    citation: str
    license: str
    url: str
    repo: str
    commit: str
    folder: str
    reshape: str
    require_upstream: bool
    expected_rows: int | None
    files: tuple[FileSpec, ...]
    mapping: Mapping[str, Any] = field(default_factory=dict)
    spec_file: str = ""

    def file(self, role: str) -> FileSpec:
        """Return the only file with ``role``.

        Parameters
        ----------
        role : str
            Role as written in the spec.

        Returns
        -------
        FileSpec
            The file.
        """
        found = [f for f in self.files if f.role == role]
        if len(found) != 1:
            raise InputError(
                f"expected exactly one file with role {role!r}, found {len(found)}",
                file=self.spec_file,
            )
        return found[0]

    def info(self) -> SourceInfo:
        """Provenance for table ``sources``.

        Returns
        -------
        SourceInfo
            ``sha256`` is the file's checksum for one file; for several, the SHA-256 of their
            hex checksums concatenated in the spec's order.
        """
        if len(self.files) == 1:
            digest = self.files[0].sha256
        else:
            joined = "".join(f.sha256 for f in self.files)
            digest = hashlib.sha256(joined.encode("ascii")).hexdigest()
        return SourceInfo(
            name=self.name,
            title=self.title,
            citation=self.citation,
            url=self.url,
            commit=self.commit,
            sha256=digest,
            license=self.license,
        )


def specs_dir(explicit: Path | str | None = None) -> Traversable:
    """Find the folder of source specs.

    Parameters
    ----------
    explicit : path, optional
        Folder given by the caller; wins over everything else.

    Returns
    -------
    importlib.resources.abc.Traversable
        In order: ``explicit``, ``$TRANSFERSCOPE_SOURCES``, else the specs shipped with the
        package (``transferscope/ingest/sources/specs``).

    Raises
    ------
    InputError
        A folder given explicitly or by the environment does not exist.
    """
    if explicit is not None:
        return _existing(Path(explicit), "the specs_dir argument")
    env = os.environ.get(SPECS_ENV)
    if env:
        return _existing(Path(env), f"${SPECS_ENV}")
    return resources.files("transferscope.ingest.sources") / "specs"


def _existing(path: Path, origin: str) -> Path:
    if not path.is_dir():
        raise InputError(
            f"source specs folder not found ({origin}); expected *.toml specs there", file=str(path)
        )
    return path


def spec_names(folder: Traversable) -> list[str]:
    """Names of the specs in ``folder`` (stems of its ``*.toml`` files), sorted."""
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    )


def read_spec(name: str, folder: Traversable) -> SourceSpec:
    """Read and check the spec of source ``name``.

    Parameters
    ----------
    name : str
        Source name.
    folder : Traversable
        Specs folder (see :func:`specs_dir`).

    Returns
    -------
    SourceSpec
        The parsed spec.

    Raises
    ------
    InputError
        Unknown name (listing the known ones), or a spec that is not valid TOML or lacks a key.
    """
    known = spec_names(folder)
    if name not in known:
        listed = ", ".join(known) if known else "none"
        raise InputError(f"unknown source {name!r}; known sources: {listed}")
    entry = folder / f"{name}.toml"
    where = str(entry)
    try:
        raw = tomllib.loads(entry.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a valid TOML spec: {exc}", file=where) from None
    missing = [key for key in _REQUIRED if not isinstance(raw.get(key), str)]
    if missing:
        raise InputError(f"spec lacks text key(s) {', '.join(missing)}", file=where)
    if raw["name"] != name:
        raise InputError(f"spec names itself {raw['name']!r}, expected {name!r}", file=where)
    files = raw.get("files")
    if not isinstance(files, list) or not files:
        raise InputError("spec lists no [[files]]", file=where)
    return SourceSpec(
        name=name,
        title=raw["title"],
        citation=raw["citation"],
        license=raw["license"],
        url=raw["url"],
        repo=raw["repo"],
        commit=raw["commit"],
        folder=raw["folder"],
        reshape=raw["reshape"],
        require_upstream=bool(raw.get("require_upstream", True)),
        expected_rows=raw.get("expected_rows"),
        files=tuple(_file_spec(item, where) for item in files),
        mapping=raw.get("mapping", {}),
        spec_file=where,
    )


def _file_spec(item: Any, where: str) -> FileSpec:
    if not isinstance(item, dict):
        raise InputError("each [[files]] entry must be a table", file=where)
    for key in ("name", "sha256", "role"):
        if not isinstance(item.get(key), str):
            raise InputError(f"a [[files]] entry lacks text key {key!r}", file=where)
    if item.get("path") is None and item.get("derived_from") is None:
        raise InputError(f"file {item['name']!r} needs 'path' or 'derived_from'", file=where)
    return FileSpec(
        name=item["name"],
        sha256=item["sha256"].lower(),
        role=item["role"],
        path=item.get("path"),
        derived_from=item.get("derived_from"),
        task=item.get("task"),
    )
