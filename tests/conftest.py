"""Shared fixtures.

Published tables are read from ``../shared/data`` beside the checkout (or from
``$TRANSFERSCOPE_SHARED``). Tests that need them skip when the folder is absent, except under
``CI=true``, where its absence fails the test so that a wrong path cannot hide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRANSFERSCOPE_SHARED", REPO.parent / "shared"))


def _require(path: Path) -> Path:
    if path.exists():
        return path
    message = f"{path} is absent"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true requires it")
    pytest.skip(message)


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
