"""``transferscope fit``: fit saturating frontiers per group of the store's runs."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

import pandas as pd

from transferscope.cli._output import (
    add_columns_argument,
    add_db_argument,
    add_engine_arguments,
    add_filter_arguments,
    add_format_argument,
    add_names_argument,
    emit,
    filters_from,
    lock_options,
    opened_engine,
)
from transferscope.engine import resolve_engine
from transferscope.errors import InputError
from transferscope.frontier import (
    DEFAULT_BY,
    ESTIMATORS,
    FAMILIES,
    FitSettings,
    family_filters,
    fit_store,
    source_families,
)
from transferscope.frontier.baseline import baselines_from_fits, write_baselines
from transferscope.frontier.settings import INEFFICIENCIES, INTERVALS, LOSS_SPACES, options_from
from transferscope.schema import RUN_COLUMNS
from transferscope.store import open_store

#: Choices of the options that have them (families and estimators as registered now).
_CHOICES: dict[str, list[str]] = {
    "frontier": list(ESTIMATORS),
    "inefficiency": list(INEFFICIENCIES),
    "fallback": [*ESTIMATORS, "none"],
    "interval": list(INTERVALS),
    "loss_space": list(LOSS_SPACES),
}


def add_fit_options(parser: argparse.ArgumentParser, exclude: tuple[str, ...] = ()) -> None:
    """Add one option per field of :class:`~transferscope.frontier.FitSettings`.

    The options are made from the settings' fields (name, default, help), so a new fit option
    needs no change here.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    exclude : tuple of str
        Fields the command defines itself (e.g. ``report``'s ``--seed``).
    """
    defaults = FitSettings()
    group = parser.add_argument_group("fit options")
    for f in dataclasses.fields(FitSettings):
        if f.name in exclude:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        text = f.metadata.get("help", "")
        if isinstance(default, bool):
            group.add_argument(flag, action="store_true", default=None, help=text)
        elif f.name == "family":
            names = ", ".join([*FAMILIES, "auto"])
            group.add_argument(
                flag,
                nargs="+",
                default=None,
                metavar="NAME",
                help=f"{text}: {names} (default {default})",
            )
        else:
            group.add_argument(
                flag,
                type=type(default),
                choices=_CHOICES.get(f.name),
                default=None,
                metavar=None if f.name in _CHOICES else f.name.split("_")[-1].upper(),
                help=f"{text} (default {default})",
            )


def settings_from_args(args: argparse.Namespace) -> FitSettings:
    """Build the fit settings from parsed options (options not given keep their defaults).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of a command that called :func:`add_fit_options`.

    Returns
    -------
    FitSettings
        The checked settings.
    """
    options: dict[str, Any] = options_from(vars(args))
    family = options.get("family")
    if family is not None:
        options["family"] = family[0] if len(family) == 1 else tuple(family)
    return FitSettings.make(**options)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``fit`` command."""
    p = sub.add_parser(
        "fit",
        help="fit saturating frontiers of downstream on upstream score per group",
        description=(
            "Fit a saturating family to the frontier of every group of runs (default: task x "
            "method x shots x downstream_metric) and print one row per group: the group keys, "
            "family, frontier (the estimator used), status, message, flags, n_points, "
            "n_frontier, param_<name> and param_<name>_se, plateau, plateau_ci_low, "
            "plateau_ci_high, ci_level, interval_kind, mc_se_low, mc_se_high, "
            "interval_inflation, saturation_point, upstream_best, extrapolation, plateau_gap, "
            "best_observed, share_above, noise_sd, aicc, rmse, backtest_mae, "
            "bootstrap_failed_share, n_bootstrap, selected, requested_frontier, "
            "fallback_reason, shortfall, upstream_min, upstream_max, loss_space, r2, "
            "intercept_ci_low, intercept_ci_high, slope_ci_low, slope_ci_high, fingerprint, "
            "reused. Fits are kept "
            "in the store and reused while the runs and options are unchanged. --loss-space "
            "transformed fits logit and probit as straight lines on the transformed axes "
            "(accuracy on the line)."
        ),
    )
    add_filter_arguments(p)
    add_names_argument(
        p, "--by", metavar="COLUMN", help=f"grouping columns (default: {' '.join(DEFAULT_BY)})"
    )
    add_fit_options(p)
    add_engine_arguments(p)
    p.add_argument("--refit", action="store_true", help="ignore stored fits and fit again")
    p.add_argument(
        "--export-baseline",
        default=None,
        metavar="FILE",
        help="also write every fit as a baseline (coefficients, models, checksum of its points) "
        "to this JSON file",
    )
    add_db_argument(p)
    add_format_argument(p)
    add_columns_argument(p, TABLE_COLUMNS)
    p.set_defaults(func=_run)


#: Columns of the table printed by default (after the group keys).
TABLE_COLUMNS = (
    "family", "status", "n_points", "plateau", "plateau_ci_low", "plateau_ci_high", "message",
)  # fmt: skip
#: Columns printed by default with ``--loss-space transformed`` (a line's coefficients and fit).
LINE_COLUMNS = (
    "family", "status", "n_points", "param_a", "intercept_ci_low", "intercept_ci_high",
    "param_b", "slope_ci_low", "slope_ci_high", "r2", "message",
)  # fmt: skip


def _run(args: argparse.Namespace) -> int:
    args.by = list(dict.fromkeys(args.by or DEFAULT_BY))
    unknown = [c for c in args.by if c not in RUN_COLUMNS]
    if unknown:
        raise InputError(f"--by: unknown column(s) {unknown}; expected run columns")
    settings = settings_from_args(args)
    filters = filters_from(args)
    engine = resolve_engine(args.engine, args.jobs, scheduler=args.scheduler)
    # a read lock while fitting (other commands may read meanwhile); finished groups are
    # committed in short transactions, so a killed fit keeps them
    with (
        open_store(args.db, hold_lock=False, create=False, **lock_options(args)) as store,
        opened_engine(engine),
    ):
        # without --family, a source whose upstream scores are losses is fitted with the loss
        # family (as the report does), every other source with the default
        calls = (
            family_filters(source_families(store.runs(**filters)), filters)
            if args.family is None
            else [(None, filters)]
        )
        frames = []
        for family, only in calls:
            fitted = settings if family is None else dataclasses.replace(settings, family=family)
            frames.append(
                fit_store(
                    store,
                    fitted.family,
                    by=args.by,
                    filters=only,
                    settings=fitted,
                    refit=args.refit,
                    n_jobs=args.jobs,
                    engine=engine,
                    progress=sys.stderr.isatty(),
                )
            )
        frame = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
        if args.export_baseline is not None:
            runs = store.runs(**filters)
            write_baselines(baselines_from_fits(frame, runs, by=args.by), args.export_baseline)
    shown = LINE_COLUMNS if settings.loss_space == "transformed" else TABLE_COLUMNS
    emit(frame, args.format, columns=args.columns, default=[*args.by, *shown])
    return 0
