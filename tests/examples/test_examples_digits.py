"""The digits worked example: a small ladder end to end (runs, ranking, knowledge, report, CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferscope.cli import main
from transferscope.dependence import rank_methods
from transferscope.examples.digits import (
    KNOWLEDGE_FIELDS,
    METHODS,
    DigitsConfig,
    DigitsFinetune,
    DigitsPretrain,
    adapt,
    digits_data,
    digits_ladder,
    patch_groups,
)
from transferscope.examples.mlp import init_mlp, train_mlp
from transferscope.report import build_report
from transferscope.store import open_store

SMALL = DigitsConfig(
    budgets=(10, 60, 240), finetune_steps=40, interaction_images=2, n_test=300, shots=15
)


@pytest.fixture(scope="module")
def small_ladder():
    return digits_ladder(config=SMALL, seeds=2)


def test_the_data_split_is_fixed_and_disjoint() -> None:
    data = digits_data(0, 300, 200)
    assert data.x_up.shape[1] == 64 and set(np.unique(data.y_test)) == set(range(5))
    assert len(data.x_test) == 300 and len(data.x_up_test) == 200
    assert data.x_up.max() <= 1.0 and data.x_pool.min() >= 0.0
    groups = patch_groups()
    assert np.bincount(groups).tolist() == [4] * 16 and groups[9] == 0 and groups[63] == 15


def test_frozen_layers_do_not_move() -> None:
    rng = np.random.default_rng(0)
    net = init_mlp([64, 8, 4, 5], rng)
    data = digits_data(0, 300, 200)
    out = train_mlp(net, data.x_up[:50], data.y_up[:50], steps=5, lr=0.01,
                    trainable=[False, True, True])  # fmt: skip
    np.testing.assert_array_equal(out.weights[0], net.weights[0])
    assert not np.array_equal(out.weights[1], net.weights[1])


def test_the_small_ladder_has_canonical_runs_and_knowledge(small_ladder) -> None:
    runs = small_ladder.runs
    # (3 checkpoints + scratch) x 3 methods x 2 seeds
    assert small_ladder.n_ok == 24 and small_ladder.n_failed == 0 and len(runs) == 24
    pre = runs[runs["pretrained"]]
    assert (
        pre["upstream_score"].between(0, 1).all() and runs["downstream_score"].between(0, 1).all()
    )
    # a longer pretraining is better upstream, seed by seed
    up = pre.pivot_table(index="seed", columns="pretrain_steps", values="upstream_score")
    assert (np.diff(up.to_numpy(), axis=1) > 0).all()
    hp = [json.loads(h) for h in runs["hparams"]]
    with_knowledge = [h for h in hp if "knowledge_preserved_share_of_p" in h]
    # full_ft and top_layer on pretrained checkpoints: 2 x 3 x 2
    assert len(with_knowledge) == 12
    for h in with_knowledge:
        assert set(KNOWLEDGE_FIELDS) <= {k[len("knowledge_") :] for k in h}
        share_p = h["knowledge_preserved_share_of_p"] + h["knowledge_discarded_share_of_p"]
        share_f = h["knowledge_preserved_share_of_f"] + h["knowledge_newly_learned_share_of_f"]
        assert share_p == pytest.approx(1.0) and share_f == pytest.approx(1.0)
        assert 0.0 <= h["knowledge_unexplained_f"] < 1.0


def test_the_scratch_rows_are_the_same_code_on_a_fresh_network(small_ladder) -> None:
    runs = small_ladder.runs
    row = runs[(~runs["pretrained"]) & (runs["method"] == "full_ft") & (runs["seed"] == 1)]
    seed = json.loads(row["hparams"].iloc[0])["finetune_seed"]
    again = DigitsFinetune(SMALL)(DigitsPretrain(SMALL)(None, 0), "full_ft", seed)
    assert again["downstream_score"] == row["downstream_score"].iloc[0]
    data = digits_data(SMALL.data_seed, SMALL.n_test, SMALL.n_upstream_test)
    assert (
        adapt(SMALL, None, "full_ft", seed).net.accuracy(data.x_test, data.y_test)
        == (row["downstream_score"].iloc[0])
    )


def test_worker_processes_give_the_same_runs(small_ladder) -> None:
    two = digits_ladder(config=SMALL, seeds=2, n_jobs=2)
    key = ["model", "method", "seed"]
    cols = [*key, "downstream_score", "upstream_score", "hparams"]
    pd.testing.assert_frame_equal(
        two.runs[cols].sort_values(key).reset_index(drop=True),
        small_ladder.runs[cols].sort_values(key).reset_index(drop=True),
    )


def test_the_ladder_ingests_ranks_and_reports(small_ladder, tmp_path: Path) -> None:
    path = tmp_path / "digits.csv"
    small_ladder.runs.to_csv(path, index=False)
    db = tmp_path / "d.duckdb"
    assert main(["ingest", str(path), "--db", str(db)]) == 0
    with open_store(db) as store:
        runs = store.runs()
        ranking = rank_methods(runs, "slope", bootstrap=0)
        assert sorted(ranking["method"]) == sorted(METHODS)
        assert (ranking["ci_low"] < ranking["ci_high"]).all()
        result = build_report(store, tmp_path / "report", image_formats=(), rank_bootstrap=0,
                              fit_bootstrap=0)  # fmt: skip
    page = result.index_html.read_text(encoding="utf-8")
    assert 'id="knowledge-ladder"' in page and "Knowledge along the ladder" in page
    assert "## Knowledge along the ladder" in result.summary_md.read_text(encoding="utf-8")


def test_simulate_digits_mlp_writes_a_file_that_ingests(tmp_path: Path, capsys) -> None:
    out = tmp_path / "d.parquet"
    code = main(["simulate", "--model", "digits-mlp", "--out", str(out), "--checkpoints", "1",
                 "--seeds", "1", "--shots", "10"])  # fmt: skip
    assert code == 0 and "wrote 6 runs" in capsys.readouterr().out
    frame = pd.read_parquet(out)
    assert set(frame["method"]) == set(METHODS) and frame["shots"].eq(10).all()
    assert main(["ingest", str(out), "--db", str(tmp_path / "s.duckdb")]) == 0
    assert main(["simulate", "--model", "digits-mlp", "--out", str(out), "--jobs", "0"]) == 2
