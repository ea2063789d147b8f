"""Wall time of grading: the hostile corpus in one run, and a class of correct submissions.

    cnnspec bench-grade                          both: the corpus, 30 correct submissions, --jobs 2
    cnnspec bench-grade --class-size 10 --skip-hostile
    cnnspec bench-grade --per-submission         one .py and one notebook: in-process against isolated
    python scripts/bench_grade.py ...            the same command

The correct submissions are copies of the reference, half as .py files and half as seed-style
notebooks (cnnspec.grading.examples: the reference's text split into cells, with top-level CSV
loading, a training loop and plots that the grader must drop). The hostile corpus is the project's
own (tests/grading/hostile/ of a checkout; --hostile names another folder of .py submissions).
Each run is a real `cnnspec grade` run over the full suite, with the fixed seed 1.

--per-submission times one correct .py file and one seed-style notebook three ways: the suite the
grader runs (its tests and options) in-process, the same with --isolate, and a whole `cnnspec grade`
of that one submission (its grading process alone, and the command with its once-per-run probe
and report). Every figure gives wall seconds, CPU seconds of the command and all its processes
(from a cpuacct cgroup where there is one, else the children's rusage) and the load average
before and after: on a shared machine, wall time is an upper bound and CPU time the steadier one.
"""
import argparse
import contextlib
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..training import positive_int
from .examples import reference_source, seed_style_notebook

HOSTILE = Path(__file__).resolve().parents[2] / "tests" / "grading" / "hostile"   # in a checkout
CLASS_SIZE = 30
JOBS = 2
SEED = 1


def grade(submissions, out, jobs, extra=()):
    """Seconds one `cnnspec grade` run over `submissions` takes."""
    return timed(grade_command(submissions, out, jobs, extra))["wall"]


def grade_command(submissions, out, jobs, extra=()):
    return [sys.executable, "-m", "cnnspec", "grade", *map(str, submissions), "--out", str(out),
            "--jobs", str(jobs), "--seed", str(SEED), *extra]


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def timed(command, check=True):
    """{wall, cpu, cpu_from, load}: run `command` (output discarded); cpu counts every process it
    starts, the sandboxed workers included, when a cpuacct cgroup can be made (cgroups v1, root),
    else from the children's rusage (which misses a process whose parent died before reaping it)."""
    group = None
    if CPUACCT.is_dir() and os.access(CPUACCT, os.W_OK):
        group = CPUACCT / f"cnnspec-bench-{secrets.token_hex(4)}"
        try:
            group.mkdir()
        except OSError:
            group = None
    join = (lambda: (group / "tasks").write_text("0")) if group is not None else None
    before, load = resource.getrusage(resource.RUSAGE_CHILDREN), os.getloadavg()[0]
    started = time.monotonic()
    try:
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                preexec_fn=join)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if group is not None:
            cpu, source = int((group / "cpuacct.usage").read_text()) / 1e9, "cpuacct"
        else:
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            source = "rusage"
    finally:
        if group is not None:
            try:
                group.rmdir()
            except OSError:
                pass
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, command)
    return {"wall": round(wall, 1), "cpu": round(cpu, 1), "cpu_from": source,
            "load": [round(load, 2), round(os.getloadavg()[0], 2)]}


def suite_command(submission, isolate):
    """The suite as the grader runs it for one submission (grade.py: its tests, seed, hypothesis
    profile and training check's time limit; golden vectors and MNIST-1 not graded), in-process
    or isolated."""
    from .grade import NOT_GRADED, SPEC_TESTS
    from .score import load_rubric
    command = [sys.executable, "-m", "pytest", str(SPEC_TESTS), "-q", "-p", "no:cacheprovider",
               "--hypothesis-profile", "cnnspec-grade", "--impl", str(submission), "--seed",
               str(SEED), "--training-seconds", str(load_rubric(None)["training"]["seconds"]),
               "-o", "addopts=", "--tb=no", "-rN"]
    for path in NOT_GRADED:
        command += ["--ignore", str(path)]
    return command + (["--isolate"] if isolate else [])


def per_submission(work, repeat=1):
    """In-process against isolated for one .py and one seed-style notebook: {kind: [figures]}."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    subs = {"py": work / "student.py", "notebook": work / "student.ipynb"}
    subs["py"].write_text(reference_source(), encoding="utf-8")
    seed_style_notebook(subs["notebook"])
    figures = {}
    for kind, sub in subs.items():
        for run in range(repeat):
            inproc = timed(suite_command(sub, False))
            isolated = timed(suite_command(sub, True))
            out = work / f"grades-{kind}-{run}"
            whole = timed(grade_command([sub], out, 1))
            record = json.loads((out / sub.stem / "results.json").read_text())
            row = {"in_process": inproc, "isolated": isolated, "grade_command": whole,
                   "grading_process_wall": record.get("execution_time"),
                   "isolated_over_in_process_wall": round(isolated["wall"] / inproc["wall"], 2),
                   "isolated_over_in_process_cpu": round(isolated["cpu"] / inproc["cpu"], 2)}
            figures.setdefault(kind, []).append(row)
            print(f"{kind} (run {run + 1}): in-process {_fig(inproc)}; isolated {_fig(isolated)} "
                  f"(x{row['isolated_over_in_process_wall']} wall, "
                  f"x{row['isolated_over_in_process_cpu']} CPU); cnnspec grade: its grading "
                  f"process {row['grading_process_wall']} s wall, the command {_fig(whole)}",
                  flush=True)
    return figures


def _fig(f):
    return f"{f['wall']} s wall, {f['cpu']} s CPU ({f['cpu_from']}), load {f['load'][0]}->{f['load'][1]}"


def add_arguments(parser):
    parser.add_argument("--class-size", type=positive_int, metavar="N", default=CLASS_SIZE,
                        help="correct submissions in the class run (default %(default)s)")
    parser.add_argument("--jobs", type=positive_int, metavar="N", default=JOBS,
                        help="submissions graded at once (default %(default)s)")
    parser.add_argument("--hostile", metavar="DIR", type=Path,
                        help="the folder of hostile .py submissions (default: "
                             "tests/grading/hostile of this checkout)")
    parser.add_argument("--skip-hostile", action="store_true", help="time the class run only")
    parser.add_argument("--skip-class", action="store_true", help="time the hostile corpus only")
    parser.add_argument("--per-submission", action="store_true",
                        help="instead: one .py and one notebook, the grader's suite in-process "
                             "against isolated, and one `cnnspec grade` of each")
    parser.add_argument("--repeat", type=positive_int, metavar="N", default=1,
                        help="with --per-submission: runs of each figure (default %(default)s)")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the submissions and the grades here (default: a temporary "
                             "folder, removed at the end)")


def run(args):
    if args.per_submission:
        with work_folder(args.keep) as work:
            figures = {"cpus": os.cpu_count(), "per_submission": per_submission(work, args.repeat)}
            (work / "bench.json").write_text(json.dumps(figures, indent=1))
            print(json.dumps(figures))
        return 0
    corpus = args.hostile or HOSTILE
    hostile = sorted(Path(corpus).glob("*.py")) if not args.skip_hostile else []
    if not args.skip_hostile and not hostile:
        print(f"error: no hostile submissions (*.py) in {corpus}: the corpus ships with a "
              f"checkout of cnnspec, not with the wheel; name a folder with --hostile DIR or "
              f"pass --skip-hostile", file=sys.stderr)
        return 2
    figures = {"cpus": os.cpu_count(), "jobs": args.jobs}
    with work_folder(args.keep) as work:
        if hostile:
            figures["hostile_submissions"] = len(hostile)
            figures["hostile_seconds"] = round(grade(hostile, work / "hostile", args.jobs), 1)
            print(f"hostile corpus: {len(hostile)} submissions in {figures['hostile_seconds']} s "
                  f"(--jobs {args.jobs})", flush=True)
        if not args.skip_class:
            folder = work / "class-submissions"
            folder.mkdir(exist_ok=True)
            subs = []
            for i in range(args.class_size):
                if i % 2:
                    subs.append(seed_style_notebook(folder / f"student_{i:02d}.ipynb"))
                else:
                    subs.append(folder / f"student_{i:02d}.py")
                    subs[-1].write_text(reference_source(), encoding="utf-8")
            figures["class_submissions"] = len(subs)
            whole = timed(grade_command(subs, work / "class", args.jobs))
            figures["class_seconds"], figures["class_cpu_seconds"] = whole["wall"], whole["cpu"]
            figures["class_load"] = whole["load"]
            print(f"{len(subs)} correct submissions: {figures['class_seconds']} s "
                  f"(--jobs {args.jobs}; {whole['cpu']} s CPU ({whole['cpu_from']}), load average "
                  f"{whole['load'][0]} before, {whole['load'][1]} after)", flush=True)
        (work / "bench.json").write_text(json.dumps(figures, indent=1))
        print(json.dumps(figures))
    return 0


@contextlib.contextmanager
def work_folder(keep=None):
    """The folder for the submissions and grades: `keep` (made if need be, kept), or a temporary
    one removed at the end."""
    work = Path(keep or tempfile.mkdtemp(prefix="cnnspec-bench-grade-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        yield work
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


# -- the hostile corpus as graded, and a neighbour of a fork hog (issue 11) ----------------------

def build_hostile_corpus(target, corpus=HOSTILE, private=None):
    """Put the whole hostile corpus in the folder `target` and return its submissions: the
    corpus's .py files, and the cases a checkout cannot hold as files: a submission that is a
    link to the reference, a package whose __init__.py is such a link, a package that links a
    private file of the instructor's (`private`, made if not given) to read it out, and a
    28.6 MiB notebook of empty metadata objects around an honest relu."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    subs = []
    for source in sorted(Path(corpus).glob("*.py")):
        subs.append(target / source.name)
        shutil.copyfile(source, subs[-1])
    import importlib.util
    reference = Path(importlib.util.find_spec("cnnspec.reference.cnn").origin)
    (target / "linked_file.py").symlink_to(reference)
    (target / "linked_package").mkdir()
    (target / "linked_package" / "__init__.py").symlink_to(reference)
    private = Path(private) if private else target.parent / "instructor-private.txt"
    if not private.exists():
        private.write_text("the instructor's private notes")
    (target / "leaky_package").mkdir()
    (target / "leaky_package" / "__init__.py").write_text(
        '"""Reads a file of the instructor\'s through a link planted beside it."""\n'
        "import os\n\nimport numpy as np\n\n\ndef relu(X):\n"
        "    with open(os.path.join(os.path.dirname(__file__), 'notes.txt')) as f:\n"
        "        raise ValueError(f.read())\n")
    (target / "leaky_package" / "notes.txt").symlink_to(private)
    subs += [target / "linked_file.py", target / "linked_package", target / "leaky_package",
             huge_notebook(target / "huge_notebook.ipynb")]
    return sorted(subs)


def huge_notebook(path, objects=10_000_000):
    """A notebook with an honest relu and `objects` empty metadata objects (28.6 MiB)."""
    code = ("import numpy as np\n\n\ndef relu(X):\n    return np.maximum(X, 0), X > 0\n\n\n"
            "def relu_backward(dout, cache):\n    return dout * cache\n")
    cell = json.dumps({"cell_type": "code", "source": code, "metadata": {}, "outputs": [],
                       "execution_count": None})
    with open(path, "w") as f:
        f.write('{"cells": [' + cell + '], "metadata": {"flood": [')
        f.write(",".join(["{}"] * objects))
        f.write(']}, "nbformat": 4, "nbformat_minor": 4}')
    return Path(path)


def neighbour_slowdown(work, extra=("--call-timeout", "2")):
    """Seconds the grading of a correct submission takes alone, and beside fork_to_the_limit.py
    (which forks until refused and spins in every child) with --jobs 2: {alone, beside, ratio}."""
    work = Path(work)
    (work / "alone").mkdir(parents=True, exist_ok=True)
    (work / "beside").mkdir(parents=True, exist_ok=True)
    for folder in ("alone", "beside"):
        (work / folder / "honest.py").write_text(reference_source(), encoding="utf-8")
    shutil.copyfile(HOSTILE / "fork_to_the_limit.py", work / "beside" / "fork_to_the_limit.py")
    grade([work / "alone" / "honest.py"], work / "alone-grades", 1, extra)
    grade([work / "beside" / "honest.py", work / "beside" / "fork_to_the_limit.py"],
          work / "beside-grades", 2, extra)
    alone = json.loads((work / "alone-grades" / "honest" / "results.json").read_text())
    beside = json.loads((work / "beside-grades" / "honest" / "results.json").read_text())
    figures = {"alone": alone["execution_time"], "beside": beside["execution_time"],
               "alone_score": alone["score"], "beside_score": beside["score"]}
    figures["ratio"] = round(figures["beside"] / figures["alone"], 2)
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(prog="cnnspec bench-grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
