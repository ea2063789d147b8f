"""Integrity flags: a disguised copy of the reference is flagged, two near-identical submissions
are listed as a pair with the functions they share, and independent honest implementations are
neither."""
import io
import os
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

from cnnspec.grading import integrity

PROJECT = Path(__file__).resolve().parents[2]
INDEPENDENT = (PROJECT / "cnnspec" / "selftest" / "independent.py").read_text()
LOOPS = (PROJECT / "tests" / "corpus" / "loops.py").read_text()
RENAMES = {"X": "inputs", "W": "kernel", "b": "bias", "dout": "upstream", "cache": "saved",
           "out": "result", "params": "weights", "stride": "step", "padding": "pad_width"}


def disguise(source):
    """`source` as a copier hands it in: names changed, comments and docstrings gone, indented by
    two spaces, blank lines doubled. It still compiles."""
    tokens = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            continue
        if token.type == tokenize.NAME and token.string in RENAMES:
            token = token._replace(string=RENAMES[token.string])
        tokens.append(token[:2])
    text = tokenize.untokenize(tokens)
    text = re.sub(r'(?s)""".*?"""', '""', text)
    lines = []
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        lines.append(" " * (indent // 2) + line.lstrip(" "))
        if not line.strip():
            lines.append("")
    text = "\n".join(lines)
    compile(text, "disguised", "exec")
    assert text != source
    return text


def test_the_normalised_form_ignores_names_comments_and_layout():
    a = "def relu(X):\n    # keep the positive part\n    return X * (X > 0), X\n"
    b = 'def relu(z):\n  """ReLU."""\n  return (z * (z>0),\n          z)\n'
    c = "def relu(X):\n    return X * (X >= 0), X\n"
    norm = integrity.normalised_functions
    assert norm(a)["relu"] == norm(b)["relu"] != norm(c)["relu"]


def test_a_disguised_copy_of_the_reference_is_flagged():
    copy = disguise(integrity.reference_source())
    found = integrity.check({"copier": copy, "honest": INDEPENDENT})
    assert set(found["reference"]) == {"copier"}
    assert {"conv2d", "conv2d_backward", "maxpool2d_backward",
            "softmax_cross_entropy_loss"} <= set(found["reference"]["copier"])
    assert "matches the reference" in found["flags"]["copier"] and found["flags"]["honest"] == ""


def test_a_copied_notebook_is_flagged_through_the_source_it_keeps(tmp_path):
    cells = [nbformat.v4.new_code_cell(disguise(integrity.reference_source())),
             nbformat.v4.new_code_cell("for epoch in range(3):\n    print(epoch)")]
    path = tmp_path / "hw3.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(path))
    source = integrity.submission_source(path)
    assert "def conv2d" in source and "for epoch" not in source
    found = integrity.check_paths([{"name": "alice", "submission": str(path)},
                                   {"name": "bob", "submission": str(tmp_path / "missing.py")}])
    assert list(found["reference"]) == ["alice"] and found["pairs"] == []


def test_two_near_identical_submissions_are_listed_as_a_pair_with_their_functions():
    # bob copies alice, renames her variables and rewrites one function (predict) his own way
    bob = disguise(LOOPS)
    bob = re.sub(r"(?s)def predict ?\(.*?(?=\ndef )",
                 "def predict(inputs, weights, batch_size=128):\n"
                 "  labels = []\n  for start in range(0, len(inputs), batch_size):\n"
                 "    scores = logits(inputs[start:start + batch_size], weights)\n"
                 "    labels.append(scores.argmax(axis=1))\n  return np.concatenate(labels)\n",
                 bob)
    assert "scores.argmax" in bob
    found = integrity.check({"alice": LOOPS, "bob": bob, "carol": INDEPENDENT})
    assert [(a, b) for a, b, _, _ in found["pairs"]] == [("alice", "bob")]
    _, _, similarity, functions = found["pairs"][0]
    assert similarity > 0.9
    assert "conv2d_backward" in functions and "predict" not in functions
    assert "similar to bob" in found["flags"]["alice"] and found["flags"]["carol"] == ""


def test_independent_honest_implementations_are_not_flagged():
    found = integrity.check({"independent": INDEPENDENT, "loops": LOOPS})
    assert found["reference"] == {} and found["pairs"] == []
    assert set(found["flags"].values()) == {""}


@pytest.mark.parametrize("source", ["def conv2d(:\n", "x = 1\n", "", "(" * 10_000])
def test_code_without_comparable_functions_gives_no_findings(source):
    assert integrity.fingerprint(source) == {}
    found = integrity.check({"a": source, "b": source})
    assert found["reference"] == {} and found["pairs"] == []


def test_files_that_are_not_regular_or_too_large_are_not_read(tmp_path):
    big = tmp_path / "big.py"
    big.write_text("x = 1\n" * (integrity.MAX_BYTES // 6 + 10))
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    (tmp_path / "ok.py").write_text("def relu(X):\n    return X\n")
    assert integrity.submission_source(big) == ""
    assert integrity.submission_source(fifo) == ""          # would block if it were opened
    assert "def relu" in integrity.submission_source(tmp_path)


def test_short_functions_everyone_writes_alike_are_not_evidence():
    trivial = ("import numpy as np\n\ndef relu(X):\n    return np.maximum(X, 0), X\n\n"
               "def relu_backward(dout, cache):\n    return dout * (cache > 0)\n")
    assert integrity.fingerprint(trivial) == {}
    found = integrity.check({"a": trivial, "b": trivial.replace("X", "Z")})
    assert found["pairs"] == [] and found["reference"] == {}


def test_a_flag_names_at_most_three_partners():
    subs = {f"s{i}": LOOPS.replace("X", f"X{i}") for i in range(6)}
    found = integrity.check(subs)
    assert len(found["pairs"]) == 15
    assert found["flags"]["s0"].count("similar to") == 3
    assert found["flags"]["s0"].endswith("and 2 more pair(s)")
