"""Running the conformance suite on an implementation through a profile, for the tests here."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(impl, api, *, files=("spec_tests",), extra=(), timeout=900):
    """({nodeid: spec marker}, {nodeid: result record}) of a run of the suite on `impl`."""
    log = Path(impl).with_suffix(f".{os.getpid()}.jsonl")
    log.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", *files, "--impl", str(impl), "--api", str(api),
               "-m", "not mnist", "-q", "-p", "no:cacheprovider", "--cnnspec-log", str(log),
               "--hypothesis-profile", "cnnspec-grade", "-o", "addopts=", *extra]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    for name in ("CNNSPEC_IMPL", "CNNSPEC_SEED", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    tests, results = {}, {}
    for line in log.read_text().splitlines() if log.exists() else []:
        record = json.loads(line)
        if record["kind"] == "collected":
            tests = {t["nodeid"]: t for t in record["tests"]}
        elif record["kind"] == "result":
            results[record["nodeid"]] = record
    log.unlink(missing_ok=True)
    assert tests and done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    return tests, results


def files_of(tests, *functions):
    """The test files that hold tests of `functions` (read from their spec markers)."""
    return sorted({nodeid.split("::")[0] for nodeid, t in tests.items()
                   if t["function"] in functions})


def failed(results):
    return {n: r for n, r in results.items() if r["outcome"] == "failed"}


def reproduce_blocks(message):
    """The Reproduce snippets of a failure message (several for hypothesis's multiple failures)."""
    blocks, lines = [], message.splitlines()
    for k, line in enumerate(lines):
        if line.lstrip().startswith("Reproduce ("):
            indent = line[:len(line) - len(line.lstrip())] + "    "
            block = []
            for nxt in lines[k + 1:]:
                if not nxt.startswith(indent):
                    break
                block.append(nxt[len(indent):])
            blocks.append(block)
    return blocks
