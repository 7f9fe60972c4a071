"""MLflow: a real local file-based tracking store made here, read through ``search_runs``.

``make test`` installs the ``mlflow`` extra, so under CI=true a missing client fails the test
instead of skipping it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import require_extra
from transferscope.cli import main
from transferscope.errors import InputError
from transferscope.ingest import ingest_format
from transferscope.store import open_store

require_extra("mlflow", "mlflow")

SPEC = """\
experiments = ["probe-sweep"]
hparams = ["params.lr"]

[columns]
model = "params.model"
task = "params.dataset"
method = "tags.method"
seed = "params.seed"
upstream_score = "metrics.upstream_top1"
downstream_score = "metrics.test_acc"

[values]
upstream_task = "imagenet-1k"
upstream_metric = "top1"
"""

RUNS = [  # model, seed, lr, upstream, test accuracy, status
    ("vit-b16", 0, 0.01, 0.812, 0.912, "FINISHED"),
    ("vit-b16", 1, 0.01, 0.812, 0.915, "FINISHED"),
    ("vit-l16", 0, 0.01, 0.851, 0.948, "FINISHED"),
    ("vit-l16", 1, 0.01, 0.851, 0.2, "FAILED"),
]


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as patch:
        # MLflow 3 opens a file store only when asked to
        patch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow import MlflowClient

        folder = tmp_path_factory.mktemp("ml") / "mlruns"
        client = MlflowClient(tracking_uri=folder.as_uri())
        sweep = client.create_experiment("probe-sweep")
        other = client.create_experiment("pretraining")
        for model, seed, lr, up, acc, status in RUNS:
            run = client.create_run(
                sweep, run_name=f"{model}-{seed}", tags={"method": "Linear Probe"}
            )
            for key, value in {
                "model": model,
                "dataset": "cifar10",
                "seed": seed,
                "lr": lr,
            }.items():
                client.log_param(run.info.run_id, key, value)
            client.log_metric(run.info.run_id, "upstream_top1", up)
            client.log_metric(run.info.run_id, "test_acc", acc - 0.1, step=0)
            client.log_metric(run.info.run_id, "test_acc", acc, step=1)  # the last value counts
            client.set_terminated(run.info.run_id, status=status)
        run = client.create_run(other, run_name="pretrain")
        client.set_terminated(run.info.run_id)
        yield folder


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "mlflow.toml"
    path.write_text(SPEC)
    return path


def test_runs_of_a_tracking_store(
    tracking: Path, spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    db = tmp_path / "s.duckdb"
    args = ["ingest", str(tracking), "--format", "mlflow", "--spec", str(spec), "--db", str(db)]
    assert main(args) == 0
    assert "source 'probe-sweep': 3 rows read, 3 added" in capsys.readouterr().out
    with open_store(db, read_only=True) as store:
        runs = store.runs()
        (source,) = store.sources().itertuples()
    assert list(runs["method"]) == ["linear_probe"] * 3 and set(runs["task"]) == {"cifar10"}
    assert sorted(runs["downstream_score"]) == [0.912, 0.915, 0.948]  # the FAILED run is out
    assert sorted(set(runs["upstream_score"])) == [0.812, 0.851]
    assert {json.dumps(json.loads(h)) for h in runs["hparams"]} == {'{"lr": 0.01}'}
    assert source.url == tracking.resolve().as_uri() and len(source.sha256) == 64
    assert source.title == "MLflow runs of experiment probe-sweep (3 runs)"
    assert main(args) == 0  # the same runs again: nothing new
    assert "0 added, 3 unchanged" in capsys.readouterr().out


def test_broken_runs_and_specs(
    tracking: Path, spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    db = tmp_path / "s.duckdb"
    spec.write_text(SPEC.replace('experiments = ["probe-sweep"]', 'experiments = ["sweep"]'))
    with pytest.raises(InputError, match="no experiment 'sweep' in the tracking store"):
        ingest_format(tracking, "mlflow", spec=spec, db=db)
    # a spec that maps a fractional learning rate to seed: the run's id names the place
    spec.write_text(SPEC.replace("metrics.test_acc", "metrics.upstream_top1").replace(
        'upstream_score = "metrics.upstream_top1"', 'upstream_score = "params.lr"'))  # fmt: skip
    ingest_format(tracking, "mlflow", spec=spec, db=db)  # lr as upstream: valid, if odd
    spec.write_text(SPEC.replace('seed = "params.seed"', 'seed = "params.lr"'))
    with pytest.raises(
        InputError, match=r"mlruns: run [0-9a-f]{32} \(params.lr\): expected a whole"
    ):
        ingest_format(tracking, "mlflow", spec=spec, db=db, replace=True)
    with pytest.raises(InputError, match="no such MLflow tracking folder"):
        ingest_format(tmp_path / "nowhere", "mlflow", spec=spec, db=db)
    assert not (tmp_path / "nowhere").exists()
