"""The mutant catalogue is sound: every mutant applies to the reference at the syntax level, is a
real bug (it changes a result SPEC.md defines) and changes only results of its own function and
outputs, so that a suite judging one output per test can be held to catching it there."""
import ast
import json

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


# -- the checker's verdicts (cnnspec mutants), from made-up runs of the suite ---------------------

def _run(*failed, status="ok"):
    """A run of the suite in which the tests `failed` ((function, output, message), ...) failed."""
    tests, failures = {}, {}
    for k, (function, output, message) in enumerate(failed):
        nodeid = f"test_x.py::test_{function}_{k}"
        tests[nodeid] = {"nodeid": nodeid, "function": function, "output": output,
                         "category": "value", "clauses": []}
        failures[nodeid] = message
    tests["test_x.py::test_other"] = {"nodeid": "test_x.py::test_other", "function": "relu",
                                      "output": "out", "category": "value", "clauses": []}
    return dict(status=status, seconds=1.0, tests=tests, failed=failures, tail="")


@pytest.mark.parametrize("failed, verdict", [
    ([("fully_connected_forward", "Z", "wrong values")], "CAUGHT"),
    ([("fully_connected_forward", "Z", "x"), ("forward_backward", "W3", "x"),
      ("predict", "labels", "x"), ("test_accuracy", "accuracy", "x")], "CAUGHT"),
    ([("fully_connected_forward", "Z", "x"),
      ("fully_connected_backward", "dW", "not judged: fully_connected_forward's Z is wrong")],
     "CAUGHT"),
    ([("fully_connected_forward", "Z", "x"), ("fully_connected_backward", "dW", "wrong dW")],
     "COLLATERAL"),
    ([("fully_connected_forward", "call", "accepted a 1-D X")], "COLLATERAL"),
    ([("relu", "out", "x")], "COLLATERAL"),
    ([], "MISSED"),
    ([("forward_backward", "loss", "x")], "MISSED"),
], ids=["own", "network", "not-judged", "other-function", "other-output", "other-layer",
        "nothing", "network-only"])
def test_the_checker_judges_a_layer_mutant(failed, verdict):
    from cnnspec.selftest import check
    mutant = mutants.by_name("fc_missing_bias")              # fully_connected_forward: Z
    assert check.judge(mutant, _run(*failed))["verdict"] == verdict


def test_the_checker_blames_a_network_mutant_for_nothing_else():
    from cnnspec.selftest import check
    mutant = mutants.by_name("predict_argmax_wrong_axis")   # predict: labels
    ok = _run(("predict", "labels", "x"), ("test_accuracy", "accuracy", "x"))
    assert check.judge(mutant, ok)["verdict"] == "CAUGHT"
    assert check.judge(mutant, _run(("predict", "labels", "x"),
                                    ("forward_backward", "W1", "x")))["verdict"] == "COLLATERAL"
    assert check.judge(mutant, _run(status="pytest exit code 4"))["verdict"] == "ERROR"


def test_the_matrix_shows_every_failed_group_and_marks_collateral():
    from cnnspec.selftest import check
    mutant = mutants.by_name("fc_missing_bias")
    result = check.judge(mutant, _run(
        ("fully_connected_forward", "Z", "x"), ("fully_connected_forward", "Z", "x"),
        ("fully_connected_backward", "dW", "not judged: fully_connected_forward's Z is wrong"),
        ("relu", "out", "x")))
    text = check.matrix([result])
    assert text.splitlines()[0] == "columns: 1 relu.out  2 fc.Z  3 fc_b.dW"   # contract order
    assert text.splitlines()[-1].split() == ["fc_missing_bias", "COLLATERAL", "1!", "2", "1n"]


def test_the_checker_reads_the_suites_log(tmp_path):
    from cnnspec.selftest import check
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"kind": "collected", "tests": [
            {"nodeid": "a", "function": "relu", "output": "out", "category": "value",
             "clauses": ["RELU-1"]}]},
        {"kind": "result", "nodeid": "a", "outcome": "failed", "message": "boom",
         "seconds": 0.1}]))
    tests, outcomes = check.read_log(log)
    assert tests["a"]["function"] == "relu" and outcomes == {"a": ("failed", "boom")}
    assert check.read_log(tmp_path / "missing.jsonl") == ({}, {})
