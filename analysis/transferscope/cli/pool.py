"""``transferscope pool FILE``: random-effects meta-analysis of effects in a CSV file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transferscope.cli._output import add_format_argument, add_names_argument, emit
from transferscope.errors import InputError
from transferscope.paths import check_input_file

#: tau^2 estimators (kept here so that ``--help`` does not import the statistics stack).
POOL_METHODS = ("DL", "REML", "PM", "FE")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "pool",
        help="pool effects from a CSV file by random-effects meta-analysis (as metafor's rma)",
        description=(
            "Pool the effects of a CSV file (one row per study or task) by random-effects "
            "meta-analysis: estimate, interval, prediction interval, tau^2 with its Q-profile "
            "interval, I^2, H^2, Q; one row per --by group. With --cluster, effects nested in "
            "clusters are pooled by the three-level model (optionally with --robust errors)."
        ),
    )
    p.add_argument("file", metavar="FILE", help="CSV file with a header row")
    p.add_argument("--effect", required=True, metavar="COL", help="column of effects")
    spread = p.add_mutually_exclusive_group(required=True)
    spread.add_argument("--variance", metavar="COL", help="column of sampling variances")
    spread.add_argument("--se", metavar="COL", help="column of standard errors (instead)")
    p.add_argument(
        "--method",
        choices=POOL_METHODS,
        default=None,
        help="tau^2 estimator (default DL; REML, the only one, with --cluster)",
    )
    p.add_argument("--knha", action="store_true", help="Knapp-Hartung adjustment (t interval)")
    p.add_argument("--ci-level", type=float, default=0.95, help="confidence level (default 0.95)")
    add_names_argument(p, "--by", metavar="COL", help="pool within groups")
    p.add_argument(
        "--cluster",
        default=None,
        metavar="COL",
        help="column of cluster labels (e.g. suite): three-level model, as rma.mv",
    )
    p.add_argument(
        "--robust",
        action="store_true",
        help="with --cluster: CR2 cluster-robust errors, Satterthwaite df (clubSandwich)",
    )
    add_format_argument(p)
    p.set_defaults(func=_run)


def _numbers(frame: pd.DataFrame, column: str, file: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raw = frame[column].iloc[bad[0]]
        raise InputError(f"{raw!r} is not a number", file=file, row=int(bad[0]) + 1, column=column)
    return values


def read_effects(
    path: str | Path, effect: str, variance: str | None = None, se: str | None = None
) -> pd.DataFrame:
    """Read a CSV of effects and check the named columns.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV file with a header row.
    effect : str
        Column of effects.
    variance, se : str, optional
        Column of sampling variances, or of standard errors (exactly one).

    Returns
    -------
    pandas.DataFrame
        The file's columns plus ``_effect`` and ``_variance`` (floats).

    Raises
    ------
    InputError
        A missing or unreadable file, a missing column, or a value that is not a finite number
        (or a variance that is not positive), naming file, row and column.
    """
    file = str(path)
    check_input_file(path, "a CSV file")  # stat only: a FIFO or a device is never opened
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read as CSV: {str(exc).splitlines()[0]}", file=file) from None
    spread = variance if variance is not None else se
    if spread is None:
        raise InputError("name a --variance or a --se column", file=file)
    for col in (effect, spread):
        if col not in frame.columns:
            have = ", ".join(map(str, frame.columns))
            raise InputError(f"no such column (the file has: {have})", file=file, column=col)
    out = frame.copy()
    out["_effect"] = _numbers(frame, effect, file)
    spread_values = _numbers(frame, spread, file)
    bad = np.flatnonzero(spread_values <= 0)
    if bad.size:
        raise InputError(
            f"{spread_values[bad[0]]!r} is not positive (a sampling variance or standard error)",
            file=file,
            row=int(bad[0]) + 1,
            column=spread,
        )
    out["_variance"] = spread_values if variance is not None else spread_values**2
    return out


def _run(args: argparse.Namespace) -> int:
    from transferscope.stats.meta import pool_effects

    frame = read_effects(args.file, args.effect, args.variance, args.se)
    by = list(args.by or [])
    for col in [*by, *([args.cluster] if args.cluster else [])]:
        if col not in frame.columns:
            raise InputError("no such column", file=str(args.file), column=col)
    if args.robust and not args.cluster:
        raise InputError("--robust needs --cluster (the column of cluster labels)")
    groups = frame.groupby(by, dropna=False, sort=True) if by else [((), frame)]
    rows = []
    for key, group in groups:
        result = pool_effects(
            group["_effect"],
            group["_variance"],
            clusters=group[args.cluster].astype(str).to_numpy() if args.cluster else None,
            robust=args.robust,
            method=args.method,
            knha=args.knha,
            ci_level=args.ci_level,
        )
        keys = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        rows.append({**keys, **result.summary().iloc[0].to_dict()})
    emit(pd.DataFrame(rows), args.format)
    return 0
