"""spec_tests/notebook.py keeps a notebook's definitions and drops (and reports) everything else."""
import nbformat
import pytest

from cnnspec.notebook import notebook_to_source


def write_notebook(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# CNN from scratch")]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(path))
    return path


def test_keeps_definitions_and_constants_drops_side_effects(tmp_path):
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "import numpy as np\nimport pandas as pd\n%matplotlib inline\nfrom math import sqrt",
        "LR = 0.01\nSHAPES = {'W1': (8, 1, 3, 3)}\nEPS = 1e-7 * LR\nDT = np.float32",
        "train = pd.read_csv('mnist_train.csv')\nX = train.values[:, 1:] / 255.0",
        "@staticmethod\ndef relu(X):\n    return np.maximum(X, 0), X > 0\n\nclass Net:\n    pass",
        "for epoch in range(10):\n    print(epoch)\nplt.plot([1, 2])",
        "!pip install torch\nrng = np.random.default_rng(0)",
    )
    source, report = notebook_to_source(path)
    namespace = {}
    exec(compile(source, "nb", "exec"), namespace)   # the kept source runs without the data
    assert {"np", "pd", "sqrt", "LR", "SHAPES", "EPS", "DT", "relu", "Net"} <= set(namespace)
    assert "train" not in namespace and "rng" not in namespace and "epoch" not in namespace
    text = "\n".join(report)
    assert "read_csv('mnist_train.csv')" in text
    assert "loop 'for epoch in range(10): ...'" in text
    assert "magic '%matplotlib inline'" in text
    assert "shell command '!pip install torch'" in text
    assert "plt.plot" in text and "default_rng" in text


def test_unparsable_cell_and_cell_magic_are_dropped_whole(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb",
                          "def good():\n    return 1",
                          "def broken(:\n    pass",
                          "%%time\ndef timed():\n    return 2")
    source, report = notebook_to_source(path)
    namespace = {}
    exec(source, namespace)
    assert "good" in namespace and "broken" not in namespace and "timed" not in namespace
    assert any("cell 2 does not parse" in line for line in report)
    assert any("cell 3: dropped the whole cell (cell magic '%%time')" in line for line in report)


def test_assignment_from_a_dropped_name_is_dropped(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", "data = load()\nN = data + 1\nK = 10\nM = K * 2")
    source, report = notebook_to_source(path)
    namespace = {}
    exec(source, namespace)
    assert namespace["M"] == 20 and "N" not in namespace
    assert len(report) == 2


def test_magic_inside_a_function_keeps_the_function(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", "def f():\n    %time x = 1\n    return 3")
    source, _ = notebook_to_source(path)
    namespace = {}
    exec(source, namespace)
    assert namespace["f"]() == 3


def test_not_a_notebook_is_a_clear_error(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable Jupyter notebook"):
        notebook_to_source(path)
