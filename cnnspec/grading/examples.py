"""Submissions made from the reference, for the grader's tests and benchmarks.

`seed_style_notebook(path)` writes a notebook the way the seed course's students hand one in: the
imports (Colab's among them), a Drive mount, a global generator and learning rate, the contract functions (the reference's text, split into cells at its section rulers),
then top-level CSV loading, a training loop, a plot and a shell line, none of which the grader may
run. `replace={old: new}` plants a bug (each `old` must occur in the reference's text).
"""
import re
from importlib import resources

import nbformat


def reference_source():
    """The text of the reference implementation (cnnspec/reference/cnn.py), from the package."""
    return (resources.files("cnnspec.reference") / "cnn.py").read_text(encoding="utf-8")


def seed_style_notebook(path, replace=None):
    """Write a seed-style notebook of the reference to `path` and return `path`."""
    source = reference_source()
    for old, new in (replace or {}).items():
        if old not in source:
            raise ValueError(f"replace: {old!r} does not occur in the reference's text")
        source = source.replace(old, new)
    sections = re.split(r"\n(?=# -{20,}\n# [A-Z])", source)
    cells = ["import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt\n"
             "from google.colab import drive\n%matplotlib inline",
             "drive.mount('/content/drive')\nrng = np.random.default_rng(42)\n"
             "LEARNING_RATE = 0.1 / 10"] + sections + [
        "train = pd.read_csv('mnist_train.csv')\ntest = pd.read_csv('mnist_test.csv')\n"
        "X_train = train.values[:, 1:].reshape(-1, 1, 28, 28).astype(np.float32) / 255\n"
        "y_train = train['label'].values",
        "params = initialize_parameters(seed=0)\nlosses = []\nfor epoch in range(10):\n"
        "    order = rng.permutation(len(X_train))\n"
        "    for i in range(0, len(X_train), 64):\n"
        "        batch = order[i:i+64]\n"
        "        loss, params = forward_backward(X_train[batch], y_train[batch], params, "
        "LEARNING_RATE)\n"
        "        losses.append(loss)\n    print(epoch, loss)",
        "plt.plot(losses)\nplt.title('training loss')\nplt.show()",
        "!nvidia-smi"]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# CNN from scratch")]
    notebook.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(notebook, str(path))
    return path
