"""cnnspec.check() without a kernel: what it copies, how it names things, what it refuses.
(tests/test_notebook_check.py drives a real Jupyter kernel.)"""
import sys
import textwrap
from pathlib import Path

import pytest

from cnnspec.checking import check, session_source

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import cs231n_layers  # noqa: E402
import nhwc_layers  # noqa: E402


def run_cells(*cells):
    """A namespace as a notebook session leaves it: the cells run, their text in `In`."""
    namespace = {"__name__": "__main__", "In": [""]}
    for cell in cells:
        cell = textwrap.dedent(cell).strip()
        namespace["In"].append(cell)
        exec(compile(cell, f"<cell {len(namespace['In']) - 1}>", "exec"), namespace)
    return namespace


def test_the_source_comes_with_what_it_uses():
    namespace = run_cells("""
        import numpy as np
        from math import sqrt as root
        SCALE = 2
        rng = np.random.default_rng(3)

        def _helper(x):
            return x * SCALE + root(4) + rng.random() * 0

        def relu(X):
            return np.maximum(_helper(X), 0), X
        """, "relu(np.ones(3))  # work at top level: not copied")
    source, notes = session_source(namespace, ["relu"])
    assert "import numpy as np" in source and "from math import sqrt as root" in source
    assert "SCALE = 2" in source and "rng = np.random.default_rng(3)" in source
    assert "def _helper(x):" in source and "def relu(X):" in source
    assert "relu(np.ones(3))" not in source and not notes
    scope = {}
    exec(source, scope)                                      # a module that stands on its own
    assert scope["relu"](scope["np"].array([1.0, -3.0]))[0].tolist() == [4.0, 0.0]


def test_what_cannot_be_copied_is_said():
    namespace = run_cells("""
        import numpy as np
        for K in [object()]:        # set, but not by an assignment that can be copied
            pass

        def relu(X):
            return np.maximum(X, 0) + 0 * (K is None), X
        """)
    _, notes = session_source(namespace, ["relu"])
    assert any(n.startswith("K (a object) could not be copied") for n in notes), notes


def test_classes_of_a_module_beside_the_notebook_are_copied_with_their_helpers():
    source, notes = session_source(vars(nhwc_layers), ["Conv2D", "MaxPool2D"])
    assert "class Conv2D:" in source and "def _taps(" in source and not notes


def test_unknown_names_and_functions_outside_the_api_are_refused():
    with pytest.raises(ValueError, match="no such function; expected one of conv2d, "):
        check("conv3d", namespace={})
    with pytest.raises(ValueError, match="predict is not part of the cs231n API"):
        check("predict", api="cs231n", namespace={})
    with pytest.raises(ValueError, match="check\\(api=...\\): unknown API 'cs23'"):
        check(api="cs23", namespace={})


@pytest.mark.slow
def test_one_function_in_its_own_name_through_a_profile(capsys):
    result = check("max_pool_backward_naive", api="cs231n", namespace=vars(cs231n_layers),
                   timeout=5)
    assert list(result) == ["maxpool2d_backward"] and result.passed
    printed = capsys.readouterr().out
    assert "checking 1 function through the cs231n API" in printed
    assert "  max_pool_backward_naive      passed (" in printed

    broken = dict(vars(cs231n_layers), In=[""])
    cell = textwrap.dedent("""
        def affine_backward(dout, cache):       # dw transposed
            x, w, b = cache
            return (dout @ w.T).reshape(x.shape), dout.T @ x.reshape(x.shape[0], -1), dout.sum(0)
        """)
    broken["In"].append(cell)
    exec(cell, broken)                  # no file behind it: found in the cell history
    result = check("affine_backward", api="cs231n", namespace=broken, show=False)
    status, detail = result["fully_connected_backward"]
    assert status == "failed" and detail.startswith("FAILED "), detail
    assert ": affine_backward returned dW " in detail and "[SPEC FC-3" in detail, detail
