"""Randomness is an argument: every resampling function takes ``seed`` and ``rng`` alike.

The same rules hold everywhere: a seed is a non-negative integer (:func:`check_seed`), and a
number of resamples is a whole number from 0 to :data:`MAX_RESAMPLES` (:func:`check_resamples`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any, Final

import numpy as np

from transferscope.errors import InputError

__all__ = ["MAX_RESAMPLES", "check_resamples", "check_seed", "keyed_seed", "make_rng"]

#: The most resamples any bootstrap draws. Beyond it the Monte Carlo error of a 95% interval's
#: end is far below its statistical error, while memory grows with every resample (one resample
#: of a group of n points holds n indices).
MAX_RESAMPLES: Final[int] = 100_000


def check_seed(seed: object, name: str = "seed") -> int:
    """Return ``seed`` as an int when it is a non-negative integer.

    Parameters
    ----------
    seed : object
        The seed given by the user.
    name : str, default "seed"
        Its name, for the message (e.g. ``"--seed"``).

    Returns
    -------
    int
        The seed.

    Raises
    ------
    InputError
        For a negative number, a non-integer or a bool.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_resamples(count: object, name: str = "bootstrap") -> int:
    """Return a number of resamples when it is a whole number in [0, MAX_RESAMPLES].

    Parameters
    ----------
    count : object
        The number given by the user.
    name : str, default "bootstrap"
        Its name, for the message (e.g. ``"--bootstrap"``).

    Returns
    -------
    int
        The number.

    Raises
    ------
    InputError
        For a negative or non-integer number, or more than :data:`MAX_RESAMPLES`.
    """
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        raise InputError(f"{name} must be a non-negative integer, got {count!r}")
    if count > MAX_RESAMPLES:
        raise InputError(
            f"{name} = {count} resamples is more than the {MAX_RESAMPLES:,} allowed; "
            "a few thousand give intervals as precise as the data allow"
        )
    return int(count)


def make_rng(
    seed: int | np.random.SeedSequence | None = None, rng: np.random.Generator | None = None
) -> np.random.Generator:
    """Return the generator a resampling function draws from.

    Parameters
    ----------
    seed : int or numpy.random.SeedSequence, optional
        Seed of a new generator (a non-negative integer, see :func:`check_seed`); ignored when
        ``rng`` is given.
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
    if seed is not None and not isinstance(seed, np.random.SeedSequence):
        check_seed(seed)
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
