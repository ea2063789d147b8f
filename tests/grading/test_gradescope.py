"""cnnspec gradescope: the autograder zip, unpacked into a folder standing in for Gradescope's
/autograder, grades a submission end to end with run_autograder and writes a results.json that
Gradescope's documented format accepts (test_score.RESULTS_SCHEMA), with one entry per rubric
function and nothing a student must not see; and it writes one also when grading cannot happen.

setup.sh's installs are skipped (cnnspec is installed here): run_autograder runs this Python
(CNNSPEC_PYTHON) on the stand-in root (CNNSPEC_ROOT)."""
import json
import os
import stat
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from cnnspec.grading import gradescope
from cnnspec.grading.examples import seed_style_notebook
from cnnspec.grading.score import load_rubric

from test_grade import PROJECT, SANDBOXED
from test_score import check_results, seen_by_students

SEED = 48213977
WRONG_ACCURACY = {"return 100.0 * float(": "return float("}   # test_accuracy alone is wrong


def cnnspec(*args, code=0):
    result = subprocess.run([sys.executable, "-m", "cnnspec", *map(str, args)],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert result.returncode == code, result.stdout + result.stderr
    return result


def unpack(zip_path, root):
    """The zip laid out as Gradescope does: ROOT/source holds it, ROOT/run_autograder is a copy."""
    (root / "submission").mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    (root / "run_autograder").write_bytes((root / "source" / "run_autograder").read_bytes())
    return root


def start_autograder(root, python=sys.executable):
    env = dict(os.environ, CNNSPEC_ROOT=str(root), CNNSPEC_PYTHON=str(python))
    return subprocess.Popen(["bash", str(root / "run_autograder")], cwd=root, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(process, root, timeout=900):
    stdout, _ = process.communicate(timeout=timeout)
    doc = json.loads((root / "results" / "results.json").read_text())
    check_results(doc)
    return doc, stdout


# -- the zip ---------------------------------------------------------------------------------------

def test_the_zip_holds_setup_run_autograder_the_rubric_and_the_seed(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[functions]\nrelu = 5\n[gradescope]\nhidden_inputs = "after_due_date"\n')
    out = tmp_path / "autograder.zip"
    cnnspec("gradescope", "--rubric", rubric, "--seed", SEED, "--out", out, "--from-pypi",
            "--submission", "hw3.ipynb")
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        config = json.loads(archive.read(gradescope.CONFIG))
        assert archive.read("rubric.toml").decode() == rubric.read_text()
    assert names == {"setup.sh", "run_autograder", gradescope.CONFIG, "rubric.toml"}
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert config == {"seed": SEED, "submission": "hw3.ipynb", "cnnspec": gradescope.__version__,
                      "rubric": "rubric.toml"}
    assert "apt-get install -y --no-install-recommends bubblewrap" in setup
    assert f"pip install 'cnnspec=={gradescope.__version__}'" in setup
    for script in ("setup.sh", "run_autograder"):
        with zipfile.ZipFile(out) as archive:
            (tmp_path / script).write_bytes(archive.read(script))
        syntax = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True,
                                text=True)
        assert syntax.returncode == 0, (script, syntax.stderr)


@pytest.mark.parametrize("args, says", [
    (["--seed", "11"], "--seed 11: expected at least 1000"),
    (["--seed", str(SEED), "--wheel", "not-a-wheel.txt"], "expected a .whl file"),
])
def test_a_zip_that_would_not_work_is_refused(tmp_path, args, says):
    result = cnnspec("gradescope", "--out", tmp_path / "a.zip", *args, code=2)
    assert says in result.stderr and not (tmp_path / "a.zip").exists()


def test_a_wrong_rubric_is_refused_when_the_zip_is_built_not_on_gradescope(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[gradescope]\nvisibility = "students"\n')
    result = cnnspec("gradescope", "--rubric", rubric, "--seed", SEED, "--out",
                     tmp_path / "a.zip", "--from-pypi", code=2)
    assert "[gradescope] visibility" in result.stderr and "'students'" in result.stderr


# -- the submission in the container ---------------------------------------------------------------

def test_the_submission_is_the_named_file_or_the_only_notebook(tmp_path):
    folder = tmp_path / "submission"
    (folder / "extra").mkdir(parents=True)
    (folder / "extra" / "hw3.ipynb").write_text("{}")
    (folder / "notes.txt").write_text("hi")
    assert gradescope.find_submission(folder, "hw3.ipynb") == folder / "extra" / "hw3.ipynb"
    with pytest.raises(ValueError, match="asks for a file named cnn.ipynb; the submission has "
                                         "hw3.ipynb, notes.txt"):
        gradescope.find_submission(folder, "cnn.ipynb")
    (folder / "a.ipynb").write_text("{}")
    assert gradescope.find_submission(folder) == folder / "a.ipynb"
    (folder / "b.ipynb").write_text("{}")
    with pytest.raises(ValueError) as error:
        gradescope.find_submission(folder)
    assert "2 notebook(s)" in str(error.value) and str(tmp_path) not in str(error.value)


def test_an_empty_submission_or_no_cnnspec_still_gives_a_results_json(tmp_path):
    out = tmp_path / "autograder.zip"
    cnnspec("gradescope", "--seed", SEED, "--out", out, "--from-pypi")
    root = unpack(out, tmp_path / "autograder")
    doc, stdout = finish(start_autograder(root), root)
    assert doc["score"] == 0 and "nothing was submitted" in doc["output"]
    (root / "results" / "results.json").unlink()
    doc, _ = finish(start_autograder(root, python=tmp_path / "no-python"), root)
    assert doc["score"] == 0 and "failed before grading" in doc["output"]


# -- end to end ----------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not SANDBOXED, reason="outside Gradescope's container the runner grades only "
                                          "with bubblewrap")
def test_run_autograder_grades_a_notebook_end_to_end_and_a_wrong_function_costs_its_points(
        tmp_path):
    out = tmp_path / "autograder.zip"
    cnnspec("gradescope", "--seed", SEED, "--out", out)         # bundles a wheel of this checkout
    with zipfile.ZipFile(out) as archive:
        (wheel,) = [n for n in archive.namelist() if n.endswith(".whl")]
        assert f"/autograder/source/{wheel}" in archive.read("setup.sh").decode()
    roots = {}
    for name, replace in (("right", None), ("wrong", WRONG_ACCURACY)):
        roots[name] = unpack(out, tmp_path / name / "autograder")
        seed_style_notebook(roots[name] / "submission" / "hw3.ipynb", replace=replace)
    running = {name: start_autograder(root) for name, root in roots.items()}   # both at once
    (right, right_stdout), (wrong, _) = [finish(running[n], roots[n]) for n in ("right", "wrong")]

    functions = list(load_rubric()["functions"])
    assert [t["name"] for t in right["tests"]] == functions       # about 15 entries, not 800
    assert all(t["status"] == "passed" for t in right["tests"]), [
        (t["name"], t["output"]) for t in right["tests"] if t["status"] != "passed"]
    assert right["score"] == pytest.approx(sum(t["max_score"] for t in right["tests"]), abs=0.02)
    assert "read_csv('mnist_train.csv')" in right["output"]       # the load report
    if load_rubric()["functions"].get("training"):              # the graded training check ran
        board = {c["name"]: c for c in right["leaderboard"]}
        assert board["Test accuracy (%)"]["order"] == "desc"
        assert 90 < board["Test accuracy (%)"]["value"] < 100
        assert board["Seconds per epoch"]["order"] == "asc"
        assert board["Seconds per epoch"]["value"] > 0
    lost = {t["name"] for t in wrong["tests"] if t["status"] != "passed"}
    assert lost == {"test_accuracy"}
    accuracy = next(t for t in wrong["tests"] if t["name"] == "test_accuracy")
    assert accuracy["score"] < accuracy["max_score"] / 2           # its correctness share
    assert "returned a wrong accuracy" in accuracy["output"]
    assert "| accuracy | value |" in accuracy["output"]
    assert wrong["score"] == pytest.approx(
        right["score"] - (accuracy["max_score"] - accuracy["score"]), abs=0.02)

    for name, doc in (("right", right), ("wrong", wrong)):
        seen = seen_by_students(doc)
        for secret in (str(SEED), str(tmp_path), "/tmp/", "site-packages", "hypothesis",
                       "Falsifying", "reproduce_failure", "Reproduce"):
            assert secret not in seen, (name, secret)
        assert doc["extra_data"]["integrity"].startswith("matches the reference")  # instructors'
    assert f"seed {SEED}" in right_stdout and "integrity: matches the reference" in right_stdout


def without_bwrap(tmp_path):
    """(root, script): the zip unpacked, a correct notebook submitted, cnnspec installed from the
    zip's wheel in a venv, and the shell line that runs run_autograder with a PATH holding every
    command but bwrap, as in a Docker container that cannot run it."""
    out = tmp_path / "autograder.zip"
    cnnspec("gradescope", "--seed", SEED, "--out", out)
    root = unpack(out, tmp_path / "autograder")
    seed_style_notebook(root / "submission" / "hw3.ipynb")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    *map(str, (root / "source").glob("cnnspec-*.whl"))], check=True,
                   capture_output=True)
    tools = tmp_path / "bin"
    tools.mkdir()
    for folder in (Path("/usr/bin"), Path("/bin")):
        for tool in folder.iterdir():
            if tool.name != "bwrap" and not (tools / tool.name).exists():
                (tools / tool.name).symlink_to(tool)
    return root, (f"PATH={tools} CNNSPEC_CONTAINER=1 CNNSPEC_ROOT={root} "
                  f"CNNSPEC_PYTHON={python} bash {root / 'run_autograder'}")


def container_hides(tmp_path):
    """The top-level folders a fresh container would not have: every one but the system's and
    those holding Python, the test's folder and the MNIST cache (another checkout of cnnspec on
    this machine, /work/main say, must not be what the probe finds)."""
    from cnnspec.mnist import default_cache_dir
    from cnnspec.sandbox.launch import ALWAYS_HIDDEN
    keep = [Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.executable, tmp_path,
                                        default_cache_dir())]
    return [Path(top) for top in ALWAYS_HIDDEN if top != "/tmp"
            and not any(path == Path(top) or Path(top) in path.parents for path in keep)]


def locked(tmp_path, root):
    installed = next((tmp_path / "venv" / "lib").glob("python3*/site-packages/cnnspec"))
    return [stat.S_IMODE(f.stat().st_mode) == 0o700
            for f in (installed, installed / "reference", root / "source")]


@pytest.mark.slow
@pytest.mark.skipif(not SANDBOXED or os.geteuid() != 0,
                    reason="the stand-in container is made with bubblewrap, as root")
def test_where_bubblewrap_cannot_run_the_container_locks_the_answers_to_root_and_grades(tmp_path):
    """Gradescope's Docker may forbid the namespaces bubblewrap needs. Made here: run_autograder
    runs inside a bubblewrap that hides the checkout, /tmp and every top-level folder that holds
    neither Python nor the MNIST cache (every other copy of the reference on this machine) but
    the stand-in root, with cnnspec installed from the zip's wheel and no bwrap on the PATH. It locks cnnspec's installed folders and ROOT/source to root, the probe (an
    unprivileged worker) reaches nothing, and the notebook is graded: full marks."""
    root, script = without_bwrap(tmp_path)
    container = ["bwrap", "--dev-bind", "/", "/", "--cap-add", "ALL"]
    for folder in [PROJECT, Path("/tmp")] + container_hides(tmp_path):
        container += ["--tmpfs", str(folder)]
    container += ["--bind", str(tmp_path), str(tmp_path), "--chdir", str(tmp_path)]
    run = subprocess.run(container + ["bash", "-c", script], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=900, cwd=tmp_path)
    doc = json.loads((root / "results" / "results.json").read_text())
    check_results(doc)
    assert "locking cnnspec's files" in run.stdout and "NO SANDBOX" in run.stdout, run.stdout
    assert all(t["status"] == "passed" for t in doc["tests"]), run.stdout[-3000:]
    assert all(locked(tmp_path, root))


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="workers of their own user need root")
def test_where_bubblewrap_cannot_run_and_the_answers_stay_readable_nothing_is_graded(tmp_path):
    """The same without the stand-in container: this machine's checkout (world-readable, never
    locked) is in reach of a worker, so the probe finds it and the runner refuses: 0 points, and
    the reason for the instructor only."""
    reference = PROJECT / "reference"
    mode = stat.S_IMODE(reference.stat().st_mode)
    if not all(stat.S_IMODE(f.stat().st_mode) & 0o005 == 0o005 for f in (PROJECT, reference)):
        pytest.skip(f"{reference} is not readable by other users here")
    root, script = without_bwrap(tmp_path)
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=900, cwd=tmp_path)
    doc = json.loads((root / "results" / "results.json").read_text())
    check_results(doc)
    assert doc["score"] == 0 and doc["tests"] == []
    assert "could not grade here" in doc["output"] and str(PROJECT) not in seen_by_students(doc)
    assert "refusing to grade" in run.stdout and str(PROJECT) in run.stdout, run.stdout
    assert all(locked(tmp_path, root))
    assert stat.S_IMODE(reference.stat().st_mode) == mode          # the checkout is left alone
