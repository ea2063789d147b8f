"""The conformance suite keeps its own conventions: every test is named after the contract function
it checks and cites SPEC clauses that exist, and every clause of SPEC.md is checked by some test."""
import ast
import re
from pathlib import Path

import pytest

from cnnspec.contract import CONTRACT

ROOT = Path(__file__).resolve().parents[1]
SPEC_IDS = set(re.findall(r"\*\*([A-Z]+-\d+)[ .*]", (ROOT / "SPEC.md").read_text()))
# Clauses no conformance test can cite, and why.
NOT_CITED = {"GEN-5": "it declares behaviour on NaN and inf unspecified",
             "GOLD-2": "regeneration is a property of the repository: scripts/tests/test_make_golden.py"}
TEST_FILES = sorted((ROOT / "spec_tests").glob("test_*.py"))


def _tests():
    for path in TEST_FILES:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                clauses = [arg.value for dec in node.decorator_list
                           if isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "clause"
                           for arg in dec.args if isinstance(arg, ast.Constant)]
                yield path.name, node.name, clauses


TESTS = list(_tests())


def test_spec_has_clauses():
    assert len(SPEC_IDS) >= 40, sorted(SPEC_IDS)


@pytest.mark.parametrize("file,name,clauses", TESTS, ids=[t[1] for t in TESTS])
def test_spec_test_names_a_function_and_cites_existing_clauses(file, name, clauses):
    assert any(name.startswith(f"test_{f}") for f in CONTRACT), \
        f"{file}::{name} does not start with test_<contract function>"
    assert clauses, f"{file}::{name} cites no SPEC clause (@pytest.mark.clause(...))"
    unknown = set(clauses) - SPEC_IDS
    assert not unknown, f"{file}::{name} cites clauses missing from SPEC.md: {sorted(unknown)}"


def test_every_spec_clause_is_cited_by_a_test():
    cited = {c for _, _, clauses in TESTS for c in clauses}
    missing = SPEC_IDS - cited - set(NOT_CITED)
    assert not missing, f"SPEC clauses no test cites: {sorted(missing)}"


def test_every_contract_function_has_tests():
    untested = [f for f in CONTRACT if not any(n.startswith(f"test_{f}") for _, n, _ in TESTS)]
    assert not untested, f"contract functions without tests: {untested}"
