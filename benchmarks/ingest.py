"""Benchmark: ingest a generated 1,000,000-row canonical CSV into a fresh store.

Prints the wall time, CPU time (user + system, all threads; less sensitive to other load on a
shared machine than wall time) and peak memory (the process's peak resident set size) of

1. transferscope's ingest (``transferscope.ingest.pipeline.ingest_file``: read, validate, one insert
   transaction) in a fresh Python process, imports included;
2. the same through the command line (``transferscope ingest FILE --db DB``), which also imports
   every command module;
3. the by-hand baseline: ``pandas.read_csv`` of the whole file, then one ``INSERT`` per row into
   a DuckDB table with the canonical columns. The inserts run on the first ``--baseline-rows``
   rows and are extrapolated linearly to all rows (``--full-baseline`` runs them all);

and the ratio baseline / transferscope (with ``--repeat N``, of the median of N runs).
Targets (issue 2): at most 10 s and 1.5 GB, and at least 10 times faster than the baseline, on
a 2-core machine. Every figure comes from this run; on a shared machine they are noisy.

Usage::

    .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--baseline-rows 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

SEED = 20240611


def generate(path: Path, n: int, seed: int = SEED) -> None:
    """Write ``n`` canonical runs with unique keys to ``path`` (CSV, every canonical column)."""
    rng = np.random.default_rng(seed)
    n_models = 2_000
    models = np.array([f"model_{i:04d}" for i in range(n_models)])
    tasks = np.array([f"task_{i:02d}" for i in range(50)])
    methods = np.array(["full_ft", "linear_probe", "lora", "few_shot", "scratch"])
    grid = np.array(
        [f'{{"epochs":{e},"lr":{lr}}}' for lr in (0.1, 0.01, 0.001) for e in (10, 20, 40)]
    )
    model = rng.integers(0, n_models, n)
    method = methods[rng.integers(0, len(methods), n)]
    pretrained = method != "scratch"
    shots = rng.choice(np.array([1, 5, 10, 25, -1]), n)
    upstream = rng.uniform(0.3, 0.9, n)
    table = pa.table(
        {
            "model": models[model],
            "pretrained": pretrained,
            "upstream_task": pa.array(np.where(pretrained, "imagenet-1k", None)),
            "upstream_metric": pa.array(np.where(pretrained, "top1", None)),
            "upstream_score": pa.array(upstream, mask=~pretrained),
            "task": tasks[rng.integers(0, len(tasks), n)],
            "method": method,
            "shots": pa.array(shots, mask=shots < 0),
            "seed": np.arange(n),  # unique run keys
            "downstream_metric": np.full(n, "accuracy"),
            "downstream_score": rng.uniform(0.0, 1.0, n),
            "downstream_stderr": rng.uniform(0.0, 0.02, n),
            "architecture": np.where(model % 2 == 0, "vit", "resnet"),
            "params": (model + 1) * 1_000_000,
            "pretrain_data": np.where(model % 3 == 0, "laion-2b", "imagenet-21k"),
            "pretrain_steps": (model + 1) * 100,
            "hparams": grid[rng.integers(0, len(grid), n)],
        }
    )
    pa_csv.write_csv(table, path)


_OURS = """
import json, resource, sys, time
t0 = time.perf_counter()
from transferscope.ingest.pipeline import ingest_file
t1 = time.perf_counter()
marks = []
result = ingest_file(sys.argv[1], db=sys.argv[2],
                     progress=lambda stage: marks.append((stage, time.perf_counter())))
t2 = time.perf_counter()
ends = [t for _, t in marks[1:]] + [t2]
stages = {stage: end - start for (stage, start), end in zip(marks, ends)}
print(json.dumps({"import_s": t1 - t0, "ingest_s": t2 - t1, "n_added": result.n_added,
                  "stages": stages, "cpu_s": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_CLI = """
import json, resource, sys, time
from transferscope.cli import main
code = main(["ingest", sys.argv[1], "--db", sys.argv[2]])
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"code": code, "peak_mb": peak_mb}), file=sys.stderr)
"""

_BASELINE = """
import json, resource, sys, time
import duckdb, pandas as pd
from transferscope.schema import RUN_COLUMNS
path, db, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
frame = pd.read_csv(path)
t1 = time.perf_counter()
con = duckdb.connect(db)
columns = [c for c in RUN_COLUMNS if c != "source"]
con.execute("CREATE TABLE runs (" + ", ".join(f"{c} {RUN_COLUMNS[c]}" for c in RUN_COLUMNS) + ")")
sql = "INSERT INTO runs VALUES (?, " + ", ".join("?" for _ in columns) + ")"
t2 = time.perf_counter()
for row in frame[columns].head(limit).itertuples(index=False, name=None):
    con.execute(sql, ["bench"] + [None if pd.isna(v) else v for v in row])
t3 = time.perf_counter()
(n,) = con.execute("SELECT count(*) FROM runs").fetchall()[0]
print(json.dumps({"read_s": t1 - t0, "insert_s": t3 - t2, "inserted": n, "rows": len(frame),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _python(code: str, *args: str) -> tuple[float, str, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{done.stderr}")
    return wall, done.stdout, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--full-baseline", action="store_true", help="insert every row by hand")
    parser.add_argument("--repeat", type=int, default=1, help="runs of transferscope's ingest")
    args = parser.parse_args()
    baseline_rows = args.rows if args.full_baseline else min(args.baseline_rows, args.rows)

    with tempfile.TemporaryDirectory(prefix="transferscope-bench-") as tmp:
        folder = Path(tmp)
        csv = folder / "runs.csv"
        start = time.perf_counter()
        generate(csv, args.rows)
        size_mb = csv.stat().st_size / 1e6
        took = time.perf_counter() - start
        print(f"generated {args.rows:,} rows, {size_mb:.0f} MB CSV in {took:.1f} s")

        walls = []
        for attempt in range(args.repeat):
            db = folder / f"ours{attempt}.duckdb"
            wall, out, _ = _python(_OURS, str(csv), str(db))
            ours = json.loads(out)
            assert ours["n_added"] == args.rows, ours
            walls.append(wall)
            stages = ", ".join(f"{k} {v:.2f} s" for k, v in ours["stages"].items())
            print(
                f"transferscope ingest_file: {wall:.2f} s wall in a fresh process "
                f"(imports {ours['import_s']:.2f} s, ingest {ours['ingest_s']:.2f} s: {stages}), "
                f"CPU {ours['cpu_s']:.2f} s, peak {ours['peak_mb']:.0f} MB"
            )
            db.unlink()
        wall = float(np.median(walls))
        if args.repeat > 1:
            print(f"  median of {args.repeat}: {wall:.2f} s (min {min(walls):.2f} s)")

        cli_wall, cli_out, cli_err = _python(_CLI, str(csv), str(folder / "cli.duckdb"))
        cli = json.loads(cli_err.strip().splitlines()[-1])
        print(
            f"transferscope ingest (command line): {cli_wall:.2f} s wall, peak "
            f"{cli['peak_mb']:.0f} MB: {cli_out.strip()}"
        )

        _, out, _ = _python(_BASELINE, str(csv), str(folder / "hand.duckdb"), str(baseline_rows))
        hand = json.loads(out)
        per_row = hand["insert_s"] / hand["inserted"]
        extrapolated = hand["read_s"] + per_row * args.rows
        measured = "measured" if hand["inserted"] == args.rows else "extrapolated"
        print(
            f"baseline by hand: pandas.read_csv {hand['read_s']:.2f} s for all rows, "
            f"{hand['inserted']:,} row INSERTs in {hand['insert_s']:.2f} s "
            f"({per_row * 1e6:.0f} us per row) -> {extrapolated:.0f} s for {args.rows:,} rows "
            f"({measured}), peak {hand['peak_mb']:.0f} MB"
        )
        print(
            f"ratio baseline / transferscope: {extrapolated / wall:.0f}x "
            f"(targets: <= 10 s, <= 1.5 GB, >= 10x)"
        )


if __name__ == "__main__":
    main()
