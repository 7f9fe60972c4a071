"""The command line starts quickly: the overview and `runs` import no statistics library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from transferscope import __version__
from transferscope.cli import commands, summary

HEAVY = ("lmfit", "altair", "statsmodels", "scipy")

PROBE = """
import sys
from transferscope.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY_NAMES))
print("HEAVY", ",".join(heavy), file=sys.stderr)
raise SystemExit(status)
""".replace("HEAVY_NAMES", repr(HEAVY))


def _probe(args: list[str]) -> tuple[int, str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )
    line = [s for s in done.stderr.splitlines() if s.startswith("HEAVY")][-1]
    imported = [m for m in line.removeprefix("HEAVY").strip().split(",") if m]
    return done.returncode, done.stdout, imported


def test_help_lists_every_command_without_importing_them() -> None:
    code, out, imported = _probe(["--help"])
    assert code == 0 and imported == []
    for name in commands():
        assert name in out and summary(name) in " ".join(out.split())


def test_version() -> None:
    code, out, imported = _probe(["--version"])
    assert code == 0 and out.strip() == f"transferscope {__version__}" and imported == []


def test_runs_imports_no_statistics_library(tmp_path: Path, runs_frame: object) -> None:
    from transferscope.ingest import ingest_file

    csv = tmp_path / "runs.csv"
    runs_frame.to_csv(csv, index=False)  # type: ignore[attr-defined]
    db = tmp_path / "s.duckdb"
    ingest_file(csv, db=db)
    code, out, imported = _probe(["runs", "--db", str(db)])
    assert code == 0 and "cifar10" in out
    assert imported == []


@pytest.mark.parametrize("name", ["fit", "rank", "report"])
def test_every_summary_is_one_line(name: str) -> None:
    text = summary(name)
    assert text and "\n" not in text and not text.endswith(".")
