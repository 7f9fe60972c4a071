"""Each published source passes the canonical validation and ingests into a store exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from transferscope.errors import InputError
from transferscope.ingest.sources import load_source
from transferscope.schema.validate import validate_runs
from transferscope.store import open_store

EXPECTED_ROWS = {  # documented in each spec's expected_rows
    "clip-benchmark": 4752,
    "mlf-scaling": 4784,
    "pythia": 105024,
    "timm": 7779,
    "vtab": 608,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_source_validates_and_ingests_once(name: str, shared_data: Path) -> None:
    loaded = load_source(name, from_dir=shared_data)
    valid = validate_runs(loaded.frame, require_upstream=loaded.require_upstream, file=name)
    # the loader already emits canonical form: validation changes nothing and drops nothing
    assert valid.n_read == valid.frame.shape[0] == EXPECTED_ROWS[name]
    assert valid.frame.equals(loaded.frame)
    with open_store(":memory:") as store:
        first = store.ingest(valid, loaded.info)
        second = store.ingest(valid, loaded.info)
        assert first.n_added == EXPECTED_ROWS[name]
        assert second.n_added == 0 and second.n_unchanged == EXPECTED_ROWS[name]
        assert len(store.runs(source=name)) == EXPECTED_ROWS[name]
        row = store.sources().set_index("name").loc[name]
        assert row["sha256"] == loaded.info.sha256
        assert row["commit"] == loaded.info.commit
        assert row["url"] == loaded.info.url


def test_vtab_needs_require_upstream_false(shared_data: Path) -> None:
    loaded = load_source("vtab", from_dir=shared_data)
    assert loaded.require_upstream is False
    with pytest.raises(InputError, match="upstream_score"):
        validate_runs(loaded.frame, file="vtab")  # default: pretrained rows need one
