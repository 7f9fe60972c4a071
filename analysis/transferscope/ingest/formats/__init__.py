"""Native readers: results from where they live, in the formats other tools write them.

=====================  ==============================================  ==========================
``--format``           reads                                           needs
=====================  ==============================================  ==========================
``lm-eval``            lm-evaluation-harness results (file or folder)  ``--upstream TASK:METRIC``
``every-eval-ever``    Every Eval Ever records (schema 0.2.2)          ``--upstream`` unless the
                                                                       records carry one
``mlflow``             an MLflow tracking store (``search_runs``)      ``--spec`` (a mapping)
``wandb``              a Weights & Biases runs export (CSV)            ``--spec`` (a mapping)
=====================  ==============================================  ==========================

Each reader returns a :class:`FormatRead`: rows with canonical column names, where each row came
from, and the provenance of the source. The ingest validates them like any table
(:func:`transferscope.schema.validate_runs`) and writes them in one transaction.
"""

from __future__ import annotations

from pathlib import Path

from transferscope.errors import InputError
from transferscope.ingest.formats._common import FormatRead, Upstream, relocate
from transferscope.ingest.formats.lm_eval import read_lm_eval

__all__ = ["FORMATS", "FormatRead", "Upstream", "read_format", "relocate"]

#: The formats :func:`read_format` reads, and the options each takes.
FORMATS: dict[str, frozenset[str]] = {
    "lm-eval": frozenset({"upstream"}),
    "every-eval-ever": frozenset({"upstream", "method"}),
    "mlflow": frozenset({"spec"}),
    "wandb": frozenset({"spec"}),
}


def read_format(
    path: str | Path,
    fmt: str,
    *,
    name: str | None = None,
    upstream: str | None = None,
    spec: str | Path | None = None,
    method: str | None = None,
) -> FormatRead:
    """Read results in a native format.

    Parameters
    ----------
    path : str or pathlib.Path
        The file or folder (for ``mlflow``, the tracking URI or the local ``mlruns`` folder).
    fmt : {"lm-eval", "every-eval-ever", "mlflow", "wandb"}
        The format.
    name : str, optional
        Source name (default: from the path).
    upstream : str, optional
        ``TASK:METRIC[:SHOTS]`` whose score is each model's upstream score.
    spec : str or pathlib.Path, optional
        TOML mapping of the run's fields to canonical columns (``mlflow``, ``wandb``).
    method : str, optional
        Adaptation method of records that do not say (``every-eval-ever``).

    Returns
    -------
    FormatRead
        Unvalidated canonical rows, their places in the input, and the provenance.

    Raises
    ------
    InputError
        For an unknown format, an option the format does not take, or a broken input.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    given = {"upstream": upstream, "spec": spec, "method": method}
    extra = [f"--{k}" for k, v in given.items() if v is not None and k not in FORMATS[fmt]]
    if extra:
        raise InputError(f"{', '.join(extra)}: not an option of --format {fmt}")
    if fmt == "lm-eval":
        return read_lm_eval(path, upstream=upstream, name=name)
    if fmt == "every-eval-ever":
        from transferscope.ingest.formats.every_eval_ever import read_every_eval_ever

        return read_every_eval_ever(path, upstream=upstream, method=method, name=name)
    if spec is None:
        raise InputError(f"--format {fmt} needs --spec FILE, the mapping of its runs' fields")
    if fmt == "mlflow":
        from transferscope.ingest.formats.mlflow import read_mlflow

        return read_mlflow(path, spec=spec, name=name)
    from transferscope.ingest.formats.wandb import read_wandb

    return read_wandb(path, spec=spec, name=name)
