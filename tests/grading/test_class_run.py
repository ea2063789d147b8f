"""A class run: students named from their submission paths, a folder of one notebook or module
graded as that file, one progress line per submission, --resume reusing what was graded with the
same seed, rubric and content, and Ctrl-C stopping cleanly with a summary of what was graded.

The end-to-end runs grade only the ReLU tests (`--tests relu`), to keep them short."""
import json
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from cnnspec.grading.examples import seed_style_notebook
from cnnspec.grading.grade import single_file, submission_names
from cnnspec.sandbox.files import SubmissionRefused

from test_grade import SANDBOX, load_results, run_grader

BUG = {"return np.maximum(X, 0), (X > 0, X.dtype)": "return np.abs(X), (X > 0, X.dtype)"}


# -- names and folders ------------------------------------------------------------------------------

def test_students_are_named_by_the_folder_above_a_file_name_they_share():
    assert submission_names(["class/alice/hw3.ipynb", "class/bob/hw3.ipynb", "late/solo.py",
                             "class/carol/", "x/my:cnn.py"]) == [
        "alice", "bob", "solo", "carol", "my_cnn"]
    # the folder names clash too: made unique; a file name used once keeps its own name
    assert submission_names(["2024/alice/hw3.ipynb", "2025/alice/hw3.ipynb", "dan/cnn.py"]) == [
        "alice", "alice-2", "cnn"]


def test_a_folder_of_one_notebook_or_one_module_is_that_file(tmp_path):
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "hw3.ipynb").write_text("{}")
    (tmp_path / "nb" / "data.csv").write_text("1,2")
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "cnn.py").write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "layers.py").write_text("")
    assert single_file(tmp_path / "nb") == tmp_path / "nb" / "hw3.ipynb"
    assert single_file(tmp_path / "mod") == tmp_path / "mod" / "cnn.py"
    assert single_file(tmp_path / "pkg") == tmp_path / "pkg"
    assert single_file(tmp_path / "mod" / "cnn.py") == tmp_path / "mod" / "cnn.py"


@pytest.mark.parametrize("files, counts", [
    (["a.ipynb", "b.ipynb"], "2 notebook(s) and 0 .py file(s)"),
    (["a.ipynb", "helpers.py"], "1 notebook(s) and 1 .py file(s)"),
    (["notes.txt"], "0 notebook(s) and 0 .py file(s)")], ids=["two-notebooks", "mixed", "none"])
def test_a_folder_of_several_or_no_files_is_refused_saying_what_it_holds(tmp_path, files, counts):
    for name in files:
        (tmp_path / name).write_text("")
    with pytest.raises(SubmissionRefused, match=re.escape(f"without __init__.py holding {counts}")):
        single_file(tmp_path)


# -- end to end ------------------------------------------------------------------------------------

def class_of_three(root):
    """alice/hw3.ipynb (right), bob/hw3.ipynb (a wrong relu), carol/ (a folder of one notebook)."""
    for student in ("alice", "bob", "carol"):
        (root / student).mkdir(parents=True)
    seed_style_notebook(root / "alice" / "hw3.ipynb")
    seed_style_notebook(root / "bob" / "hw3.ipynb", replace=BUG)
    seed_style_notebook(root / "carol" / "hw3.ipynb")
    return [root / "alice" / "hw3.ipynb", root / "bob" / "hw3.ipynb", root / "carol"]


def scores(out):
    return {name: json.loads((out / name / "results.json").read_text())["score"]
            for name in ("alice", "bob", "carol")}


@pytest.mark.slow
def test_a_class_run_names_students_reports_progress_and_resumes(tmp_path):
    subs, out = class_of_three(tmp_path / "class"), tmp_path / "grades"
    common = ["--out", out, "--tests", "relu", *SANDBOX]
    _, first = run_grader(*subs, *common, "--seed", "7", "--jobs", "2")
    progress = [line for line in first.stdout.splitlines() if line.startswith("[")]
    assert len(progress) == 3, first.stdout
    assert {line.split("]")[0] for line in progress} == {"[1/3", "[2/3", "[3/3"}
    assert all(" s; " in line and ("left" in line or line.endswith("done")) for line in progress)
    graded = scores(out)
    assert graded["alice"] == graded["carol"] > graded["bob"] > 0
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["submission"]) == ["alice", "bob", "carol"]
    assert "Notebook hw3.ipynb: kept" in json.loads(
        (out / "carol" / "results.json").read_text())["output"]

    # Same seed (taken from the earlier run), rubric, tests and files: nothing is graded again.
    _, again = run_grader(*subs, *common, "--resume")
    assert again.stdout.count("already graded (--resume)") == 3, again.stdout
    assert scores(out) == graded and len(pd.read_csv(out / "summary.csv")) == 3

    # bob fixes his notebook: only bob is graded again, and now scores like alice.
    seed_style_notebook(subs[1])
    _, fixed = run_grader(*subs, *common, "--resume")
    assert fixed.stdout.count("already graded (--resume)") == 2, fixed.stdout
    assert [line for line in fixed.stdout.splitlines() if "bob:" in line and " in " in line]
    assert scores(out) == dict(graded, bob=graded["alice"])


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_writes_the_summary_of_what_was_graded(tmp_path):
    subs, out = class_of_three(tmp_path / "class"), tmp_path / "grades"
    command = [sys.executable, "-m", "cnnspec", "grade", *map(str, subs), "--out", str(out),
               "--tests", "relu", "--seed", "7", "--jobs", "1", *SANDBOX]
    # Ctrl-C's SIGINT as a terminal sends it, whatever this test inherited: a shell's background
    # job (`.ci/run &`) ignores SIGINT, and an ignored SIGINT stays ignored in its children.
    grader = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = []
        for line in grader.stdout:      # wait for the first submission to be graded
            lines.append(line)
            if line.startswith("[1/3]"):
                break
        assert lines and lines[-1].startswith("[1/3]"), "".join(lines)
        time.sleep(2)                   # the second one is being graded now
        grader.send_signal(signal.SIGINT)
        stdout, stderr = grader.communicate(timeout=120)
    finally:
        if grader.poll() is None:
            grader.kill()
            grader.wait()
    assert grader.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr
    assert "interrupted: graded 1 of 3 submission(s)" in stderr and "--resume" in stderr
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["submission"]) == ["alice"]
    assert (out / "report.md").exists()
    # The stopped submission left no grading process behind and no record --resume would reuse.
    left = subprocess.run(["pgrep", "-f", f"--cnnspec-log {out}/"], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout
    assert not (out / "bob" / "graded.json").exists()
    assert (out / "alice" / "graded.json").exists()


@pytest.mark.slow
def test_a_submission_that_cannot_load_is_reported_once(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nraise RuntimeError('boom at import')\n")
    out = tmp_path / "grades"
    run_grader(bad, "--out", out, "--tests", "relu", "--seed", "3", *SANDBOX)
    doc = load_results(out, "bad")      # its tests: one per test, from graded.json
    assert doc["score"] == 0 and "LOAD PROBLEM: RuntimeError: boom at import" in doc["output"]
    scored = [t for t in doc["tests"] if t["max_score"] > 0]   # skipped tests score nothing
    assert scored and all(t["output"] == "not run: the submission failed to load (see "
                          "LOAD PROBLEM at the top)" for t in scored)
    assert "boom" not in json.dumps(doc["tests"])
