"""cnnspec.notebook keeps a notebook's definitions and simple globals, stubs the imports that cannot
be satisfied, drops (and reports) its top-level work, and points errors at "code cell N, line M"."""
import importlib.util
import traceback
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cnnspec import reference
from cnnspec.implementation import load_implementation
from cnnspec.notebook import load_notes, notebook_to_source, read_notebook
from cnnspec.sandbox.proxy import RemoteImplementation

REFERENCE_SOURCE = Path(importlib.util.find_spec("cnnspec.reference.cnn").origin).read_text()


def write_notebook(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# CNN from scratch")]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(path))
    return path


def load(path):
    """(namespace, report): the generated source run the way the in-process loader runs it."""
    source, report = read_notebook(path)
    namespace = {"__name__": "notebook_under_test"}
    exec(compile(source, str(path), "exec"), namespace)
    return namespace, report


def seed_style_notebook(path):
    """A correct notebook as students write it: Colab and Drive, a global generator used by
    initialize_parameters, the reference's functions, then data loading, training and plots at
    top level, none of which may run (the CSVs do not exist; the loop would fail the load)."""
    functions = REFERENCE_SOURCE.replace(
        "    rng = np.random.default_rng(seed)\n",
        "    gen = rng if seed is None else np.random.default_rng(seed)\n").replace(
        "rng.standard_normal(shape)", "gen.standard_normal(shape)")
    assert "gen = rng if seed is None" in functions and "gen.standard_normal(shape)" in functions
    return write_notebook(
        path,
        "from google.colab import drive\ndrive.mount('/content/drive')",
        "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt\n%matplotlib inline",
        "SEED = 42\nrng = np.random.default_rng(SEED)\nLR = 0.1 * 64 / 64",
        functions,
        "train = pd.read_csv('/content/drive/MyDrive/mnist_train.csv')\n"
        "X_train = train.values[:, 1:].reshape(-1, 1, 28, 28).astype(np.float32) / 255\n"
        "y_train = train['label'].values",
        "params = initialize_parameters()\nlosses = []\nfor epoch in range(3):\n"
        "    raise RuntimeError('the training loop ran at load')",
        "plt.plot(losses)\nplt.show()")


def test_a_seed_style_notebook_loads_keeps_its_generator_stubs_colab_and_drops_training(tmp_path):
    path = seed_style_notebook(tmp_path / "hw3.ipynb")
    namespace, report = load(path)
    kept = {s.text for s in report.kept}
    assert {"SEED = 42", "rng = np.random.default_rng(SEED)", "LR = 0.1 * 64 / 64",
            "def initialize_parameters(seed=None): ...", "import numpy as np"} <= kept
    assert [(s.cell, s.line, s.text) for s in report.stubbed] == \
        [(1, 1, "from google.colab import drive")]
    dropped = {s.text: s for s in report.dropped}
    assert dropped["for epoch in range(3): ..."].kind == "loop"
    assert "pd.read_csv" in dropped["train = pd.read_csv('/content/drive/MyDrive/mnist_train.csv')"].why
    assert "initialize_parameters" in dropped["params = initialize_parameters()"].why
    assert "drive.mount('/content/drive')" in dropped and "plt.plot(losses)" in dropped
    assert not {"train", "X_train", "y_train", "params", "epoch"} & set(namespace)
    assert load_notes(namespace) == []     # nothing happened the report missed
    # The global generator exists and initialize_parameters uses it: two calls differ.
    first, second = namespace["initialize_parameters"](), namespace["initialize_parameters"]()
    assert {k: v.shape for k, v in first.items()} == {k: v.shape for k, v in second.items()}
    assert not np.array_equal(first["W1"], second["W1"])
    with pytest.raises(ImportError, match=r"drive is a stand-in for `from google.colab import "
                                          r"drive` \(code cell 1, line 1\)"):
        namespace["drive"].mount("/content/drive")


def test_the_seed_style_notebook_runs_the_same_in_process_and_in_the_sandbox(tmp_path):
    path = seed_style_notebook(tmp_path / "hw3.ipynb")
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((2, 1, 6, 6)), rng.standard_normal((3, 1, 3, 3)), np.zeros(3)
    in_process, isolated = load_implementation(str(path)), RemoteImplementation(str(path))
    try:
        for impl in (in_process, isolated):
            assert impl.load_error is None, impl.load_error
            assert "code cell 1, line 1: stubbed import 'from google.colab import drive'" in \
                "\n".join(impl.notes)
            np.testing.assert_array_equal(impl.conv2d(X, W, b)[0], reference.conv2d(X, W, b)[0])
            seeded = impl.initialize_parameters(seed=5)
            for name, value in reference.initialize_parameters(seed=5).items():
                np.testing.assert_array_equal(seeded[name], value)
            assert impl.initialize_parameters()["W1"].shape == (8, 1, 3, 3)   # the global rng
    finally:
        isolated.close()


def test_colab_is_stubbed_even_where_it_is_installed(tmp_path, monkeypatch):
    (tmp_path / "site" / "google" / "colab").mkdir(parents=True)
    (tmp_path / "site" / "google" / "colab" / "__init__.py").write_text("drive = 'mounted'\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    path = write_notebook(tmp_path / "nb.ipynb", "import os, google.colab\n"
                          "from google.colab import drive as d")
    namespace, report = load(path)
    assert [s.why for s in report.stubbed] == ["google.colab: it only works inside Google Colab; "
                                               "using it fails when graded"] * 2
    assert namespace["os"].sep == "/"          # `import os, google.colab`: os is imported
    with pytest.raises(ImportError, match=r"^d is a stand-in for `from google.colab import drive "
                                          r"as d` \(code cell 1, line 2\): google.colab is not "
                                          "imported when grading: it only works inside Google"):
        namespace["d"].mount("/content/drive")
    with pytest.raises(ImportError, match="google is a stand-in for `import os, google.colab`"):
        namespace["google"].colab


def test_a_function_that_uses_a_stubbed_import_fails_only_when_called(tmp_path):
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "import numpy as np\nimport no_such_helper_xyz as helper\nfrom no_such_bar_xyz import bar",
        "def uses_helper(X):\n    return helper.load(X)\n\n"
        "def uses_bar(n):\n    return [i for i in bar(range(n))]\n\n"
        "def relu(X):\n    return np.maximum(X, 0)")
    namespace, report = load(path)
    assert [s.where for s in report.stubbed] == ["code cell 1, line 2", "code cell 1, line 3"]
    assert "no_such_helper_xyz is not installed" in report.stubbed[0].why
    assert namespace["relu"](np.array([-1.0, 2.0])).tolist() == [0.0, 2.0]
    with pytest.raises(ImportError) as error:
        namespace["uses_helper"](1)
    assert str(error.value).startswith(
        "helper is a stand-in for `import no_such_helper_xyz as helper` (code cell 1, line 2): "
        "it failed (ModuleNotFoundError: No module named 'no_such_helper_xyz')")
    with pytest.raises(ImportError, match=r"bar is a stand-in for `from no_such_bar_xyz import "
                                          r"bar` \(code cell 1, line 3\)"):
        namespace["uses_bar"](3)


def test_a_kept_global_that_raises_at_load_fails_only_the_functions_that_use_it(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb",
                          "import numpy as np\nSHAPE = (2, -1)\nW = np.zeros(SHAPE)\nK = 3",
                          "def uses_w(X):\n    return X @ W\n\ndef uses_k():\n    return K")
    namespace, report = load(path)
    assert "W = np.zeros(SHAPE)" in {s.text for s in report.kept}   # pure, so kept and run
    assert namespace["uses_k"]() == 3
    with pytest.raises(NameError, match=r"W was not set by `W = np.zeros\(SHAPE\)` \(code cell 1, "
                                        r"line 3\): it raised ValueError: negative dimensions"):
        namespace["uses_w"](np.ones((3, 2)))
    notes = load_notes(namespace)
    assert len(notes) == 1 and notes[0].startswith("code cell 1, line 3: `W = np.zeros(SHAPE)`")


def test_tracebacks_name_the_cell_and_line_and_show_the_students_code(tmp_path):
    path = write_notebook(
        tmp_path / "hw3.ipynb",
        "import numpy as np",
        "data = np.loadtxt('train.csv')\nprint(data.shape)\n\n"
        "def relu(X):\n    return np.maximum(X, 0)\n\n"
        "LR = 0.01; history = load_history(); EPOCHS = 3\n"
        "def relu_backward(dout, cache):\n    scale = 1.0\n    return dout * cache[0]")
    namespace, _ = load(path)
    with pytest.raises(TypeError) as error:
        namespace["relu_backward"](np.ones(2), 5)
    frame = traceback.extract_tb(error.value.__traceback__)[-1]
    assert (frame.filename, frame.lineno, frame.name) == ("hw3.ipynb, code cell 2", 10,
                                                          "relu_backward")
    assert frame.line == "return dout * cache[0]"
    assert "history" not in namespace and namespace["LR"] == 0.01 and namespace["EPOCHS"] == 3


def test_top_level_loadtxt_is_dropped_not_run(tmp_path):
    (tmp_path / "train.csv").write_text("1,2\n3,4\n")      # it would load, if it ran
    path = write_notebook(tmp_path / "nb.ipynb",
                          "import numpy as np",
                          f"data = np.loadtxt({str(tmp_path / 'train.csv')!r}, delimiter=',')\n"
                          "N = data.shape[0]\nX = data[:, 1:] / 255.0")
    namespace, report = load(path)
    assert not {"data", "N", "X"} & set(namespace)
    why = {s.line: s.why for s in report.dropped}
    assert why == {1: "it calls np.loadtxt, which reads or writes files",
                   2: "it uses data, which was not kept", 3: "it uses data, which was not kept"}


SETUP = ("import math\nimport numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt\n"
         "from functools import partial\nBATCH = 64\nSHAPE = (8, 1, 3, 3)\nSHAPES = {'W1': SHAPE}\n"
         "def initialize_parameters(seed=None):\n    return {}")
GLOBALS = [  # (statement, kept?, the report's reason when dropped)
    ("LR = 0.1 * BATCH / 64", True, ""),
    ("rng = np.random.default_rng(42)", True, ""),
    ("W_SHAPE = tuple(2 * s for s in SHAPE)", True, ""),
    ("EPS = np.finfo(np.float32).eps", True, ""),
    ("KEYS = sorted(SHAPES, key=lambda k: k.lower())", True, ""),
    ("ROOT2 = math.sqrt(2)", True, ""),
    ("act = lambda x: np.maximum(x, 0)", True, ""),
    ("FIRST, *REST = SHAPE", True, ""),
    ("X = np.loadtxt('x.csv')", False, "it calls np.loadtxt, which reads or writes files"),
    ("W = np.load('w.npy')", False, "it calls np.load, which reads or writes files"),
    ("df = pd.read_csv('train.csv')", False, "it calls pd.read_csv; only NumPy, math and pure "
                                             "standard-library calls run when grading"),
    ("fig = plt.figure()", False, "it calls plt.figure; only NumPy"),
    ("f = open('x.csv')", False, "it calls open; only NumPy"),
    ("params = initialize_parameters(0)", False, "it calls initialize_parameters, the notebook's "
                                                 "own code: top-level work does not run"),
    ("ps = list(map(initialize_parameters, [1]))", False, "it passes initialize_parameters"),
    ("init = partial(initialize_parameters, 0)", False, "it passes initialize_parameters"),
    ("N = len(X_train)", False, "it uses X_train, which was not kept"),
    ("SHAPE2['W2'] = (16, 8, 3, 3)", False, "it assigns to SHAPE2['W2'], not to a plain name"),
    ("y = (n := 3)", False, "it binds or waits inside an expression"),
]


@pytest.mark.parametrize("statement,kept,why", GLOBALS, ids=[g[0] for g in GLOBALS])
def test_which_globals_are_kept(tmp_path, statement, kept, why):
    path = write_notebook(tmp_path / "nb.ipynb", SETUP, statement)
    namespace, report = load(path)
    in_cell_2 = [s for s in report.kept + report.dropped if s.cell == 2]
    assert len(in_cell_2) == 1
    assert (in_cell_2[0] in report.kept) == kept
    assert in_cell_2[0].why.startswith(why)
    name = statement.split("=")[0].split("[")[0].split(",")[0].strip()
    assert (name in namespace) == kept


def test_a_try_block_of_imports_keeps_the_students_own_fallback(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb",
                          "try:\n    import no_such_fast_xyz as fast\nexcept ImportError:\n"
                          "    fast = None\n\ndef speed():\n    return fast",
                          "try:\n    data = open('x.csv').read()\nexcept OSError:\n    data = ''")
    namespace, report = load(path)
    assert namespace["speed"]() is None and "data" not in namespace
    assert [(s.cell, s.kind) for s in report.kept] == [(1, "try block"), (1, "definition")]
    assert [(s.cell, s.kind) for s in report.dropped] == [(2, "try block")]


def test_future_imports_hold_for_later_cells(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", "from __future__ import annotations",
                          "def f(x: NotDefinedAnywhere) -> int:\n    return 1")
    namespace, _ = load(path)
    assert namespace["f"](0) == 1      # without the future import the def itself would fail


def test_keeps_definitions_and_constants_drops_side_effects(tmp_path):
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "import numpy as np\nimport pandas as pd\n%matplotlib inline\nfrom math import sqrt",
        "LR = 0.01\nSHAPES = {'W1': (8, 1, 3, 3)}\nEPS = 1e-7 * LR\nDT = np.float32",
        "train = pd.read_csv('mnist_train.csv')\nX = train.values[:, 1:] / 255.0",
        "@staticmethod\ndef relu(X):\n    return np.maximum(X, 0), X > 0\n\nclass Net:\n    pass",
        "for epoch in range(10):\n    print(epoch)\nplt.plot([1, 2])",
        "!pip install torch\nrng = np.random.default_rng(0)\nfiles = !ls",
    )
    source, notes = notebook_to_source(path)
    namespace = {}
    exec(compile(source, "nb", "exec"), namespace)   # the kept source runs without the data
    assert {"np", "pd", "sqrt", "LR", "SHAPES", "EPS", "DT", "relu", "Net", "rng"} <= set(namespace)
    assert "train" not in namespace and "epoch" not in namespace and "files" not in namespace
    assert notes == [
        "code cell 1, line 3: dropped magic '%matplotlib inline'",
        "code cell 3, line 1: dropped assignment \"train = pd.read_csv('mnist_train.csv')\" "
        "(it calls pd.read_csv; only NumPy, math and pure standard-library calls run when grading)",
        "code cell 3, line 2: dropped assignment 'X = train.values[:, 1:] / 255.0' "
        "(it uses train, which was not kept)",
        "code cell 5, line 1: dropped loop 'for epoch in range(10): ...'",
        "code cell 5, line 3: dropped expression 'plt.plot([1, 2])'",
        "code cell 6, line 1: dropped shell command '!pip install torch'",
        "code cell 6, line 3: dropped shell command 'files = !ls'"]
    _, report = read_notebook(path)
    assert report.summary() == ("nb.ipynb: kept 3 imports, 5 globals, 2 definitions; "
                                "dropped 7 statements")


def test_unparsable_cell_and_cell_magic_are_dropped_whole(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb",
                          "def good():\n    return 1",
                          "def broken(:\n    pass",
                          "%%time\ndef timed():\n    return 2")
    namespace, report = load(path)
    assert "good" in namespace and "broken" not in namespace and "timed" not in namespace
    assert report.lines() == [
        "code cell 2, line 1: dropped the whole cell (it does not parse: invalid syntax)",
        "code cell 3, line 1: dropped the whole cell (cell magic '%%time')"]


def test_magic_inside_a_function_keeps_the_function(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", "def f():\n    %time x = 1\n    return 3")
    namespace, _ = load(path)
    assert namespace["f"]() == 3


def test_not_a_notebook_is_a_clear_error(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable Jupyter notebook"):
        notebook_to_source(path)
