"""The suite tests itself: every mutant is caught by its own function's tests; the independent
implementation passes everything.

    python scripts/check_mutants.py                 # all mutants, 2 at a time, + the independent impl
    python scripts/check_mutants.py --jobs 4 --only pool_last_max loss_summed
    python scripts/check_mutants.py --list          # the catalogue, one line each

For each mutant of spec_tests/selftest/mutants.py it writes the patched reference to a temporary
folder and runs `pytest spec_tests --impl <mutant> -m "not mnist" -x` restricted (with -k) to the
tests of the function the mutant breaks (test_<function>..., see the plan's naming rule). A mutant
those tests catch is CAUGHT. One they miss is run against the whole suite to tell "caught only by
another function's tests" (which still fails this check: the grader would take the points from the
wrong function) from "survives". A JUnit report tells which tests failed. Then the whole suite runs
against spec_tests/selftest/independent.py, which must pass, and the tests that caught mutants
run once more against the reference, which must pass them (else a broken test would make every
mutant look caught). Exit status 1 if any mutant is not caught by its own tests or either
implementation fails.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from importlib import resources
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(resources.files("cnnspec.spec_tests")).parent   # run pytest from beside the suite

from ..contract import CONTRACT
from . import mutants as catalogue

INDEPENDENT = Path(__file__).with_name("independent.py")


def function_of(test_name):
    """The contract function a test checks: the longest name that prefixes it after 'test_'."""
    name = test_name.split("::")[-1].split("[", 1)[0]
    matches = [f for f in CONTRACT if name.startswith(f"test_{f}")]
    return max(matches, key=len) if matches else None


def keyword_for(function):
    """A -k expression selecting test_<function>... but not the tests of longer-named functions
    (test_relu must not select test_relu_backward)."""
    longer = [g for g in CONTRACT if g != function and g.startswith(function)]
    return " and ".join([f"test_{function}"] + [f"not test_{g}" for g in longer])


def test_files(function):
    """The spec_tests files that define a test of `function` (collecting only them saves seconds
    per mutant), the golden vectors last so that the named spec test is reported first; the
    whole folder if none is found."""
    pattern = re.compile(rf"^\s*def test_{function}(_|\()", re.M)
    files = sorted((p.name == "test_golden.py", f"spec_tests/{p.name}")   # golden vectors last
                   for p in (ROOT / "spec_tests").glob("test_*.py") if pattern.search(p.read_text()))
    files = [name for _, name in files]
    return files or ["spec_tests"]


def run_pytest(impl, junit, keyword=None, stop_first=True, timeout=900, paths=("spec_tests",)):
    command = [sys.executable, "-m", "pytest", *paths, "--impl", str(impl), "-m", "not mnist",
               "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", "-o", "junit_family=xunit2"]
    if stop_first:
        command.append("-x")
    if keyword:
        command += ["-k", keyword]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("CNNSPEC_IMPL", None)
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
        code, tail = done.returncode, (done.stdout + done.stderr)[-3000:]
    except subprocess.TimeoutExpired:
        code, tail = "timeout", f"pytest took more than {timeout} s"
    return code, failed_tests(junit), time.perf_counter() - start, tail


def failed_tests(junit):
    try:
        tree = ET.parse(junit)
    except (OSError, ET.ParseError):
        return []
    return [node_id(case) for case in tree.iter("testcase")
            if case.find("failure") is not None or case.find("error") is not None]


def node_id(testcase):
    """spec_tests/test_conv2d.py::test_name[params] from a JUnit <testcase>."""
    path = testcase.get("classname", "").replace(".", "/")
    return f"{path}.py::{testcase.get('name')}" if path else testcase.get("name")


def short(test):
    return test.split("::")[-1]


def check_reference(tests, folder, timeout):
    """The tests that caught mutants must pass against the reference: a test that fails for
    every implementation would make every mutant look caught."""
    if not tests:
        return dict(passed=True, failed=[], seconds=0.0, tail="")
    code, failed, seconds, tail = run_pytest("reference", Path(folder) / "reference.xml",
                                             stop_first=False, timeout=timeout,
                                             paths=sorted(set(tests)))
    return dict(passed=code == 0, failed=failed, seconds=seconds, tail=tail)


def check_mutant(mutant, folder, timeout):
    path = catalogue.build(mutant, folder)
    junit = Path(folder) / f"{mutant.name}.xml"
    code, failed, seconds, tail = run_pytest(path, junit, keyword_for(mutant.function),
                                             timeout=timeout, paths=test_files(mutant.function))
    own = [t for t in failed if function_of(t) == mutant.function]
    result = dict(name=mutant.name, function=mutant.function, caught=bool(own), by=own,
                  others=[], seconds=seconds, status="caught" if own else "survived")
    if code == 5:
        result["status"] = f"no tests match -k {keyword_for(mutant.function)!r}"
    if not own:
        # Not caught by its own tests: does anything in the suite catch it?
        code, failed, more, tail = run_pytest(path, junit, timeout=timeout)
        result["seconds"] += more
        own = [t for t in failed if function_of(t) == mutant.function]
        result.update(caught=bool(own), by=own, others=[t for t in failed if t not in own],
                      tail=tail)
        if own:
            result["status"] = "caught (outside the files named after its function)"
        elif failed:
            result["status"] = "caught only by other functions' tests"
    return result


def check_independent(folder, timeout):
    code, failed, seconds, tail = run_pytest(INDEPENDENT, Path(folder) / "independent.xml",
                                             stop_first=False, timeout=timeout)
    return dict(passed=code == 0, code=code, failed=failed, seconds=seconds, tail=tail)


def table(results):
    rows = [("mutant", "function", "caught?", "by which tests", "s")]
    for r in results:
        by = [short(t) for t in r["by"] or r["others"]]
        shown = ", ".join(by[:2]) + (f" (+{len(by) - 2} more)" if len(by) > 2 else "")
        rows.append((r["name"], r["function"], "yes" if r["caught"] else r["status"].upper(),
                     shown or "-", f"{r['seconds']:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])
        if k == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 4)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants run in parallel (default 2)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="check only these mutants")
    parser.add_argument("--skip-independent", action="store_true",
                        help="do not run the suite against the independent implementation")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per pytest run")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--list", action="store_true", help="list the catalogue and exit")
    args = parser.parse_args(argv)

    selected = catalogue.MUTANTS
    if args.only:
        unknown = set(args.only) - {m.name for m in selected}
        if unknown:
            parser.error(f"no such mutant: {', '.join(sorted(unknown))}")
        selected = [m for m in selected if m.name in args.only]
    if args.list:
        for m in selected:
            print(f"{m.name:32} {m.function:28} {m.description}")
        return 0

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cnnspec-mutants-") as folder:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            independent = None if args.skip_independent else pool.submit(
                check_independent, folder, args.timeout)
            futures = [pool.submit(check_mutant, m, folder, args.timeout) for m in selected]
            results = []
            for future in futures:
                results.append(future.result())
                r = results[-1]
                print(f"  {r['name']:34} {'caught' if r['caught'] else r['status']} "
                      f"({r['seconds']:.1f} s)", flush=True)
            independent = independent.result() if independent else None
        reference = check_reference([t for r in results for t in r["by"]], folder, args.timeout)

    caught = sum(r["caught"] for r in results)
    print()
    print(table(results))
    print(f"\nmutants caught by their own function's tests: {caught}/{len(results)}")
    for r in results:
        if not r["caught"]:
            print(f"\n{r['name']} ({r['function']}) {r['status']}: {r.get('tail', '')[-1500:]}")
    ok = caught == len(results)
    if reference["passed"]:
        print(f"the reference passes the {len({t for r in results for t in r['by']})} tests that "
              f"caught mutants")
    else:
        print(f"the reference FAILS tests that caught mutants, so those catches prove nothing: "
              f"{', '.join(reference['failed']) or reference['tail'][-2000:]}")
        ok = False
    if independent is not None:
        verdict = "passes" if independent["passed"] else "FAILS"
        print(f"independent implementation ({INDEPENDENT.relative_to(ROOT)}): {verdict} the whole "
              f"suite (not mnist) in {independent['seconds']:.1f} s")
        if not independent["passed"]:
            print(f"  failed tests: {', '.join(independent['failed']) or independent['code']}")
            print(independent["tail"][-3000:])
        ok = ok and independent["passed"]
    total = time.perf_counter() - start
    print(f"total time {total:.0f} s with --jobs {args.jobs}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(mutants=results, independent=independent,
                                                   reference=reference, seconds=total),
                                              indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
