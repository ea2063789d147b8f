"""scripts/grade.py: points follow the rubric, every submission gets a valid results.json, the
hostile corpus cannot break the grader or cheat, and a seed-style notebook is graded fairly."""
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from cnnspec.grading.examples import seed_style_notebook
from cnnspec.grading.grade import unique_names
from cnnspec.grading.score import by_function, load_rubric, results_json, score
from cnnspec.sandbox import launch as sandbox

PROJECT = Path(__file__).resolve().parents[2]
HOSTILE = Path(__file__).resolve().parent / "hostile"
SANDBOXED = sandbox.bwrap_status()[0] and os.environ.get("CNNSPEC_BWRAP") != "off"


# -- points ------------------------------------------------------------------------------------

def fake_tests():
    tests = [{"nodeid": f"t::test_conv2d_backward_{o}_{i}", "function": "conv2d_backward",
              "output": o, "clauses": ["CONV-3"]} for o in ("dX", "dW", "db") for i in range(2)]
    tests.append({"nodeid": "t::test_conv2d_backward_shapes", "function": "conv2d_backward",
                  "output": None, "clauses": ["GEN-2"]})
    tests.append({"nodeid": "t::test_conv2d_golden", "function": "conv2d", "output": "out",
                  "clauses": ["GOLD-1"]})
    return tests


def test_partial_credit_follows_the_outputs():
    rubric = load_rubric()
    results = {t["nodeid"]: {"outcome": "failed" if t["output"] == "db" else "passed"}
               for t in fake_tests()}
    scored = score(fake_tests(), results, rubric)
    assert not any("golden" in t["nodeid"] for t in scored)      # GOLD clauses are not scored
    got, of = by_function(scored, rubric)["conv2d_backward"]
    share = rubric["outputs"]["conv2d_backward"]
    assert of == pytest.approx(rubric["functions"]["conv2d_backward"])
    assert got == pytest.approx(of * (1 - share["db"]))          # only db's share is lost


def test_a_rubric_file_overrides_the_defaults(tmp_path):
    path = tmp_path / "rubric.toml"
    path.write_text('[functions]\nconv2d_backward = 50\n[outputs]\n'
                    'conv2d_backward = { dX = 1, dW = 0, db = 0, other = 0 }\n')
    rubric = load_rubric(path)
    results = {t["nodeid"]: {"outcome": "passed" if t["output"] == "dX" else "failed"}
               for t in fake_tests()}
    got, of = by_function(score(fake_tests(), results, rubric), rubric)["conv2d_backward"]
    assert (got, of) == (pytest.approx(50), pytest.approx(50))
    path.write_text("[functions]\nconvolution = 5\n")
    with pytest.raises(ValueError, match="not in the contract"):
        load_rubric(path)


def test_results_json_has_the_gradescope_fields():
    rubric = load_rubric()
    scored = score(fake_tests(), {}, rubric, not_run="not run: the run was killed")
    doc = results_json(scored, rubric, "summary", 1.5)
    assert {"score", "max_score", "execution_time", "output", "tests"} <= set(doc)
    test = doc["tests"][0]
    assert {"name", "number", "score", "max_score", "status", "output", "visibility",
            "tags"} <= set(test)
    assert test["status"] == "failed" and test["output"] == "not run: the run was killed"
    assert test["tags"] == ["conv2d_backward"]


def test_submission_names_are_unique_folder_names():
    assert unique_names(["a/CNN from scratch.ipynb", "b/CNN from scratch.ipynb", "pkg/",
                         "x/my:cnn.py"]) == ["CNN from scratch", "CNN from scratch-2", "pkg",
                                             "my_cnn"]


# -- end to end ----------------------------------------------------------------------------------

def run_grader(*args, timeout=900):
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(PROJECT / "scripts" / "grade.py"), *map(str, args)],
                            capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    return time.monotonic() - started


def load_results(out, name):
    doc = json.loads((out / name / "results.json").read_text())
    assert isinstance(doc["score"], (int, float)) and doc["max_score"] > 0 and doc["tests"]
    return doc


@pytest.mark.slow
def test_a_seed_style_notebook_gets_full_marks_and_one_wrong_function_costs_its_points(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    seed_style_notebook(subs / "right.ipynb")
    seed_style_notebook(subs / "wrong.ipynb", replace={"return 100.0 * float(": "return float("})
    out = tmp_path / "grades"
    run_grader(subs / "right.ipynb", subs / "wrong.ipynb", "--out", out, "--jobs", "2",
               "--seed", "11")
    right, wrong = load_results(out, "right"), load_results(out, "wrong")
    failed = [t["name"] for t in right["tests"] if t["status"] != "passed"]
    assert failed == [] and right["score"] == pytest.approx(right["max_score"])
    assert "read_csv('mnist_train.csv')" in right["output"] and "for epoch" in right["output"]
    rubric = load_rubric()
    lost = {tag for t in wrong["tests"] if t["status"] != "passed" for tag in t["tags"]}
    assert lost == {"test_accuracy"}
    assert wrong["score"] == pytest.approx(right["score"] - rubric["functions"]["test_accuracy"],
                                           abs=0.02)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["submission"]) == ["right", "wrong"]
    assert (out / "report.md").exists() and (out / "scores.png").exists()
    assert (out / "clauses.png").exists() and "ACC-1" in (out / "report.md").read_text()


# The hostile corpus is graded on the tests of the functions it attacks, to keep this test fast.
HOSTILE_TESTS = "relu or conv2d_matches_scipy or softmax_cross_entropy_loss_matches"
CHEATS = ["import_reference", "read_golden", "patch_the_tests"]   # write files, read the disk


@pytest.mark.slow
def test_the_hostile_corpus_is_graded_with_clear_messages_and_changes_nothing(tmp_path):
    subs = tmp_path / "submissions"
    shutil.copytree(HOSTILE, subs, ignore=shutil.ignore_patterns("*.md", "__pycache__"))
    if not SANDBOXED:      # these write files and read the disk: only run them inside bwrap
        for name in CHEATS:
            (subs / f"{name}.py").unlink()
    canaries = [subs / "cnnspec-canary-subs.txt", tmp_path / "cnnspec-canary-instructor.txt",
                PROJECT / f"cnnspec-canary-{secrets.token_hex(4)}.txt"]
    for canary in canaries:
        canary.write_text("intact")
    out = tmp_path / "grades"
    submissions = sorted(subs.glob("*.py"))
    try:
        seconds = run_grader(*submissions, "--out", out, "--jobs", "2", "--seed", "3",
                             "--call-timeout", "2", "--memory-mb", "1024",
                             "--submission-timeout", "300", "--tests", HOSTILE_TESTS)
        assert all(c.read_text() == "intact" for c in canaries)
    finally:
        canaries[-1].unlink(missing_ok=True)
    assert seconds < 600
    assert not list(tmp_path.rglob("conftest.py")) and not Path("/tmp/conftest.py").exists()
    assert not Path("/tmp/cnnspec-pickle-bomb-went-off").exists()

    results = {p.stem: load_results(out, p.stem) for p in submissions}
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["submission"]) == sorted(results)
    def messages(name):
        return results[name]["output"] + "\n".join(t["output"] for t in results[name]["tests"])
    expected = {
        "loop_forever": "did not return within 2 s: killed",
        "exit_at_import": "exit code 3",
        "sys_exit_at_import": "SystemExit: this submission does not want to be graded",
        "exit_in_layer": "crashed the worker (exit code 7",
        "syntax_error": "SyntaxError",
        "missing_import": "No module named 'tensorflow_from_the_future'",
        "half_api": "conv2d is not defined in",
        "returns_lists": "list",
        "always_equal": "relu returned out as a submission.Yes",
    }
    for name, text in expected.items():
        assert text in messages(name), name
    # Out of memory, or still allocating when the 2 s ran out: either way a clear failure.
    assert re.search(r"MemoryError|did not return within 2 s", messages("allocate_forever"))
    assert "exit code 7" in messages("exit_in_layer") and "raised SystemExit(2)" in messages("exit_in_layer")
    assert results["half_api"]["score"] > 0 and results["flood_stdout"]["score"] > 0
    for name in ["returns_nan", "returns_lists", "always_equal", "pickle_bomb"] + \
            [c for c in CHEATS if c in results]:
        correct = [t for t in results[name]["tests"]
                   if t["status"] == "passed" and t["extra_data"]["output"] in ("out", "dX", "loss", "dZ")]
        assert correct == [], (name, [t["name"] for t in correct])
    if SANDBOXED:
        assert results["import_reference"]["score"] == 0
        assert "No module named 'reference'" in results["import_reference"]["output"]
        assert results["read_golden"]["score"] == 0
