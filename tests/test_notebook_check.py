"""cnnspec.check() from inside a notebook: a real Jupyter kernel, driven by nbclient.

The notebook defines some contract functions (two right, one that loops forever, one that ends
the process) and calls cnnspec.check(). The check runs the suite in other processes, so the
kernel prints one line per function and is still alive afterwards.
"""
import textwrap

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

CELLS = [
    """
    import os
    import numpy as np
    import cnnspec
    """,
    """
    def relu(X):
        return np.maximum(X, 0), X

    def relu_backward(dout, cache):
        if dout.shape != cache.shape:
            raise ValueError(f"dout must have the shape of X, {cache.shape}; got {dout.shape}")
        return dout * (cache > 0)
    """,
    """
    def fully_connected_forward(X, W, b):
        return X @ W + b, (X, W)

    def fully_connected_backward(dZ, cache):
        while True:          # forgot to advance the loop
            pass
    """,
    """
    def softmax_cross_entropy_loss(Z, y):
        os._exit(3)          # ends the process that runs it
    """,
    """
    result = cnnspec.check(timeout=2)
    """,
    """
    one = cnnspec.check("relu_backward", timeout=2)
    """,
    """
    print("kernel alive:", 6 * 7, result["relu"][0], one["relu_backward"][0], len(one))
    """,
]


def _text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def _lines(report):
    """{function: its line} from check()'s report (lines indented by two spaces)."""
    return {line.split()[0]: line for line in report.splitlines()
            if line.startswith("  ") and not line.startswith("   ") and line.split()}


@pytest.mark.slow
def test_check_from_a_notebook_survives_a_loop_and_a_crash(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in CELLS]
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    report = _text(notebook.cells[4])
    lines = _lines(report)
    assert report.startswith("cnnspec: checking 13 functions in a separate process"), report
    assert set(lines) >= {"relu", "conv2d", "fully_connected_backward"}, report
    assert lines["relu"].split()[1:3] == ["passed", "(8"] or "passed" in lines["relu"], report
    assert "passed" in lines["relu_backward"], report
    assert "timed out: fully_connected_backward did not return within 2 s" in \
        lines["fully_connected_backward"], report
    assert "crashed the process: softmax_cross_entropy_loss crashed the worker (exit code 3" in \
        lines["softmax_cross_entropy_loss"], report
    for missing in ("conv2d", "maxpool2d_backward", "predict"):
        assert "not defined in this session" in lines[missing], report
    # no validation in fully_connected_forward: its error tests fail, with a message
    assert lines["fully_connected_forward"].split()[1] == "FAILED", report

    single = _text(notebook.cells[5])
    assert single.startswith("cnnspec: checking 1 function in a separate process"), single
    assert set(_lines(single)) == {"relu_backward"}, single
    assert "passed" in _lines(single)["relu_backward"], single

    # the kernel went on, with both results
    assert _text(notebook.cells[6]).strip() == "kernel alive: 42 passed passed 1"
