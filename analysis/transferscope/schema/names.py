"""Names as the store keeps them: methods, metrics and tasks in snake_case."""

from __future__ import annotations

import re
from collections.abc import Iterable

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
