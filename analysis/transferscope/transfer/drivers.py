"""What drives effective transfer: residuals on moderators, with model and task random effects.

For one context (the groups that differ only in their task) and one moderator, the residuals
``r`` of every model on every task are modelled as

    null:  r = b0 + b1[task] u + model + task + e
    full:  r = b0 + b1[task] u + sum_l (d_l + g_l u) [level l] + model + task + e

where ``u`` is the model's upstream score on the baseline's axes, centred within its task
(``b1[task]``: a slope of the residuals per task, which a baseline fitted to a reference subset
leaves), and
``model``, ``task`` are crossed random intercepts (:func:`~transferscope.transfer.lmm.fit_crossed`):
a model's residuals on several tasks are not independent, so a moderator that is a property of
the model is judged against the spread between models, not against the number of residuals.
``d_l`` shifts the line of level ``l`` (at the task's mean upstream score) and ``g_l`` changes its
slope, relative to the reference level; a numeric moderator has one ``d`` and one ``g`` per unit
(per decade when it is log-scaled). The likelihood-ratio test of ``full`` against ``null``
(both by maximum likelihood) asks whether the line differs between levels at all: ``LR / df``
(``df``: the moderator's terms) is referred to an F distribution with ``n_models - 1 - df``
denominator degrees of freedom, since a moderator is a property of the model and is judged
against the spread between models (the between-group rule of nlme; ``p_chi2`` is the asymptotic
chi-square p-value, which is liberal with few models; see benchmarks/transfer.py); the effects,
their standard errors and Wald intervals come from the REML fit of ``full``. ``std_estimate``
divides an effect by the residual standard deviation between models of the REML null fit,
``sqrt(sigma_model^2 + sigma^2)`` (a standardized mean difference for a level's shift).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from transferscope.errors import InputError
from transferscope.transfer.lmm import CrossedFit, fit_crossed, full_rank_columns
from transferscope.transfer.points import Moderator, encode_moderator

EFFECT_COLUMNS = (
    "moderator", "term", "kind", "level", "estimate", "se", "ci_low", "ci_high", "ci_level",
    "p_value", "std_estimate", "std_ci_low", "std_ci_high",
)  # fmt: skip
TEST_COLUMNS = (
    "moderator", "term", "kind", "n_levels", "reference_level", "df", "lr_stat", "ddf",
    "p_value", "p_chi2", "n_obs", "n_models", "n_tasks", "var_model", "var_task", "sigma2",
    "status", "message",
)  # fmt: skip


def _centred(u: np.ndarray, groups: np.ndarray) -> np.ndarray:
    frame = pd.DataFrame({"u": u, "g": groups})
    return (frame["u"] - frame.groupby("g")["u"].transform("mean")).to_numpy(dtype=np.float64)


def _factors(units: np.ndarray, tasks: np.ndarray) -> list[np.ndarray]:
    out = []
    if pd.Series(units).value_counts().max() > 1:
        out.append(units)
    if len(set(tasks)) > 1:
        out.append(tasks)
    return out


def moderator_test(
    frame: pd.DataFrame,
    moderator: Moderator,
    *,
    across: str,
    level: float,
    nulls: dict[bytes, tuple[CrossedFit, CrossedFit]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Test one moderator on the residuals of one context.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per (model, task): ``residual``, ``upstream_axis``, ``unit_key`` and ``across``.
    moderator : Moderator
        The encoded moderator (values aligned with ``frame``'s rows).
    across : str
        The task column.
    level : float
        Level of the intervals.
    nulls : dict, optional
        The null model's ML and REML fits by the rows they were fitted to (the null model does
        not depend on the moderator, only on which rows it leaves usable): read and filled, so
        that moderators of one context share them.

    Returns
    -------
    effects : list of dict
        One row per term (columns :data:`EFFECT_COLUMNS`).
    test : dict
        The likelihood-ratio test (columns :data:`TEST_COLUMNS`).
    """
    test: dict[str, Any] = dict.fromkeys(TEST_COLUMNS, math.nan)
    test.update(
        moderator=moderator.name,
        term=moderator.label,
        kind=moderator.kind,
        n_levels=len(moderator.levels) if moderator.kind == "categorical" else 0,
        reference_level=moderator.reference,
        status="ok",
        message="",
    )
    values = moderator.values
    ok = values.notna().to_numpy() & np.isfinite(frame["residual"].to_numpy(dtype=np.float64))
    ok &= np.isfinite(frame["upstream_axis"].to_numpy(dtype=np.float64))
    data = frame[ok]
    units = data["unit_key"].astype(str).to_numpy()
    tasks = data[across].astype(str).to_numpy()
    test.update(n_obs=int(ok.sum()), n_models=len(set(units)), n_tasks=len(set(tasks)))
    if moderator.kind == "categorical" and len(moderator.levels) < 2:
        test.update(status="too_few_levels", message="fewer than two levels with enough models")
        return [], test
    if moderator.kind == "numeric" and data.shape[0] and np.ptp(values[ok].to_numpy(float)) == 0:
        test.update(status="too_few_levels", message="the moderator does not vary")
        return [], test
    if len(set(units)) < 4:
        test.update(status="too_few_points", message=f"{len(set(units))} models")
        return [], test
    y = data["residual"].to_numpy(dtype=np.float64)
    u = _centred(data["upstream_axis"].to_numpy(dtype=np.float64), tasks)
    dummies, names = moderator.design(ok)
    task_levels = sorted(set(tasks))
    slopes = np.column_stack([u * (tasks == t) for t in task_levels])
    x_null = np.column_stack([np.ones(len(y)), slopes])
    base = x_null.shape[1]
    x_full = np.column_stack([x_null, dummies, dummies * u[:, None]])
    terms = ["intercept", *[f"upstream:{across}[{t}]" for t in task_levels]]
    terms += [*names, *[f"{n}:upstream" for n in names]]
    kinds = [""] * base + ["shift"] * len(names) + ["slope"] * len(names)
    levels = [None] * base + [*_levels(moderator, names), *_levels(moderator, names)]
    keep_null = full_rank_columns(x_null)
    x_null = x_null[:, keep_null]
    candidate = keep_null + list(range(base, x_full.shape[1]))
    keep = [candidate[i] for i in full_rank_columns(x_full[:, candidate])]
    if not keep_null or keep_null[0] != 0 or len(keep_null) < 2:
        test.update(status="degenerate", message="the upstream scores do not vary within tasks")
        return [], test
    dropped = [terms[j] for j in range(base, len(terms)) if j not in keep]
    x_full = x_full[:, keep]
    factors = _factors(units, tasks)
    try:
        rows = ok.tobytes()
        if nulls is not None and rows in nulls:
            null_ml, null_reml = nulls[rows]
        else:
            null_ml = fit_crossed(y, x_null, factors, reml=False)
            null_reml = fit_crossed(y, x_null, factors, reml=True)
            if nulls is not None:
                nulls[rows] = (null_ml, null_reml)
        full_ml = fit_crossed(y, x_full, factors, reml=False)
        full_reml = fit_crossed(y, x_full, factors, reml=True)
    except (InputError, np.linalg.LinAlgError, ValueError) as exc:
        test.update(status="failed", message=str(exc))
        return [], test
    df = x_full.shape[1] - x_null.shape[1]
    lr = max(null_ml.deviance - full_ml.deviance, 0.0)
    var_model, var_task = _components(null_reml, factors, units, tasks)
    # the moderator is a property of the model: its terms are judged against the models, so the
    # statistic LR / df is referred to F with the models' residual degrees of freedom
    ddf = len(set(units)) - 1 - df
    test.update(
        df=df,
        lr_stat=float(lr),
        ddf=ddf,
        p_value=float(stats.f.sf(lr / df, df, ddf)) if df > 0 and ddf > 0 else math.nan,
        p_chi2=float(stats.chi2.sf(lr, df)) if df > 0 else math.nan,
        var_model=var_model,
        var_task=var_task,
        sigma2=null_reml.sigma2,
    )
    notes = []
    if dropped:
        notes.append(f"aliased terms dropped: {', '.join(dropped)}")
    bad = [f.status for f in (null_ml, full_ml, null_reml, full_reml) if f.status != "ok"]
    if "did_not_converge" in bad:
        test["status"] = "did_not_converge"
    # (a task variance at 0 is expected: a baseline fitted to every model centres each task)
    if math.isfinite(var_model) and var_model <= 1e-8 * max(null_reml.sigma2, 1e-300):
        notes.append("the variance between models is estimated at 0")
    test["message"] = "; ".join(notes)
    spread = math.sqrt(null_reml.sigma2 + (0.0 if math.isnan(var_model) else var_model))
    q = float(stats.norm.ppf(0.5 + level / 2.0))
    effects = []
    for position, j in enumerate(keep):
        if j < base:
            continue
        estimate, se = full_reml.coef[position], full_reml.se[position]
        low, high = estimate - q * se, estimate + q * se
        effects.append(
            {
                "moderator": moderator.name,
                "term": terms[j],
                "kind": kinds[j],
                "level": levels[j],
                "estimate": estimate,
                "se": se,
                "ci_low": low,
                "ci_high": high,
                "ci_level": level,
                "p_value": float(2.0 * stats.norm.sf(abs(estimate / se))) if se > 0 else math.nan,
                "std_estimate": estimate / spread if spread > 0 else math.nan,
                "std_ci_low": low / spread if spread > 0 else math.nan,
                "std_ci_high": high / spread if spread > 0 else math.nan,
            }
        )
    return effects, test


def _levels(moderator: Moderator, names: Sequence[str]) -> list[str | None]:
    if moderator.kind == "numeric":
        return [None] * len(names)
    return list(moderator.levels[1:])


def _components(
    fit: CrossedFit, factors: Sequence[np.ndarray], units: np.ndarray, tasks: np.ndarray
) -> tuple[float, float]:
    var_model = var_task = math.nan
    for f, v in zip(factors, fit.variances, strict=True):
        if f is units:
            var_model = v
        elif f is tasks:
            var_task = v
    return var_model, var_task


def driver_analysis(
    frame: pd.DataFrame,
    moderators: Sequence[str],
    *,
    across: str,
    level: float,
    min_models: int,
    reference_levels: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Test every moderator on one context's residuals.

    Parameters
    ----------
    frame : pandas.DataFrame
        Residual rows of the context (with the moderators' columns or ``hparams``).
    moderators : sequence of str
        Moderator names.
    across : str
        The task column.
    level : float
        Level of the intervals.
    min_models : int
        Levels with fewer models are merged (see :func:`encode_moderator`).
    reference_levels : dict
        Reference level per moderator (e.g. the baseline's reference value).

    Returns
    -------
    effects, tests : list of dict
        Rows of the effects and of the tests.
    """
    effects: list[dict[str, Any]] = []
    tests: list[dict[str, Any]] = []
    frame = frame.reset_index(drop=True)
    nulls: dict[bytes, tuple[CrossedFit, CrossedFit]] = {}
    for name in moderators:
        moderator = encode_moderator(
            frame, name, min_models=min_models, reference_level=reference_levels.get(name)
        )
        rows, test = moderator_test(frame, moderator, across=across, level=level, nulls=nulls)
        effects += rows
        tests.append(test)
    return effects, tests
