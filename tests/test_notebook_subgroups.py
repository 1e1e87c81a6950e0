"""Execute notebooks/subgroups_education.ipynb with nbclient, as a reader would.

The notebook runs top to bottom in the ipykernel kernel "python3", in its own
folder (it reads ../data/bfi.csv and the bundled organisation survey). It is
stored without outputs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / \
    "subgroups_education.ipynb"


def outputs_of(notebook, kind: str) -> list:
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == kind
    ]


def printed_text(notebook) -> str:
    return "".join(output.text for output in outputs_of(notebook, "stream"))


@pytest.fixture(scope="module")
def executed(monkeypatch_module):
    # The kernel inherits this: one BLAS thread, because OpenBLAS's default
    # of 2 threads made the notebook about three times slower on a busy
    # 2-core machine. The numbers do not depend on the thread count.
    monkeypatch_module.setenv("OPENBLAS_NUM_THREADS", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    return notebook


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_notebook_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)

    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None


def test_notebook_runs_without_errors(executed):
    assert outputs_of(executed, "error") == []


def test_notebook_draws_figures(executed):
    images = [
        output
        for kind in ("display_data", "execute_result")
        for output in outputs_of(executed, kind)
        if "image/png" in output.data
    ]

    assert len(images) >= 5


def test_notebook_reaches_its_conclusions(executed):
    text = printed_text(executed)

    assert "Highest level supported: metric" in text
    assert "group_partial = ['A1 ~1']" in text
    assert "Highest level supported: strict" in text
    assert "LioInputError: latent means of 'A' cannot be compared" in text
