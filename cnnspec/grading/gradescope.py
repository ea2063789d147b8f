"""Gradescope: build the autograder zip of an assignment, and grade one submission inside it.

    cnnspec gradescope --rubric rubric.toml --seed 48213977 --out autograder.zip

The zip holds, at its root (Gradescope unpacks it into /autograder/source):

    setup.sh                 Gradescope runs it once, as root, when it builds the image: installs
                             bubblewrap and Python's venv from apt, then cnnspec into /opt/cnnspec
    run_autograder           runs for every submission: `python -m cnnspec.grading.gradescope run`
    cnnspec-gradescope.json  the seed, the notebook's name, the cnnspec version (never shown)
    rubric.toml              your rubric (laid over the default one, as `cnnspec grade` does)
    cnnspec-*.whl            the cnnspec that grades: by default a wheel built from this checkout
                             (`python -m build`), or --wheel FILE; --from-pypi pins the version
                             instead and bundles no wheel

Inside the container, `run` grades the one submission in ROOT/submission (a notebook, a .py file
or a package; --submission at build time names the file when students hand in several) exactly
as `cnnspec grade` grades a class, with the bundled rubric and seed, and writes
ROOT/results/results.json (score.results_json: one entry per rubric function, no seed, no paths),
also when grading fails (score 0 and what went wrong). ROOT is --root, else $CNNSPEC_ROOT, else
/autograder. What only the instructor should read (the seed, the integrity flags, every failing
test in full) goes to the autograder's standard output, which Gradescope shows to instructors only.

Isolation: with working bubblewrap, as `cnnspec grade`. Docker may forbid the namespaces
bubblewrap needs; then, and only in a throwaway container (ROOT is /autograder, or --container,
or CNNSPEC_CONTAINER=1), the runner makes cnnspec's installed folders and ROOT/source readable by
root alone (never a checkout's), runs the isolation probe as an unprivileged worker, and grades
without bubblewrap only when the probe reaches nothing. Elsewhere, or when the probe finds a way
in, it refuses to grade (score 0, the reason in stdout).
"""
import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path


# From the metadata: `from .. import __version__` would import cnnspec.checking, which the layering
# contract keeps apart from cnnspec.grading.
__version__ = metadata.version("cnnspec")
CONFIG = "cnnspec-gradescope.json"
RUBRIC = "rubric.toml"
VENV = "/opt/cnnspec"
GRADESCOPE_ROOT = Path("/autograder")
REFUSED = ("The autograder could not grade here (it refuses when the answers could be read, or "
           "when the training check has no MNIST); your instructor can see why.")
MIN_SEED = 1000       # smaller seeds cannot be told from other numbers when messages are scrubbed

SETUP = """#!/usr/bin/env bash
# cnnspec {version} autograder setup, written by `cnnspec gradescope`. Gradescope runs it once, as
# root, when it builds the image (Ubuntu 22.04: Python 3.10). It installs bubblewrap (the sandbox
# of each student's code) and cnnspec with its dependencies in a venv of its own.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends bubblewrap python3 python3-pip python3-venv
python3 -m venv {venv}
{venv}/bin/python -m pip install --upgrade pip
{venv}/bin/python -m pip install {requirement}
{venv}/bin/cnnspec --version
# MNIST for the graded training check, fetched now: grading must not depend on the network.
export CNNSPEC_CACHE={venv}/cache
{venv}/bin/cnnspec fetch-mnist
chmod 755 /autograder/run_autograder 2>/dev/null || true
"""

RUN = """#!/usr/bin/env bash
# cnnspec autograder, written by `cnnspec gradescope`: grades the submission in $ROOT/submission
# and writes $ROOT/results/results.json. CNNSPEC_ROOT (default /autograder) and CNNSPEC_PYTHON
# (default the venv setup.sh made) let you run it outside Gradescope, e.g. to test the zip.
set -u
ROOT="${{CNNSPEC_ROOT:-/autograder}}"
PYTHON="${{CNNSPEC_PYTHON:-{venv}/bin/python}}"
if [ -z "${{CNNSPEC_CACHE:-}}" ] && [ -d {venv}/cache ]; then
    export CNNSPEC_CACHE={venv}/cache      # the MNIST setup.sh fetched
fi
mkdir -p "$ROOT/results"
"$PYTHON" -m cnnspec.grading.gradescope run --root "$ROOT"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    # cnnspec did not even start (not installed?): a results.json all the same.
    printf '%s\\n' '{{"score": 0, "execution_time": 0, "tests": [], "output_format": "text",' \\
        '"visibility": "visible", "stdout_visibility": "hidden", "output":' \\
        '"The autograder failed before grading; your instructor can see why."}}' \\
        > "$ROOT/results/results.json"
fi
exit $status
"""


class BuildError(Exception):
    """The zip cannot be built as asked; the message says why and what to do."""


def add_arguments(parser):
    parser.add_argument("--out", required=True, help="the zip to write (e.g. autograder.zip)")
    parser.add_argument("--rubric", help="TOML file laid over the default rubric "
                        "(cnnspec/grading/rubric.toml); its [gradescope] table says what "
                        "students see")
    parser.add_argument("--seed", type=int, required=True,
                        help=f"seed of the hidden inputs, the same for every submission (at least "
                             f"{MIN_SEED}; a fresh one per assignment, kept to yourself)")
    parser.add_argument("--submission", metavar="NAME",
                        help="the file students hand in (e.g. hw3.ipynb), when they may upload "
                             "several files; default: the one notebook or .py file they upload")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wheel", help="bundle this cnnspec wheel (default: build one from the "
                                        "checkout this cnnspec runs from, with `python -m build`)")
    source.add_argument("--from-pypi", action="store_true",
                        help=f"bundle no wheel: setup.sh installs cnnspec=={__version__} from PyPI")


def run(args):
    """`cnnspec gradescope`: write the zip; 0, or 2 with the reason when it cannot."""
    try:
        members = build(args.out, rubric=args.rubric, seed=args.seed, wheel=args.wheel,
                        from_pypi=args.from_pypi, submission=args.submission)
    except BuildError as error:
        print(f"cnnspec gradescope: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {', '.join(members)}")
    print("Upload it on Gradescope: the assignment's Configure Autograder page, Zip file upload, "
          "base image Ubuntu 22.04 (README, 'Grading on Gradescope').")
    return 0


def build(out, *, rubric=None, seed, wheel=None, from_pypi=False, submission=None):
    """Write the autograder zip `out`; returns the names of its members. BuildError when the
    rubric is wrong, the seed too small, or no cnnspec can be bundled."""
    from .score import gradescope_settings, load_rubric
    if seed < MIN_SEED:
        raise BuildError(f"--seed {seed}: expected at least {MIN_SEED} (a small seed cannot be "
                         "told from other numbers when it is removed from what students see)")
    try:
        gradescope_settings(load_rubric(rubric))       # a wrong rubric fails here, not on upload
    except (OSError, ValueError) as error:
        raise BuildError(f"--rubric {rubric}: {error}") from None
    with tempfile.TemporaryDirectory(prefix="cnnspec-gradescope-") as folder:
        if from_pypi:
            wheel_path, requirement = None, f"'cnnspec=={__version__}'"
        else:
            wheel_path = Path(wheel) if wheel else build_wheel(Path(folder))
            if not wheel_path.is_file() or not wheel_path.name.endswith(".whl"):
                raise BuildError(f"--wheel {wheel}: expected a .whl file")
            requirement = f"/autograder/source/{wheel_path.name}"
        config = {"seed": seed, "submission": submission, "cnnspec": __version__,
                  "rubric": RUBRIC}
        files = {"setup.sh": SETUP.format(version=__version__, venv=VENV, requirement=requirement),
                 "run_autograder": RUN.format(venv=VENV),
                 CONFIG: json.dumps(config, indent=1) + "\n",
                 RUBRIC: Path(rubric).read_text() if rubric else "# the default rubric\n"}
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in files.items():
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                mode = 0o755 if name in ("setup.sh", "run_autograder") else 0o644
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, text)
            if wheel_path:
                archive.write(wheel_path, wheel_path.name)
        return list(files) + ([wheel_path.name] if wheel_path else [])


def build_wheel(folder):
    """A wheel of the checkout this cnnspec runs from (an editable install), built by
    `python -m build` into `folder`; BuildError when there is no checkout or no `build`."""
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / "pyproject.toml").is_file() or not (checkout / "reference").is_dir():
        raise BuildError("this cnnspec is not a checkout, so no wheel can be built from it: "
                         "pass --wheel FILE or --from-pypi")
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", str(folder),
                             str(checkout)], cwd=folder, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    wheels = sorted(folder.glob("cnnspec-*.whl"))
    if result.returncode != 0 or not wheels:
        raise BuildError("building a wheel of the checkout failed (python -m build; `pip install "
                         "build` if it is missing); pass --wheel FILE or --from-pypi instead:\n" +
                         (result.stdout + result.stderr)[-2000:])
    return wheels[-1]


# -- inside the container -------------------------------------------------------------------------

def find_submission(folder, name=None):
    """The file (or package folder) to grade in Gradescope's submission folder: the one called
    `name` (anywhere below it) when the assignment names one, else what grade.single_file finds
    there (the one notebook, the one .py file, or the folder as a package). ValueError otherwise,
    with a message for the student."""
    from .grade import single_file
    from ..sandbox.files import SubmissionRefused
    folder = Path(folder)
    if not folder.is_dir() or not any(p.is_file() for p in folder.rglob("*")):
        raise ValueError("nothing was submitted")
    if name:
        found = sorted(p for p in folder.rglob(name) if "__MACOSX" not in p.parts)
        if not found:
            handed = sorted(p.name for p in folder.rglob("*") if p.is_file())[:20]
            raise ValueError(f"the assignment asks for a file named {name}; the submission has "
                             f"{', '.join(handed) or 'no files'}")
        return found[0]
    try:
        return single_file(folder)
    except SubmissionRefused as error:
        raise ValueError(str(error).replace(str(folder), "the submission")) from None


def _lock_down(root):
    """In a throwaway container only: cnnspec's installed folders and ROOT/source (the seed, the
    rubric, the wheel) readable by root alone, so that workers (unprivileged users) cannot read
    the answers even without bubblewrap. A checkout (a folder beside a pyproject.toml) is never
    changed: the probe then finds it, and grading is refused. Returns the folders locked."""
    from ..sandbox.launch import project_folders
    locked = []
    for folder in sorted(project_folders()) + [root / "source"]:
        if (folder / "pyproject.toml").exists() or (folder.parent / "pyproject.toml").exists():
            continue
        os.chmod(folder, 0o700)
        locked.append(folder)
    return locked


def grading_args(submission, out, config, root, trust):
    from . import grade
    parser = argparse.ArgumentParser()
    grade.add_arguments(parser)
    argv = [str(submission), "--out", str(out), "--seed", str(config["seed"]),
            "--rubric", str(root / "source" / config.get("rubric", RUBRIC))]
    return parser.parse_args(argv + ([grade.TRUST] if trust else []))


def grade_here(root, container=False):
    """Grade ROOT/submission; returns the results.json document (also when grading failed).
    `container`: this machine is a throwaway container even if ROOT is not /autograder."""
    from . import grade, integrity
    from .score import gradescope_settings, load_rubric, results_json
    started = time.monotonic()
    config = json.loads((root / "source" / CONFIG).read_text())
    rubric = load_rubric(root / "source" / config.get("rubric", RUBRIC))
    seed = config["seed"]
    print(f"cnnspec {__version__} Gradescope runner: seed {seed}, root {root}", flush=True)
    try:
        submission = find_submission(root / "submission", config.get("submission"))
    except ValueError as error:
        return failed(rubric, f"This submission cannot be graded: {error}.", started, seed)
    out = Path(tempfile.mkdtemp(prefix="cnnspec-gradescope-"))
    hide = [str(out), str(root / "source"), str(root / "results"), str(root / "submission")]
    args = grading_args(submission, out, config, root, trust=False)
    ok, note = grade.bwrap_status()
    if not ok:
        if root.resolve() != GRADESCOPE_ROOT and not container:
            print(f"refusing to grade: {note}, and outside Gradescope's container ({root} is not "
                  f"{GRADESCOPE_ROOT}) file modes are not changed to make up for it", flush=True)
            return failed(rubric, REFUSED, started, seed)
        print(f"{note}: locking cnnspec's files and {root / 'source'} to root, then probing",
              flush=True)
        print("locked: " + ", ".join(map(str, _lock_down(root))), flush=True)
        args = grading_args(submission, out, config, root, trust=True)
    try:
        isolation, warnings = grade.preflight(args, hide)
    except grade.Refused as error:
        print(f"refusing to grade: {error}", flush=True)
        return failed(rubric, REFUSED, started, seed)
    if warnings:        # only with the trust flag: the probe found a way to the answers
        print("refusing to grade: " + "; ".join(warnings), flush=True)
        return failed(rubric, REFUSED, started, seed)
    print(isolation, flush=True)
    name = grade.submission_names([str(submission)])[0]
    try:
        record = grade.grade_safely(str(submission), name, out, args, rubric, hide)
        doc = json.loads((out / name / "results.json").read_text())
        flags = integrity.check({name: integrity.submission_source(submission)})["flags"][name]
        print(f"integrity: {flags or 'no flags'}", flush=True)
        print_failures(record.get("scored", []))
        doc["extra_data"] = dict(doc.get("extra_data") or {}, integrity=flags)
        settings = gradescope_settings(rubric)
        if settings["integrity"] != "stdout":
            again = results_json(record["scored"], rubric, "", 0.0, seed=seed, integrity=flags)
            doc["tests"] += [t for t in again["tests"] if "integrity" in t.get("tags", [])]
        doc["execution_time"] = round(time.monotonic() - started, 1)
        return doc
    finally:
        shutil.rmtree(out, ignore_errors=True)


def print_failures(scored):
    """Every failing test in full, for the instructor (standard output)."""
    failing = [t for t in scored if t.get("status") != "passed"]
    print(f"{len(failing)} failing test(s) of {len(scored)}", flush=True)
    for t in failing:
        print(f"--- {t['nodeid']} ({t.get('function')}, {t.get('output')}, {t.get('category')}, "
              f"{t['max_score']:.3f} points)\n{t.get('message', '')}", flush=True)


def failed(rubric, message, started, seed=None):
    """The results.json of a submission that could not be graded: 0 points, and why."""
    from .score import results_json
    doc = results_json([], rubric, message, time.monotonic() - started, seed=seed)
    doc["score"], doc["tests"] = 0.0, []
    return doc


def run_in(root, container=False):
    """Grade ROOT/submission and write ROOT/results/results.json, whatever happens; 0."""
    root = Path(root).resolve()
    started = time.monotonic()
    try:
        doc = grade_here(root, container)
    except Exception as error:  # noqa: BLE001 - Gradescope must get a results.json
        import traceback
        traceback.print_exc()
        doc = {"score": 0.0, "execution_time": round(time.monotonic() - started, 1),
               "output": f"The autograder failed ({type(error).__name__}); your instructor can "
                         "see why.", "output_format": "text", "stdout_visibility": "hidden",
               "tests": []}
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    temporary = results / ".results.json.tmp"
    temporary.write_text(json.dumps(doc, indent=1))
    os.replace(temporary, results / "results.json")
    print(f"wrote {results / 'results.json'}: {doc['score']} points", flush=True)
    return 0


def main(argv=None):
    """`python -m cnnspec.grading.gradescope run [--root ROOT]` (what run_autograder calls)."""
    parser = argparse.ArgumentParser(prog="python -m cnnspec.grading.gradescope",
                                     description="Grade the submission of a Gradescope container.")
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run", help="grade ROOT/submission, write ROOT/results/results.json")
    runner.add_argument("--root", default=os.environ.get("CNNSPEC_ROOT", str(GRADESCOPE_ROOT)),
                        help="the autograder folder (default $CNNSPEC_ROOT, else /autograder)")
    runner.add_argument("--container", action="store_true",
                        default=os.environ.get("CNNSPEC_CONTAINER") == "1",
                        help="this machine is a throwaway container: without bubblewrap, lock "
                             "cnnspec's files to root (default: only when ROOT is /autograder; "
                             "$CNNSPEC_CONTAINER=1 sets it)")
    args = parser.parse_args(argv)
    return run_in(args.root, args.container)


if __name__ == "__main__":
    sys.exit(main())
