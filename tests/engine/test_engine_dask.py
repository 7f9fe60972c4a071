"""Engines: the same numbers in one process, in local processes and on a two-worker Dask cluster.

The Dask cluster is local, with two workers as threads of the test process (no start-up of
worker processes; the benchmark uses processes). Every group is seeded by the user's seed and
its key, so where a group runs must not change a single bit of the output.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import require_extra
from transferscope.cli import main
from transferscope.engine import DaskEngine, LocalEngine, map_groups, resolve_engine
from transferscope.errors import InputError
from transferscope.frontier import fit_frontiers, fit_store
from transferscope.frontier.synthetic import synthetic_runs
from transferscope.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dependence"))

require_extra("distributed", "dask")


@pytest.fixture(scope="module")
def dask_engine() -> Iterator[DaskEngine]:
    with DaskEngine(n_workers=2, processes=False, tasks_per_thread=2) as engine:
        yield engine


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    frame, _ = synthetic_runs(6, seed=3, n=40)
    return frame


def test_dask_fit_equals_the_local_fit_exactly(runs: pd.DataFrame, dask_engine: DaskEngine) -> None:
    local = fit_frontiers(runs, bootstrap=200, seed=7)
    on_dask = fit_frontiers(runs, bootstrap=200, seed=7, engine=dask_engine)
    pd.testing.assert_frame_equal(local, on_dask, check_exact=True)
    assert (local["status"] == "ok").all() and local["plateau_ci_low"].notna().all()
    assert dask_engine.threads == 2
    # another seed changes the intervals: the comparison above could fail
    other = fit_frontiers(runs, bootstrap=200, seed=8, engine=dask_engine)
    assert not np.array_equal(other["plateau_ci_low"], local["plateau_ci_low"])


def test_two_local_processes_equal_one(runs: pd.DataFrame) -> None:
    one = fit_frontiers(runs.loc[runs["task"] < "task_002"], bootstrap=100, seed=1)
    two = fit_frontiers(runs.loc[runs["task"] < "task_002"], bootstrap=100, seed=1, n_jobs=2)
    pd.testing.assert_frame_equal(one, two, check_exact=True)


def test_fit_store_on_dask_writes_the_fits_here(
    runs: pd.DataFrame, dask_engine: DaskEngine
) -> None:
    with open_store(":memory:") as store:
        store.ingest(runs.drop(columns="source"), "synthetic")
        first = fit_store(store, bootstrap=100, seed=2, engine=dask_engine)
        assert not first["reused"].any()
        again = fit_store(store, bootstrap=100, seed=2)  # local: reads what the workers made
        assert again["reused"].all()
        columns = [c for c in first.columns if c != "reused"]
        pd.testing.assert_frame_equal(first[columns], again[columns], check_exact=True)


def test_map_groups_keeps_the_order_of_the_keys(dask_engine: DaskEngine) -> None:
    frame = pd.DataFrame({"g": ["b", "a", None, "b"], "v": [1, 2, 3, 4]})
    local = map_groups(frame, ["g"], _total)
    assert [k[0] for k, _ in local][:2] == ["a", "b"] and pd.isna(local[2][0][0])
    on_dask = map_groups(frame, ["g"], _total, engine=dask_engine)
    assert [r for _, r in on_dask] == [r for _, r in local] == [2, 5, 3]


def _total(key: tuple[object, ...], group: pd.DataFrame) -> int:
    return int(group["v"].sum())


def test_engine_choices_and_refusals() -> None:
    assert resolve_engine() == LocalEngine(1)
    assert resolve_engine("local", 2) == LocalEngine(2)
    made = resolve_engine("dask", 3)
    assert isinstance(made, DaskEngine) and made.n_workers == 3 and made.address is None
    remote = resolve_engine(None, scheduler="tcp://127.0.0.1:8786")
    assert isinstance(remote, DaskEngine) and remote.address == "tcp://127.0.0.1:8786"
    with pytest.raises(InputError, match="unknown engine 'spark'"):
        resolve_engine("spark")
    with pytest.raises(InputError, match="needs the dask engine"):
        resolve_engine("local", scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(InputError, match="positive integer"):
        DaskEngine(n_workers=0)


def test_an_unreachable_scheduler_is_one_line() -> None:
    engine = DaskEngine("tcp://127.0.0.1:9", timeout="1s")  # nothing listens on port 9
    with pytest.raises(InputError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        engine.map(abs, [1, -2])


def test_cli_fit_on_a_dask_scheduler(
    tmp_path: Path,
    runs: pd.DataFrame,
    dask_engine: DaskEngine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = str(tmp_path / "s.duckdb")
    with open_store(db) as store:
        store.ingest(runs.loc[runs["task"] < "task_002"].drop(columns="source"), "synthetic")
    # the module's cluster, reached by its address as a remote scheduler would be
    address = dask_engine.client.scheduler.address
    fit = ["fit", "--db", db, "--bootstrap", "50", "--format", "csv", "--refit"]
    assert main(fit) == 0
    local = capsys.readouterr().out
    assert main([*fit, "--scheduler", address]) == 0
    assert capsys.readouterr().out == local and local.count("\n") == 3
    assert main([*fit, "--scheduler", "tcp://127.0.0.1:9", "--engine", "local"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs the dask engine" in err


def test_dependence_analyses_on_dask_equal_the_local_ones(dask_engine: DaskEngine) -> None:
    from _dependence_ladder import synthetic_ladder

    from transferscope.dependence import (
        method_slopes,
        pairwise_comparisons,
        pooled_dependence,
        rank_methods,
    )

    ladder = pd.concat(
        [synthetic_ladder(seed=s).assign(downstream_metric=m) for s, m in ((1, "acc"), (2, "f1"))],
        ignore_index=True,
    )
    for analysis, kwargs in (
        (rank_methods, {"metric": "slope", "bootstrap": 300, "seed": 4}),
        (pairwise_comparisons, {"metric": "gain"}),
        (pooled_dependence, {"metric": "gain"}),
        (method_slopes, {}),
    ):
        local = analysis(ladder, **kwargs)
        on_dask = analysis(ladder, **kwargs, engine=dask_engine)
        two = analysis(ladder, **kwargs, n_jobs=2)
        assert len(local) >= 6, analysis.__name__  # two contexts, three methods each
        pd.testing.assert_frame_equal(local, on_dask, check_exact=True)
        pd.testing.assert_frame_equal(local, two, check_exact=True)
    # each context's draws derive from the seed and the context's key: ranking one context
    # alone gives that context's numbers
    alone = rank_methods(
        ladder[ladder["downstream_metric"] == "f1"], "slope", bootstrap=300, seed=4
    )
    both = rank_methods(ladder, "slope", bootstrap=300, seed=4)
    f1 = both[both["downstream_metric"] == "f1"].reset_index(drop=True)
    np.testing.assert_array_equal(alone["p_best"].to_numpy(), f1["p_best"].to_numpy())
