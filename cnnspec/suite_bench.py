"""How long the conformance suite takes against an implementation, and its slowest test.

    cnnspec bench-suite                         the reference and tests/corpus/loops.py
    cnnspec bench-suite --impl my_cnn.py --repeat 3
    python scripts/bench_suite.py ...           the same command

Runs `python -m pytest --pyargs cnnspec.spec_tests -m "not mnist"` (the conformance suite, the
golden vectors included, the MNIST run not) once per repeat and implementation, in a subprocess
from an empty folder, and reports the wall time (fastest and all repeats), the number of tests and
the slowest single test call (which bounds how close any call comes to the grader's per-call time
limit). Issue 10's budgets: under 20 s against the reference, under 3 minutes against a
straightforward loop implementation. Timing lives here, never in an asserting test.
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .training import positive_int

LOOPS = Path(__file__).resolve().parents[1] / "tests" / "corpus" / "loops.py"   # a checkout


def run_suite(impl, folder):
    command = [sys.executable, "-m", "pytest", "--pyargs", "cnnspec.spec_tests", "-q",
               "-p", "no:cacheprovider", "-m", "not mnist", "--durations=1", "--impl", impl]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    # pytest's own closing line ("936 passed, 1 deselected in 7.5s"), not the per-function summary
    tail = ([line for line in done.stdout.splitlines() if " in " in line and "passed" in line
             or "failed" in line and " in " in line] or [""])[-1]
    slowest = re.search(r"^([\d.]+)s call\s+(\S+)", done.stdout, re.M)
    counts = re.search(r"(\d+) passed", tail)
    failed = re.search(r"(\d+) failed", tail)
    return {"seconds": round(seconds, 2), "exit": done.returncode,
            "passed": int(counts.group(1)) if counts else 0,
            "failed": int(failed.group(1)) if failed else 0,
            "slowest_call_s": float(slowest.group(1)) if slowest else None,
            "slowest_test": slowest.group(2) if slowest else None}


REPEAT = 1


def add_arguments(parser):
    parser.add_argument("--impl", action="append",
                        help="an implementation to time (repeatable; default: the reference and "
                             "tests/corpus/loops.py of a checkout)")
    parser.add_argument("--repeat", type=positive_int, metavar="N", default=REPEAT,
                        help="runs per implementation (default %(default)s)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")


def run(args):
    impls = args.impl or ["cnnspec.reference"] + ([str(LOOPS)] if LOOPS.is_file() else [])
    figures = {}
    with tempfile.TemporaryDirectory(prefix="cnnspec-bench-suite-") as folder:
        for impl in impls:
            runs = [run_suite(impl, folder) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["seconds"])
            figures[impl] = dict(best, all_seconds=[r["seconds"] for r in runs])
            print(f"{impl}: {best['seconds']:.1f} s (all: {figures[impl]['all_seconds']}), "
                  f"{best['passed']} passed, {best['failed']} failed, slowest call "
                  f"{best['slowest_call_s']} s ({best['slowest_test']})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if all(f["exit"] == 0 for f in figures.values()) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="cnnspec bench-suite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
