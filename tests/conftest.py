"""Shared fixtures.

Published tables are read from ``../shared/data`` beside the checkout (or from
``$TRANSFERSCOPE_SHARED``). Tests that need them skip when the folder is absent, except under
``CI=true``, where its absence fails the test so that a wrong path cannot hide.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from transferscope.store import Store, open_store

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRANSFERSCOPE_SHARED", REPO.parent / "shared"))


def _require(path: Path) -> Path:
    if path.exists():
        return path
    message = f"{path} is absent"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true requires it")
    pytest.skip(message)


def require_extra(module: str, extra: str) -> None:
    """Skip a test module without an optional extra, except under ``CI=true`` (fail there).

    ``make test`` installs every extra, so under CI a missing one is a broken environment,
    not a reason to skip.
    """
    try:
        importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed (pip install 'transferscope[{extra}]')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message, allow_module_level=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of published result tables (``../shared/data``)."""
    return _require(SHARED / "data")


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """The folder of reference values (``../shared/reference``)."""
    return _require(SHARED / "reference")


@pytest.fixture(autouse=True)
def _no_default_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Keep every test away from the user's default store: ``$TRANSFERSCOPE_DB`` points into tmp."""
    monkeypatch.setenv("TRANSFERSCOPE_DB", str(tmp_path / "default.duckdb"))
    yield


# --- small canonical tables, in-memory stores and store snapshots (store, schema, ingest tests)

#: Columns of the small tables: canonical names, one unknown column (lr) for hparams.
HEADER = "model,pretrained,upstream_score,task,method,shots,seed,downstream_score,lr"
ROWS = [
    "r50,true,0.76,cifar10,Full FT,,0,0.95,0.1",
    "r50,true,0.76,cifar10,Linear Probe,10,0,0.80,0.01",
    "vit_b16,true,0.81,cifar10,Linear Probe,10,0,0.85,0.01",
    "scratch,false,,cifar10,scratch,,0,0.70,",
]


def csv_text(rows: list[str] | None = None, header: str = HEADER) -> str:
    """A CSV of runs (header + rows), newline-terminated."""
    return "\n".join([header, *(ROWS if rows is None else rows)]) + "\n"


@pytest.fixture
def runs_frame() -> pd.DataFrame:
    """Four runs with canonical column names and an unknown column ``lr``."""
    return pd.DataFrame(
        {
            "model": ["r50", "r50", "vit_b16", "scratch"],
            "pretrained": [True, True, True, False],
            "upstream_score": [0.76, 0.76, 0.81, None],
            "task": ["cifar10"] * 4,
            "method": ["Full FT", "Linear Probe", "Linear Probe", "scratch"],
            "shots": pd.array([None, 10, 10, None], dtype="Int64"),
            "seed": pd.array([0, 0, 0, 0], dtype="Int64"),
            "downstream_score": [0.95, 0.80, 0.85, 0.70],
            "lr": [0.1, 0.01, 0.01, None],
        }
    )


@pytest.fixture
def memory_store() -> Iterator[Store]:
    """A fresh in-memory store."""
    with open_store(":memory:") as store:
        yield store


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write ``csv_text(rows, header)`` (or raw text) to a file in tmp_path."""

    def write(
        name: str = "runs.csv",
        rows: list[str] | None = None,
        header: str = HEADER,
        text: str | None = None,
    ) -> Path:
        path = tmp_path / name
        path.write_text(csv_text(rows, header) if text is None else text, encoding="utf-8")
        return path

    return write


StoreState = tuple[str, str] | None


@pytest.fixture
def store_state() -> Callable[[Path], StoreState]:
    """Everything a store file holds (runs and sources as JSON text), or None if absent.

    Two states compare equal exactly when the store holds the same runs and sources, including
    ``ingested_at``: a test takes one before and one after a failed command.
    """

    def state(db: Path) -> StoreState:
        if not db.exists():
            return None
        with open_store(db, read_only=True) as store:
            return store.runs().to_json(), store.sources().to_json(
                date_format="iso", date_unit="us"
            )

    return state


@pytest.fixture
def hold_open() -> Iterator[Callable[[Path], Callable[[], None]]]:
    """Hold a store open for writing in another process; returns a function that releases it.

    Whatever is still held when the test ends is released then.
    """
    holders: list[subprocess.Popen[str]] = []

    def release(holder: subprocess.Popen[str]) -> None:
        if holder.returncode is None:
            holder.communicate(timeout=30)  # closing its stdin lets it exit

    def hold(db: Path) -> Callable[[], None]:
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import duckdb, sys\n"
                "con = duckdb.connect(sys.argv[1])\n"
                "print('ready', flush=True)\n"
                "sys.stdin.read()\n",
                str(db),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        holders.append(holder)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        return lambda: release(holder)

    yield hold
    for holder in holders:
        release(holder)
