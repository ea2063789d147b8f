"""Grade a class: run the conformance suite against each submission, isolated, and report.

    python scripts/grade.py submissions/*.ipynb submissions/*.py --out grades/ --jobs 2

Each SUBMISSION (a .py file, a package folder or a .ipynb notebook) is graded by the same tests as
`pytest spec_tests --impl SUBMISSION`, run in a separate pytest process with `--isolate`: the
student's code runs in a sandboxed worker (spec_tests/isolation), never in the grader. Hidden
inputs come from --seed (recorded everywhere, so a grade can be reproduced); golden vectors and
the MNIST run are not scored. Writes, whatever happens to a submission:

    OUT/<name>/results.json   Gradescope autograder format (also: tests.jsonl, pytest.txt)
    OUT/summary.csv           one row per submission: total, points per function, load problems
    OUT/report.md             the class at a glance, with scores.png and clauses.png

Exits 0 when grading finished, whatever the students scored.
"""
import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from importlib import resources
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..plugin import CALL_TIMEOUT, MEMORY_MB
from ..sandbox.launch import bwrap_status
from . import report as grading_report
from .score import by_function, load_rubric, read_log, results_json, score

SPEC_TESTS = Path(resources.files("cnnspec.spec_tests"))
NOT_GRADED = [SPEC_TESTS / "test_golden.py"]   # stored answers never decide a grade


def add_arguments(parser):
    """The grader's options on `parser` (argparse); `run(args)` does the work."""
    parser.add_argument("submissions", nargs="+", help=".py files, package folders, notebooks")
    parser.add_argument("--out", required=True, help="folder for the results and the report")
    parser.add_argument("--rubric", help="TOML file laid over the default rubric (cnnspec/grading/rubric.toml)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--seed", type=int, help="seed of the hidden inputs (default: a fresh one)")
    parser.add_argument("--call-timeout", type=float, default=CALL_TIMEOUT,
                        help=f"seconds one call of a student's function may take (default {CALL_TIMEOUT:g})")
    parser.add_argument("--submission-timeout", type=float, default=600.0,
                        help="seconds the whole grading of one submission may take (default 600)")
    parser.add_argument("--memory-mb", type=int, default=MEMORY_MB,
                        help=f"address-space limit of a student's worker, MiB (default {MEMORY_MB})")
    parser.add_argument("--tests", metavar="EXPR",
                        help="grade only the tests pytest's -k EXPR selects (e.g. 'conv2d')")
    parser.add_argument("--bwrap", choices=("auto", "require", "off"),
                        default="auto",
                        help="filesystem isolation with bubblewrap: auto (the default) uses it "
                             "when it works")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args):
    """Grade every submission named in `args` (from add_arguments); 0 when grading finished."""
    if args.seed is None:
        args.seed = secrets.randbelow(2**31 - 2) + 1    # 0 would be the documented inputs
    rubric = load_rubric(args.rubric)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    isolation = _isolation(args.bwrap)
    print(f"cnnspec grade: {len(args.submissions)} submission(s), seed {args.seed}, "
          f"{isolation}", flush=True)

    started = time.monotonic()
    jobs = list(zip(args.submissions, unique_names(args.submissions)))
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        graded = list(pool.map(lambda job: grade_safely(*job, out, args, rubric), jobs))
    grading_report.write(graded, rubric, out, seed=args.seed, isolation=isolation)
    print(f"graded {len(graded)} submission(s) in {time.monotonic() - started:.1f} s: "
          f"{out / 'summary.csv'}, {out / 'report.md'}", flush=True)
    return 0


def _isolation(choice):
    works, note = bwrap_status()
    if choice == "require" and not works:
        sys.exit(f"cnnspec grade: --bwrap require, but {note}")
    if works and choice != "off":
        return "isolation: bubblewrap (read-only filesystem, project and grader folders hidden)"
    reason = "--bwrap off" if choice == "off" else note
    return f"isolation: NO FILESYSTEM ISOLATION ({reason}); process and resource limits only"


def unique_names(submissions):
    """A folder name per submission: its file or folder name without suffix, made unique."""
    names, seen = [], {}
    for sub in submissions:
        path = Path(sub)
        base = re.sub(r"[^\w.\- ]", "_", path.stem if path.suffix in (".py", ".ipynb") else
                      path.name) or "submission"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def grade_safely(submission, name, out, args, rubric):
    """grade() that always leaves a results.json, even if the grader itself trips."""
    try:
        return grade(submission, name, out, args, rubric)
    except Exception as error:  # noqa: BLE001 - one broken submission must not stop the class
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        scored = score(_placeholder_tests(rubric), {}, rubric, f"not graded: {error!r}")
        message = f"The grader could not grade {submission}: {error!r}"
        (folder / "results.json").write_text(json.dumps(results_json(scored, rubric, message, 0)))
        return dict(name=name, submission=str(submission), scored=scored, seconds=0.0,
                    problem=message, notes=[], timed_out=False, isolation="")


def grade(submission, name, out, args, rubric):
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "tests.jsonl"
    log.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", str(SPEC_TESTS), "-q", "-p", "no:cacheprovider",
               "--cnnspec-log", str(log), "--hypothesis-profile", "cnnspec-grade",
               "--bwrap", args.bwrap, "--hide", str(out), "--hide", str(Path(submission).resolve().parent),
               "--impl", str(Path(submission).resolve()), "--isolate", "--seed", str(args.seed),
               "--call-timeout", str(args.call_timeout), "--memory-mb", str(args.memory_mb),
               "-m", "not mnist", "-o", "addopts=", "--tb=no", "-rN"]
    for path in NOT_GRADED:
        command += ["--ignore", str(path)]
    if args.tests:
        command += ["-k", args.tests]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNNSPEC_")}
    started = time.monotonic()
    timed_out = False
    with tempfile.TemporaryDirectory(prefix="cnnspec-grade-") as cwd, \
            open(folder / "pytest.txt", "wb") as console:
        env["TMPDIR"] = cwd        # worker folders too: all removed even if the run is killed
        os.chmod(cwd, 0o755)       # a worker running as `nobody` must reach its folder
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=console, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            process.wait(timeout=args.submission_timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)   # its workers die with it (PDEATHSIG)
            process.wait()
    seconds = time.monotonic() - started

    tests, results, implementation = read_log(log)
    problem = implementation.get("load_error")
    if not tests:
        tail = (folder / "pytest.txt").read_text(errors="replace")[-2000:]
        problem = problem or f"the test run collected no tests (exit {process.returncode}):\n{tail}"
        tests = _placeholder_tests(rubric)
    not_run = (f"not run: grading this submission took longer than {args.submission_timeout:g} s"
               if timed_out else "not run: the test run ended early (see pytest.txt)")
    scored = score(tests, results, rubric, not_run)
    notes = implementation.get("notes") or []
    text = summary_text(name, submission, scored, rubric, args.seed, problem, notes,
                        implementation.get("isolation"), timed_out and not_run)
    (folder / "results.json").write_text(json.dumps(results_json(scored, rubric, text, seconds),
                                                    indent=1))
    return dict(name=name, submission=str(submission), scored=scored, seconds=seconds,
                problem=problem, notes=notes, timed_out=timed_out,
                isolation=implementation.get("isolation") or "")


def _placeholder_tests(rubric):
    """One failed stand-in per function when no test could even be collected."""
    return [{"nodeid": f"{f} (no test ran)", "function": f, "output": None, "clauses": []}
            for f in rubric["functions"]]


def summary_text(name, submission, scored, rubric, seed, problem, notes, isolation, limit):
    total = sum(t["score"] for t in scored)
    top = sum(t["max_score"] for t in scored)
    lines = [f"{name}: {total:.2f} / {top:.2f} points (cnnspec, hidden-input seed {seed}).",
             f"Submission: {submission}", f"Isolation: {isolation or 'unknown (no test ran)'}"]
    if problem:
        lines += ["", f"LOAD PROBLEM: {problem}"]
    if limit:
        lines += ["", f"TIME LIMIT: {limit}"]
    if notes:
        lines += ["", f"From the notebook only imports, definitions and constants were kept; "
                      f"dropped {len(notes)}:"] + [f"  - {n}" for n in notes[:50]]
    lines += ["", "Points per function:"]
    for function, (got, of) in by_function(scored, rubric).items():
        failed = sum(1 for t in scored if t.get("function") == function and t["status"] != "passed")
        lines.append(f"  {function:28s} {got:6.2f} / {of:6.2f}" +
                     (f"   ({failed} test(s) failed)" if failed else ""))
    lines += ["", f"Reproduce a failure: python -m pytest --pyargs cnnspec.spec_tests --impl {submission} "
                  f"--isolate --seed {seed} -k <test name>"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
