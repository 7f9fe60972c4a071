"""MLflow tracking stores, read through the MLflow client's ``search_runs``.

Needs the optional extra ``pip install 'transferscope[mlflow]'`` (``mlflow-skinny``; a full
``mlflow`` works too). PATH is a tracking URI (``file:///...``, ``sqlite:///mlflow.db``,
``http://server:5000``) or a local ``mlruns`` folder. Every run of the spec's ``experiments``
(default: all) that matches its ``filter`` becomes one row, with the fields ``run_id``,
``run_name``, ``experiment_id``, ``experiment``, ``status``, ``params.<name>``,
``metrics.<name>`` (the last logged value) and ``tags.<name>``, mapped by the spec
(:mod:`transferscope.ingest.formats._spec`). Only runs with status ``FINISHED`` are read unless
``finished_only = false``. MLflow 3 refuses a file store unless ``MLFLOW_ALLOW_FILE_STORE=true``
is set; the error says so.

Provenance: the tracking URI, the experiments, and a SHA-256 of the runs read (their fields as
canonical JSON), so that a changed tracking store is seen as changed content.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from transferscope.errors import InputError
from transferscope.ingest.formats._common import FormatRead
from transferscope.ingest.formats._spec import RunSpec
from transferscope.records import json_safe
from transferscope.schema import SourceInfo

_URI_SCHEMES = ("file:", "sqlite:", "http:", "https:", "postgresql:", "mysql:", "databricks")


def tracking_uri(path: str | Path) -> str:
    """Turn PATH into a tracking URI: a URI as given, a local folder as ``file://``.

    Parameters
    ----------
    path : str or pathlib.Path
        A tracking URI or a local folder.

    Returns
    -------
    str
        The URI.
    """
    text = str(path)
    if text.startswith(_URI_SCHEMES):
        return text
    folder = Path(text)
    if not folder.is_dir():
        raise InputError("no such MLflow tracking folder (or give a tracking URI)", file=text)
    return folder.resolve().as_uri()


def _client(uri: str) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise InputError(
            "--format mlflow needs the MLflow client: pip install 'transferscope[mlflow]'"
        ) from None
    return MlflowClient(tracking_uri=uri)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    if "MLFLOW_ALLOW_FILE_STORE" in str(exc):
        return (
            "MLflow refuses to open a file store; set MLFLOW_ALLOW_FILE_STORE=true to read it "
            "(or migrate it with `mlflow migrate-filestore`)"
        )
    return line if len(line) <= 200 else line[:197] + "..."


def fetch_runs(uri: str, spec: RunSpec) -> pd.DataFrame:
    """Fetch the runs of a tracking store with ``MlflowClient.search_runs``, page by page.

    Parameters
    ----------
    uri : str
        Tracking URI.
    spec : RunSpec
        Experiments, filter and ``finished_only``.

    Returns
    -------
    pandas.DataFrame
        One row per run, sorted by experiment and run id; columns ``run_id``, ``run_name``,
        ``experiment_id``, ``experiment``, ``status``, then ``params.*``, ``metrics.*`` and
        ``tags.*`` (MLflow's own ``mlflow.*`` tags left out).
    """
    from mlflow.exceptions import MlflowException

    try:
        client = _client(uri)
        experiments = client.search_experiments()
        names = {e.experiment_id: e.name for e in experiments}
        if spec.experiments:
            unknown = sorted(set(spec.experiments) - set(names.values()))
            if unknown:
                raise InputError(
                    f"experiments: no experiment {unknown[0]!r} in the tracking store; it has "
                    f"{', '.join(sorted(names.values()))}",
                    file=spec.file,
                )
            ids = sorted(i for i, n in names.items() if n in spec.experiments)
        else:
            ids = sorted(names)
        filters = [spec.filter] if spec.filter.strip() else []
        if spec.finished_only:
            filters.append("attributes.status = 'FINISHED'")
        rows: list[dict[str, Any]] = []
        token = None
        while True:
            page = client.search_runs(
                ids, filter_string=" and ".join(filters), max_results=1000, page_token=token
            )
            for run in page:
                row: dict[str, Any] = {
                    "run_id": run.info.run_id,
                    "run_name": run.info.run_name,
                    "experiment_id": run.info.experiment_id,
                    "experiment": names.get(run.info.experiment_id),
                    "status": run.info.status,
                }
                row.update({f"params.{k}": v for k, v in run.data.params.items()})
                row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
                row.update(
                    {
                        f"tags.{k}": v
                        for k, v in run.data.tags.items()
                        if not k.startswith("mlflow.")
                    }
                )
                rows.append(row)
            token = page.token
            if not token:
                break
    except MlflowException as exc:
        raise InputError(f"MLflow: {_one_line(exc)}", file=uri) from None
    if not rows:
        raise InputError(
            "no run matches (experiments, filter, finished_only of the spec)", file=uri
        )
    frame = pd.DataFrame(rows)
    return frame.sort_values(["experiment_id", "run_id"], kind="stable").reset_index(drop=True)


def read_mlflow(path: str | Path, *, spec: str | Path, name: str | None = None) -> FormatRead:
    """Read the runs of an MLflow tracking store through a spec.

    Parameters
    ----------
    path : str or pathlib.Path
        Tracking URI or local ``mlruns`` folder.
    spec : str or pathlib.Path
        The mapping of the runs' fields to canonical columns (TOML).
    name : str, optional
        Source name (default: the experiment's name when one is read, else ``mlflow``).

    Returns
    -------
    FormatRead
        Rows in canonical columns, each with its run id; provenance with the URI and a
        checksum of the runs read.

    Raises
    ------
    InputError
        Without the MLflow client, for a store that cannot be opened, an unknown experiment, no
        matching run, or a spec naming a field the runs lack.
    """
    mapping = RunSpec.read(spec)
    uri = tracking_uri(path)
    runs = fetch_runs(uri, mapping)
    frame = mapping.apply(runs, prefix="params.")
    locations = tuple((uri, f"run {run_id}") for run_id in runs["run_id"])
    experiments = sorted(set(runs["experiment"].dropna().astype(str)))
    records = [{k: json_safe(v) for k, v in r.items()} for r in runs.to_dict("records")]
    content = json.dumps(records, sort_keys=True, separators=(",", ":"), allow_nan=False)
    if name is not None and not name.strip():
        raise InputError("--name: a source needs a non-empty name")
    info = SourceInfo(
        name=name if name is not None else (experiments[0] if len(experiments) == 1 else "mlflow"),
        title=f"MLflow runs of experiment{'s' if len(experiments) != 1 else ''} "
        f"{', '.join(experiments)} ({len(runs)} runs)",
        url=uri,
        sha256=hashlib.sha256(content.encode()).hexdigest(),
    )
    return FormatRead(frame=frame, info=info, locations=locations, columns=mapping.columns)
