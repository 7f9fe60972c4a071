"""Fits in the store: lossless round trip, reuse by fingerprint, stale fits never current."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest

from transferscope.frontier import fit_frontiers
from transferscope.frontier.persist import fit_store, stored_fits
from transferscope.frontier.synthetic import synthetic_runs
from transferscope.store import Store, open_store


@pytest.fixture
def store() -> Iterator[Store]:
    runs, _ = synthetic_runs(3, seed=21)
    with open_store(":memory:") as s:
        s.ingest(runs.drop(columns=["source"]), "synthetic")
        yield s


def test_store_round_trip_is_lossless_and_reused(store: Store) -> None:
    options = {"bootstrap": 60, "bootstrap_max": 60, "seed": 1}
    first = fit_store(store, **options)
    assert not first["reused"].any()
    again = fit_store(store, **options)
    assert again["reused"].all()
    pd.testing.assert_frame_equal(first.drop(columns="reused"), again.drop(columns="reused"))
    # the same numbers as fitting the runs directly
    direct = fit_frontiers(store.runs(), **options)
    pd.testing.assert_frame_equal(first[list(direct.columns)], direct, check_dtype=False)
    table = stored_fits(store)
    assert len(table) == 3
    key = json.loads(table["group_key"].iloc[0])
    assert set(key) == {"task", "method", "shots", "downstream_metric"} and key["shots"] is None


def test_changed_options_or_runs_are_refitted(store: Store) -> None:
    fast = {"bootstrap": 40, "bootstrap_max": 40, "interval": "bootstrap"}
    base = fit_store(store, **fast)
    other_seed = fit_store(store, seed=5, **fast)
    assert not other_seed["reused"].any()
    assert set(other_seed["fingerprint"]).isdisjoint(base["fingerprint"])
    # change one run of task_001: only that group gets a new fingerprint and is refitted
    runs = store.runs().drop(columns=["run_id", "source"])
    first = runs.index[runs["task"] == "task_001"][0]
    runs.loc[first, "downstream_score"] -= 0.05
    store.ingest(runs, "synthetic", replace=True)
    after = fit_store(store, **fast)
    by_task = after.set_index("task")
    assert bool(by_task.loc["task_000", "reused"]) and bool(by_task.loc["task_002", "reused"])
    assert not bool(by_task.loc["task_001", "reused"])
    assert (
        by_task.loc["task_001", "fingerprint"]
        != base.set_index("task").loc["task_001", "fingerprint"]
    )
    # the stale row stays in the table but is not returned as current
    assert len(stored_fits(store)) == 3 + 3 + 1
    assert len(after) == 3


def test_filters_and_auto(store: Store) -> None:
    one = fit_store(store, bootstrap=0, interval="bootstrap", filters={"task": "task_002"})
    assert one["task"].tolist() == ["task_002"]
    side = fit_store(
        store,
        family="auto",
        side_by_side=True,
        bootstrap=0,
        interval="bootstrap",
        filters={"task": "task_002"},
    )
    again = fit_store(
        store,
        family="auto",
        side_by_side=True,
        bootstrap=0,
        interval="bootstrap",
        filters={"task": "task_002"},
    )
    assert again["reused"].all()
    assert again["family"].tolist() == side["family"].tolist()
    assert again["selected"].tolist() == side["selected"].tolist()
    refit = fit_store(
        store,
        family="auto",
        side_by_side=True,
        bootstrap=0,
        interval="bootstrap",
        filters={"task": "task_002"},
        refit=True,
    )
    assert not refit["reused"].any()


def test_any_options_reuses_the_latest_current_fit(store: Store) -> None:
    fast = {"bootstrap": 30, "bootstrap_max": 30, "interval": "bootstrap"}
    made = fit_store(store, seed=3, frontier="hull", **fast)
    # what report does without fit options: reuse whatever current fit each group has
    shown = fit_store(store, reuse="any", with_options=True)
    assert shown["reused"].all()
    assert shown["frontier"].tolist() == ["hull"] * 3
    pd.testing.assert_series_equal(shown["plateau_ci_low"], made["plateau_ci_low"])
    assert all(json.loads(o)["seed"] == 3 for o in shown["options"])
    assert len(stored_fits(store)) == 3
    # a changed group is refitted with the options given (the defaults here), the rest kept
    runs = store.runs().drop(columns=["run_id", "source"])
    first = runs.index[runs["task"] == "task_000"][0]
    runs.loc[first, "downstream_score"] -= 0.05
    store.ingest(runs, "synthetic", replace=True)
    again = fit_store(store, reuse="any", **fast).set_index("task")
    assert not bool(again.loc["task_000", "reused"])
    assert again.loc["task_000", "requested_frontier"] == "stochastic"
    assert bool(again.loc["task_001", "reused"]) and again.loc["task_001", "frontier"] == "hull"
