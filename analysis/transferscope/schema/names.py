"""Names as the store keeps them: methods, metrics and tasks in snake_case."""

from __future__ import annotations

import re

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
