"""Wall time of grading: the hostile corpus in one run, and a class of correct submissions.

    python scripts/bench_grade.py                      # both, 30 correct submissions, --jobs 2
    python scripts/bench_grade.py --class-size 10 --skip-hostile

The correct submissions are copies of the reference, half as .py files and half as seed-style
notebooks (the reference's text split into cells, with top-level CSV loading, a training loop and
plots that the grader must drop). Each run is a real `scripts/grade.py` run over the full suite.
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

PROJECT = Path(__file__).resolve().parent.parent
HOSTILE = PROJECT / "scripts" / "tests" / "hostile"


def grade(submissions, out, jobs, extra=()):
    started = time.monotonic()
    subprocess.run([sys.executable, str(PROJECT / "scripts" / "grade.py"), *map(str, submissions),
                    "--out", str(out), "--jobs", str(jobs), "--seed", "1", *extra],
                   check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.monotonic() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class-size", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-hostile", action="store_true")
    parser.add_argument("--skip-class", action="store_true")
    parser.add_argument("--keep", help="keep the graded folders here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(PROJECT))
    from scripts.tests.test_grade import seed_style_notebook

    work = Path(args.keep or tempfile.mkdtemp(prefix="cnnspec-bench-grade-"))
    work.mkdir(parents=True, exist_ok=True)
    figures = {"cpus": os.cpu_count(), "jobs": args.jobs}
    if not args.skip_hostile:
        subs = sorted(HOSTILE.glob("*.py"))
        figures["hostile_submissions"] = len(subs)
        figures["hostile_seconds"] = round(grade(subs, work / "hostile", args.jobs), 1)
        print(f"hostile corpus: {len(subs)} submissions in {figures['hostile_seconds']} s "
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
                shutil.copy(PROJECT / "reference" / "cnn.py", subs[-1])
        figures["class_submissions"] = len(subs)
        figures["class_seconds"] = round(grade(subs, work / "class", args.jobs), 1)
        print(f"{len(subs)} correct submissions: {figures['class_seconds']} s "
              f"(--jobs {args.jobs})", flush=True)
    (work / "bench.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
