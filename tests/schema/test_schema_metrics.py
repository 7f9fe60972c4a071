"""The metric registry: directions and ranges of the published tables' metrics, extensible."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.errors import InputError
from transferscope.schema import METRICS, metric_info, parse_metric, register_metric
from transferscope.store import open_store


@pytest.mark.parametrize(
    ("metric", "direction", "low", "high"),
    [
        ("acc", "higher", 0.0, 1.0),
        ("acc_norm", "higher", 0.0, 1.0),
        ("top1", "higher", 0.0, 1.0),
        ("accuracy", "higher", 0.0, 1.0),
        ("acc1", "higher", 0.0, 1.0),
        ("exact_match", "higher", 0.0, 1.0),
        ("pct_stereotype", "none", 0.0, 1.0),
        ("likelihood_difference", "lower", 0.0, math.inf),
        ("ppl", "lower", 1.0, math.inf),
        ("word_perplexity", "lower", 1.0, math.inf),
        ("bits_per_byte", "lower", 0.0, math.inf),
        ("loss", "lower", 0.0, math.inf),
        ("top1_err", "lower", 0.0, 1.0),
        ("loss_c4_val", "lower", 0.0, math.inf),  # read from the name
    ],
)
def test_published_metrics_have_a_direction_and_range(
    metric: str, direction: str, low: float, high: float
) -> None:
    info = metric_info(metric)
    assert (info.direction, info.low, info.high, info.known) == (direction, low, high, True)


def test_unknown_metrics_are_assumed_and_say_so() -> None:
    info = metric_info("bleu_score")
    assert info.direction == "higher" and not info.known and math.isnan(info.low)
    assert "assumed" in info.describe()


def test_register_and_parse() -> None:
    try:
        info = register_metric("toxicity_test", "lower", low=0, high=1, description="a share")
        assert metric_info("toxicity_test") is info and info.is_fraction
        assert register_metric("toxicity_test", "lower", low=0, high=1) is not None  # same
        with pytest.raises(InputError, match="already registered"):
            register_metric("toxicity_test", "higher", low=0, high=1)
        register_metric("toxicity_test", "higher", low=0, high=1, replace=True)
        assert metric_info("toxicity_test").direction == "higher"
    finally:
        METRICS.pop("toxicity_test", None)
    parsed = parse_metric("My Score=none:0:100")
    assert (parsed.name, parsed.direction, parsed.low, parsed.high) == ("my_score", "none", 0, 100)
    for bad in ("x", "x=sideways", "x=lower:1", "x=lower:a:b", "x=lower:1:0"):
        with pytest.raises(InputError):
            parse_metric(bad)


def test_ingest_records_metrics_in_the_store(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    pd.DataFrame(
        {
            "model": ["a", "b"],
            "task": "t",
            "method": "m",
            "upstream_score": [0.5, 0.6],
            "downstream_metric": "tox",
            "downstream_score": [0.2, 0.1],
        }
    ).to_csv(table, index=False)
    db = str(tmp_path / "s.duckdb")
    assert main(["ingest", str(table), "--db", db, "--metric", "tox=lower:0:1"]) == 0
    with open_store(db, read_only=True) as store:
        recorded = store.metrics()
    assert recorded["tox"].direction == "lower" and recorded["tox"].is_fraction
    # a different definition of a recorded metric needs --replace; the store is unchanged
    assert main(["ingest", str(table), "--db", db, "--metric", "tox=higher:0:1"]) == 2
    assert main(["ingest", str(table), "--db", db, "--metric", "tox=sideways"]) == 2
    with open_store(db, read_only=True) as store:
        assert store.metrics()["tox"].direction == "lower"
