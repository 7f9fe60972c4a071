"""Suites: groups of tasks whose effects are not independent (MMLU's subjects, BIG-bench, VTAB).

Tasks of one suite share their source, format and often their questions' style, so a method's
dependence on pretraining is correlated across them; pooling 57 MMLU subjects as 57 independent
tasks overstates the evidence. Rankings therefore pool with the three-level model (tasks within
suites, :mod:`transferscope.stats.multilevel`) whenever a suite holds two or more of the tasks.

Suites are read from task names where the sources name them (:data:`SUITE_RULES`: shell
patterns matched against the lower-case task name):

- ``hendrycksTest-*`` and ``mmlu_*``: MMLU (Hendrycks et al. 2021), one suite of 57 subjects;
- ``crows_pairs_*`` (CrowS-Pairs, English and French bias categories), ``bbh_*`` (BIG-Bench
  Hard), ``bigbench_*``, ``blimp_*`` (BLiMP), ``agi_eval_*``, ``arc_*`` (ARC easy and
  challenge), ``winogender_*``, ``simple_arithmetic_*``, ``lambada_*``, and the multilingual
  ``xnli_*``, ``xcopa_*``, ``pawsx_*``, ``xstorycloze_*``, ``xwinograd_*``;
- VTAB's three groups (Zhai et al. 2019, "A Large-scale Study of Representation Learning with
  the Visual Task Adaptation Benchmark", section 3): *natural* (Caltech101, CIFAR-100, DTD,
  Flowers102, Pets, Sun397, SVHN), *specialized* (Camelyon / PatchCamelyon, EuroSAT, Resisc45,
  Retinopathy) and *structured* (Clevr count and distance, DMLab, dSprites location and
  orientation, KITTI distance, smallNORB azimuth and elevation), under the names of the VTAB
  results table and of the CLIP benchmark (``vtab/caltech101``, ``vtab/pcam``, ...; CIFAR-10,
  which the CLIP benchmark adds to its ``vtab/`` tasks, counts as natural).

A task that matches no rule is a suite of its own. Users declare suites with a mapping from a
task name or shell pattern to a suite name (``{"my_eval_*": "my_eval"}``); declared patterns are
matched before the rules above (``suites="auto"`` uses the rules alone, ``suites=None`` none).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Literal

import pandas as pd

from transferscope.errors import InputError

Suites = Literal["auto"] | Mapping[str, str] | None

#: Shell patterns (matched on the lower-case task name) and the suite each names.
SUITE_RULES: tuple[tuple[str, str], ...] = (
    ("hendryckstest-*", "mmlu"),
    ("mmlu_*", "mmlu"),
    ("crows_pairs_*", "crows_pairs"),
    ("bbh_*", "bbh"),
    ("bigbench_*", "bigbench"),
    ("blimp_*", "blimp"),
    ("agi_eval_*", "agi_eval"),
    ("arc_*", "arc"),
    ("winogender_*", "winogender"),
    ("simple_arithmetic_*", "simple_arithmetic"),
    ("lambada_*", "lambada"),
    ("xnli_*", "xnli"),
    ("xcopa_*", "xcopa"),
    ("pawsx_*", "pawsx"),
    ("xstorycloze_*", "xstorycloze"),
    ("xwinograd_*", "xwinograd"),
)

_VTAB_GROUPS: dict[str, tuple[str, ...]] = {
    "vtab_natural": (
        "caltech101", "cifar100", "cifar10", "dtd", "flowers102", "flowers", "pets", "sun397",
        "svhn",
    ),
    "vtab_specialized": (
        "camelyon", "pcam", "patchcamelyon", "eurosat", "resisc45", "retinopathy",
        "diabeticretinopathy",
    ),
    "vtab_structured": (
        "clevrcount", "clevrcountall", "clevrdist", "clevrclosestobjectdistance", "dmlab",
        "dsprloc", "dspriteslabelxposition", "dsprorient", "dspriteslabelorientation",
        "kittidist", "kitticlosestvehicledistance", "snorbazim", "smallnorblabelazimuth",
        "snorbelev", "smallnorblabelelevation",
    ),
}  # fmt: skip
_VTAB = {name: group for group, names in _VTAB_GROUPS.items() for name in names}
_VTAB_TABLE = {  # names of the VTAB results table that alone do not say "vtab"
    "CIFAR-100", "Caltech101", "Camelyon", "Clevr-Count", "Clevr-Dist", "DMLab", "DTD",
    "EuroSAT", "Flowers102", "KITTI-Dist", "Pets", "Resisc45", "Retinopathy", "SVHN", "Sun397",
    "dSpr-Loc", "dSpr-Orient", "sNORB-Azim", "sNORB-Elev",
}  # fmt: skip
_LETTERS = re.compile(r"[^0-9a-z]+")


def _vtab_group(task: str) -> str | None:
    lower = task.lower()
    for prefix in ("vtab/", "vtab_", "vtab-"):
        if lower.startswith(prefix):
            return _VTAB.get(_LETTERS.sub("", lower[len(prefix) :]))
    if task in _VTAB_TABLE:
        return _VTAB.get(_LETTERS.sub("", lower))
    return None


def suite_of(task: str, *, suites: Suites = "auto") -> str | None:
    """Return the suite of one task, or ``None`` when it belongs to none.

    Parameters
    ----------
    task : str
        Task name as stored.
    suites : "auto", mapping or None, default "auto"
        ``"auto"``: the rules of :data:`SUITE_RULES` and VTAB's groups; a mapping from task
        names or shell patterns to suite names, matched first, then the rules; ``None``: no
        suites.

    Returns
    -------
    str or None
        The suite's name.
    """
    if suites is None:
        return None
    lower = task.lower()
    if isinstance(suites, Mapping):
        for pattern, name in suites.items():
            if fnmatch.fnmatchcase(lower, str(pattern).lower()):
                return str(name)
    for pattern, name in SUITE_RULES:
        if fnmatch.fnmatchcase(lower, pattern):
            return name
    return _vtab_group(task)


def check_suites(suites: object) -> Suites:
    """Validate a ``suites`` argument.

    Parameters
    ----------
    suites : object
        ``"auto"``, ``None`` (or ``"none"``), or a mapping of str to str.

    Returns
    -------
    "auto", mapping or None
        The argument, ``"none"`` turned into ``None``.

    Raises
    ------
    InputError
        For anything else.
    """
    if suites is None or suites == "none":
        return None
    if suites == "auto":
        return "auto"
    if isinstance(suites, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in suites.items()
    ):
        return suites
    raise InputError(
        "suites must be 'auto', None, or a mapping from task names or patterns to suite names"
    )


def task_suites(tasks: Iterable[str] | pd.Series, *, suites: Suites = "auto") -> pd.Series:
    """Cluster label of each task: its suite, or the task itself when it has none.

    Parameters
    ----------
    tasks : iterable of str
        Task names.
    suites : "auto", mapping or None, default "auto"
        As in :func:`suite_of`.

    Returns
    -------
    pandas.Series
        One label per task (``"suite:NAME"`` for a suite, ``"task:NAME"`` for a task on its
        own), index as ``tasks`` when it is a Series.
    """
    series = tasks if isinstance(tasks, pd.Series) else pd.Series(list(tasks), dtype=object)
    names = {t: suite_of(str(t), suites=suites) for t in pd.unique(series)}
    return series.map(lambda t: f"suite:{names[t]}" if names[t] else f"task:{t}")
