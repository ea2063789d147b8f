"""Show that the conformance suite catches every mutant, each with its own function's tests.

    cnnspec mutants                          every mutant, 2 at a time, + reference + independent
    cnnspec mutants --only pool_last_max loss_summed
    cnnspec mutants --new                    only the mutants written for issue 10
    cnnspec mutants --list                   the catalogue, one line each
    python scripts/check_mutants.py ...      the same

For each mutant of cnnspec/selftest/mutants.py the whole conformance suite runs (`pytest --pyargs
cnnspec.spec_tests -m "not mnist"`, no -x) with --cnnspec-log, and every failed test is read as
(function, output, category) from its spec marker. The matrix shows mutants as rows and the
(function, output) groups that failed as columns. A mutant is
  CAUGHT      when a failing test judges its function and one of its outputs, and nothing else
              failed except the network functions that run the broken layer (forward_backward,
              predict, test_accuracy; and test_accuracy for a broken predict);
  COLLATERAL  when any other test failed: a failure the grader would charge to the wrong function
              or output (a failure of this check);
  MISSED      when nothing it may be blamed for failed.
A backward test that fails with "not judged: ... <the mutant's function> ..." (the suite's word for
a backward that cannot be judged because its forward is wrong) is not collateral; the matrix marks
such failures n, so they stay visible.
The whole suite also runs against the reference (the tests that caught mutants must pass there,
else a broken test would make every mutant look caught) and against the independent
implementation (cnnspec/selftest/independent.py), which must pass everything. The exit status is
1 if any mutant is MISSED, COLLATERAL or could not run, or if either implementation fails.
"""
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..contract import CONTRACT, PARAMS, PSEUDO_OUTPUTS, RETURNS
from . import mutants as catalogue

SUITE = "cnnspec.spec_tests"
INDEPENDENT = Path(__file__).with_name("independent.py")
JOBS = 2
TIMEOUT = 900.0              # seconds for one run of the suite
PROFILE = "cnnspec-grade"    # derandomized, no example database: every run independent
TAIL = 3000                  # characters of pytest's output kept when a run goes wrong
SHORT = {"conv2d": "conv", "conv2d_backward": "conv_b", "maxpool2d": "pool",
         "maxpool2d_backward": "pool_b", "relu": "relu", "relu_backward": "relu_b",
         "fully_connected_forward": "fc", "fully_connected_backward": "fc_b",
         "softmax_cross_entropy_loss": "loss", "initialize_parameters": "init",
         "forward_backward": "fb", "predict": "pred", "test_accuracy": "acc"}


def add_arguments(parser):
    parser.add_argument("--jobs", type=int, default=JOBS, metavar="N",
                        help=f"runs of the suite in parallel (default {JOBS})")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="check only these mutants")
    parser.add_argument("--new", action="store_true",
                        help="check only the mutants written for issue 10 (those with a bug class)")
    parser.add_argument("--list", action="store_true", help="list the catalogue and exit")
    parser.add_argument("--json", metavar="FILE", help="also write every result to FILE as JSON")
    parser.add_argument("--skip-implementations", action="store_true",
                        help="do not run the suite against the reference and the independent "
                             "implementation")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, metavar="SECONDS",
                        help=f"time limit of one run of the suite (default {TIMEOUT:g})")
    parser.add_argument("--python", metavar="PATH",
                        help="the Python that runs the suite, e.g. of a virtual environment "
                             "holding another version of cnnspec; without it, the Python running "
                             "this")
    parser.add_argument("--hypothesis-profile", default=PROFILE, metavar="NAME",
                        help=f"hypothesis profile of the runs (default {PROFILE})")


# -- running the suite --------------------------------------------------------------------------

def run_suite(impl, folder, args):
    """Run the whole suite on `impl` (None: the reference) in an empty folder of its own; return
    {status, seconds, tests: {nodeid: meta}, failed: [nodeid], tail}."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "log.jsonl"
    command = [args.python or sys.executable, "-m", "pytest", "--pyargs", SUITE, "-m", "not mnist",
               "-q", "-p", "no:cacheprovider", "--cnnspec-log", str(log), "--tb=line",
               "--hypothesis-profile", args.hypothesis_profile]
    if impl is not None:
        command += ["--impl", str(impl)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    for name in ("CNNSPEC_IMPL", "CNNSPEC_SEED", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                              timeout=args.timeout)
        code, tail = done.returncode, (done.stdout + done.stderr)[-TAIL:]
    except subprocess.TimeoutExpired as error:
        code, tail = "timeout", f"the suite took more than {args.timeout:g} s\n" + \
            str(error.stdout or "")[-TAIL:]
    tests, outcomes = read_log(log)
    status = "ok" if code in (0, 1) and tests else f"pytest exit code {code}"
    failed = {nodeid: message for nodeid, (outcome, message) in outcomes.items()
              if outcome == "failed"}
    return dict(status=status, seconds=time.perf_counter() - start, tests=tests,
                failed=failed, tail=tail)


def read_log(path):
    """({nodeid: {function, output, category, clauses}}, {nodeid: (outcome, message)}) from a
    --cnnspec-log."""
    tests, outcomes = {}, {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return tests, outcomes
    for line in lines:
        record = json.loads(line)
        if record.get("kind") == "collected":
            tests.update({t["nodeid"]: t for t in record["tests"]})
        elif record.get("kind") == "result":
            outcomes[record["nodeid"]] = (record["outcome"], record.get("message", ""))
    return tests, outcomes


def _meta(run, nodeid):
    """A failed test's marker and the first line of its message; an update named
    "new_params.W1" is the output "W1"."""
    meta = dict(run["tests"].get(nodeid, {"function": None, "output": None}), nodeid=nodeid,
                message=(run["failed"][nodeid].strip().splitlines() or [""])[0][:160])
    if str(meta["output"]).startswith("new_params."):
        meta["output"] = meta["output"].split(".", 1)[1]
    return meta


def not_judged(failure, mutant):
    """A failure that declines to judge because the mutant's (forward) function is wrong."""
    return failure["message"].startswith("not judged") and \
        re.search(rf"\b{mutant.function}\b", failure["message"]) is not None


def judge(mutant, run):
    """The verdict on one mutant from the run of the suite against it."""
    failures = [_meta(run, n) for n in run["failed"]]
    own = [f for f in failures if f["function"] == mutant.function and
           (f["output"] is None or f["output"] in mutant.judged_outputs)]
    unexpected = [f for f in failures if not catalogue.expected_failure(mutant, f["function"],
                                                                         f["output"])]
    wrong = [f for f in unexpected if not not_judged(f, mutant)]
    if run["status"] != "ok":
        verdict = "ERROR"
    else:
        verdict = "COLLATERAL" if wrong else "CAUGHT" if own else "MISSED"
    groups = {}
    for f in failures:
        cell = groups.setdefault(f"{f['function']}.{f['output']}", [0, 0, 0])
        cell[0] += 1
        if f in unexpected:
            cell[2 if f in wrong else 1] += 1
    return dict(name=mutant.name, function=mutant.function, outputs=list(mutant.judged_outputs),
                bug_class=mutant.bug_class, verdict=verdict, caught_by_own=bool(own),
                caught_by=[f["nodeid"] for f in own],
                not_judged=[f["nodeid"] for f in unexpected if f not in wrong],
                collateral=[f"{f['nodeid']}: {f['message']}" for f in wrong], groups=groups,
                failed=len(failures), tests=len(run["tests"]), seconds=round(run["seconds"], 1),
                status=run["status"], tail=run["tail"] if verdict == "ERROR" else "")


def check_mutant(mutant, folder, args):
    work = Path(folder) / mutant.name
    path = catalogue.build(mutant, work / "impl")
    return judge(mutant, run_suite(path, work / "run", args))


# -- the report ---------------------------------------------------------------------------------

def _column_order(key):
    function, _, output = key.partition(".")
    names = list(RETURNS.get(function, ())) + list(PSEUDO_OUTPUTS) + list(PARAMS)
    return (CONTRACT.index(function) if function in CONTRACT else len(CONTRACT),
            names.index(output) if output in names else len(names), output)


def matrix(results):
    """Mutants as rows, the (function, output) groups that failed as numbered columns; a cell is
    the number of failed tests, marked ! where some are collateral, n where the other function's
    or output's failures all say they were "not judged" because of the mutant's function."""
    columns = sorted({g for r in results for g in r["groups"]}, key=_column_order)
    legend = [f"{k + 1:>3} {SHORT.get(c.partition('.')[0], c.partition('.')[0])}."
              f"{c.partition('.')[2]}" for k, c in enumerate(columns)]
    lines = ["columns: " + "  ".join(legend[i].strip() for i in range(len(legend)))]
    width = max([len(r["name"]) for r in results] + [6])
    numbers = "".join(f"{k + 1:>4}" for k in range(len(columns)))
    head = f"{'mutant':{width}}  {'verdict':10} " + numbers
    lines += [head, "-" * len(head)]
    for r in results:
        cells = []
        for c in columns:
            count, not_judged, wrong = r["groups"].get(c, (0, 0, 0))
            mark = "!" if wrong else "n" if not_judged else ""
            cells.append(f"{f'{count}{mark}' if count else '.':>4}")
        lines.append(f"{r['name']:{width}}  {r['verdict']:10} " + "".join(cells))
    return "\n".join(lines)


def report(results, reference, independent, seconds, jobs, cpu):
    lines = ["", matrix(results), ""]
    counts = {v: sum(r["verdict"] == v for r in results)
              for v in ("CAUGHT", "COLLATERAL", "MISSED", "ERROR")}
    own = sum(r["caught_by_own"] for r in results)
    lines.append(f"{len(results)} mutants: " + ", ".join(f"{n} {v}" for v, n in counts.items()) +
                 f"; {own} failed at least one test of their own function and output")
    for r in results:
        if r["verdict"] == "COLLATERAL":
            more = len(r["collateral"]) - 4
            lines.append(f"  {r['name']} ({r['function']}: {', '.join(r['outputs'])}) also "
                         f"failed:" + "".join(f"\n      {c}" for c in r["collateral"][:4])
                         + (f"\n      (+{more} more)" if more > 0 else ""))
        elif r["verdict"] == "ERROR":
            lines.append(f"  {r['name']}: {r['status']}\n{r['tail'][-1500:]}")
    ok = all(r["verdict"] == "CAUGHT" for r in results)
    if reference is not None:
        catching = {n for r in results for n in r["caught_by"]}
        broken = sorted(catching & set(reference["failed"]))
        if reference["status"] != "ok" or broken:
            ok = False
            lines.append(f"the reference FAILS tests that caught mutants, so those catches prove "
                         f"nothing: {', '.join(broken) or reference['status']}")
        else:
            lines.append(f"the reference passes the {len(catching)} tests that caught mutants")
        others = sorted(set(reference["failed"]) - catching)
        if others:
            lines.append(f"  (the reference also fails {len(others)} other tests: "
                         f"{', '.join(others[:5])})")
    if independent is not None:
        passed = independent["status"] == "ok" and not independent["failed"]
        ok = ok and passed
        lines.append(f"the independent implementation {'passes' if passed else 'FAILS'} the whole "
                     f"suite ({len(independent['tests'])} tests, {independent['seconds']:.0f} s)")
        if not passed:
            failed = ", ".join(sorted(independent["failed"])[:10]) or independent["status"]
            lines.append(f"  failed: {failed}")
            lines.append(independent["tail"][-1500:])
    lines.append(f"total {seconds:.0f} s with --jobs {jobs}; the runs of the suite used "
                 f"{cpu:.0f} s of CPU time (on an otherwise idle machine the wall time is about "
                 f"CPU time / jobs)")
    return ok, "\n".join(lines)


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _brief(run):
    return None if run is None else {"status": run["status"], "seconds": round(run["seconds"], 1),
                                     "failed": sorted(run["failed"]), "tests": len(run["tests"])}


def select(args):
    """The mutants to check, or raise ValueError naming an unknown one."""
    selected = catalogue.MUTANTS
    if args.new:
        selected = [m for m in selected if m.bug_class]
    if args.only:
        unknown = sorted(set(args.only) - {m.name for m in catalogue.MUTANTS})
        if unknown:
            raise ValueError(f"--only: no mutant named {', '.join(unknown)} (see --list)")
        selected = [m for m in selected if m.name in args.only]
    return selected


def run(args):
    try:
        selected = select(args)
        if args.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    except ValueError as error:
        print(f"cnnspec mutants: {error}", file=sys.stderr)
        return 2
    if args.list:
        for m in selected:
            print(f"{m.name:40} {m.function:27} {','.join(m.outputs) or 'all':22} "
                  f"{m.bug_class or '-':8} {m.description}")
        return 0
    start = time.perf_counter()
    cpu_start = _children_cpu()
    with tempfile.TemporaryDirectory(prefix="cnnspec-mutants-") as folder:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            implementations = None if args.skip_implementations else (
                pool.submit(run_suite, None, Path(folder) / "_reference", args),
                pool.submit(run_suite, INDEPENDENT, Path(folder) / "_independent", args))
            futures = [pool.submit(check_mutant, m, folder, args) for m in selected]
            results = []
            for k, future in enumerate(futures, 1):
                r = future.result()
                results.append(r)
                print(f"[{k}/{len(futures)}] {r['name']:40} {r['verdict']:10} "
                      f"{r['failed']:4} failed  {r['seconds']:6.1f} s", flush=True)
            reference, independent = ((None, None) if implementations is None
                                      else (implementations[0].result(),
                                            implementations[1].result()))
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu_start
    ok, text = report(results, reference, independent, seconds, args.jobs, cpu)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(
            dict(mutants=results, reference=_brief(reference), independent=_brief(independent),
                 seconds=round(seconds, 1), cpu_seconds=round(cpu, 1), jobs=args.jobs,
                 python=args.python or sys.executable),
            indent=2))
    return 0 if ok else 1


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="check_mutants", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
