"""The conformance suite keeps its own conventions, read from a real collection (not from source):
every test carries a spec marker whose function its name starts with, cites clauses that exist,
and every clause of SPEC.md and every category of every contract function is checked by some test."""
import json
import re
import subprocess
import sys
from importlib import resources

import pytest

from cnnspec.contract import CONTRACT, GRADED, RETURNS

SPEC_IDS = set(re.findall(r"\*\*([A-Z]+-\d+)[ .*]",
                          resources.files("cnnspec").joinpath("SPEC.md").read_text()))
# Clauses no conformance test can cite, and why.
NOT_CITED = {"GEN-5": "it declares behaviour on NaN and inf unspecified",
             "GOLD-2": "regeneration is a property of the package: tests/test_make_golden.py"}


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """(every collected test id, {nodeid: spec metadata}) of the installed suite."""
    folder = tmp_path_factory.mktemp("collect")
    log = folder / "log.jsonl"
    done = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "cnnspec.spec_tests",
                           "--collect-only", "-q", "-p", "no:cacheprovider",
                           "--cnnspec-log", str(log)], cwd=folder, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    (record,) = [json.loads(line) for line in log.read_text().splitlines()
                 if json.loads(line)["kind"] == "collected"]
    return ids, {t["nodeid"]: t for t in record["tests"]}


def test_spec_has_clauses():
    assert len(SPEC_IDS) >= 50, sorted(SPEC_IDS)


def test_every_conformance_test_carries_a_spec_marker(collected):
    ids, meta = collected
    assert len(ids) > 500
    unmarked = [i for i in ids if i not in meta]
    assert not unmarked, f"tests without @pytest.mark.spec(...): {unmarked[:10]}"


def test_every_test_is_named_after_its_function_and_cites_existing_clauses(collected):
    _, meta = collected
    problems = []
    for nodeid, m in meta.items():
        name = nodeid.split("::")[-1].split("[")[0]
        longest = max((f for f in GRADED if name.startswith(f"test_{f}")), key=len, default=None)
        if longest != m["function"]:
            problems.append(f"{nodeid}: marker says {m['function']}, name says {longest}")
        unknown = set(m["clauses"]) - SPEC_IDS - {c for c in m["clauses"] if c.startswith("vector ")}
        if not m["clauses"] or unknown:
            problems.append(f"{nodeid}: clauses {m['clauses']} (unknown: {sorted(unknown)})")
        allowed = set(RETURNS.get(m["function"], ())) | {"inputs", "call"}
        if m["function"] == "forward_backward":
            allowed |= {"W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"}
        if m["function"] == "training":             # the graded training check (SPEC TRAIN)
            allowed = {"loss", "accuracy"}
        if m["output"] not in allowed:
            problems.append(f"{nodeid}: output {m['output']!r} is not one of {sorted(allowed)}")
    assert not problems, "\n".join(problems[:20])


def test_every_spec_clause_is_cited_by_a_test(collected):
    _, meta = collected
    cited = {c for m in meta.values() for c in m["clauses"]}
    missing = SPEC_IDS - cited - set(NOT_CITED) - {"MNIST-1"}
    assert not missing, f"SPEC clauses no test cites: {sorted(missing)}"


def test_every_contract_function_is_judged_for_correctness_and_hygiene(collected):
    _, meta = collected
    have = {}
    for m in meta.values():
        have.setdefault(m["function"], set()).add(m["category"])
    for function in CONTRACT:
        got = have.get(function, set())
        assert got & {"value", "gradient", "network"}, f"{function}: no correctness test"
        assert "dtype" in got or "shape" in got, f"{function}: no dtype or shape test"
        if function != "initialize_parameters":
            assert "errors" in got or function in ("relu",), f"{function}: no error test"
