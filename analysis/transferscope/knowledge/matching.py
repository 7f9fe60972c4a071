"""How much of a model's output the salient interactions leave unexplained ("universal matching").

The Harsanyi interactions match the model's output on every masked input exactly:
``v(T) = sum over S subset of T of I(S)`` for all ``2**n`` subsets ``T``. Keeping only the salient
interactions ``Omega`` (and the empty set, the output on the baseline) gives the surrogate
``v_Omega(T) = I(empty) + sum over S subset of T, S in Omega of I(S)``, and what the salient
interactions leave out is the residual ``r(T) = v(T) - v_Omega(T)``, the zeta transform of the
interactions outside ``Omega`` (computed in ``O(n 2**n)``). Two errors per input:

- ``unexplained_all = sqrt(sum_T r(T)**2 / sum_T (v(T) - v(empty))**2)``: over every masked
  input, the root-mean-square residual relative to the root-mean-square change of the output
  from the baseline (0 when the salient set explains every masked output; NaN when the output
  never changes);
- ``unexplained_full = |r(N)| / |v(N) - v(empty)|``: on the unmasked input only.

Numpy kernels; the analysis of a comparison is :func:`comparison_matching`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from transferscope.errors import InputError
from transferscope.knowledge.compare import ROLES
from transferscope.knowledge.transform import values_from_interactions

if TYPE_CHECKING:
    from transferscope.knowledge.result import KnowledgeComparison

__all__ = ["MATCHING_COLUMNS", "comparison_matching", "unexplained"]

#: Columns of :func:`comparison_matching`.
MATCHING_COLUMNS = (
    "role",
    "model",
    "scope",
    "input_id",
    "n_salient",
    "unexplained_all",
    "unexplained_full",
)


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.full(np.shape(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def unexplained(
    interactions: ArrayLike, salient: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Errors of the salient interactions' surrogate of ``v``, along the last axis.

    Parameters
    ----------
    interactions : array_like
        Harsanyi interactions, shape ``(..., 2**n)``.
    salient : array_like of bool
        Salient masks, same shape (the empty subset is always kept).

    Returns
    -------
    unexplained_all, unexplained_full : numpy.ndarray
        Shape ``(...)``; see the module docstring. NaN where the output does not change from the
        baseline.
    """
    inter = np.asarray(interactions, dtype=np.float64)
    keep = np.asarray(salient, dtype=bool)
    if inter.shape != keep.shape or inter.ndim < 1:
        raise InputError(
            f"interactions {inter.shape} and salient masks {keep.shape} differ in shape"
        )
    left = np.where(keep, 0.0, inter)
    left[..., 0] = 0.0
    residual = np.asarray(values_from_interactions(left), dtype=np.float64)
    change = inter.copy()
    change[..., 0] = 0.0
    moved = np.asarray(values_from_interactions(change), dtype=np.float64)
    all_err = _ratio(np.sqrt(np.sum(residual**2, axis=-1)), np.sqrt(np.sum(moved**2, axis=-1)))
    full_err = _ratio(np.abs(residual[..., -1]), np.abs(moved[..., -1]))
    return all_err, full_err


def comparison_matching(result: KnowledgeComparison) -> pd.DataFrame:
    """Universal-matching errors of the pretrained, fine-tuned and scratch model's salient sets.

    Parameters
    ----------
    result : KnowledgeComparison
        A comparison (see :func:`~transferscope.knowledge.compare_knowledge`).

    Returns
    -------
    pandas.DataFrame
        One row per (role, input) and one ``input_mean`` row per role. Columns: ``role`` (str:
        pretrained, fine_tuned, scratch), ``model`` (str), ``scope`` (str: input or
        input_mean), ``input_id`` (Int64; ``<NA>`` for input_mean), ``n_salient`` (float:
        salient interactions; their mean for input_mean), ``unexplained_all``,
        ``unexplained_full`` (float: see the module docstring; means over inputs where defined
        for input_mean).
    """
    k = result.n_inputs
    frames = []
    for m, role in enumerate(ROLES):
        inter = result.interactions[m, :k]
        sal = result.salient[m, :k]
        all_err, full_err = unexplained(inter, sal)
        n_sal = sal[:, 1:].sum(axis=1).astype(np.float64)
        frames.append(
            pd.DataFrame(
                {
                    "role": role,
                    "model": result.models[m],
                    "scope": ["input"] * k + ["input_mean"],
                    "input_id": pd.array([*range(k), None], dtype="Int64"),
                    "n_salient": [*n_sal, float(n_sal.mean())],
                    "unexplained_all": [*all_err, float(np.nanmean(all_err))]
                    if np.isfinite(all_err).any()
                    else [*all_err, np.nan],
                    "unexplained_full": [*full_err, float(np.nanmean(full_err))]
                    if np.isfinite(full_err).any()
                    else [*full_err, np.nan],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[list(MATCHING_COLUMNS)]
