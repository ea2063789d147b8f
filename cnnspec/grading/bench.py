"""Wall time of grading: the hostile corpus in one run, and a class of correct submissions.

    cnnspec bench-grade                          both: the corpus, 30 correct submissions, --jobs 2
    cnnspec bench-grade --class-size 10 --skip-hostile
    python scripts/bench_grade.py ...            the same command

The correct submissions are copies of the reference, half as .py files and half as seed-style
notebooks (cnnspec.grading.examples: the reference's text split into cells, with top-level CSV
loading, a training loop and plots that the grader must drop). The hostile corpus is the project's
own (tests/grading/hostile/ of a checkout; --hostile names another folder of .py submissions).
Each run is a real `cnnspec grade` run over the full suite, with the fixed seed 1.
"""
import argparse
import json
import os
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
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "cnnspec", "grade", *map(str, submissions),
                    "--out", str(out), "--jobs", str(jobs), "--seed", str(SEED), *extra],
                   check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.monotonic() - started


def add_arguments(parser):
    parser.add_argument("--class-size", type=positive_int, metavar="N", default=CLASS_SIZE,
                        help="correct submissions in the class run (default %(default)s)")
    parser.add_argument("--jobs", type=positive_int, metavar="N", default=JOBS,
                        help="submissions graded at once (default %(default)s)")
    parser.add_argument("--hostile", metavar="DIR", type=Path,
                        help="the folder of hostile .py submissions (default: tests/grading/hostile "
                             "of this checkout)")
    parser.add_argument("--skip-hostile", action="store_true", help="time the class run only")
    parser.add_argument("--skip-class", action="store_true", help="time the hostile corpus only")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the submissions and the grades here (default: a temporary "
                             "folder, removed at the end)")


def run(args):
    corpus = args.hostile or HOSTILE
    hostile = sorted(Path(corpus).glob("*.py")) if not args.skip_hostile else []
    if not args.skip_hostile and not hostile:
        print(f"error: no hostile submissions (*.py) in {corpus}: the corpus ships with a "
              f"checkout of cnnspec, not with the wheel; name a folder with --hostile DIR or "
              f"pass --skip-hostile", file=sys.stderr)
        return 2
    work = Path(args.keep or tempfile.mkdtemp(prefix="cnnspec-bench-grade-"))
    work.mkdir(parents=True, exist_ok=True)
    figures = {"cpus": os.cpu_count(), "jobs": args.jobs}
    try:
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
            figures["class_seconds"] = round(grade(subs, work / "class", args.jobs), 1)
            print(f"{len(subs)} correct submissions: {figures['class_seconds']} s "
                  f"(--jobs {args.jobs})", flush=True)
        (work / "bench.json").write_text(json.dumps(figures, indent=1))
        print(json.dumps(figures))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="cnnspec bench-grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
