"""Randomness is an argument: every resampling function takes ``seed`` and ``rng`` alike."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from transferscope.errors import InputError

__all__ = ["keyed_seed", "make_rng"]


def make_rng(
    seed: int | np.random.SeedSequence | None = None, rng: np.random.Generator | None = None
) -> np.random.Generator:
    """Return the generator a resampling function draws from.

    Parameters
    ----------
    seed : int or numpy.random.SeedSequence, optional
        Seed of a new generator (a non-negative integer); ignored when ``rng`` is given.
    rng : numpy.random.Generator, optional
        A generator to draw from (it advances).

    Returns
    -------
    numpy.random.Generator
        ``rng`` when given, else ``numpy.random.default_rng(seed)``.

    Raises
    ------
    InputError
        A negative or non-integer seed, or an ``rng`` that is not a Generator.
    """
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise InputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    bad_seed = isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
    if seed is not None and not isinstance(seed, np.random.SeedSequence) and bad_seed:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(seed)


def keyed_seed(seed: int, key: Mapping[str, Any]) -> np.random.SeedSequence:
    """Seed of one group's random numbers: the user's seed and a checksum of the group's key.

    A group's numbers therefore do not depend on which other groups are analysed, in which order,
    in which process or on which machine (see :mod:`transferscope.engine`).

    Parameters
    ----------
    seed : int
        The user's seed (a non-negative integer).
    key : mapping of str to JSON-safe values
        The group's key, e.g. ``{"task": "cifar10", "method": "full_ft", "shots": None}``.

    Returns
    -------
    numpy.random.SeedSequence
        ``SeedSequence([seed, crc32(key as compact JSON with sorted keys)])``.
    """
    text = json.dumps(dict(key), sort_keys=True, separators=(",", ":"))
    return np.random.SeedSequence([int(seed), zlib.crc32(text.encode())])
