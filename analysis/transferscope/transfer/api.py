"""``effective_transfer``: residuals from a baseline, efficiency, consistency, drivers, monotony."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from tqdm.std import tqdm

from transferscope.errors import InputError
from transferscope.frontier import DEFAULT_BY, Baseline, FitSettings, get_estimator, get_family
from transferscope.frontier.baseline import single_value
from transferscope.frontier.fit import group_key, group_seed, grouping
from transferscope.frontier.persist import fingerprint as fit_fingerprint
from transferscope.frontier.result import FrontierResult
from transferscope.records import NOT_RECORDED, Record, json_safe
from transferscope.rng import make_rng
from transferscope.schema import metric_direction, metric_info
from transferscope.transfer import consistency as cons
from transferscope.transfer import monotone
from transferscope.transfer.drivers import EFFECT_COLUMNS, TEST_COLUMNS, driver_analysis
from transferscope.transfer.efficiency import Efficiency
from transferscope.transfer.points import (
    DESCRIPTORS,
    Layout,
    default_moderators,
    encode_moderator,
    model_points,
    moderator_values,
    upstream_is_loss,
)
from transferscope.transfer.residuals import (
    FittedBaseline,
    fit_baseline,
    group_efficiency,
    group_residuals,
    level_summary,
)

#: Version of the analysis code; bump it when results change so that stored rows are replaced.
TRANSFER_VERSION: Final[int] = 1

#: Efficiency frontiers: the JLMS estimate for ``stochastic``, the envelope's distance otherwise.
EFFICIENCY_FRONTIERS: Final[tuple[str, ...]] = ("stochastic", "hull", "pareto")

RESIDUAL_COLUMNS: Final[tuple[str, ...]] = (
    "reference", "upstream_score", "downstream_score", "upstream_axis", "downstream_axis",
    "baseline", "residual", "residual_se", "residual_ci_low", "residual_ci_high", "ci_level",
    "axes", "frontier_height", "shortfall", "shortfall_ci_low", "shortfall_ci_high",
    "efficiency", "efficiency_ci_low", "efficiency_ci_high", "efficiency_bc",
    "efficiency_frontier", "efficiency_status", "baseline_fingerprint",
)  # fmt: skip
BASELINE_COLUMNS: Final[tuple[str, ...]] = (
    "family", "frontier", "loss_space", "status", "message", "n_reference", "intercept",
    "intercept_ci_low", "intercept_ci_high", "slope", "slope_ci_low", "slope_ci_high", "r2",
    "params", "n_bootstrap", "n_replicates", "points_sha256", "baseline_fingerprint",
)  # fmt: skip
LEVEL_COLUMNS: Final[tuple[str, ...]] = (
    "moderator", "level", "n_models", "mean_residual", "se", "ci_low", "ci_high", "ci_level",
    "share_above", "share_below",
)  # fmt: skip
CONSISTENCY_COLUMNS: Final[tuple[str, ...]] = (
    "n_models", "n_tasks", "icc", "ci_low", "ci_high", "ci_level", "f_stat", "p_value",
    "mean_spearman", "status", "message",
)  # fmt: skip
PAIR_COLUMNS: Final[tuple[str, ...]] = (
    "task_a", "task_b", "n_models", "spearman", "ci_low", "ci_high", "ci_level", "p_value",
)  # fmt: skip
TABLES: Final[tuple[str, ...]] = (
    "residuals", "baselines", "levels", "consistency", "pairs", "drivers", "tests",
    "nonmonotone",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class EffectiveTransfer(Record):
    """Everything :func:`effective_transfer` computes, as tidy frames.

    Attributes
    ----------
    residuals : pandas.DataFrame
        One row per (group, model): residual from the baseline with interval, efficiency.
    baselines : pandas.DataFrame
        One row per baseline: coefficients, intervals, R^2, status.
    levels : pandas.DataFrame
        Mean residual per group and moderator level.
    consistency : pandas.DataFrame
        ICC of residuals across tasks, per context.
    pairs : pandas.DataFrame
        Spearman's rho of residuals between every pair of tasks, per context.
    drivers : pandas.DataFrame
        Effects of the moderators (shift and slope per level), per context.
    tests : pandas.DataFrame
        Likelihood-ratio test of each moderator, per context.
    nonmonotone : pandas.DataFrame
        The test for a falling top segment, per group.
    fitted : tuple of Baseline
        The baselines, for export (:meth:`Baseline.to_json`).
    fits : tuple of FrontierResult
        The baselines' fits (in the order of :attr:`baselines`).
    options : dict
        The options of the call.
    analysis : str
        Fingerprint of the analysis: its points and options (the key of stored rows).
    """

    residuals: pd.DataFrame = field(metadata=NOT_RECORDED, repr=False)
    baselines: pd.DataFrame = field(metadata=NOT_RECORDED, repr=False)
    levels: pd.DataFrame = field(metadata=NOT_RECORDED, repr=False)
    consistency: pd.DataFrame = field(metadata=NOT_RECORDED, repr=False)
    pairs: pd.DataFrame = field(metadata=NOT_RECORDED, repr=False)
    drivers: pd.DataFrame = field(metadata=NOT_RECORDED, repr=False)
    tests: pd.DataFrame = field(metadata=NOT_RECORDED, repr=False)
    nonmonotone: pd.DataFrame = field(metadata=NOT_RECORDED, repr=False)
    fitted: tuple[Baseline, ...] = field(metadata=NOT_RECORDED, repr=False)
    fits: tuple[FrontierResult, ...] = field(metadata=NOT_RECORDED, repr=False)
    options: dict[str, Any] = field(default_factory=dict)
    analysis: str = ""
    n_groups: int = 0
    n_models: int = 0
    n_baselines_ok: int = 0

    def table(self, name: str) -> pd.DataFrame:
        """Return one of the frames by name.

        Parameters
        ----------
        name : str
            One of :data:`TABLES`.

        Returns
        -------
        pandas.DataFrame
            The frame.
        """
        if name not in TABLES:
            raise InputError(f"unknown table {name!r}; expected one of {TABLES}")
        frame: pd.DataFrame = getattr(self, name)
        return frame

    def describe(self) -> str:
        """One line: counts, consistency and the non-monotone groups.

        Returns
        -------
        str
            E.g. ``1556 residuals of 1266 models in 5 groups (5 baselines); ...``.
        """
        parts = [
            f"{len(self.residuals)} residuals of {self.n_models} models in {self.n_groups} "
            f"groups ({self.n_baselines_ok} baselines fitted)"
        ]
        ok = self.consistency[self.consistency["status"] == "ok"]
        if len(ok):
            parts.append(
                "ICC across tasks "
                + ", ".join(
                    f"{v:.2f} [{lo:.2f}, {hi:.2f}]"
                    for v, lo, hi in ok[["icc", "ci_low", "ci_high"]].itertuples(index=False)
                )
            )
        flagged = int(self.nonmonotone["non_monotone"].sum()) if len(self.nonmonotone) else 0
        parts.append(f"{flagged} non-monotone group(s)")
        return "; ".join(parts)

    def summary(self) -> pd.DataFrame:
        """Return the consistency of residuals across tasks, one row per context.

        Returns
        -------
        pandas.DataFrame
            :attr:`consistency`.
        """
        return self.consistency


def _resolved(family: str | None, loss_space: str | None, loss: bool) -> tuple[str, str]:
    name = family if family is not None else ("loss_exp" if loss else "probit")
    fam = get_family(name)
    space = loss_space if loss_space is not None else (
        "transformed" if fam.linear_axes else "score"
    )  # fmt: skip
    return name, space


def _groups(frame: pd.DataFrame, keys: Sequence[str]) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    if not keys:
        return [({}, frame)]
    out = []
    for values, part in frame.groupby(list(keys), dropna=False, sort=True, observed=True):
        vals = values if isinstance(values, tuple) else (values,)
        out.append((group_key(keys, vals), part))
    return out


def _key_text(key: Mapping[str, Any]) -> str:
    return json.dumps(json_safe(dict(key)), sort_keys=True)


def effective_transfer(
    runs: pd.DataFrame,
    family: str | None = None,
    *,
    by: Sequence[str] | None = None,
    entity: str = "model",
    across: str = "task",
    hparams: Literal["best", "all"] = "best",
    reference: Mapping[str, Any] | None = None,
    loss_space: str | None = None,
    baseline_frontier: str = "all",
    frontier: str | None = "stochastic",
    frontier_family: str | None = None,
    moderators: Sequence[str] | None = None,
    max_driver_contexts: int | None = None,
    min_models: int = 3,
    top: float = 0.25,
    min_top: int = 8,
    alpha: float = 0.05,
    ci_level: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
    rng: np.random.Generator | None = None,
    progress: bool = False,
) -> EffectiveTransfer:
    """Effective transfer: who sits above the baseline, how consistently, and why.

    Per group (by default task x method x shots x downstream metric) every model gets one
    point (:func:`transferscope.transfer.points.model_points`). A baseline is fitted to the
    reference models of its group (all models by default; ``reference={"pretrain_data":
    "in1k"}`` fits it to models trained on ImageNet-1k only, as effective robustness is
    defined; a reference column that is a grouping column, e.g. ``{"method": "standard"}``,
    fits one baseline per group of the other columns and applies it to every method) and
    applied to all models: a model's residual is its distance above the baseline on the
    baseline's axes, with an interval from resampling the reference models (and the model's
    published standard error, where there is one). Efficiency relative to the group's frontier
    (the JLMS / Battese-Coelli estimate for the stochastic frontier, the distance below the hull
    or Pareto envelope otherwise) comes with its own interval. Across the tasks of a context
    (the groups that differ only in ``across``), residuals are summarized by an intraclass
    correlation and pairwise rank correlations, and regressed on moderators with crossed model
    and task random effects, with a likelihood-ratio test of whether the line differs between
    moderator levels. Per group, a one-sided test asks whether downstream falls as upstream
    improves among the best models.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    family : str, optional
        The baseline's family: by default ``probit`` on the transformed axes for an accuracy as
        upstream score (Taori et al.; Miller et al.), ``loss_exp`` on the scores for a loss.
    by : sequence of str, optional
        Grouping columns; default ``task, method, shots, downstream_metric``.
    entity : str
        Column naming the model.
    across : str
        Column consistency and drivers are measured across.
    hparams : {"best", "all"}
        A model's best hyper-parameter configuration, or every configuration as its own unit.
    reference : mapping, optional
        Reference models of the baselines (``{column: value or values}``).
    loss_space : {"score", "transformed"}, optional
        Where the baseline's loss is taken; default ``transformed`` for logit and probit.
    baseline_frontier : str
        Estimator of the baseline (``all``: least squares on all reference models).
    frontier : {"stochastic", "hull", "pareto"} or None
        The frontier efficiency is measured against (None: no efficiency).
    frontier_family : str, optional
        The family of a fitted frontier (default ``abnar``, or ``loss_exp`` for a loss).
    moderators : sequence of str, optional
        Columns or ``hparams`` keys; default those of ``pretrain_data``, ``params`` and
        ``pretrain_steps`` that vary.
    max_driver_contexts : int, optional
        Test the moderators only in this many contexts, those with the most residual rows
        (their mixed models are the costly part); the other contexts get test rows with status
        ``not_tested``. None: every context.
    min_models : int
        A moderator level needs this many models (rarer levels are merged into ``(other)``).
    top : float
        Share of the best upstream models tested for a falling top segment.
    min_top : int
        Fewest models in that test.
    alpha : float
        Level of the non-monotone decision (after Holm's adjustment across groups).
    ci_level : float
        Level of every interval.
    bootstrap : int
        Resamples of each baseline (0: no residual intervals).
    seed : int
        Seed; each baseline's resamples derive from it and the baseline's key.
    rng : numpy.random.Generator, optional
        Draw the seed from this generator instead.
    progress : bool
        Show a progress bar over groups on stderr.

    Returns
    -------
    EffectiveTransfer
        The frames:

        - ``residuals``: the ``by`` columns, the unit columns (``model``, and ``hparams`` with
          ``hparams="all"``), ``reference``, ``upstream_score``, ``downstream_score``,
          ``upstream_axis``, ``downstream_axis`` (on the baseline's axes), ``baseline`` (its
          location), ``residual``, ``residual_se``, ``residual_ci_low``,
          ``residual_ci_high``, ``ci_level``, ``axes`` (where residuals are measured),
          ``frontier_height``, ``shortfall``, ``shortfall_ci_low``, ``shortfall_ci_high``,
          ``efficiency``, ``efficiency_ci_low``, ``efficiency_ci_high``, ``efficiency_bc``
          (Battese-Coelli, stochastic only), ``efficiency_frontier``, ``efficiency_status``,
          then the descriptors (``architecture``, ``params``, ``pretrain_data``,
          ``pretrain_steps``, ``upstream_metric``, ``downstream_metric``, ``hparams``) and any
          moderator read from ``hparams``;
        - ``baselines``: the baseline key columns, ``family``, ``frontier``, ``loss_space``,
          ``status``, ``message``, ``n_reference``, ``intercept``, ``intercept_ci_low``,
          ``intercept_ci_high``, ``slope``, ``slope_ci_low``, ``slope_ci_high``, ``r2``,
          ``params`` (JSON text), ``n_bootstrap``, ``n_replicates`` (successful refits),
          ``points_sha256``;
        - ``levels``: the ``by`` columns, ``moderator``, ``level``, ``n_models``,
          ``mean_residual``, ``se``, ``ci_low``, ``ci_high``, ``ci_level``, ``share_above``,
          ``share_below`` (share of the level's models whose interval lies above / below 0);
        - ``consistency``: the context columns, ``n_models`` (seen on every task),
          ``n_tasks``, ``icc``, ``ci_low``, ``ci_high``, ``ci_level``, ``f_stat``,
          ``p_value``, ``mean_spearman``, ``status``, ``message``;
        - ``pairs``: the context columns, ``task_a``, ``task_b``, ``n_models``, ``spearman``,
          ``ci_low``, ``ci_high``, ``ci_level``, ``p_value``;
        - ``drivers``: the context columns, ``moderator``, ``term``, ``kind`` (``shift`` or
          ``slope``), ``level``, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``ci_level``,
          ``p_value``, ``std_estimate``, ``std_ci_low``, ``std_ci_high``;
        - ``tests``: the context columns, ``moderator``, ``term``, ``kind`` (``numeric`` or
          ``categorical``), ``n_levels``, ``reference_level``, ``df``, ``lr_stat``, ``ddf``
          (the models' degrees of freedom), ``p_value`` (``LR / df`` against F(df, ddf)),
          ``p_chi2`` (asymptotic), ``n_obs``, ``n_models``, ``n_tasks``, ``var_model``,
          ``var_task``, ``sigma2``, ``status``, ``message``;
        - ``nonmonotone``: the ``by`` columns, ``n_models``, ``n_top``, ``top_from``,
          ``slope``, ``slope_ci_low``, ``slope_ci_high``, ``kendall_tau``,
          ``kendall_p_value``, ``p_value``, ``p_adjusted``, ``non_monotone``,
          ``peak_upstream``, ``status``, ``message``.

    Raises
    ------
    InputError
        For missing columns, unknown families or estimators, or options out of range.
    """
    by = grouping(runs, by if by is not None else DEFAULT_BY)
    if across not in by:
        raise InputError(f"across={across!r} must be one of the grouping columns {by}")
    if frontier is not None and frontier not in EFFICIENCY_FRONTIERS:
        get_estimator(frontier)  # refuses an unknown name; others give distances, no interval
    get_estimator(baseline_frontier)
    for name, value in (("top", top), ("alpha", alpha), ("ci_level", ci_level)):
        if not 0.0 < value < 1.0:
            raise InputError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    if max_driver_contexts is not None and max_driver_contexts < 0:
        raise InputError(f"max_driver_contexts must be >= 0, got {max_driver_contexts!r}")
    if min_models < 1 or min_top < 3:
        raise InputError("min_models must be >= 1 and min_top >= 3")
    seed = int(make_rng(rng=rng).integers(0, 2**63 - 1)) if rng is not None else seed
    points, layout = model_points(
        runs, by=by, entity=entity, hparams=hparams, reference=reference, across=across
    )
    base_settings = FitSettings.make(
        frontier=baseline_frontier, bootstrap=bootstrap, ci_level=ci_level, seed=seed
    )
    if family is not None:
        _resolved(family, loss_space, False)  # refuses an unknown family before any work
    mods = list(moderators) if moderators is not None else default_moderators(points)
    reference_levels = {c: v[0] for c, v in layout.reference.items()}

    baselines: dict[str, FittedBaseline] = {}
    prints: dict[str, str] = {}
    losses: dict[str, bool] = {}
    baseline_rows = []
    for key, part in _groups(points, layout.baseline_keys):
        ref = part[part["reference"]]
        # the direction of the upstream score is the group's own (a store may mix tables)
        loss = upstream_is_loss(part)
        fam_name, space = _resolved(family, loss_space, loss)
        settings = base_settings.replace(family=fam_name, loss_space=space)
        losses[_key_text(key)] = loss
        fitted = fit_baseline(
            ref["upstream_score"].to_numpy(dtype=np.float64),
            ref["downstream_score"].to_numpy(dtype=np.float64),
            ref["model"].astype(str).tolist() if "model" in ref else [],
            key,
            settings,
            group_seed(seed, key),
            upstream_metric=single_value(part, "upstream_metric"),
            downstream_metric=single_value(part, "downstream_metric"),
        )
        baselines[_key_text(key)] = fitted
        prints[_key_text(key)] = _baseline_fingerprint(fitted, key)
        baseline_rows.append(
            {**_baseline_row(key, fitted, len(ref)), "baseline_fingerprint": prints[_key_text(key)]}
        )

    residual_parts = []
    level_rows = []
    mono_rows = []
    contexts = _groups(points, layout.context)
    bar = tqdm(total=len(points.groupby(by, dropna=False)) if by else 1, disable=not progress,
               desc="effective", unit="group", leave=False)  # fmt: skip
    with bar:
        for _, context in contexts:
            encoded = {
                m: encode_moderator(
                    context, m, min_models=min_models, reference_level=reference_levels.get(m)
                )
                for m in mods
            }
            for key, group in _groups(context, by):
                bkey = _key_text({c: key[c] for c in layout.baseline_keys})
                fitted = baselines[bkey]
                loss = losses[bkey]
                part, levels, mono = _group_rows(
                    key, group, fitted, encoded, layout, fitted.settings,
                    frontier=frontier, loss=loss, top=top, min_top=min_top, seed=seed,
                    eff_family=frontier_family or ("loss_exp" if loss else "abnar"),
                )  # fmt: skip
                residual_parts.append(part.assign(baseline_fingerprint=prints[bkey]))
                level_rows += levels
                mono_rows.append(mono)
                bar.update()
    residuals = _residual_frame(residual_parts, points, layout, mods)
    cons_rows, pair_rows, effect_rows, test_rows = [], [], [], []
    grouped = _groups(residuals, layout.context)
    tested = _largest(grouped, max_driver_contexts)
    for i, (ctx, frame) in enumerate(grouped):
        cons_row, pairs = _consistency(frame, layout, ci_level)
        cons_rows.append({**ctx, **cons_row})
        pair_rows += [{**ctx, **p} for p in pairs]
        if i not in tested:
            why = (
                f"moderators tested only in the {max_driver_contexts} context(s) with the most "
                "residuals (max_driver_contexts)"
            )
            test_rows += [
                {**ctx, "moderator": m, "status": "not_tested", "message": why} for m in mods
            ]
            continue
        effects, tests = driver_analysis(
            frame, mods, across=across, level=ci_level, min_models=min_models,
            reference_levels=reference_levels,
        )  # fmt: skip
        effect_rows += [{**ctx, **e} for e in effects]
        test_rows += [{**ctx, **t} for t in tests]
    context_columns = layout.context
    if mono_rows:
        nonmono = monotone.finish(pd.DataFrame(mono_rows), alpha)
    else:
        nonmono = pd.DataFrame(columns=[*by, *monotone.COLUMNS])
    options = json_safe(
        {
            "family": family, "by": by, "entity": entity, "across": across,
            "hparams": hparams, "reference": {k: list(v) for k, v in layout.reference.items()},
            "loss_space": loss_space, "baseline_frontier": baseline_frontier,
            "frontier": frontier, "frontier_family": frontier_family, "moderators": mods,
            "max_driver_contexts": max_driver_contexts,
            "min_models": min_models, "top": top, "min_top": min_top, "alpha": alpha,
            "ci_level": ci_level, "bootstrap": bootstrap, "seed": seed,
        }
    )  # fmt: skip
    return EffectiveTransfer(
        residuals=residuals,
        baselines=_typed(
            pd.DataFrame(baseline_rows, columns=[*layout.baseline_keys, *BASELINE_COLUMNS]), points
        ),
        levels=_typed(pd.DataFrame(level_rows, columns=[*by, *LEVEL_COLUMNS]), points),
        consistency=_typed(
            pd.DataFrame(cons_rows, columns=[*context_columns, *CONSISTENCY_COLUMNS]), points
        ),
        pairs=_typed(pd.DataFrame(pair_rows, columns=[*context_columns, *PAIR_COLUMNS]), points),
        drivers=_typed(
            pd.DataFrame(effect_rows, columns=[*context_columns, *EFFECT_COLUMNS]), points
        ),
        tests=_typed(pd.DataFrame(test_rows, columns=[*context_columns, *TEST_COLUMNS]), points),
        nonmonotone=_typed(nonmono, points),
        fitted=tuple(b.baseline for b in baselines.values()),
        fits=tuple(b.result for b in baselines.values()),
        options=options,
        analysis=_analysis_fingerprint(points, layout, options),
        n_groups=len(mono_rows),
        n_models=int(points["unit_key"].nunique()),
        n_baselines_ok=sum(b.baseline.ok for b in baselines.values()),
    )


def _largest(groups: Sequence[tuple[Any, pd.DataFrame]], n: int | None) -> set[int]:
    """Return the indices of the ``n`` largest groups (all when ``n`` is None; ties: first come)."""
    if n is None:
        return set(range(len(groups)))
    order = sorted(range(len(groups)), key=lambda i: -len(groups[i][1]))
    return set(order[:n])


def _baseline_fingerprint(fitted: FittedBaseline, key: dict[str, Any]) -> str:
    """Hash the baseline's fit as table ``fits`` keys it."""
    b = fitted.baseline
    up, down = (
        None if m is None else metric_info(m) for m in (b.upstream_metric, b.downstream_metric)
    )
    task = (key, fitted.result.x, fitted.result.y, up, down, None)
    return fit_fingerprint(task, fitted.settings.replace(bootstrap=0))


def _analysis_fingerprint(points: pd.DataFrame, layout: Layout, options: Mapping[str, Any]) -> str:
    """Hash the points an analysis is made of and its options."""
    columns = [
        c
        for c in dict.fromkeys(
            [*layout.by, *layout.unit, "upstream_score", "downstream_score", "downstream_stderr",
             "reference", *DESCRIPTORS]
        )
        if c in points
    ]  # fmt: skip
    digest = hashlib.sha256(
        json.dumps({"version": TRANSFER_VERSION, "options": options}, sort_keys=True).encode()
    )
    frame = points[columns].astype("string").fillna("~")
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _baseline_row(key: dict[str, Any], fitted: FittedBaseline, n_reference: int) -> dict:
    b = fitted.baseline
    return {
        **key,
        "family": b.family,
        "frontier": b.frontier,
        "loss_space": b.loss_space,
        "status": b.status,
        "message": b.message,
        "n_reference": n_reference,
        "intercept": b.intercept,
        "intercept_ci_low": b.intercept_ci_low,
        "intercept_ci_high": b.intercept_ci_high,
        "slope": b.slope,
        "slope_ci_low": b.slope_ci_low,
        "slope_ci_high": b.slope_ci_high,
        "r2": b.r2,
        "params": json.dumps(json_safe(b.params), sort_keys=True),
        "n_bootstrap": fitted.n_bootstrap,
        "n_replicates": int(fitted.thetas.shape[0]),
        "points_sha256": b.points_sha256,
    }


_EFFICIENCY_FIELDS = tuple(f.name for f in dataclasses.fields(Efficiency))


def _group_rows(
    key: dict[str, Any],
    group: pd.DataFrame,
    fitted: FittedBaseline,
    encoded: Mapping[str, Any],
    layout: Layout,
    settings: FitSettings,
    *,
    frontier: str | None,
    eff_family: str,
    loss: bool,
    top: float,
    min_top: int,
    seed: int,
) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, Any]]:
    x = group["upstream_score"].to_numpy(dtype=np.float64)
    y = group["downstream_score"].to_numpy(dtype=np.float64)
    stderr = group["downstream_stderr"].to_numpy(dtype=np.float64, na_value=np.nan)
    level = settings.ci_level
    res = group_residuals(fitted, x, y, stderr, level)
    out = group[[*layout.by, *layout.unit, "unit_key"]].copy()
    out["reference"] = group["reference"].to_numpy()
    out["upstream_score"] = x
    out["downstream_score"] = y
    out["upstream_axis"] = res.upstream_axis
    out["downstream_axis"] = res.downstream_axis
    out["baseline"] = res.location
    out["residual"] = res.residual
    out["residual_se"] = res.residual_se
    out["residual_ci_low"] = res.residual_ci_low
    out["residual_ci_high"] = res.residual_ci_high
    out["ci_level"] = level
    out["axes"] = fitted.baseline.axes
    nan = np.full(len(x), np.nan)
    eff, status = None, "none"
    if frontier is not None:
        rng = np.random.default_rng(group_seed(seed, {**key, "_efficiency": frontier}))
        eff, status, _ = group_efficiency(
            x,
            y,
            frontier=frontier,
            family=eff_family,
            settings=settings.replace(family=eff_family),
            loss=loss,
            upstream_metric=single_value(group, "upstream_metric"),
            downstream_metric=single_value(group, "downstream_metric"),
            rng=rng,
        )
    for name in _EFFICIENCY_FIELDS:
        out[name] = getattr(eff, name) if eff is not None else nan
    out["efficiency_frontier"] = frontier
    out["efficiency_status"] = status
    levels = []
    local = group.index
    for name, moderator in encoded.items():
        if moderator.kind != "categorical":
            continue
        labels = moderator.values.loc[local]  # its levels, or missing
        for row in level_summary(
            res.residual, res.residual_ci_low, res.residual_ci_high, res.replicates,
            labels.reset_index(drop=True), level,
        ):  # fmt: skip
            levels.append({**key, "moderator": name, **row, "ci_level": level})
    u = (
        -res.upstream_axis
        if (loss and fitted.baseline.loss_space == "score")
        else res.upstream_axis
    )
    # "better" downstream is a higher accuracy, or a lower loss / perplexity
    lower = metric_direction(single_value(group, "downstream_metric")) == "lower"
    if not fitted.baseline.ok:
        u = -x if loss else x
        v = -y if lower else y
    else:
        v = res.downstream_axis
    mono = monotone.top_segment_test(
        u, v, x, -y if lower else y, top=top, min_models=min_top, level=level
    )
    if lower and mono["status"] == "ok":
        mono["message"] = "the downstream metric is lower-is-better: tested on its negative"
    return out, levels, {**key, **mono}


def _residual_frame(
    parts: list[pd.DataFrame], points: pd.DataFrame, layout: Layout, mods: Sequence[str]
) -> pd.DataFrame:
    columns = [*layout.by, *[c for c in layout.unit if c not in layout.by], *RESIDUAL_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(parts)
    extra = [c for c in DESCRIPTORS if c in points and c not in columns]
    for c in extra:
        frame[c] = points.loc[frame.index, c]
    for m in mods:
        if m not in frame and m not in columns:
            frame[m] = moderator_values(points.loc[frame.index], m)
    frame = frame.reset_index(drop=True)
    keep = [*columns, *extra, *[m for m in mods if m not in columns and m not in extra]]
    out = frame[[*dict.fromkeys([*keep, "unit_key"])]]
    return _typed(out, points)


def _typed(frame: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    for c in frame.columns:
        if c in points.columns and c not in ("reference",):
            with contextlib.suppress(TypeError, ValueError):
                frame[c] = frame[c].astype(points[c].dtype)
    return frame.reset_index(drop=True)


def _consistency(
    frame: pd.DataFrame, layout: Layout, level: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row: dict[str, Any] = dict.fromkeys(CONSISTENCY_COLUMNS, math.nan)
    row.update(ci_level=level, status="ok", message="")
    ok = frame[np.isfinite(frame["residual"].to_numpy(dtype=np.float64))]
    wide = ok.pivot_table(
        index="unit_key", columns=layout.across, values="residual", aggfunc="mean"
    )
    row["n_tasks"] = int(wide.shape[1])
    complete = wide.dropna()
    row["n_models"] = len(complete)
    pairs = cons.rank_correlations(wide, level)
    pair_rows = [
        {str(k): v for k, v in p.items()} | {"ci_level": level} for p in pairs.to_dict("records")
    ]
    if wide.shape[1] < 2:
        row.update(status="too_few_tasks", message="fewer than two tasks")
        return row, pair_rows
    if len(complete) < 3:
        row.update(status="too_few_models", message=f"{len(complete)} models seen on every task")
        return row, pair_rows
    result = cons.icc_consistency(complete.to_numpy(dtype=np.float64), level)
    row.update({k: result[k] for k in ("icc", "ci_low", "ci_high", "f_stat", "p_value")})
    row["mean_spearman"] = float(np.nanmean(pairs["spearman"])) if len(pairs) else math.nan
    if not math.isfinite(row["icc"]):
        row.update(status="degenerate", message="no residual variance within models")
    elif len(complete) < len(wide):
        row["message"] = f"{len(wide) - len(complete)} models not seen on every task left out"
    return row, pair_rows
