"""Benchmark: the report on the five published tables, with the fits already in the store.

Prints the wall time and CPU time (user + system of the child process, all threads; less
sensitive to other load on a shared machine than wall time) of ``transferscope report`` run as
a fresh process (imports included), with and without the PNG/SVG exports of the front page's
charts, and the size of the pages. Target (issue 14): at most 30 s on 2 cores with the fits
stored.

The store comes from ``--db``; without it, the five tables are ingested from ``--from`` into a
temporary store and fitted once by a first report (timed too: it fits every group).

Usage::

    .venv/bin/python benchmarks/report.py [--db STORE] [--from ../shared/data] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCES = ("vtab", "timm", "clip-benchmark", "pythia", "mlf-scaling")
CLI = [sys.executable, "-m", "transferscope.cli"]


def _run(args: list[str]) -> tuple[float, float]:
    """Run the command line; return (wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([*CLI, *args], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None, help="store with the five tables")
    parser.add_argument("--from", dest="source_dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db
        if db is None:
            db = Path(tmp) / "published.duckdb"
            for name in SOURCES:
                _run(["ingest", "--source", name, "--from", str(args.source_dir), "--db", str(db)])
            wall, cpu = _run(["report", "--db", str(db), "--out", f"{tmp}/first", "--no-images"])
            print(f"first report (fits every group): wall {wall:.1f} s, CPU {cpu:.1f} s")
        for label, extra in (("without images", ["--no-images"]), ("with PNG/SVG", [])):
            for i in range(args.repeat):
                out = Path(tmp) / f"r-{label[:4]}-{i}"
                wall, cpu = _run(["report", "--db", str(db), "--out", str(out), *extra])
                pages = sorted(out.glob("*.html"))
                size = sum(p.stat().st_size for p in pages) / 1e6
                print(
                    f"report, fits stored, {label}: wall {wall:.1f} s, CPU {cpu:.1f} s; "
                    f"{len(pages)} pages, {size:.1f} MB"
                )
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
