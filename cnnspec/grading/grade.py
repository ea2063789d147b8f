"""Grade a class: run the conformance suite against each submission, isolated, and report.

    cnnspec grade submissions/*.ipynb submissions/*.py --out grades/ --jobs 2

Each SUBMISSION (a .py file, a package folder or a .ipynb notebook) is graded by the same tests as
`pytest --pyargs cnnspec.spec_tests --impl SUBMISSION --isolate`, in a grading process of its own
(with a memory limit of its own, so the worst a submission can do is fail itself). The student's
code runs in a sandboxed worker (cnnspec/sandbox), never in the grader. Hidden inputs come from
--seed (recorded everywhere, so a grade can be reproduced); golden vectors and the MNIST run are
not scored. Writes, whatever happens to a submission:

    OUT/<name>/results.json   Gradescope autograder format (also: tests.jsonl, pytest.txt)
    OUT/summary.csv           one row per submission: total, points per function, load problems
    OUT/report.md             the class at a glance, with scores.png and clauses.png

Before grading, a probe run exactly like a submission checks that the reference, the suite and
the golden vectors can be neither imported nor read; grading is refused if they can, and refused
without working bubblewrap. --no-sandbox-i-trust-these-submissions grades without bubblewrap
(and only warns about what the probe found); every results.json and the report say so.
Exits 0 when grading finished, whatever the students scored; 2 when it refused to grade.
"""
import argparse
import ctypes
import hashlib
import json
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from importlib import resources
from pathlib import Path

from tqdm import tqdm

from ..plugin import CALL_TIMEOUT, MEMORY_MB
from ..sandbox import audit, cgroups
from ..sandbox.files import SubmissionRefused, judge_link, remove_tree
from ..sandbox.launch import (Limits, bwrap_status, kill_uids, mount_status, project_folders,
                              uid_block)
from . import report as grading_report
from .score import by_function, load_rubric, read_log, results_json, score

SPEC_TESTS = Path(resources.files("cnnspec.spec_tests"))
# Stored answers never decide a grade, and neither does MNIST-1's full epoch: the graded training
# check is spec_tests/test_training.py (SPEC TRAIN), within the rubric's [training] seconds.
NOT_GRADED = [SPEC_TESTS / "test_golden.py", SPEC_TESTS / "test_mnist_end_to_end.py"]
GRADER_MEMORY_MB = 3072     # one submission's grading process (pytest, the oracles, its replies)
GRADER_PROCESSES = 256      # processes and threads of that grading process
TRUST = "--no-sandbox-i-trust-these-submissions"
LOAD_FAILED = "not run: the submission failed to load (see LOAD PROBLEM at the top)"


class Refused(Exception):
    """Grading cannot start safely; the message says why and what to do."""


def add_arguments(parser):
    """The grader's options on `parser` (argparse); `run(args)` does the work."""
    parser.add_argument("submissions", nargs="+", help=".py files, package folders, notebooks")
    parser.add_argument("--out", required=True, help="folder for the results and the report")
    parser.add_argument("--rubric", help="TOML file laid over the default rubric (cnnspec/grading/rubric.toml)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--seed", type=int, help="seed of the hidden inputs (default: a fresh "
                        "one; with --resume, the seed of the run in --out)")
    parser.add_argument("--resume", action="store_true",
                        help="skip submissions already graded in --out with the same seed, rubric, "
                             "test selection and submission content (after Ctrl-C, say)")
    parser.add_argument("--call-timeout", type=float, default=CALL_TIMEOUT,
                        help=f"seconds one call of a student's function may take (default {CALL_TIMEOUT:g})")
    parser.add_argument("--submission-timeout", type=float, default=600.0,
                        help="seconds the whole grading of one submission may take (default 600)")
    parser.add_argument("--memory-mb", type=int, default=MEMORY_MB,
                        help="memory of a student's worker with all its processes, memfd and "
                             f"tmpfs files, MiB (default {MEMORY_MB})")
    parser.add_argument("--grader-memory-mb", type=int, default=GRADER_MEMORY_MB,
                        help="memory of the grading process of one submission, MiB: past it "
                             f"that submission fails, not the host (default {GRADER_MEMORY_MB})")
    parser.add_argument("--tests", metavar="EXPR",
                        help="grade only the tests pytest's -k EXPR selects (e.g. 'conv2d')")
    parser.add_argument("--api", default="contract", metavar="NAME",
                        help="how the submissions name and shape things: contract (SPEC.md's "
                             "functions), cs231n, or a layer-class adapter .toml file (SPEC.md, "
                             "API profiles); functions outside the API earn and cost nothing "
                             "(default contract)")
    parser.add_argument(TRUST, dest="trust", action="store_true",
                        help="grade without bubblewrap (it is required otherwise), and even when "
                             "the isolation probe can read the answers: each submission can then "
                             "read any file an unprivileged user can read, the reference and the "
                             "golden vectors included, and use the network (it still runs as its "
                             "own unprivileged user, in its own cgroup)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args):
    """Grade every submission named in `args` (from add_arguments); 0 when grading finished,
    2 when it refused to start (the reason is printed)."""
    out = Path(args.out).resolve()
    if args.seed is None and getattr(args, "resume", False):
        args.seed = _previous_run(out).get("seed")
    if args.seed is None:
        args.seed = secrets.randbelow(2**31 - 2) + 1    # 0 would be the documented inputs
    rubric = load_rubric(args.rubric)
    out.mkdir(parents=True, exist_ok=True)
    hide = [str(out)] + sorted({str(Path(s).absolute().parent) for s in args.submissions})
    try:
        isolation, warnings = preflight(args, hide)
    except Refused as error:
        print(f"cnnspec grade: refusing to grade: {error}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("cnnspec grade: interrupted before grading began", file=sys.stderr, flush=True)
        return 130
    for warning in warnings:
        print(f"cnnspec grade: WARNING: {warning}", file=sys.stderr, flush=True)
    print(f"cnnspec grade: {len(args.submissions)} submission(s), seed {args.seed}; "
          f"{isolation}", flush=True)

    _write_json(out / RUN_STATE, {"seed": args.seed, "rubric": rubric_digest(rubric)})
    graded, interrupted, seconds = grade_all(args, out, rubric, hide)
    grading_report.write(graded, rubric, out, seed=args.seed,
                         isolation="; ".join([isolation] + warnings))
    where = f"{out / 'summary.csv'}, {out / 'report.md'}"
    if interrupted:
        print(f"cnnspec grade: interrupted: graded {len(graded)} of {len(args.submissions)} "
              f"submission(s) in {seconds:.1f} s: {where}; to grade the rest, run the same "
              f"command with --resume", file=sys.stderr, flush=True)
        return 130
    print(f"graded {len(graded)} submission(s) in {seconds:.1f} s: {where}", flush=True)
    return 0


RUN_STATE = "run.json"      # OUT/run.json: the seed and rubric of the last run there
RECORD = "graded.json"      # OUT/<name>/graded.json: what --resume reuses


class Interrupted(Exception):
    """Grading was stopped (Ctrl-C) while this submission was being graded."""


_STOP = threading.Event()       # set on Ctrl-C: no new grading starts, running ones are killed
_RUNNING, _RUNNING_LOCK = set(), threading.Lock()


def grade_all(args, out, rubric, hide):
    """(records of the submissions graded, in the order given; whether Ctrl-C stopped the run;
    seconds). One line per finished submission: its name, score, seconds and the time left.
    Ctrl-C kills the running submissions' processes and returns what was graded until then."""
    _STOP.clear()
    started = time.monotonic()
    main = threading.current_thread() is threading.main_thread()
    terminate = signal.signal(signal.SIGTERM, _interrupt) if main else None   # kill: as Ctrl-C
    jobs = list(zip(args.submissions, submission_names(args.submissions)))
    records, interrupted = {}, False
    # On a terminal, a live bar (tqdm) under the lines; in a log, the lines alone.
    bar = tqdm(total=len(jobs), desc="cnnspec grade", unit="submission", file=sys.stderr,
               disable=None, leave=False, dynamic_ncols=True)
    pool = ThreadPoolExecutor(max(1, args.jobs))
    futures = {pool.submit(grade_or_reuse, submission, name, out, args, rubric, hide): i
               for i, (submission, name) in enumerate(jobs)}
    try:
        for future in as_completed(futures):
            try:
                record, reused = future.result()
            except Interrupted:
                continue
            records[futures[future]] = record
            bar.update(1)
            tqdm.write(progress_line(record, reused, len(records), len(jobs),
                                     time.monotonic() - started), file=sys.stdout)
            sys.stdout.flush()
    except KeyboardInterrupt:
        interrupted = True
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C waits too
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            print("\ncnnspec grade: Ctrl-C: stopping the running submissions...", file=sys.stderr,
                  flush=True)
            _STOP.set()
            for future in futures:
                future.cancel()
            with _RUNNING_LOCK:
                running = list(_RUNNING)
            for run in running:
                run.stop()
            pool.shutdown(wait=True)
            for future, i in futures.items():   # finished between the Ctrl-C and the stop
                if future.done() and not future.cancelled() and i not in records \
                        and future.exception() is None:
                    records[i] = future.result()[0]
        finally:
            signal.signal(signal.SIGINT, previous)
    else:
        pool.shutdown(wait=True)
    bar.close()
    if main:
        signal.signal(signal.SIGTERM, terminate)
    return [records[i] for i in sorted(records)], interrupted, time.monotonic() - started


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def progress_line(record, reused, done, total, elapsed):
    """`[3/30] alice: 87.50 / 100.00 in 41.2 s; about 12 min left` (from the pace so far)."""
    got = sum(t["score"] for t in record["scored"])
    top = sum(t["max_score"] for t in record["scored"])
    how = "already graded (--resume)" if reused else f"in {record['seconds']:.1f} s"
    left = elapsed / done * (total - done)
    eta = "done" if done == total else (f"about {left / 60:.0f} min left" if left >= 90 else
                                        f"about {left:.0f} s left")
    problem = "; LOAD PROBLEM" if record.get("problem") else ""
    return f"[{done}/{total}] {record['name']}: {got:.2f} / {top:.2f} {how}{problem}; {eta}"


def grade_or_reuse(submission, name, out, args, rubric, hide=()):
    """(record, reused): the record of an earlier grading in `out` when --resume and it was made
    with the same seed, rubric, tests and submission content; else grade_safely's, saved."""
    if _STOP.is_set():
        raise Interrupted(submission)
    key = {"seed": args.seed, "rubric": rubric_digest(rubric), "tests": args.tests,
           "api": getattr(args, "api", "contract"),
           "content": content_digest(submission)}
    saved = out / name / RECORD
    if getattr(args, "resume", False):
        try:
            previous = json.loads(saved.read_text())
            if previous.get("key") == key and isinstance(previous.get("record"), dict):
                return previous["record"], True
        except (OSError, ValueError):
            pass
    record = grade_safely(submission, name, out, args, rubric, hide)
    if _STOP.is_set() and record.get("stopped"):
        raise Interrupted(submission)
    record.pop("stopped", None)
    _write_json(saved, {"key": key, "record": record})
    return record, False


def _previous_run(out):
    try:
        state = json.loads((out / RUN_STATE).read_text())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def rubric_digest(rubric):
    """A short fingerprint of the rubric as graded (default and overrides merged)."""
    text = json.dumps(rubric, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def content_digest(submission, limit=64 * 2**20):
    """A fingerprint of a submission's files (names and bytes, up to `limit` bytes in all), so
    --resume regrades a submission that changed; "" when it cannot be read."""
    path = Path(submission)
    digest, budget = hashlib.sha256(), limit
    try:
        files = [path] if not path.is_dir() else sorted(
            p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        for file in files[:1000]:
            data = file.read_bytes()[:max(budget, 0)]
            budget -= len(data)
            digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
            digest.update(hashlib.sha256(data).digest())
    except OSError:
        return ""
    return digest.hexdigest()[:16]


def preflight(args, hide):
    """(isolation line for the report, warnings) or Refused: bubblewrap works (or the instructor
    said to trust the submissions), workers can run unprivileged, MNIST is here when the training
    check has points (training_data), and the probe finds nothing."""
    bwrap_ok, bwrap_note = bwrap_status()
    if args.trust:
        bwrap_ok, bwrap_note = False, f"bubblewrap not used: {TRUST}"
    if not bwrap_ok and not args.trust:
        raise Refused(f"{bwrap_note}, so a submission could read the reference, the golden "
                      "vectors and every file an unprivileged user can read, and use the network. "
                      "Install bubblewrap (apt-get install bubblewrap) and make sure it can start "
                      f"(README, 'Grading a class'), or, only for code you trust, pass {TRUST}.")
    if os.geteuid() == 0 and not bwrap_ok and not mount_status()[0] and not _reachable_python():
        raise Refused(f"workers must not run as root, and the Python interpreter "
                      f"{sys.executable} cannot be reached by an unprivileged user here (no "
                      "bubblewrap, no mount namespace); install Python in a world-readable folder")
    training_data(args)
    warnings = []
    found = audit.leaks(hide=hide, use_bwrap=bwrap_ok, memory_mb=args.memory_mb)
    if found and not args.trust:
        raise Refused("a submission graded here could get at the answers; the isolation probe "
                      "(run exactly as a submission) found:\n  " + "\n  ".join(found[:20]) +
                      "\nHide these (README, 'What isolation does, and does not, promise') or, "
                      f"only for code you trust, pass {TRUST}.")
    if found:
        warnings.append(f"{TRUST}: submissions could get at the answers ({len(found)} ways, "
                        f"e.g. {found[0]})")
    cgroups_ok, cgroups_note = cgroups.status()
    parts = [("bubblewrap: read-only filesystem, project, grader and submission folders hidden, "
              "no network") if bwrap_ok else f"NO SANDBOX ({bwrap_note})",
             "each worker its own unprivileged user" if os.geteuid() == 0 else
             "workers run as the grader's user",
             "one cgroup per worker (memory with memfd and tmpfs, processes, CPU)" if cgroups_ok
             else f"no cgroups ({cgroups_note}): per-process limits only",
             "worker folders on size- and inode-capped tmpfs" if mount_status()[0]
             else f"worker folders on disk ({mount_status()[1]})"]
    return "isolation: " + "; ".join(parts), warnings


def training_data(args):
    """Refused when the rubric's [training] seconds is not a time, or when the rubric gives the
    training check (SPEC TRAIN) points and MNIST cannot be loaded here: every submission would
    lose them for no fault of its own. Nothing is downloaded while grading; the grading processes
    read the cache this finds (see grade)."""
    rubric = load_rubric(getattr(args, "rubric", None))
    seconds = rubric["training"].get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise Refused(f"the rubric's [training] seconds must be a number of seconds > 0, got "
                      f"{seconds!r}")
    points = rubric["functions"].get("training", 0)
    if not points:
        return
    from ..mnist import MnistError, fetch
    try:
        fetch(allow_download=False)
    except MnistError as error:
        raise Refused(f"the rubric gives the training check {points:g} points, and it needs "
                      f"MNIST, which cannot be loaded here. Run `cnnspec fetch-mnist` once first "
                      f"(or give the check no points: [functions] training = 0 in your rubric). "
                      f"{error}") from None


def _reachable_python():
    from ..sandbox.launch import _reachable
    return _reachable(sys.executable)


def submission_names(submissions):
    """The student of each submission, as a folder name: a file's name without suffix, or, for a
    file name several submissions share (`alice/hw3.ipynb`, `bob/hw3.ipynb`), the folder above
    it (alice, bob); a folder's own name. Made safe for a folder name and unique."""
    paths = [Path(os.path.abspath(s)) for s in submissions]
    stems = [p.stem if p.suffix in (".py", ".ipynb") else p.name for p in paths]
    shared = {stem for stem in stems if stems.count(stem) > 1}
    bases = [p.parent.name if stem in shared and p.suffix in (".py", ".ipynb") and p.parent.name
             else stem for p, stem in zip(paths, stems)]
    return unique_names(bases)


def unique_names(submissions):
    """A folder name per submission: its file or folder name without suffix, made unique."""
    names, seen = [], {}
    for sub in submissions:
        path = Path(sub)
        base = re.sub(r"[^\w.\- ]", "_", path.stem if path.suffix in (".py", ".ipynb") else
                      path.name).lstrip(".-") or "submission"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def single_file(folder):
    """The one notebook or one .py module in a folder that is not a package, so that a student's
    folder holding just hw3.ipynb is graded as hw3.ipynb; otherwise `folder` itself (a package,
    a file), or SubmissionRefused saying what the folder holds."""
    path = Path(folder)
    if not path.is_dir() or path.is_symlink() or (path / "__init__.py").exists():
        return path
    found = sorted(p for p in path.iterdir() if p.suffix in (".ipynb", ".py")
                   and not p.name.startswith(".") and not p.is_dir())
    notebooks = [p for p in found if p.suffix == ".ipynb"]
    modules = [p for p in found if p.suffix == ".py"]
    if len(notebooks) == 1 and not modules or len(modules) == 1 and not notebooks:
        return found[0]
    raise SubmissionRefused(
        f"{folder} is a folder without __init__.py holding {len(notebooks)} notebook(s) and "
        f"{len(modules)} .py file(s): hand in one notebook, one .py module, or a package "
        "(a folder with __init__.py)")


def grade_safely(submission, name, out, args, rubric, hide=()):
    """grade() that always leaves a results.json, even if the grader itself trips before it has
    the submission's results (after that, nothing replaces real results with a placeholder)."""
    try:
        return grade(submission, name, out, args, rubric, hide)
    except Interrupted:
        return {"stopped": True}
    except Exception as error:  # noqa: BLE001 - one broken submission must not stop the class
        message = f"The grader could not grade {submission}: {error!r}"
        return _unrun(submission, name, out, rubric, message)


def _unrun(submission, name, out, rubric, message, seconds=0.0):
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    scored = score(_placeholder_tests(rubric), {}, rubric, f"not graded: {message}")
    _write_json(folder / "results.json", results_json(scored, rubric, message, seconds))
    return dict(name=name, submission=str(submission), scored=scored, seconds=seconds,
                problem=message, notes=[], timed_out=False, isolation="", resources={})


def grade(submission, name, out, args, rubric, hide=()):
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)         # a worker without bubblewrap must not read it either
    try:
        path = judge_link(single_file(submission), forbidden=[*project_folders(), out])
    except SubmissionRefused as error:
        return _unrun(submission, name, out, rubric, str(error))
    log = folder / "tests.jsonl"
    log.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", str(SPEC_TESTS), "-q", "-p", "no:cacheprovider",
               "--cnnspec-log", str(log), "--hypothesis-profile", "cnnspec-grade",
               "--bwrap", "off" if args.trust else "require",
               "--impl", str(path), "--isolate", "--seed", str(args.seed),
               "--call-timeout", str(args.call_timeout), "--memory-mb", str(args.memory_mb),
               "--training-seconds", str(rubric["training"]["seconds"]),
               "-o", "addopts=", "--tb=no", "-rN", "--api",
               str(Path(args.api).resolve()) if args.api.endswith(".toml") else args.api]
    for folder_to_hide in hide:
        command += ["--hide", folder_to_hide]
    for not_graded in NOT_GRADED:
        command += ["--ignore", str(not_graded)]
    if args.tests:
        command += ["-k", args.tests]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNNSPEC_")}
    from ..mnist import default_cache_dir
    env["CNNSPEC_CACHE"] = str(default_cache_dir())     # the MNIST the preflight found
    run = _Run(args)
    if _STOP.is_set():
        raise Interrupted(submission)
    cwd = Path(tempfile.mkdtemp(prefix="cnnspec-grade-"))
    try:
        os.chmod(cwd, 0o755)        # a worker running as its own user must reach its folder
        env["TMPDIR"] = str(cwd)    # worker folders too: all removed even if the run is killed
        with open(folder / "pytest.txt", "wb") as console:
            run.start(command, cwd, env, console)
        run.wait_and_end()          # every process of the submission is dead after this
    finally:
        cleanup_problem = _remove(cwd)
        run.release()

    if run.stopped:
        raise Interrupted(submission)
    tests, results, implementation = read_log(log)
    problem = implementation.get("load_error")
    if problem:     # said once, in the summary, not again with every test
        results = {nodeid: dict(r, message=LOAD_FAILED) if str(r.get("message", "")).startswith(
            "LoadFailed") else r for nodeid, r in results.items()}
    if not tests:
        tail = (folder / "pytest.txt").read_text(errors="replace")[-2000:]
        problem = problem or f"the test run collected no tests (exit {run.returncode}):\n{tail}"
        tests = _placeholder_tests(rubric)
    not_run = (f"not run: grading this submission took longer than {args.submission_timeout:g} s"
               if run.timed_out else "not run: the test run ended early (see pytest.txt)")
    if run.oom:
        not_run = (f"not run: the grading process went over its {args.grader_memory_mb} MiB "
                   "(what the submission sent back was too large to judge)")
    scored = score(tests, results, rubric, not_run)
    notes = implementation.get("notes") or []
    text = summary_text(name, submission, scored, rubric, args.seed, problem, notes,
                        implementation.get("isolation"),
                        (run.timed_out or run.oom) and not_run)
    doc = results_json(scored, rubric, text, run.seconds, seed=args.seed)
    doc["extra_data"] = {"resources": run.resources}
    if cleanup_problem:
        doc["extra_data"]["cleanup"] = cleanup_problem
    _write_json(folder / "results.json", doc)
    return dict(name=name, submission=str(submission), scored=scored, seconds=run.seconds,
                problem=problem, notes=notes, timed_out=run.timed_out,
                isolation=implementation.get("isolation") or "", resources=run.resources)


class _Run:
    """One submission's grading process: started in a cgroup of its own (memory, processes, a
    fair CPU share) with its workers' cgroups beside it, and ended with all its descendants."""

    def __init__(self, args):
        self.args, self.group, self.process = args, None, None
        self.timed_out = self.oom = self.stopped = False
        self.returncode, self.seconds, self.resources = None, 0.0, {}

    def start(self, command, cwd, env, console):
        limits = Limits()
        if cgroups.status()[0]:
            mb = 2**20
            worker = self.args.memory_mb + limits.disk_mb
            self.group = cgroups.Group.create(
                f"grade-{secrets.token_hex(4)}", cpu_shares=1024,
                memory_bytes=(self.args.grader_memory_mb + 2 * worker) * mb,
                pids=GRADER_PROCESSES + 2 * (limits.processes + 4))
            grader = self.group.child(cgroups.GRADER, memory_bytes=self.args.grader_memory_mb * mb,
                                      pids=GRADER_PROCESSES)
            join, address_space = grader.join_paths(), None
        else:           # no cgroup: the grading process's own address space, at least
            join, address_space = [], self.args.grader_memory_mb * 2**20
        self.started = time.monotonic()
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=console, stderr=subprocess.STDOUT,
                                        start_new_session=True,
                                        preexec_fn=lambda: _enter(join, address_space))
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        if _STOP.is_set():          # Ctrl-C came while it was starting
            self.stop()

    def stop(self):
        """Kill the grading process and its workers now (Ctrl-C); wait_and_end then returns."""
        self.stopped = True
        self._kill()

    def _kill(self):
        """SIGKILL the grading process's session and every process of its cgroup."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.group is not None:
            self.group.kill()

    def wait_and_end(self):
        try:
            self.returncode = self.process.wait(timeout=self.args.submission_timeout)
        except subprocess.TimeoutExpired:
            self.timed_out = True
        self.seconds = time.monotonic() - self.started
        self._kill()
        kill_uids(uid_block(self.process.pid))     # workers that left every group and session
        if self.returncode is None:
            self.returncode = self.process.wait()
        if self.group is not None:
            grader = self.group.children()
            workers = [g for g in grader if g.name != cgroups.GRADER]
            own = [g for g in grader if g.name == cgroups.GRADER]
            self.oom = bool(own) and own[0].oom_kills() > 0
            self.resources = {
                "grader_peak_mb": round(own[0].peak_memory() / 2**20, 1) if own else None,
                "worker_peak_mb": round(max([w.peak_memory() for w in workers] or [0]) / 2**20, 1),
                "workers": len(workers),
                "worker_oom_kills": sum(w.oom_kills() for w in workers),
                "worker_forks_refused": sum(w.forks_refused() for w in workers)}
        self.resources["seconds"] = round(self.seconds, 1)

    def release(self):
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        if self.group is not None:
            try:
                self.group.remove()
            except OSError:
                pass


_LIBC = ctypes.CDLL(None)     # made here: a child between fork and exec must not import


def _enter(join, address_space):
    """In the grading process, before exec: its cgroup (or, without one, a soft address-space
    limit its workers may set their own below), and death with the grader."""
    for path in join:
        fd = os.open(path, os.O_WRONLY)
        os.write(fd, b"0")
        os.close(fd)
    if address_space is not None:
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        if hard != resource.RLIM_INFINITY:
            address_space = min(address_space, hard)
        resource.setrlimit(resource.RLIMIT_AS, (address_space, hard))
    _LIBC.prctl(1, signal.SIGKILL)                  # PR_SET_PDEATHSIG


def _remove(folder):
    """Remove a folder of the run; a problem is reported, never raised (results are kept)."""
    try:
        remove_tree(folder)
        return None
    except OSError as error:
        return f"could not remove {folder}: {error}"


def _write_json(path, doc):
    """Write `doc` to `path` all at once (a reader never sees half a file)."""
    temporary = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps(doc, indent=1))
    os.replace(temporary, path)


def _placeholder_tests(rubric):
    """One failed stand-in per function when no test could even be collected."""
    return [{"nodeid": f"{f} (no test ran)", "function": f, "output": None, "category": "value",
             "clauses": []} for f in rubric["functions"]]


def summary_text(name, submission, scored, rubric, seed, problem, notes, isolation, limit):
    total = sum(t["score"] for t in scored)
    top = sum(t["max_score"] for t in scored)
    lines = [f"{name}: {total:.2f} / {top:.2f} points (cnnspec, hidden-input seed {seed}).",
             f"Submission: {submission}", f"Isolation: {isolation or 'unknown (no test ran)'}"]
    if problem:
        lines += ["", f"LOAD PROBLEM: {problem}"]
    if limit:
        lines += ["", f"LIMIT: {limit}"]
    if notes:   # a notebook: its loader's summary line, then what it stubbed, dropped, or raised
        lines += ["", f"Notebook {notes[0]} (what was kept ran; nothing else did):"] + \
                 [f"  - {n}" for n in notes[1:51]]
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
