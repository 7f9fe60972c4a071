"""Names as the store keeps them: snake_case methods and metrics, and aliases across sources.

:func:`snake_case` normalizes methods and metrics; an :class:`AliasTable` says which spellings of
a task, model, method or metric are the same thing, so that names from different sources meet
(``"CIFAR-100"`` of VTAB and ``"vtab/cifar100"`` of clip-benchmark). The shipped table
(:func:`default_aliases`) is applied at every ingest; users extend it with their own file or
mapping (:meth:`AliasTable.extended`).
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final, cast

from transferscope.errors import InputError

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")


def snake_case(name: str) -> str:
    """Normalize a method or metric name to snake_case.

    Parameters
    ----------
    name : str
        Name as a source spells it, e.g. ``"Linear Probe"``, ``"five-shot"``, ``"fullFT"``.

    Returns
    -------
    str
        Lower-case words joined by underscores: ``"linear_probe"``, ``"five_shot"``, ``"full_ft"``.
    """
    spaced = _CAMEL.sub("_", name.strip())
    return _NON_WORD.sub("_", spaced).strip("_").lower()


#: Text columns of the canonical run whose values name things (filters match them by name_key).
NAME_COLUMNS: tuple[str, ...] = (
    "source",
    "model",
    "upstream_task",
    "upstream_metric",
    "task",
    "method",
    "downstream_metric",
    "architecture",
    "pretrain_data",
)


def name_key(name: str) -> str:
    """Return the key by which a name filter matches a stored name.

    Two names match when their keys are equal: the key is :func:`snake_case` without the
    underscores, so that case, separators and camel case do not matter (``"STANDARD"`` matches
    ``standard``, ``"Linear Probe"`` matches ``linear_probe``, ``"hendryckstest-anatomy"``
    matches ``hendrycksTest-anatomy``, ``"fullFT"`` matches ``full_ft``).

    Parameters
    ----------
    name : str
        A name as a user types it or as the store keeps it.

    Returns
    -------
    str
        Lower-case letters and digits only.
    """
    return snake_case(str(name)).replace("_", "")


def match_names(wanted: Iterable[object], stored: Iterable[object]) -> list[str]:
    """Return the stored names that match any wanted name (see :func:`name_key`).

    Parameters
    ----------
    wanted : iterable
        Names asked for (missing values are ignored).
    stored : iterable
        Names present, e.g. the distinct values of a column.

    Returns
    -------
    list of str
        The stored names whose key equals a wanted name's key, in the order of ``stored``.
    """
    keys = {name_key(str(w)) for w in wanted if w is not None and w == w}
    return [str(s) for s in stored if s is not None and s == s and name_key(str(s)) in keys]


# ------------------------------------------------------------------------------ aliases

#: Kinds of names an alias table covers, and the canonical columns each renames.
ALIAS_KINDS: Final[dict[str, tuple[str, ...]]] = {
    "task": ("task", "upstream_task"),
    "model": ("model",),
    "method": ("method",),
    "metric": ("downstream_metric", "upstream_metric"),
}
#: Kinds whose names are stored in snake_case (their canonical names must be snake_case).
_SNAKE_KINDS = frozenset({"method", "metric"})
_SEPARATORS = re.compile(r"[-_\s]+")
#: The alias table shipped with the package (package data beside this module).
SHIPPED_ALIASES: Final[str] = "aliases.toml"


def match_key(name: str) -> str:
    """Return the form in which names are compared with an alias table.

    Parameters
    ----------
    name : str
        A name as a source spells it.

    Returns
    -------
    str
        Case-folded, with runs of ``-``, ``_`` and white space as one ``_``: ``"CIFAR-100"``
        and ``"cifar_100"`` match; ``"cifar100"`` and ``"pythia-14b"`` vs ``"pythia-1.4b"`` do not.
    """
    return _SEPARATORS.sub("_", name.strip().casefold())


@dataclass(frozen=True)
class AliasTable:
    """Names that are the same thing across sources: spelling -> canonical name, per kind.

    Build one with :func:`default_aliases` (the shipped table), :meth:`from_file` or
    :meth:`from_mapping`, and combine with :meth:`extended`. Applied at ingest by
    :func:`transferscope.schema.validate_runs` to ``task`` and ``upstream_task`` (kind
    ``task``), ``model``, ``method`` and the two metric columns (kind ``metric``).

    Parameters
    ----------
    names : mapping
        ``{kind: {match_key(spelling): canonical}}`` for the kinds of :data:`ALIAS_KINDS`.
    declared : mapping
        ``{kind: {canonical: (spelling, ...)}}`` as declared (for :meth:`to_mapping`).
    scoped : mapping of str to AliasTable
        Aliases that apply only to the runs of one source (``[sources.NAME.KIND]`` in a file),
        looked up before the others.
    """

    names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    declared: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    scoped: Mapping[str, AliasTable] = field(default_factory=dict)

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Mapping[str, Sequence[str]]], *, file: str | None = None
    ) -> AliasTable:
        """Build a table from ``{kind: {canonical: [spelling, ...]}}``.

        Parameters
        ----------
        mapping : mapping
            Kinds of :data:`ALIAS_KINDS`; each canonical name with its other spellings.
        file : str, optional
            Where the mapping came from, for error messages.

        Returns
        -------
        AliasTable
            The table.

        Raises
        ------
        InputError
            For an unknown kind, a spelling that is not text, a method or metric whose
            canonical name is not snake_case, or a spelling claimed by two canonical names.
            A ``sources`` key holds ``{source: {kind: {canonical: [spellings]}}}``.
        """
        return cls().extended(mapping, file=file)

    @classmethod
    def from_file(cls, path: str | Path) -> AliasTable:
        """Read a table from a TOML file (the format of the shipped ``aliases.toml``).

        Parameters
        ----------
        path : str or pathlib.Path
            The file: a section per kind, ``"canonical" = ["spelling", ...]`` per entry.

        Returns
        -------
        AliasTable
            The table.

        Raises
        ------
        InputError
            For a missing or unreadable file, invalid TOML, or the errors of
            :meth:`from_mapping`.
        """
        return cls().extended(path)

    def extended(
        self,
        other: AliasTable | Mapping[str, Mapping[str, Sequence[str]]] | str | Path,
        *,
        file: str | None = None,
    ) -> AliasTable:
        """Return this table with more aliases; ``other``'s entries win where both name a spelling.

        Parameters
        ----------
        other : AliasTable, mapping, or path of a TOML file
            The aliases to add.
        file : str, optional
            Name of a mapping's origin, for error messages.

        Returns
        -------
        AliasTable
            A new table.

        Raises
        ------
        InputError
            See :meth:`from_mapping` and :meth:`from_file`.
        """
        if isinstance(other, AliasTable):
            mapping: Mapping[str, Mapping[str, Sequence[str]]] = other.declared
        elif isinstance(other, str | Path):
            file = str(other)
            mapping = _read_toml(Path(other))
        else:
            mapping = other
        names = {kind: dict(self.names.get(kind, {})) for kind in ALIAS_KINDS}
        declared = {kind: dict(self.declared.get(kind, {})) for kind in ALIAS_KINDS}
        scoped = dict(self.scoped)
        if isinstance(other, AliasTable):
            for source, table in other.scoped.items():
                scoped[source] = scoped.get(source, AliasTable()).extended(table)
        if not isinstance(mapping, Mapping):
            raise InputError("an alias table is a mapping of kind -> {canonical: [spellings]}")
        for kind, entries in mapping.items():
            if kind == "sources" and not isinstance(other, AliasTable):
                if not isinstance(entries, Mapping):
                    raise InputError("[sources] must hold [sources.NAME.KIND] tables", file=file)
                for source, sub in entries.items():
                    base = scoped.get(source, AliasTable())
                    scoped[source] = base.extended(cast(Any, sub), file=file)
                continue
            if kind not in ALIAS_KINDS:
                raise InputError(
                    f"unknown kind of name [{kind}]; expected one of {', '.join(ALIAS_KINDS)}",
                    file=file,
                )
            if not isinstance(entries, Mapping):
                raise InputError(f"[{kind}] must be a table of canonical = [spellings]", file=file)
            claimed: dict[str, str] = {}
            for canonical, spellings in entries.items():
                where = f"[{kind}] {canonical!r}"
                if isinstance(spellings, str) or not isinstance(spellings, Sequence):
                    raise InputError(f"{where}: expected a list of spellings", file=file)
                if not str(canonical).strip() or not all(
                    isinstance(s, str) and s.strip() for s in spellings
                ):
                    raise InputError(f"{where}: names must be non-empty text", file=file)
                if kind in _SNAKE_KINDS and snake_case(canonical) != canonical:
                    raise InputError(
                        f"{where}: {kind} names are stored in snake_case; write "
                        f"{snake_case(canonical)!r}",
                        file=file,
                    )
                for spelling in (canonical, *spellings):
                    key = match_key(snake_case(spelling) if kind in _SNAKE_KINDS else spelling)
                    if claimed.get(key, canonical) != canonical:
                        raise InputError(
                            f"{where}: {spelling!r} is already an alias of "
                            f"{claimed[key]!r}; a name can mean one thing only",
                            file=file,
                        )
                    claimed[key] = canonical
                    names[kind][key] = canonical
                declared[kind][canonical] = tuple(
                    dict.fromkeys([*declared[kind].get(canonical, ()), *spellings])
                )
        return AliasTable(names=names, declared=declared, scoped=scoped)

    def covers(self, kind: str, source: str | None = None) -> bool:
        """Whether the table has aliases of ``kind`` (for ``source``, or for every source).

        Parameters
        ----------
        kind : str
            Kind of name.
        source : str, optional
            Name of the source the runs come from.

        Returns
        -------
        bool
            True when :meth:`canonical` could rename a name of this kind.
        """
        if self.names.get(kind):
            return True
        return source is not None and source in self.scoped and self.scoped[source].covers(kind)

    def canonical(self, kind: str, name: str, source: str | None = None) -> str:
        """Return the canonical name of ``name`` (``name`` itself when it has no alias).

        Parameters
        ----------
        kind : {"task", "model", "method", "metric"}
            Kind of name.
        name : str
            The name (a method or metric already in snake_case).
        source : str, optional
            The source of the runs: its own aliases (``[sources.NAME.KIND]``) come first.

        Returns
        -------
        str
            The canonical name; a model ``base@revision`` whose base has an alias keeps its
            ``@revision``.
        """
        if source is not None and source in self.scoped:
            own = self.scoped[source].canonical(kind, name)
            if own != name:
                return own
        table = self.names.get(kind, {})
        found = table.get(match_key(name))
        if found is not None:
            return found
        if kind == "model" and "@" in name:
            base, _, revision = name.rpartition("@")
            base_found = table.get(match_key(base))
            if base_found is not None:
                return f"{base_found}@{revision}"
        return name

    def to_mapping(self) -> dict[str, Any]:
        """Return the declared aliases as ``{kind: {canonical: [spellings]}}``.

        Returns
        -------
        dict
            Every kind of :data:`ALIAS_KINDS`, sorted by canonical name, and ``sources``
            (``{name: {kind: ...}}``) for the aliases of one source.
        """
        out: dict[str, Any] = {
            kind: {c: list(s) for c, s in sorted(self.declared.get(kind, {}).items())}
            for kind in ALIAS_KINDS
        }
        if self.scoped:
            out["sources"] = {k: t.to_mapping() for k, t in sorted(self.scoped.items())}
        return out

    def __len__(self) -> int:
        own = sum(len(v) for v in self.declared.values())
        return own + sum(len(t) for t in self.scoped.values())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise InputError("no such alias file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the alias file ({exc})", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"invalid TOML: {exc}", file=str(path)) from None


@functools.cache
def default_aliases() -> AliasTable:
    """Return the alias table shipped with transferscope (``schema/aliases.toml``).

    Returns
    -------
    AliasTable
        The VTAB task names under clip-benchmark's ``vtab/...`` names and the Pythia models'
        Hub names under the published table's names; read once per process.
    """
    with resources.files(__package__).joinpath(SHIPPED_ALIASES).open("rb") as handle:
        return AliasTable.from_mapping(tomllib.load(handle), file=SHIPPED_ALIASES)


def resolve_aliases(
    aliases: AliasTable | str | Path | Sequence[str | Path] | None = None,
) -> AliasTable:
    """Turn the user's choice into a table: the shipped one, extended by their files.

    Parameters
    ----------
    aliases : AliasTable, path, sequence of paths, or None
        A table (used as it is), or files that extend the shipped table in order; None: the
        shipped table.

    Returns
    -------
    AliasTable
        The table to apply.
    """
    if isinstance(aliases, AliasTable):
        return aliases
    table = default_aliases()
    if aliases is None:
        return table
    files = [aliases] if isinstance(aliases, str | Path) else list(aliases)
    for path in files:
        table = table.extended(path)
    return table
