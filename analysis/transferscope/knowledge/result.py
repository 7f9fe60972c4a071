"""Comparison of a pretrained, fine-tuned and scratch model's interactions: tidy tables.

The DataFrame layer over :mod:`transferscope.knowledge.compare` (definitions of the sets and
shares are in that module's docstring and repeated where each column is described).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from transferscope.errors import InputError
from transferscope.knowledge.compare import (
    DEFAULT_TAU,
    ROLES,
    SET_NAMES,
    SET_WITHIN,
    check_tau,
    knowledge_sets,
    salient_mask,
    set_shares,
)
from transferscope.knowledge.transform import subset_order
from transferscope.records import NOT_RECORDED, Record, json_safe
from transferscope.schema import KNOWLEDGE_COLUMNS

#: Columns of :func:`knowledge_records` with their DuckDB types: those of the store's table
#: ``interactions`` (defined in :mod:`transferscope.schema`).
KNOWLEDGE_RECORD_COLUMNS: Final[dict[str, str]] = KNOWLEDGE_COLUMNS

_SHARE_COLUMNS: Final[tuple[str, ...]] = (
    "count_share_of_p",
    "count_share_of_f",
    "count_share_of_r",
    "share_of_p",
    "share_of_f",
    "share_of_r",
)


def _as_interactions(values: ArrayLike, role: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise InputError(
            f"{role} interactions must have shape (2**n,) or (k, 2**n), got {arr.shape}"
        )
    size = arr.shape[1]
    if size < 1 or size & (size - 1):
        raise InputError(f"{role} interactions need 2**n values per input, got {size}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{role} interactions contain NaN or inf")
    return arr


def _mean_defined(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mean over the first axis of the finite entries; NaN where there are none."""
    ok = np.isfinite(values)
    total = np.where(ok, values, 0.0).sum(axis=0)
    count = ok.sum(axis=0)
    out = np.full(np.shape(total), np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


@dataclass(frozen=True, eq=False, kw_only=True)
class KnowledgeComparison(Record):
    """Interactions of a pretrained (P), fine-tuned (F) and scratch (R) model, compared.

    Build with :func:`compare_knowledge`. Row ``j < k`` of every array is input ``j``; the last
    row (index ``k``) is the aggregate over inputs, whose strength is the mean of ``|I(S)|`` over
    inputs and whose interaction is the mean signed ``I(S)``.

    Attributes
    ----------
    comparison : str
        Name of the comparison (e.g. an experiment id).
    task : str or None
        Downstream task on whose inputs the interactions were measured.
    models : tuple of str
        Labels of the P, F and R models.
    tau : float
        Salience threshold relative to the largest strength.
    include_empty : bool
        Whether the empty subset may be salient.
    n_variables : int
        Number of variables ``n``.
    interactions : numpy.ndarray
        Shape ``(3, k + 1, 2**n)``: signed interactions of P, F, R per input, then their mean.
    strengths : numpy.ndarray
        Shape ``(3, k + 1, 2**n)``: ``|I|`` per input, then the mean of ``|I|``.
    salient : numpy.ndarray of bool
        Shape ``(3, k + 1, 2**n)``: salient masks of P, F, R.
    """

    comparison: str
    task: str | None
    models: tuple[str, str, str]
    tau: float
    include_empty: bool
    n_variables: int
    interactions: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    strengths: NDArray[np.float64] = field(metadata=NOT_RECORDED)
    salient: NDArray[np.bool_] = field(metadata=NOT_RECORDED)

    html_title: ClassVar[str | None] = "Knowledge comparison"

    @property
    def n_inputs(self) -> int:
        """Number of inputs ``k``."""
        return int(self.interactions.shape[1] - 1)

    def sets(self) -> dict[str, NDArray[np.bool_]]:
        """Membership masks of the knowledge sets, each of shape ``(k + 1, 2**n)``.

        Returns
        -------
        dict of str to numpy.ndarray
            Keys :data:`~transferscope.knowledge.compare.SET_NAMES`.
        """
        return knowledge_sets(self.salient[0], self.salient[1], self.salient[2])

    def summary(self, *, per_input: bool = False) -> pd.DataFrame:
        """Sizes and shares of the knowledge sets.

        Three scopes: ``input`` (salient sets and shares of one input), ``input_mean`` (the
        mean over inputs of the ``input`` rows: the typical input) and ``pooled`` (salient sets
        and shares computed once on the strengths pooled over inputs, ``mean |I(S)|``).

        Parameters
        ----------
        per_input : bool, default False
            Also give the ``input`` rows (otherwise only ``input_mean`` and ``pooled``).

        Returns
        -------
        pandas.DataFrame
            One row per (scope, input, set), columns:

            - ``scope`` (str): input, input_mean or pooled.
            - ``input_id`` (Int64): input index for scope input, else ``<NA>``.
            - ``set`` (str): preserved, discarded, newly_learned, exclusive,
              shared_with_scratch, salient_pretrained, salient_fine_tuned, salient_scratch.
            - ``n_interactions`` (float): number of subsets in the set (for input_mean, its
              mean over inputs).
            - ``count_share_of_p``, ``count_share_of_f``, ``count_share_of_r`` (float):
              ``n_interactions / |Omega_M|`` for M = P, F, R; NaN unless the set is by
              construction within ``Omega_M``, or when ``Omega_M`` is empty.
            - ``share_of_p``, ``share_of_f``, ``share_of_r`` (float): strength-weighted share,
              ``sum over S in set of s_M(S) / sum over S in Omega_M of s_M(S)``, NaN as above.
              ``share_of_p``: preserved + discarded = 1; ``share_of_f``: preserved +
              newly_learned = 1. For input_mean, means over the inputs where they are defined.
        """
        return self._table(per_input=per_input, by_order=False)

    def order_profile(self, *, per_input: bool = False) -> pd.DataFrame:
        """Sizes and shares of the knowledge sets split by interaction order ``|S|``.

        Numerators are restricted to subsets of one order; denominators are the whole salient
        set of the model, so for each (scope, input, set) the shares sum over orders to the
        share in :meth:`summary`.

        Parameters
        ----------
        per_input : bool, default False
            Also give the ``input`` rows (otherwise only ``input_mean`` and ``pooled``).

        Returns
        -------
        pandas.DataFrame
            One row per (scope, input, set, order), columns: ``scope`` (str), ``input_id``
            (Int64), ``set`` (str), ``interaction_order`` (int, 0..n), ``n_interactions``
            (float), ``count_share_of_p``, ``count_share_of_f``, ``count_share_of_r``,
            ``share_of_p``, ``share_of_f``, ``share_of_r`` (float); definitions as in
            :meth:`summary`, numerators of that order only.
        """
        return self._table(per_input=per_input, by_order=True)

    def _table(self, *, per_input: bool, by_order: bool) -> pd.DataFrame:
        k, n = self.n_inputs, self.n_variables
        sets = self.sets()
        orders = subset_order(np.arange(1 << n))
        onehot = (orders[:, None] == np.arange(n + 1)[None, :]).astype(np.float64)
        n_orders = n + 1 if by_order else 1
        # Rows of the output in order: scope rows (inputs, input_mean, pooled) x sets x orders.
        scope = ["input"] * (k if per_input else 0) + ["input_mean", "pooled"]
        input_id: list[int | None] = [*(range(k) if per_input else []), None, None]
        columns: dict[str, list[NDArray[np.float64]]] = {
            c: [] for c in ("n_interactions", *_SHARE_COLUMNS)
        }
        for name in SET_NAMES:
            members = sets[name]
            values = {
                "n_interactions": members.astype(np.float64) @ onehot
                if by_order
                else members.sum(axis=-1).astype(np.float64)
            }
            for m, suffix in enumerate("pfr"):
                cnt, stg = set_shares(
                    members, self.strengths[m], self.salient[m], by_order=by_order
                )
                within = SET_WITHIN[name][m]
                values[f"count_share_of_{suffix}"] = cnt if within else np.full_like(cnt, np.nan)
                values[f"share_of_{suffix}"] = stg if within else np.full_like(stg, np.nan)
            for c, v in values.items():
                v = v.reshape(k + 1, n_orders)
                parts = [v[:k]] if per_input else []
                parts += [_mean_defined(v[:k])[None, :], v[k:]]
                columns[c].append(np.concatenate(parts))  # (rows, orders)
        n_rows = len(scope)
        out = pd.DataFrame(
            {
                "scope": np.repeat(np.array(scope, dtype=object), len(SET_NAMES) * n_orders),
                "input_id": pd.array(
                    np.repeat(np.array(input_id, dtype=object), len(SET_NAMES) * n_orders),
                    dtype="Int64",
                ),
                "set": np.tile(np.repeat(np.array(SET_NAMES, dtype=object), n_orders), n_rows),
            }
        )
        out["scope"] = out["scope"].astype("str")
        out["set"] = out["set"].astype("str")
        if by_order:
            out["interaction_order"] = np.tile(
                np.arange(n + 1, dtype=np.int64), n_rows * len(SET_NAMES)
            )
        for c, blocks in columns.items():
            out[c] = np.stack(blocks, axis=1).ravel()  # (rows, sets, orders) row-major
        return out

    def to_record(self) -> dict[str, Any]:
        """One JSON-safe row: settings and, for each set, its size and shares.

        Returns
        -------
        dict
            Keys ``comparison``, ``task``, ``model_pretrained``, ``model_fine_tuned``,
            ``model_scratch``, ``n_variables``, ``n_inputs``, ``tau``, ``include_empty``, and
            for each set ``X`` and scope ``C`` in (input_mean, pooled):
            ``X_n_interactions_C``, ``X_share_of_p_C``, ``X_share_of_f_C``,
            ``X_share_of_r_C`` (see :meth:`summary`; NaN as None).
        """
        rec: dict[str, Any] = {
            "comparison": self.comparison,
            "task": self.task,
            "model_pretrained": self.models[0],
            "model_fine_tuned": self.models[1],
            "model_scratch": self.models[2],
            "n_variables": self.n_variables,
            "n_inputs": self.n_inputs,
            "tau": self.tau,
            "include_empty": self.include_empty,
        }
        for row in self.summary().itertuples(index=False):
            for key in ("n_interactions", "share_of_p", "share_of_f", "share_of_r"):
                rec[f"{row.set}_{key}_{row.scope}"] = json_safe(getattr(row, key))
        return rec

    def describe(self) -> str:
        """One line: the name, the three models, variables, inputs and threshold.

        Returns
        -------
        str
            E.g. ``demo: P=pt, F=ft, R=scratch; n=8 variables, 20 inputs, tau=0.05``.
        """
        return (
            f"{self.comparison}: P={self.models[0]}, F={self.models[1]}, R={self.models[2]}; "
            f"n={self.n_variables} variables, {self.n_inputs} inputs, tau={self.tau:g}"
        )


def compare_knowledge(
    pretrained: ArrayLike,
    fine_tuned: ArrayLike,
    scratch: ArrayLike,
    *,
    tau: float = DEFAULT_TAU,
    include_empty: bool = False,
    models: tuple[str, str, str] = ROLES,
    task: str | None = None,
    comparison: str = "knowledge",
) -> KnowledgeComparison:
    """Compare the interactions of a pretrained, fine-tuned and from-scratch model.

    Parameters
    ----------
    pretrained, fine_tuned, scratch : array_like
        Harsanyi interactions of each model (see :func:`~transferscope.knowledge.interactions`),
        shape ``(2**n,)`` for one input or ``(k, 2**n)`` for ``k`` inputs, the same inputs and
        variables for the three models.
    tau : float, default 0.05
        Salience threshold relative to each model's largest strength on that input (or in the
        aggregate), in ``(0, 1]``.
    include_empty : bool, default False
        Whether the empty subset (the output on the baseline) may be salient.
    models : tuple of str, default ("pretrained", "fine_tuned", "scratch")
        Labels of the three models, e.g. checkpoint names.
    task : str, optional
        Downstream task the inputs come from.
    comparison : str, default "knowledge"
        Name of this comparison (e.g. an experiment id), carried into records.

    Returns
    -------
    KnowledgeComparison
        Sets, shares (:meth:`~KnowledgeComparison.summary`), order profiles and records.
    """
    t = check_tau(tau)
    arrays = [
        _as_interactions(a, r)
        for a, r in zip((pretrained, fine_tuned, scratch), ROLES, strict=True)
    ]
    if not arrays[0].shape == arrays[1].shape == arrays[2].shape:
        raise InputError(
            "the three models' interactions differ in shape: "
            + ", ".join(str(a.shape) for a in arrays)
        )
    if len(models) != 3 or not all(isinstance(m, str) and m for m in models):
        raise InputError("models must be three non-empty labels (pretrained, fine_tuned, scratch)")
    signed = np.stack([np.concatenate([a, a.mean(axis=0, keepdims=True)]) for a in arrays])
    strengths = np.stack(
        [np.concatenate([np.abs(a), np.abs(a).mean(axis=0, keepdims=True)]) for a in arrays]
    )
    salient = salient_mask(strengths, t, include_empty=include_empty)
    n = arrays[0].shape[1].bit_length() - 1
    return KnowledgeComparison(
        comparison=comparison,
        task=task,
        models=(models[0], models[1], models[2]),
        tau=t,
        include_empty=include_empty,
        n_variables=n,
        interactions=signed,
        strengths=strengths,
        salient=salient,
    )


def knowledge_records(result: KnowledgeComparison, *, per_input: bool = True) -> pd.DataFrame:
    """Long tidy table of every interaction of the three models, ready for a DuckDB table.

    Parameters
    ----------
    result : KnowledgeComparison
        From :func:`compare_knowledge`.
    per_input : bool, default True
        Include the rows of each input (otherwise only the aggregate rows).

    Returns
    -------
    pandas.DataFrame
        One row per (role, input or aggregate, subset); types as in
        :data:`KNOWLEDGE_RECORD_COLUMNS`. Columns:

        - ``comparison`` (str): name of the comparison.
        - ``task`` (str, nullable): downstream task of the inputs.
        - ``role`` (str): pretrained, fine_tuned or scratch.
        - ``model`` (str): the model's label.
        - ``input_id`` (Int64): input index; ``<NA>`` for the aggregate over inputs.
        - ``n_variables`` (int32): number of variables ``n``.
        - ``subset`` (int64): bitmask of ``S`` (bit ``i`` set = variable ``i`` in ``S``).
        - ``interaction_order`` (int32): ``|S|``.
        - ``interaction`` (float): ``I(S)``; for the aggregate, its mean over inputs.
        - ``strength`` (float): ``|I(S)|``; for the aggregate, the mean of ``|I(S)|``.
        - ``relative_strength`` (float): strength divided by the largest strength of the
          subsets considered for salience for this model and input (the empty subset is not
          considered unless ``include_empty``, so its value may exceed 1); NaN if that is 0.
        - ``salient`` (bool): ``S`` is salient for this model (strength at least ``tau`` times
          that largest strength, and positive).
        - ``tau`` (float): the threshold used.
        - ``preserved``, ``discarded``, ``newly_learned``, ``exclusive`` (bool): membership of
          ``S`` in the knowledge sets for this input; properties of (input, subset), repeated on
          the rows of the three roles.
    """
    k = result.n_inputs
    rows = np.arange(k + 1) if per_input else np.array([k])
    ids: list[int | None] = [None if r == k else int(r) for r in rows]
    size = 1 << result.n_variables
    sets = result.sets()
    subsets = np.arange(size, dtype=np.int64)
    orders = subset_order(subsets).astype(np.int32)
    considered = result.strengths[:, rows].copy()
    if not result.include_empty:
        considered[..., 0] = 0.0
    top = considered.max(axis=-1, keepdims=True)
    rel = np.full(result.strengths[:, rows].shape, np.nan)
    np.divide(result.strengths[:, rows], top, out=rel, where=np.broadcast_to(top > 0, rel.shape))
    n_rows = len(ids) * size
    frames = []
    for m, role in enumerate(ROLES):
        frame = pd.DataFrame(
            {
                "comparison": result.comparison,
                "task": pd.array([result.task] * n_rows, dtype="str"),
                "role": role,
                "model": result.models[m],
                "input_id": pd.array(np.repeat(np.array(ids, dtype=object), size), dtype="Int64"),
                "n_variables": np.full(n_rows, result.n_variables, dtype=np.int32),
                "subset": np.tile(subsets, len(ids)),
                "interaction_order": np.tile(orders, len(ids)),
                "interaction": result.interactions[m, rows].ravel(),
                "strength": result.strengths[m, rows].ravel(),
                "relative_strength": rel[m].ravel(),
                "salient": result.salient[m, rows].ravel(),
                "tau": result.tau,
                "preserved": sets["preserved"][rows].ravel(),
                "discarded": sets["discarded"][rows].ravel(),
                "newly_learned": sets["newly_learned"][rows].ravel(),
                "exclusive": sets["exclusive"][rows].ravel(),
            }
        )
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    return out[list(KNOWLEDGE_RECORD_COLUMNS)]
