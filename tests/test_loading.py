"""`--impl` finds an implementation as a file, a package folder, a dotted name or a notebook, and a
broken or partial one fails only the tests it must."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cnnspec.implementation import LoadFailed, MissingFunction, load_implementation

ROOT = Path(__file__).resolve().parents[1]
RELU_ONLY = "import numpy as np\n\ndef relu(X):\n    return np.maximum(X, 0), X > 0\n"


def test_default_is_the_reference():
    impl = load_implementation(None)
    assert impl.name.startswith("the reference")
    assert impl.conv2d.__module__ == "cnnspec.reference.cnn"


def test_the_reference_by_its_module_name_is_the_reference():
    impl = load_implementation("cnnspec.reference")
    assert impl.load_error is None and impl.name == "cnnspec.reference"
    assert impl.conv2d is load_implementation(None).conv2d


def test_file_package_and_dotted_name(tmp_path, monkeypatch):
    (tmp_path / "one.py").write_text(RELU_ONLY)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from .layers import relu\n")
    (tmp_path / "pkg" / "layers.py").write_text(RELU_ONLY)
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec in (tmp_path / "one.py", tmp_path / "pkg", "one"):
        impl = load_implementation(str(spec))
        assert impl.load_error is None, impl.load_error
        assert impl.relu.__name__ == "relu"


def test_missing_function_names_itself_and_the_implementation(tmp_path):
    path = tmp_path / "half.py"
    path.write_text(RELU_ONLY)
    impl = load_implementation(str(path))
    with pytest.raises(MissingFunction, match=f"conv2d is not defined in {path}"):
        impl.conv2d


@pytest.mark.parametrize("source,needle", [("def relu(:\n", "SyntaxError"),
                                           ("import no_such_module_xyz\n", "ModuleNotFoundError"),
                                           ("raise SystemExit(3)\n", "SystemExit")])
def test_a_broken_submission_fails_every_function_with_the_reason(tmp_path, source, needle):
    path = tmp_path / "broken.py"
    path.write_text(source)
    impl = load_implementation(str(path))
    with pytest.raises(LoadFailed, match=needle):
        impl.relu


def test_missing_path_is_reported(tmp_path):
    impl = load_implementation(str(tmp_path / "nope.py"))
    with pytest.raises(LoadFailed, match="no such file"):
        impl.relu


def test_notebook_keeps_definitions_and_skips_top_level_work(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np\nimport pandas as pd"),
                nbformat.v4.new_code_cell("train = pd.read_csv('mnist_train.csv')"),
                nbformat.v4.new_code_cell(RELU_ONLY),
                nbformat.v4.new_code_cell("for epoch in range(10):\n    raise RuntimeError('trained!')")]
    path = tmp_path / "CNN from scratch.ipynb"
    nbformat.write(nb, path)
    impl = load_implementation(str(path))
    assert impl.load_error is None, impl.load_error
    out, _ = impl.relu(__import__("numpy").array([-1.0, 2.0]))
    assert out.tolist() == [0.0, 2.0]


def test_partial_implementation_fails_only_its_missing_functions(tmp_path):
    """Run the real suite on a relu-only module: relu passes, conv2d fails with the clear message."""
    path = tmp_path / "relu_only.py"
    path.write_text(RELU_ONLY + "\n\ndef relu_backward(dout, cache):\n"
                    "    if dout.shape != cache.shape:\n"
                    "        raise ValueError(f'dout must have shape {cache.shape}, got {dout.shape}')\n"
                    "    return (dout * cache).astype(dout.dtype)\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "spec_tests", "--impl", str(path),
                          "-p", "no:cacheprovider", "-k", "relu or test_conv2d_is_cross"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = run.stdout
    assert f"implementation under test: {path}" in out
    assert "conv2d is not defined in" in out
    assert "1 failed" in out and " passed" in out, out[-2000:]
