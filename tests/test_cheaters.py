"""The conformance suite cannot be fooled: implementations that do no arithmetic pass no test of
correctness, and an honest loop implementation passes everything (issue 10, "Done means").

Each implementation of tests/corpus/ is checked the way a user checks theirs, in-process:
`python -m pytest --pyargs cnnspec.spec_tests --impl FILE -m "not mnist" --cnnspec-log LOG`, run
from an empty folder, and the log says which tests passed and what each one judges.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnspec.contract import CORRECTNESS

CORPUS = Path(__file__).with_name("corpus")
CHEATERS = ("overwrite_zeros", "overwrite_nan", "constants", "returns_inputs")
SUITE_TIMEOUT = 1800      # seconds; the loop implementation is slow on purpose

def run_suite(impl, folder):
    """Start the suite on `impl` in `folder`; return (process, log path)."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "log.jsonl"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    for name in ("CNNSPEC_IMPL", "CNNSPEC_SEED", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    command = [sys.executable, "-m", "pytest", "--pyargs", "cnnspec.spec_tests", "--impl",
               str(impl), "-m", "not mnist", "-q", "--tb=no", "-p", "no:cacheprovider",
               "--hypothesis-profile", "cnnspec-grade", "--cnnspec-log", str(log)]
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    return process, log


def outcomes(log):
    """[(nodeid, category, outcome)] of every cnnspec test in a --cnnspec-log."""
    meta, results = {}, []
    for line in log.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["kind"] == "collected":
            meta.update({t["nodeid"]: t for t in record["tests"]})
        elif record["kind"] == "result":
            results.append((record["nodeid"], meta[record["nodeid"]]["category"],
                            record["outcome"]))
    return results


@pytest.fixture(scope="module")
def cheater_runs(tmp_path_factory):
    """Every cheater's run of the suite, started together (they are quick: their answers are)."""
    root = tmp_path_factory.mktemp("cheaters")
    started = {name: run_suite(CORPUS / f"{name}.py", root / name) for name in CHEATERS}
    runs = {}
    for name, (process, log) in started.items():
        output, _ = process.communicate(timeout=SUITE_TIMEOUT)
        runs[name] = (process.returncode, output, log)
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("name", CHEATERS)
def test_the_suite_runs_against_the_cheater_and_fails_it(cheater_runs, name):
    code, output, log = cheater_runs[name]
    assert code == 1, f"pytest exit code {code} for {name}:\n{output[-3000:]}"
    results = outcomes(log)
    failed = [r for r in results if r[2] == "failed"]
    assert len(results) > 100 and len(failed) > len(results) // 4, output[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("name", CHEATERS)
def test_the_cheater_passes_no_test_of_correctness(cheater_runs, name):
    """No value, gradient or network test passes for code that computes nothing."""
    _, output, log = cheater_runs[name]
    passed = [nodeid for nodeid, category, outcome in outcomes(log)
              if category in CORRECTNESS and outcome == "passed"]
    assert not passed, (f"{name} (no arithmetic at all) passes {len(passed)} tests of "
                        f"correctness, e.g. " + ", ".join(passed[:8]))


@pytest.mark.slow
def test_the_loop_implementation_passes_every_test(tmp_path):
    """tests/corpus/loops.py is right, only slow: the suite must pass it whole."""
    process, log = run_suite(CORPUS / "loops.py", tmp_path)
    output, _ = process.communicate(timeout=SUITE_TIMEOUT)
    failed = [nodeid for nodeid, _, outcome in outcomes(log) if outcome == "failed"]
    assert process.returncode == 0 and not failed, f"{failed[:10]}\n{output[-3000:]}"
