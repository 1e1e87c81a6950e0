"""Execute the notebooks under notebooks/ with nbclient, so that they cannot rot.

Each notebook runs top to bottom in the ipykernel kernel "python3", in its own
folder, as a reader would run it. The notebooks are stored without outputs.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIRECTORY = Path(__file__).resolve().parent.parent / "notebooks"
# The subgroup notebook has its own test module (test_notebook_subgroups.py).
NOTEBOOKS = [NOTEBOOK_DIRECTORY / name
             for name in ("01_reliability_cfa.ipynb", "02_sem_outcomes.ipynb")]


def outputs_of(notebook, kind: str) -> list:
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == kind
    ]


def test_notebooks_present():
    for path in NOTEBOOKS:
        assert path.is_file(), path


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)

    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )

    started = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - started

    assert outputs_of(notebook, "error") == []
    images = [
        output
        for kind in ("display_data", "execute_result")
        for output in outputs_of(notebook, kind)
        if "image/png" in output.data
    ]
    assert len(images) >= 2
    assert elapsed < 90
