"""The ladder harness: cells, seeds, statuses in the store, resuming, settings, failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from transferscope.errors import InputError
from transferscope.ladders import derive_seed, run_ladder
from transferscope.schema import validate_runs
from transferscope.store import open_store
from transferscope.store.ladders import read_cells

CHECKPOINTS = {"Ap1": 1, "Ap2": 3, "Ap3": 9}
METHODS = ["full", "probe"]
CALLS: list[tuple[Any, ...]] = []


def pretrain(checkpoint: int | None, seed: int) -> dict[str, float] | None:
    CALLS.append(("pretrain", checkpoint, seed))
    if checkpoint is None:
        return None
    return {"quality": 1.0 - 1.0 / (1.0 + checkpoint), "seed": float(seed)}


def finetune(model: dict[str, float] | None, method: str, seed: int) -> dict[str, Any]:
    CALLS.append(("finetune", None if model is None else model["quality"], method, seed))
    rng = np.random.default_rng(seed)
    q = 0.0 if model is None else model["quality"]
    slope = 0.4 if method == "full" else 0.2
    return {
        "downstream_score": 0.5 + slope * q + 0.01 * rng.standard_normal(),
        "upstream_score": None if model is None else q,
        "train_loss": 0.25,
    }


def test_a_ladder_has_every_cell_and_canonical_runs() -> None:
    CALLS.clear()
    with open_store(":memory:") as store:
        res = run_ladder(
            pretrain, finetune, checkpoints=CHECKPOINTS, methods=METHODS, seeds=3, store=store,
            name="toy", hparams={"lr": 0.1}, seed=7,
        )  # fmt: skip
        runs = store.runs(source="toy")
        cells = read_cells(store, "toy")
    # 3 checkpoints + scratch, 2 methods, 3 seeds
    assert res.n_cells == 24 and res.n_ok == 24 and res.n_failed == 0 and len(runs) == 24
    # each checkpoint is pretrained once per seed, scratch included: 4 x 3 calls
    assert sum(c[0] == "pretrain" for c in CALLS) == 12
    assert set(cells["status"]) == {"ok"} and (cells["n_held"] == 1).all()
    scratch = runs[~runs["pretrained"]]
    assert set(scratch["model"]) == {"scratch"} and len(scratch) == 6
    assert scratch["upstream_score"].isna().all()
    hp = [json.loads(h) for h in runs["hparams"]]
    assert all(h["lr"] == 0.1 and h["train_loss"] == 0.25 and h["ladder_seed"] == 7 for h in hp)
    # the derived seeds are those of SeedSequence(7, spawn_key=(replicate, stage)), stage 1 =
    # pretraining, 2 = fine-tuning; paired: shared by every checkpoint and method of a seed
    for row, h in zip(runs.itertuples(), hp, strict=True):
        assert h["pretrain_seed"] == derive_seed(7, int(row.seed), 1)
        assert h["finetune_seed"] == derive_seed(7, int(row.seed), 2)
    # the frame returned is the store's, and it validates as it is
    pd.testing.assert_frame_equal(
        res.runs.reset_index(drop=True),
        runs.drop(columns=["run_id", "source"]).reset_index(drop=True),
    )
    assert validate_runs(res.runs, require_upstream=False).n_rows == 24


def test_independent_seeds_differ_per_checkpoint_and_method() -> None:
    res = run_ladder(
        pretrain, finetune, checkpoints=CHECKPOINTS, methods=METHODS, seeds=[4], scratch=False,
        seed_scheme="independent",
    )  # fmt: skip
    seeds = {json.loads(h)["finetune_seed"] for h in res.runs["hparams"]}
    assert len(seeds) == 6 and res.n_cells == 6


def flaky_finetune(model: dict[str, float] | None, method: str, seed: int) -> Any:
    if model is not None and model["quality"] > 0.8 and method == "probe":
        raise ValueError("diverged at lr 10")
    if model is not None and model["quality"] < 0.6 and method == "full":
        return {"downstream_score": 1.5}  # an accuracy above 1 does not validate
    return finetune(model, method, seed)


def test_failures_become_statuses_and_a_rerun_retries_only_them(tmp_path: Path) -> None:
    db = tmp_path / "l.duckdb"
    kwargs: dict[str, Any] = {
        "checkpoints": CHECKPOINTS, "methods": METHODS, "seeds": 2, "store": db, "name": "toy"
    }  # fmt: skip
    res = run_ladder(pretrain, flaky_finetune, **kwargs)
    failed = res.cells[res.cells["status"] == "failed"]
    # Ap3 (quality 0.9) x probe raised; Ap1 (quality 0.5) x full gave 1.5
    assert sorted(set(zip(failed["model"], failed["method"], strict=True))) == [
        ("Ap1", "full"),
        ("Ap3", "probe"),
    ]
    raised = failed[failed["model"] == "Ap3"]["message"].iloc[0]
    assert raised.startswith("finetune raised ValueError: diverged at lr 10 (")
    assert "in flaky_finetune" in raised
    assert "scores do not validate" in failed[failed["model"] == "Ap1"]["message"].iloc[0]
    assert res.n_ok == 12 and res.n_failed == 4 and len(res.runs) == 12
    with open_store(db) as store:
        cells = read_cells(store, "toy")
        assert (cells["status"] == "failed").sum() == 4
        assert cells.loc[cells["status"] == "failed", "n_held"].eq(0).all()
    # without retrying, nothing runs; retrying with the fixed code fills the four cells
    again = run_ladder(pretrain, flaky_finetune, retry_failed=False, **kwargs)
    assert again.n_skipped == 12 and again.n_failed == 4 and not again.cells["ran"].any()
    fixed = run_ladder(pretrain, finetune, **kwargs)
    assert fixed.n_skipped == 12 and fixed.n_ok == 4 and fixed.n_failed == 0
    assert len(fixed.runs) == 16


class Interrupt(Exception):
    pass


def test_an_interrupted_ladder_resumes_to_the_same_runs(tmp_path: Path) -> None:
    fresh = run_ladder(pretrain, finetune, checkpoints=CHECKPOINTS, methods=METHODS, seeds=2)
    db = tmp_path / "r.duckdb"
    done: list[int] = []

    def stopping(model: Any, method: str, seed: int) -> Any:
        if len(done) == 9:
            raise KeyboardInterrupt  # the user stops the run
        done.append(1)
        return finetune(model, method, seed)

    with pytest.raises(KeyboardInterrupt):
        run_ladder(pretrain, stopping, checkpoints=CHECKPOINTS, methods=METHODS, seeds=2, store=db)
    with open_store(db) as store:
        # whole units (a checkpoint and seed: two cells) are committed; the half unit is not
        assert len(store.runs()) == 8
    resumed = run_ladder(
        pretrain, finetune, checkpoints=CHECKPOINTS, methods=METHODS, seeds=2, store=db
    )
    assert resumed.n_skipped == 8 and resumed.n_ok == 8
    cols = ["model", "method", "seed", "downstream_score", "hparams"]
    key = ["model", "method", "seed"]
    pd.testing.assert_frame_equal(
        resumed.runs[cols].sort_values(key).reset_index(drop=True),
        fresh.runs[cols].sort_values(key).reset_index(drop=True),
    )


def test_other_settings_under_the_same_name_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    common: dict[str, Any] = {
        "checkpoints": CHECKPOINTS, "methods": METHODS, "seeds": 1, "store": db
    }  # fmt: skip
    run_ladder(pretrain, finetune, hparams={"lr": 0.1}, **common)
    with pytest.raises(InputError, match=r"other settings \(lr\)"):
        run_ladder(pretrain, finetune, hparams={"lr": 0.2}, **common)
    # more checkpoints and seeds extend the ladder: the held cells keep their seeds
    more = run_ladder(
        pretrain, finetune, hparams={"lr": 0.1}, **{**common, "seeds": 2,
        "checkpoints": {**CHECKPOINTS, "Ap4": 27}},
    )  # fmt: skip
    assert more.n_skipped == 8 and more.n_ok == 12
    anew = run_ladder(pretrain, finetune, hparams={"lr": 0.2}, replace=True, **common)
    assert anew.n_ok == 8 and len(anew.runs) == 8


def test_a_source_that_is_not_a_ladder_is_not_touched(runs_frame: pd.DataFrame) -> None:
    with open_store(":memory:") as store:
        store.ingest(runs_frame, "small")
        with pytest.raises(InputError, match="not a ladder"):
            run_ladder(
                pretrain, finetune, checkpoints=CHECKPOINTS, methods=METHODS, store=store,
                name="small",
            )  # fmt: skip
        assert len(store.runs()) == len(runs_frame)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"checkpoints": []}, "at least one checkpoint"),
        ({"checkpoints": [1, None]}, "may not be None"),
        ({"methods": []}, "methods"),
        ({"seeds": 0}, "seeds must be >= 1"),
        ({"seed": -1}, "non-negative"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"seed_scheme": "shared"}, "seed_scheme"),
        ({"hparams": {"pretrain_seed": 1}}, "may not use"),
        ({"scratch_model": "Ap1"}, "also a checkpoint"),
    ],
)
def test_bad_arguments_raise_input_errors(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"checkpoints": CHECKPOINTS, "methods": METHODS, **kwargs}
    with pytest.raises(InputError, match=message):
        run_ladder(pretrain, finetune, **args)


def test_finetune_may_not_set_the_columns_the_ladder_owns() -> None:
    def owner(model: Any, method: str, seed: int) -> Any:
        return {"downstream_score": 0.5, "model": "mine"}

    res = run_ladder(pretrain, owner, checkpoints=[1], methods=["m"], seeds=1, scratch=False)
    assert res.n_failed == 1 and "may not set model" in res.cells["message"].iloc[0]


def test_store_append_adds_keeps_and_refuses_changes(runs_frame: pd.DataFrame) -> None:
    with open_store(":memory:") as store:
        first = store.append(runs_frame.iloc[:2], "grow")
        second = store.append(runs_frame, "grow")
        assert (first.n_added, second.n_added, second.n_unchanged) == (2, 2, 2)
        assert int(store.sources().set_index("name").loc["grow", "n_rows"]) == 4
        changed = runs_frame.iloc[:1].assign(downstream_score=0.5)
        with pytest.raises(InputError, match="other values"):
            store.append(changed, "grow")
        assert len(store.runs(source="grow")) == 4
