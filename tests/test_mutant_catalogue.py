"""The mutant catalogue is sound: every mutant applies to the reference at the syntax level, is a
real bug (it changes a result SPEC.md defines) and changes only results of its own function and
outputs, so that a suite judging one output per test can be held to catching it there."""
import ast

import numpy as np
import pytest

from cnnspec.contract import CONTRACT
from cnnspec.reference import cnn
from cnnspec.selftest import effects, mutants

SOURCE = mutants.reference_source()


def load(mutant, folder):
    return effects.load(mutants.build(mutant, folder), f"catalogue_{mutant.name}")


def test_the_catalogue_has_the_old_mutants_and_forty_new_ones():
    assert len(mutants.MUTANTS) >= 62 + 40
    assert len(mutants.NEW_IN_ISSUE_10) >= 40
    classes = {m.bug_class for m in mutants.MUTANTS if m.bug_class}
    assert classes == set(mutants.BUG_CLASSES)


def test_every_contract_function_has_a_mutant():
    covered = {m.function for m in mutants.MUTANTS}
    assert set(CONTRACT) <= covered, f"no mutant breaks {sorted(set(CONTRACT) - covered)}"


def test_the_catalogue_is_well_formed():
    """Unique names, contract functions, known outputs, patches that apply and compile."""
    assert mutants.check_catalogue() == []


def test_patches_do_not_depend_on_comments_or_formatting():
    """The reference reworded and reformatted (comments gone, quotes and wrapping changed by
    ast.unparse) gives every mutant exactly the same program."""
    reformatted = ast.unparse(ast.parse(SOURCE))
    assert reformatted != SOURCE
    for m in mutants.MUTANTS:
        assert mutants.patched_source(m, reformatted) == mutants.patched_source(m), m.name


def test_a_find_that_matches_nowhere_or_twice_is_refused():
    nowhere = mutants.Mutant("bad", "relu", "matches nowhere", {"relu": [("X < 12345", "X")]})
    with pytest.raises(ValueError, match="matches 0 places"):
        mutants.patched_source(nowhere)
    twice = mutants.Mutant("bad", "maxpool2d_backward", "matches twice",
                           {"maxpool2d_backward": [("first == u * p + v", "True")]})
    with pytest.raises(ValueError, match="matches 2 places"):
        mutants.patched_source(twice)
    unknown = mutants.Mutant("bad", "relu", "no such function", {"relu2": [("X", "X")]})
    with pytest.raises(ValueError, match="no function 'relu2'"):
        mutants.patched_source(unknown)


def test_a_helper_patched_for_one_caller_leaves_the_others_alone(tmp_path):
    """net_params_unchecked breaks the params check of forward_backward only: predict still
    rejects a params dict without b2."""
    module = load(mutants.by_name("net_params_unchecked"), tmp_path)
    params = cnn.initialize_parameters(0)
    del params["b2"]
    X = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match="b2"):
        module.predict(X, params)
    with pytest.raises(KeyError):
        module.forward_backward(X, np.zeros(2, np.int64), params, 0.1)


def test_reference_cache_keeps_the_bug_in_the_forward_output(tmp_path):
    """conv_flipped_kernel: out is the true convolution, the gradients are the reference's."""
    module = load(mutants.by_name("conv_flipped_kernel"), tmp_path)
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), np.zeros(3)
    out, cache = module.conv2d(X, W, b)
    want, want_cache = cnn.conv2d(X, W[:, :, ::-1, ::-1].copy(), b)
    np.testing.assert_allclose(out, want)
    dout = rng.standard_normal(out.shape)
    for got, right in zip(module.conv2d_backward(dout, cache),
                          cnn.conv2d_backward(dout, cnn.conv2d(X, W, b)[1])):
        np.testing.assert_allclose(got, right)


def test_the_mutant_file_says_what_it_is(tmp_path):
    m = mutants.by_name("pool_last_max")
    text = mutants.build(m, tmp_path).read_text()
    assert text.startswith(f'"""Mutant pool_last_max of reference/cnn.py (maxpool2d_backward): '
                           f'{m.description}')


def test_the_probe_finds_nothing_wrong_with_the_reference():
    assert effects.effects(cnn) == {}


@pytest.mark.slow
@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_mutant_changes_its_own_outputs_and_nothing_else(mutant, tmp_path):
    """Probed side by side with the reference (cnnspec/selftest/effects.py), the mutant changes
    at least one result of its own function and declared outputs, and no result it may not be
    blamed for (another function's, another output's; the network functions excepted for a
    layer's bug)."""
    found = effects.effects(load(mutant, tmp_path), network=mutant.function not in mutants.LAYERS)
    own = {k: v for k, v in found.items() if k[0] == mutant.function}
    assert own, f"{mutant.name} changes nothing the probes look at: an equivalent program?"
    stray = {f"{f}.{o}": why for (f, o), why in found.items()
             if not mutants.expected_failure(mutant, f, o)}
    assert not stray, (f"{mutant.name} ({mutant.function}: {mutant.judged_outputs}) also "
                       f"changes {stray}")
