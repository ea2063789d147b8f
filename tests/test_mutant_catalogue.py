"""The mutant catalogue is well formed: every patch applies to the current reference exactly once."""
import pytest

from cnnspec.contract import CONTRACT
from cnnspec.selftest import mutants

SOURCE = mutants.reference_source()


def test_catalogue_has_at_least_25_mutants():
    assert len(mutants.MUTANTS) >= 25


def test_mutant_names_are_unique():
    names = [m.name for m in mutants.MUTANTS]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_every_contract_function_has_a_mutant():
    covered = {m.function for m in mutants.MUTANTS}
    assert set(CONTRACT) <= covered, f"no mutant breaks {sorted(set(CONTRACT) - covered)}"


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_mutant_is_well_formed(mutant, tmp_path):
    assert mutant.function in CONTRACT
    assert mutant.name.isidentifier()
    assert mutant.description.strip()
    assert SOURCE.count(mutant.find) == 1, f"`find` must occur exactly once: {mutant.find!r}"
    assert mutant.replace != mutant.find
    path = mutants.build(mutant, tmp_path)
    compile(path.read_text(), str(path), "exec")


def test_patched_source_refuses_an_ambiguous_find():
    bad = mutants.Mutant("bad", "relu", "matches nowhere", "no such text in the reference", "x")
    with pytest.raises(ValueError, match="occurs 0 times"):
        mutants.patched_source(bad)
