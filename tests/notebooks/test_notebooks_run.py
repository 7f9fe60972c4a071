"""Every notebook in notebooks/ runs top to bottom without an error, from a temporary directory.

The kernel is this interpreter (an explicit kernel spec naming ``sys.executable``), so the
notebooks see the project's environment. Notebooks that read published tables find them through
``$TRANSFERSCOPE_SHARED``, which this test sets from the ``shared_data`` fixture.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
#: Seconds a single cell may take before the test fails; each notebook should need far less.
CELL_TIMEOUT = 90


def test_there_are_notebooks() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {"quickstart.ipynb", "frontiers.ipynb", "dependence.ipynb", "simulator.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    text = path.read_text(encoding="utf-8")
    if "TRANSFERSCOPE_SHARED" in text:
        shared_data: Path = request.getfixturevalue("shared_data")
        monkeypatch.setenv("TRANSFERSCOPE_SHARED", str(shared_data.parent))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    workdir = tmp_path / "work"
    workdir.mkdir()
    # a kernel spec naming this interpreter, found through $JUPYTER_PATH; nbclient owns the kernel
    # (starts it, shuts it down and closes its sockets)
    spec_dir = tmp_path / "jupyter" / "kernels" / "transferscope-venv"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "transferscope (.venv)",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    nb = nbformat.reads(text, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="transferscope-venv",
        timeout=CELL_TIMEOUT,
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert errors == []
