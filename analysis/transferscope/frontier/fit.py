"""DataFrame-level API: fit frontiers for every group of runs, and draw their curves."""

from __future__ import annotations

import contextlib
import functools
import math
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.std import tqdm

from transferscope.engine import Engine, resolve_engine
from transferscope.engine import worker_count as _worker_count
from transferscope.errors import InputError
from transferscope.frontier.estimators import ESTIMATORS, Estimator, get_estimator
from transferscope.frontier.families import FAMILIES, Family, get_family
from transferscope.frontier.group import draw_seed, fit_families, resolve_families, unfitted
from transferscope.frontier.result import HEAD_COLUMNS, TAIL_COLUMNS, FrontierResult
from transferscope.frontier.settings import FitSettings
from transferscope.records import json_safe
from transferscope.rng import keyed_seed
from transferscope.schema import MetricInfo, metric_info, scored_on_upstream_task

#: Default grouping of runs: a group never mixes downstream metrics (acc and acc_norm of one
#: task are two groups), in ``fit`` and ``report`` alike.
DEFAULT_BY: tuple[str, ...] = ("task", "method", "shots", "downstream_metric")
#: Groups in the first and the largest batch of :func:`iter_fit_tasks`.
FIRST_BATCH: int = 1
LAST_BATCH: int = 256


def group_key(by: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """Make the key of a group a JSON-safe dict (column to value).

    Parameters
    ----------
    by : sequence of str
        Key columns.
    values : sequence
        The group's values, in the same order.

    Returns
    -------
    dict
        ``{column: value}`` with missing values as ``None``.
    """
    return {c: json_safe(v) for c, v in zip(by, values, strict=True)}


def group_seed(seed: int, key: dict[str, Any]) -> np.random.SeedSequence:
    """Seed of a group's bootstrap: the user's seed and a checksum of the group key.

    The resamples of a group therefore do not depend on which other groups are fitted, in which
    order or in which process.

    Parameters
    ----------
    seed : int
        The user's seed.
    key : dict
        The group key.

    Returns
    -------
    numpy.random.SeedSequence
        Seed sequence of the group.
    """
    return keyed_seed(seed, key)


def _single_metric(frame: pd.DataFrame, column: str) -> tuple[str | None, str | None]:
    """Return the group's metric, or a message when it mixes several."""
    if column not in frame:
        return None, None
    values = frame[column].dropna().unique()
    if len(values) == 0:
        return None, None
    if len(values) > 1:
        shown = ", ".join(sorted(str(v) for v in values)[:4])
        return None, f"the group mixes {column} values ({shown}); add {column} to by"
    return str(values[0]), None


def grouping(runs: pd.DataFrame, by: Sequence[str] | str) -> list[str]:
    """Choose the grouping columns: ``by``, without a default ``downstream_metric`` runs lack.

    The default grouping names ``downstream_metric``; runs without that column (a table of one
    unnamed metric) are grouped by the other default columns.

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs.
    by : sequence of str or str
        The grouping asked for.

    Returns
    -------
    list of str
        Columns.
    """
    columns = [by] if isinstance(by, str) else list(by)
    if tuple(columns) == DEFAULT_BY and "downstream_metric" not in runs.columns:
        columns.remove("downstream_metric")
    return columns


def check_runs(runs: pd.DataFrame, by: Sequence[str]) -> None:
    """Raise :class:`InputError` unless ``runs`` has the key and score columns.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    by : sequence of str
        Key columns.
    """
    if not isinstance(runs, pd.DataFrame):
        raise InputError(f"runs must be a pandas DataFrame, got {type(runs).__name__}")
    needed = [*by, "upstream_score", "downstream_score"]
    missing = [c for c in needed if c not in runs.columns]
    if missing:
        raise InputError(f"runs lack column(s) {missing}; expected the canonical run columns")
    for column in ("upstream_score", "downstream_score"):
        if not pd.api.types.is_numeric_dtype(runs[column]):
            raise InputError(
                f"column {column!r} must be numeric, got {runs[column].dtype}", column=column
            )


#: One group: key, upstream scores, downstream scores, metric definitions and a problem.
Task = tuple[dict[str, Any], Any, Any, MetricInfo | None, MetricInfo | None, str | None]


def group_tasks(
    runs: pd.DataFrame,
    by: Sequence[str],
    metrics: Mapping[str, MetricInfo] | None = None,
) -> Iterator[Task]:
    """Split runs into groups: key, scores, metrics and a problem message per group.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.
    by : sequence of str
        Key columns (missing values form their own group).
    metrics : mapping, optional
        Metric definitions that take precedence over the registry (e.g. a store's).

    Yields
    ------
    tuple
        ``(key, x, y, upstream_metric, downstream_metric, problem)`` with the metrics as
        :class:`~transferscope.schema.MetricInfo` (None when the runs name none); ``problem``
        says why the group cannot be fitted (it mixes metrics, or its task is its own upstream
        task), or is None. Runs whose task is their upstream task are left out of a group that
        has others.
    """
    if not by:
        groups: Iterable[tuple[Any, pd.DataFrame]] = [((), runs)]
    else:
        groups = runs.groupby(list(by), dropna=False, sort=True, observed=True)
    for values, frame in groups:
        vals = values if isinstance(values, tuple) else (values,)
        key = group_key(by, vals)
        own_problem = None
        own = scored_on_upstream_task(frame)
        if len(frame) and own.all():
            own_problem = "the task is its own upstream task (downstream = upstream)"
        elif own.any():
            frame = frame[~own]
        upstream, up_problem = _single_metric(frame, "upstream_metric")
        downstream, down_problem = _single_metric(frame, "downstream_metric")
        x = frame["upstream_score"].to_numpy(dtype=np.float64, na_value=np.nan)
        y = frame["downstream_score"].to_numpy(dtype=np.float64, na_value=np.nan)
        up = metric_info(upstream, metrics) if upstream is not None else None
        down = metric_info(downstream, metrics) if downstream is not None else None
        yield key, x, y, up, down, own_problem or up_problem or down_problem


@dataclass(frozen=True)
class Registry:
    """The families and the estimator a fit uses, shipped to worker processes.

    A process started by ``spawn`` or ``forkserver`` imports the package afresh and knows only
    the built-in families; the classes travel with every task (pickled by reference) and are
    registered there before fitting.
    """

    families: tuple[type[Family], ...]
    estimators: tuple[type[Estimator], ...]

    @classmethod
    def current(cls, settings: FitSettings) -> Registry:
        """Snapshot the registered families and the settings' estimators (and fallback)."""
        names = [settings.frontier]
        if settings.fallback != "none":
            names.append(settings.fallback)
        for name in names:
            get_estimator(name)  # refuses an unknown name
        return cls(tuple(FAMILIES.values()), tuple(ESTIMATORS[n] for n in names))

    def install(self) -> None:
        """Register the shipped classes in this process (a no-op where they already are)."""
        for family in self.families:
            FAMILIES.ensure(family)
        for estimator in self.estimators:
            ESTIMATORS.ensure(estimator)


def _fit_task(
    task: Task, settings: FitSettings, registry: Registry
) -> tuple[dict[str, Any], list[FrontierResult]]:
    registry.install()
    key, x, y, upstream, downstream, problem = task
    if problem is not None:  # mixed metrics: nothing to fit
        names = resolve_families(settings, upstream)
        if settings.family == "auto" and not settings.side_by_side:
            names = names[:1]
        keep = np.isfinite(x) & np.isfinite(y)
        return key, [
            unfitted(get_family(n), settings, x[keep], y[keep], "degenerate", problem)
            for n in names
        ]
    results = fit_families(
        x,
        y,
        settings,
        group_seed(settings.seed, key),
        upstream_metric=upstream,
        downstream_metric=downstream,
    )
    return key, results


def _fit_results(task: Task, *, settings: FitSettings, registry: Registry) -> list[FrontierResult]:
    return _fit_task(task, settings, registry)[1]


def output_columns(by: Sequence[str], settings: FitSettings) -> list[str]:
    """List the columns of :func:`fit_frontiers`'s output, in order.

    Parameters
    ----------
    by : sequence of str
        Group key columns.
    settings : FitSettings
        The families asked for and the estimator.

    Returns
    -------
    list of str
        Column names.
    """
    names = list(FAMILIES) if settings.family == "auto" else list(settings.families_asked)
    params: list[str] = []
    for n in names:
        for p in get_family(n).names:
            if p not in params:
                params.append(p)
    params += list(get_estimator(settings.frontier).extra_names(settings))
    if settings.fallback != "none":
        for p in get_estimator(settings.fallback).extra_names(settings):
            if p not in params:
                params.append(p)
    cols = [*by, *HEAD_COLUMNS]
    for p in params:
        cols += [f"param_{p}", f"param_{p}_se"]
    return [*cols, *TAIL_COLUMNS]


_FLOAT_COLUMNS: frozenset[str] = frozenset(
    {
        "plateau",
        "plateau_ci_low",
        "plateau_ci_high",
        "ci_level",
        "mc_se_low",
        "mc_se_high",
        "interval_inflation",
        "saturation_point",
        "upstream_best",
        "extrapolation",
        "plateau_gap",
        "best_observed",
        "share_above",
        "noise_sd",
        "aicc",
        "rmse",
        "backtest_mae",
        "bootstrap_failed_share",
        "upstream_min",
        "upstream_max",
        "r2",
        "intercept_ci_low",
        "intercept_ci_high",
        "slope_ci_low",
        "slope_ci_high",
    }
)
_TEXT_COLUMNS: tuple[str, ...] = (
    "family",
    "frontier",
    "status",
    "message",
    "flags",
    "interval_kind",
    "requested_frontier",
    "fallback_reason",
    "shortfall",
    "loss_space",
)


def results_frame(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Assemble output rows into the typed frame of :func:`fit_frontiers`.

    Parameters
    ----------
    rows : sequence of dict
        One dict per output row (group key and :meth:`FrontierResult.row`; ``None`` for missing).
    columns : sequence of str
        Output columns (see :func:`output_columns`), possibly followed by extra columns.

    Returns
    -------
    pandas.DataFrame
        The rows with float parameters and statistics, integer counts, boolean ``selected`` and
        string ``family``, ``frontier``, ``status``, ``message``, ``flags``,
        ``interval_kind``, ``requested_frontier``, ``fallback_reason``, ``shortfall`` and
        ``loss_space``.
    """
    frame = pd.DataFrame(list(rows), columns=list(columns))
    for c in frame.columns:
        if c.startswith("param_") or c in _FLOAT_COLUMNS:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    for c in ("n_points", "n_frontier", "n_bootstrap"):
        frame[c] = frame[c].astype("int64")
    frame["selected"] = frame["selected"].astype(bool)
    for c in _TEXT_COLUMNS:
        frame[c] = frame[c].fillna("").astype("string")
    return frame


def restore_key_types(frame: pd.DataFrame, runs: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Give the key columns the types they have in ``runs`` (missing values stay missing).

    Parameters
    ----------
    frame : pandas.DataFrame
        Output rows.
    runs : pandas.DataFrame
        The runs they were fitted from.
    by : sequence of str
        Key columns.

    Returns
    -------
    pandas.DataFrame
        ``frame``, with its key columns cast where possible.
    """
    for c in by:
        with contextlib.suppress(TypeError, ValueError):
            frame[c] = frame[c].astype(runs[c].dtype)
    return frame


def worker_count(n_jobs: int) -> int:
    """Count the worker processes for ``n_jobs`` (-1: every core).

    Parameters
    ----------
    n_jobs : int
        As passed by the user.

    Returns
    -------
    int
        At least 1.
    """
    return _worker_count(n_jobs)


def progress_bar(total: int, show: bool) -> Any:
    """Make a tqdm progress bar on stderr (silent unless ``show``): groups done and time left.

    The bar's width comes from the terminal, or 100 columns when the terminal reports none
    (a pseudo-terminal without a size would otherwise get an empty bar).

    Parameters
    ----------
    total : int
        Number of groups.
    show : bool
        Whether to draw it.

    Returns
    -------
    tqdm.tqdm
        A context manager with ``update()``.
    """
    width = shutil.get_terminal_size((100, 24)).columns
    return tqdm(
        total=total,
        disable=not show,
        desc="fit",
        unit="group",
        leave=False,
        ncols=width,
        bar_format="{desc}: {n_fmt}/{total_fmt} groups {bar} {elapsed} elapsed, {remaining} left",
    )


#: Family fitted where a source's upstream score is a loss (the default family needs accuracies).
LOSS_FAMILY = "loss_exp"


def source_families(runs: pd.DataFrame) -> dict[str, str | None]:
    """Family each source is fitted with when none is named: the default, or a loss family.

    A source whose upstream scores are all lower-is-better (a validation loss, as mlf-scaling's)
    gets :data:`LOSS_FAMILY`; the default family models accuracies and would leave every group
    of such a source unfitted.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs.

    Returns
    -------
    dict of str to str or None
        Source to family (None: the engine's default).
    """
    from transferscope.schema import metric_direction

    out: dict[str, str | None] = {}
    scored = runs[runs["upstream_score"].notna()]
    for source in sorted(runs["source"].astype(str).unique()):
        metrics = scored.loc[scored["source"].astype(str) == source, "upstream_metric"]
        names = {str(m) for m in metrics.dropna().unique()}
        lower = bool(names) and all(metric_direction(m) == "lower" for m in names)
        out[source] = LOSS_FAMILY if lower else None
    return out


def family_filters(
    families: Mapping[str, str | None], filters: Mapping[str, Any]
) -> list[tuple[str | None, dict[str, Any]]]:
    """Split a fit of the store into one call per family, when sources need different families.

    Parameters
    ----------
    families : mapping of str to str or None
        Source to family, as made by :func:`source_families` (None: the default family).
    filters : mapping
        The filters of the whole fit (as for :meth:`transferscope.store.Store.runs`).

    Returns
    -------
    list of (str or None, dict)
        ``[(None, filters)]`` when every source takes the default family; else each family
        with the filters narrowed to its sources (families in name order, the default first).
    """
    split: dict[str | None, list[str]] = {}
    for source, family in families.items():
        split.setdefault(family, []).append(source)
    if set(split) <= {None}:
        return [(None, dict(filters))]
    ordered = sorted(split.items(), key=lambda kv: "" if kv[0] is None else kv[0])
    return [(family, {**filters, "source": sources}) for family, sources in ordered]


def _runner(
    settings: FitSettings, n_jobs: int, engine: Engine | str | None
) -> tuple[Engine, Callable[[Task], list[FrontierResult]]]:
    """Return the engine and the per-group fit it maps (refusing unknown families first)."""
    registry = Registry.current(settings)
    resolve_families(settings, None)
    fit = functools.partial(_fit_results, settings=settings, registry=registry)
    return resolve_engine(engine, n_jobs), fit


def fit_tasks(
    tasks: Sequence[Task],
    settings: FitSettings,
    n_jobs: int = 1,
    progress: bool = False,
    engine: Engine | str | None = None,
) -> list[list[FrontierResult]]:
    """Fit groups on an engine: this process, local processes or Dask (one group per item).

    Workers receive a group (its key and points) and return its results; each group's bootstrap
    is seeded by the settings' seed and the group key, so the numbers do not depend on the
    engine or on where a group ran.

    Parameters
    ----------
    tasks : sequence
        Groups, as made by :func:`group_tasks`.
    settings : FitSettings
        Families, estimator and options.
    n_jobs : int
        Local worker processes, or workers of a local Dask cluster (-1: every core).
    progress : bool
        Show a progress bar on stderr.
    engine : Engine, {"local", "dask"} or None
        Where the groups run (see :mod:`transferscope.engine`); None: ``"local"``.

    Returns
    -------
    list of list of FrontierResult
        The results of every task, in order.
    """
    runner, fit = _runner(settings, n_jobs, engine)
    with progress_bar(len(tasks), progress) as bar:
        return runner.map(fit, list(tasks), on_done=bar.update)


def iter_fit_tasks(
    tasks: Sequence[Task],
    settings: FitSettings,
    n_jobs: int = 1,
    progress: bool = False,
    engine: Engine | str | None = None,
) -> Iterator[list[FrontierResult]]:
    """Fit groups like :func:`fit_tasks`, yielding the results of finished groups in batches.

    The batches double from :data:`FIRST_BATCH` to :data:`LAST_BATCH` groups: the first groups
    come back early (so that :func:`transferscope.frontier.fit_store` can store them), and later
    batches keep the engine's overhead per batch small.

    Parameters
    ----------
    tasks : sequence
        Groups, as made by :func:`group_tasks`.
    settings : FitSettings
        Families, estimator and options.
    n_jobs : int
        Local worker processes, or workers of a local Dask cluster (-1: every core).
    progress : bool
        Show a progress bar on stderr.
    engine : Engine, {"local", "dask"} or None
        Where the groups run (see :mod:`transferscope.engine`); None: ``"local"``.

    Yields
    ------
    list of FrontierResult
        The results of one task, in the order of ``tasks``.
    """
    runner, fit = _runner(settings, n_jobs, engine)
    items = list(tasks)
    with progress_bar(len(items), progress) as bar:
        start, size = 0, FIRST_BATCH
        while start < len(items):
            batch = items[start : start + size]
            yield from runner.map(fit, batch, on_done=bar.update)
            start, size = start + len(batch), min(2 * size, LAST_BATCH)


def fit_frontiers(
    runs: pd.DataFrame,
    family: str | Sequence[str] = "abnar",
    *,
    by: Sequence[str] = DEFAULT_BY,
    settings: FitSettings | None = None,
    rng: np.random.Generator | None = None,
    n_jobs: int = 1,
    engine: Engine | str | None = None,
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Fit a saturating frontier of downstream on upstream score for every group of runs.

    Parameters
    ----------
    runs : pandas.DataFrame
        Canonical runs: the ``by`` columns, ``upstream_score``, ``downstream_score``, and
        optionally ``upstream_metric`` and ``downstream_metric`` (a lower-is-better upstream
        metric needs ``loss_exp``; a group that mixes metrics is ``degenerate``). Runs with a
        missing score, and runs whose ``task`` is their ``upstream_task`` (downstream equals
        upstream), are left out.
    family : str or sequence of str
        A family name, ``"auto"`` (smallest backtest error, AICc breaks ties) or several names.
    by : sequence of str
        Grouping columns; missing values (e.g. ``shots`` = full data) form their own group. The
        default, ``task``, ``method``, ``shots`` and ``downstream_metric``, never mixes metrics
        (without a ``downstream_metric`` column, the first three).
    settings : FitSettings, optional
        Every option at once; ``**options`` override its fields.
    rng : numpy.random.Generator, optional
        Draw the seed from this generator instead of ``seed``.
    n_jobs : int
        Worker processes over groups (1: in this process; -1: all cores), or the workers of a
        local Dask cluster.
    engine : Engine, {"local", "dask"} or None
        Where the groups run (:mod:`transferscope.engine`): this process or local processes
        (None, ``"local"``), a local Dask cluster (``"dask"``), or any engine such as
        ``DaskEngine("tcp://host:8786")``. The numbers are the same on every engine.
    progress : bool
        Show a progress bar on stderr.
    **options
        Fields of :class:`FitSettings`: ``frontier`` (``"stochastic"``, the default, whose
        plateau interval is calibrated; ``"hull"``, ``"pareto"``, ``"quantile"``, ``"all"`` or
        any registered estimator), ``bootstrap`` (resamples per group and family to start
        from; 0: no bootstrap), ``bootstrap_max`` and ``mc_tolerance`` (the resamples grow
        until the interval's ends are stable), ``interval`` (``"auto"``, ``"bootstrap"``,
        ``"profile"``), ``ci_level``, ``seed`` (each group's resamples derive from it and the
        group key), ``delta`` (tolerance of the saturation point), ``backtest_quantile``,
        ``tau`` (``quantile``), ``inefficiency``, ``noise_floor`` and ``contamination``
        (``stochastic``), ``fallback`` and ``above_tolerance`` (when the stochastic frontier
        is no upper frontier), ``smoothing``, ``side_by_side`` (with ``"auto"`` or several
        families: every family's row, ``selected`` marking the choice), ``loss_space``
        (``"transformed"``: ``logit`` and ``probit`` as straight lines on the transformed
        axes).

    Returns
    -------
    pandas.DataFrame
        One row per group (and family), with columns:

        - the ``by`` columns;
        - ``family``; ``frontier`` (the estimator used: ``settings.fallback`` when the one asked
          for gave no upper frontier); ``status`` (``ok``, ``too_few_points``,
          ``did_not_converge``, ``degenerate``, ``unsupported_metric``); ``message`` (the
          reason; for ok fits one note per flag, else empty); ``flags`` (comma-separated, see
          :data:`transferscope.frontier.result.FLAGS`: ``not_saturating``, ``extrapolated``,
          ``on_bound``, ``wrong_skew``, ``fallback``, ``not_upper``, ``above_plateau``,
          ``mc_capped``, ``clipped``, ``flipped``, ``metric_assumed``);
        - ``n_points`` (runs with both scores), ``n_frontier`` (points defining the frontier);
        - ``param_<name>`` and ``param_<name>_se`` for every parameter of the families (and of
          the estimators, e.g. ``sigma_v``, ``sigma_u``, ``sigma_c`` and ``pi_c`` for
          ``stochastic``), NaN where a fit lacks it;
        - ``plateau``, ``plateau_ci_low``, ``plateau_ci_high``, ``ci_level``;
          ``interval_kind`` (``profile+bootstrap``, ``one_sided``, ``bootstrap``, ``profile``
          or ``none``: no honest interval, the ends are NaN); ``mc_se_low``, ``mc_se_high``
          (Monte Carlo standard errors of the ends; 0 for a profile-likelihood end);
          ``interval_inflation`` (the sandwich factor the profile deviance was divided by);
        - ``saturation_point`` (smallest upstream score within ``delta`` of the plateau; for a
          loss, the largest), ``upstream_best`` (best observed upstream score),
          ``extrapolation`` (saturation point beyond the best observed upstream score, in
          upstream units; <= 0 when the data reach the plateau), ``plateau_gap`` (plateau minus
          the curve at ``upstream_best``), ``best_observed`` (best downstream score);
        - ``share_above`` (share of models above the curve by more than three ``noise_sd``),
          ``noise_sd``;
        - ``aicc``, ``rmse``, ``backtest_mae``;
        - ``bootstrap_failed_share``, ``n_bootstrap`` (resamples drawn);
        - ``selected`` (the family ``auto`` chose; True for a family asked for by name);
        - ``requested_frontier`` (the estimator asked for), ``fallback_reason`` (why another
          was used; empty when none was);
        - ``shortfall`` (for ``stochastic``: the shortfall distribution fitted, e.g.
          ``cluster_exponential`` when the likelihood chose the two-part shortfall's exponential
          tail; empty for the other estimators);
        - ``upstream_min``, ``upstream_max`` (range of the group's upstream scores);
        - ``loss_space`` (``score`` or ``transformed``), ``r2`` and ``intercept_ci_low``,
          ``intercept_ci_high``, ``slope_ci_low``, ``slope_ci_high`` (the line's R^2 and
          intervals with ``loss_space="transformed"``; NaN otherwise).

    Raises
    ------
    InputError
        For missing columns, an unknown family, estimator or option, or an option out of range.
    """
    by = grouping(runs, by) if isinstance(runs, pd.DataFrame) else list(by)
    check_runs(runs, by)
    fit_settings = resolved_settings(settings, rng, family=family, **options)
    tasks = list(group_tasks(runs, by))
    results = fit_tasks(tasks, fit_settings, n_jobs, progress, engine)
    rows = [{**t[0], **r.row()} for t, rs in zip(tasks, results, strict=True) for r in rs]
    frame = results_frame(rows, output_columns(by, fit_settings))
    return restore_key_types(frame, runs, by)


def resolved_settings(
    settings: FitSettings | None, rng: np.random.Generator | None, **options: Any
) -> FitSettings:
    """Combine base settings, keyword options and an optional generator into checked settings.

    Parameters
    ----------
    settings : FitSettings, optional
        Base settings.
    rng : numpy.random.Generator, optional
        When given, the seed is drawn from it.
    **options
        Fields of :class:`FitSettings` (``None`` values are ignored).

    Returns
    -------
    FitSettings
        The settings, with a known estimator.
    """
    fit_settings = FitSettings.make(settings, **options)
    if rng is not None:
        fit_settings = fit_settings.replace(seed=draw_seed(rng))
    get_estimator(fit_settings.frontier)
    if fit_settings.fallback != "none":
        get_estimator(fit_settings.fallback)
    return fit_settings


def frontier_curves(
    fits: pd.DataFrame, n: int = 200, x: Sequence[float] | None = None
) -> pd.DataFrame:
    """Evaluate the fitted curves of many groups, for charts.

    Parameters
    ----------
    fits : pandas.DataFrame
        Output of :func:`fit_frontiers` (rows whose status is not ``ok`` are skipped).
    n : int
        Grid points per curve, from the group's smallest upstream score to the best possible one
        (accuracy 1; for a loss, from 0 to the largest observed loss).
    x : sequence of float, optional
        Evaluate every curve at these upstream scores instead of a grid.

    Returns
    -------
    pandas.DataFrame
        The key columns of ``fits`` (every column before ``family``), then ``family``,
        ``frontier``, ``upstream_score`` and ``predicted`` (the frontier curve).
    """
    if "family" not in fits.columns:
        raise InputError("fits lack column 'family'; expected the output of fit_frontiers")
    keys = list(fits.columns[: list(fits.columns).index("family")])
    parts = []
    for row in fits.to_dict("records"):
        if row.get("status") != "ok":
            continue
        fam = get_family(str(row["family"]))
        theta = np.array([row.get(f"param_{p}", math.nan) for p in fam.names], dtype=np.float64)
        if x is not None:
            grid = np.asarray(x, dtype=np.float64)
        elif fam.upstream == "lower":
            grid = np.linspace(fam.best_upstream, float(row["upstream_max"]), n)
        else:
            grid = np.linspace(float(row["upstream_min"]), fam.best_upstream, n)
        part = pd.DataFrame({"upstream_score": grid, "predicted": fam.evaluate(grid, theta)})
        for k in reversed(keys):
            part.insert(0, k, row[k])
        part.insert(len(keys), "family", row["family"])
        part.insert(len(keys) + 1, "frontier", row["frontier"])
        parts.append(part)
    columns = [*keys, "family", "frontier", "upstream_score", "predicted"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    for k in keys:
        out[k] = out[k].astype(fits[k].dtype)
    return out[columns]
