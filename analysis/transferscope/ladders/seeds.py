"""Seeds of a ladder's cells, derived reproducibly from one seed with numpy's SeedSequence.

Every cell of a ladder (checkpoint x method x replicate) gets a pretraining seed and a
fine-tuning seed, both integers in ``[0, 2**32)``, derived from the ladder's ``seed``, the
replicate's label and (depending on the scheme) the checkpoint's and the method's names:

- ``"paired"`` (default): one pretraining seed per replicate, shared by every checkpoint (the
  checkpoints of a replicate are points of one pretraining run, as the checkpoints of a real
  training run are), and one fine-tuning seed per replicate, shared by every checkpoint, method and
  the scratch baseline (the same fine-tuning data order and head initialization everywhere:
  common random numbers, so differences between checkpoints and methods are paired);
- ``"independent"``: a pretraining seed per (replicate, checkpoint) and a fine-tuning seed per
  (replicate, checkpoint, method).

Names enter through their CRC-32, so adding checkpoints, methods or replicates never changes the
seeds of the cells that exist already, and a ladder can be extended and resumed.
"""

from __future__ import annotations

import zlib
from typing import Final, Literal

import numpy as np

from transferscope.errors import InputError

SeedScheme = Literal["paired", "independent"]
SEED_SCHEMES: Final[tuple[str, ...]] = ("paired", "independent")

_PRETRAIN: Final[int] = 1
_FINETUNE: Final[int] = 2


def _tag(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def derive_seed(seed: int, *key: int | str) -> int:
    """Derive an integer seed in ``[0, 2**32)`` from a base seed and a key path.

    Parameters
    ----------
    seed : int
        The ladder's seed (non-negative).
    *key : int or str
        The path: non-negative integers are used as they are, texts through their CRC-32.

    Returns
    -------
    int
        ``SeedSequence(seed, spawn_key=key).generate_state(1)[0]``.
    """
    spawn_key = tuple(_tag(k) if isinstance(k, str) else int(k) for k in key)
    state = np.random.SeedSequence(int(seed), spawn_key=spawn_key).generate_state(1, np.uint32)
    return int(state[0])


def check_scheme(scheme: str) -> SeedScheme:
    """Validate a seed scheme.

    Parameters
    ----------
    scheme : str
        ``"paired"`` or ``"independent"``.

    Returns
    -------
    str
        The scheme.
    """
    if scheme == "paired":
        return "paired"
    if scheme == "independent":
        return "independent"
    raise InputError(f"seed_scheme must be one of {', '.join(SEED_SCHEMES)}, got {scheme!r}")


def pretrain_seed(seed: int, replicate: int, checkpoint: str, scheme: SeedScheme) -> int:
    """Seed passed to ``pretrain`` for one replicate and checkpoint.

    Parameters
    ----------
    seed : int
        The ladder's seed.
    replicate : int
        The replicate's label (the ``seed`` column of its runs).
    checkpoint : str
        The checkpoint's name (the scratch baseline's model name for scratch cells).
    scheme : {"paired", "independent"}
        See the module docstring.

    Returns
    -------
    int
        The derived seed.
    """
    if scheme == "paired":
        return derive_seed(seed, replicate, _PRETRAIN)
    return derive_seed(seed, replicate, _PRETRAIN, checkpoint)


def finetune_seed(
    seed: int, replicate: int, checkpoint: str, method: str, scheme: SeedScheme
) -> int:
    """Seed passed to ``finetune`` for one cell.

    Parameters
    ----------
    seed : int
        The ladder's seed.
    replicate : int
        The replicate's label.
    checkpoint : str
        The checkpoint's name.
    method : str
        The method's name.
    scheme : {"paired", "independent"}
        See the module docstring.

    Returns
    -------
    int
        The derived seed.
    """
    if scheme == "paired":
        return derive_seed(seed, replicate, _FINETUNE)
    return derive_seed(seed, replicate, _FINETUNE, checkpoint, method)
