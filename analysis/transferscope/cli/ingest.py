"""``transferscope ingest``: load a table of runs, or a published source, into the store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from transferscope.cli._output import add_db_argument, lock_options, say
from transferscope.errors import InputError
from transferscope.ingest.formats import FORMATS
from transferscope.ingest.pipeline import (
    STAGES,
    Progress,
    ingest_file,
    ingest_format,
    ingest_source,
    parse_column_map,
)
from transferscope.schema import parse_metric


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``ingest`` command."""
    p = sub.add_parser(
        "ingest",
        help="load a table of runs, results in a native format (lm-eval, Every Eval Ever, "
        "MLflow, W&B) or a published source",
        description=(
            "Load runs into the store, all or nothing. PATH is a table whose columns carry "
            "the canonical names (model, task, method, downstream_score, ...; unknown columns "
            "go into hparams). --format reads results as another tool writes them "
            "(lm-evaluation-harness, Every Eval Ever, MLflow, Weights & Biases). --source NAME "
            "loads a published table by name instead. Names are renamed by the shipped alias "
            "table, extended by --aliases."
        ),
    )
    p.add_argument("path", nargs="?", type=Path, metavar="PATH", help="table of runs")
    p.add_argument("--source", metavar="NAME", help="a published source by name, e.g. vtab")
    p.add_argument(
        "--from",
        dest="from_dir",
        type=Path,
        metavar="DIR",
        help="with --source: read local copies from DIR (laid out like ../shared/data)",
    )
    p.add_argument(
        "--cache", dest="cache_dir", type=Path, metavar="DIR", help="with --source: download cache"
    )
    p.add_argument(
        "--map",
        dest="maps",
        action="append",
        default=[],
        metavar="SRC=CANONICAL",
        help="rename input column SRC to a canonical column (repeatable)",
    )
    p.add_argument(
        "--percent",
        action="store_true",
        help="accuracy-type scores (and their stderr) are percentages: divide by 100",
    )
    p.add_argument(
        "--metric",
        dest="metrics",
        action="append",
        default=[],
        metavar="NAME=DIRECTION[:LOW:HIGH]",
        help=(
            "record a metric's direction (higher, lower or none) and range in the store, for "
            "fit, rank and report (repeatable; e.g. toxicity=lower:0:1)"
        ),
    )
    p.add_argument("--name", help="source name in the store (default: the file name's stem)")
    native = p.add_argument_group("native formats (PATH in the format another tool writes)")
    native.add_argument(
        "--format",
        dest="fmt",
        choices=("table", *FORMATS),
        default="table",
        help="table: CSV, TSV, Parquet, JSON Lines with canonical columns (default); lm-eval: "
        "lm-evaluation-harness results (file or folder); every-eval-ever: Every Eval Ever "
        "records (schema 0.2.2); mlflow: a tracking store (PATH = tracking URI or mlruns "
        "folder); wandb: a Weights & Biases runs export (CSV)",
    )
    native.add_argument(
        "--upstream",
        metavar="TASK:METRIC[:SHOTS]",
        help="lm-eval, every-eval-ever: each model's score on this task and metric is its "
        "upstream score, e.g. lambada_openai:acc",
    )
    native.add_argument(
        "--spec",
        type=Path,
        metavar="FILE",
        help="mlflow, wandb: TOML mapping of the runs' params, metrics, tags or columns to "
        "canonical columns",
    )
    native.add_argument(
        "--method",
        metavar="NAME",
        help="every-eval-ever: adaptation method of records that do not say",
    )
    p.add_argument(
        "--aliases",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="TOML file of names that are the same thing (extends the shipped table; repeatable)",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace the source's runs if its content changed (refused otherwise)",
    )
    add_db_argument(p)
    p.set_defaults(func=_run)


@contextmanager
def _stages(label: str) -> Iterator[Progress]:
    """Show a progress bar over the stages on stderr, silent unless stderr is a terminal."""
    bar = tqdm(
        total=len(STAGES),
        desc=label,
        unit="stage",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        delay=0.5,
        leave=False,
        bar_format="{desc} [{n_fmt}/{total_fmt} stages, {elapsed}]",
    )
    started: list[str] = []

    def progress(stage: str) -> None:
        bar.set_description_str(f"{label}: {stage}", refresh=False)  # shown from the update
        if started:
            bar.update(1)
        started.append(stage)

    try:
        yield progress
    finally:
        bar.close()


def _run(args: argparse.Namespace) -> int:
    if (args.path is None) == (args.source is None):
        raise InputError("give either PATH or --source NAME")
    metrics = [parse_metric(text) for text in args.metrics]
    if args.source is not None:
        extra = [
            flag
            for flag, used in (
                ("--map", args.maps),
                ("--percent", args.percent),
                ("--name", args.name),
            )
            if used
        ]
        if extra:
            raise InputError(f"{', '.join(extra)}: only with PATH, not with --source")
        if args.fmt != "table" or args.upstream or args.spec or args.method:
            raise InputError("--format, --upstream, --spec, --method: only with PATH")
        with _stages(f"ingest {args.source}") as progress:
            result = ingest_source(
                args.source,
                db=args.db,
                from_dir=args.from_dir,
                cache_dir=args.cache_dir,
                aliases=args.aliases,
                replace=args.replace,
                metrics=metrics,
                progress=progress,
                **lock_options(args),
            )
    elif args.fmt != "table":
        extra = [
            flag
            for flag, used in (
                ("--from", args.from_dir),
                ("--cache", args.cache_dir),
                ("--map", args.maps or None),
                ("--percent", args.percent or None),
            )
            if used is not None
        ]
        if extra:
            raise InputError(f"{', '.join(extra)}: not with --format {args.fmt}")
        with _stages(f"ingest {args.path.name}") as progress:
            result = ingest_format(
                args.path,
                args.fmt,
                db=args.db,
                name=args.name,
                upstream=args.upstream,
                spec=args.spec,
                method=args.method,
                aliases=args.aliases,
                replace=args.replace,
                metrics=metrics,
                progress=progress,
                **lock_options(args),
            )
    else:
        extra = [
            flag
            for flag, used in (("--from", args.from_dir), ("--cache", args.cache_dir))
            if used is not None
        ]
        if extra:
            raise InputError(f"{', '.join(extra)}: only with --source, not with PATH")
        native = [f for f, v in (("--upstream", args.upstream), ("--spec", args.spec),
                                 ("--method", args.method)) if v is not None]  # fmt: skip
        if native:
            raise InputError(f"{', '.join(native)}: only with --format (a native format)")
        column_map = parse_column_map(args.maps)
        with _stages(f"ingest {args.path.name}") as progress:
            result = ingest_file(
                args.path,
                db=args.db,
                name=args.name,
                column_map=column_map,
                percent=args.percent,
                aliases=args.aliases,
                replace=args.replace,
                metrics=metrics,
                progress=progress,
                **lock_options(args),
            )
    say(result.describe())
    return 0
