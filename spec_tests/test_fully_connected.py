"""fully_connected_forward and fully_connected_backward: SPEC FC-1 to FC-4."""
import numpy as np
import pytest
from hypothesis import given

from cnnspec.spec_tests import oracles, strategies
from cnnspec.spec_tests.cases import fc_case
from cnnspec.spec_tests.legacy_checks import (assert_close, assert_gradient, assert_rejects, assert_unchanged, check_array,
                     invoke, sum_tolerance, unpack)

# (N, D, M): rectangular everywhere so a transposed matrix cannot have the right shape by luck,
# plus one square case where only the values can tell.
SETTINGS = {"rect": (4, 6, 3), "wide": (2, 3, 7), "square": (3, 5, 5), "single": (1, 4, 2)}
DTYPES = ["float64", "float32"]
CALLS = ["Z, cache = impl.fully_connected_forward(case.X, case.W, case.b)",
         "dX, dW, db = impl.fully_connected_backward(case.dZ, cache)"]
GRADIENTS = {"dX": ("X", "FC-2"), "dW": ("W", "FC-3"), "db": ("b", "FC-3")}


def run_forward(impl, case, clause="FC-1"):
    Z, cache = unpack(invoke(impl, "fully_connected_forward", case.X, case.W, case.b,
                             clause=clause, recipe=case.recipe, calls=CALLS[:1]),
                      ("Z", "cache"), "fully_connected_forward", clause)
    return check_array(Z, function="fully_connected_forward", output="Z", clause="FC-1",
                       shape=(case.X.shape[0], case.W.shape[1]), dtype=case.X.dtype,
                       recipe=case.recipe, calls=CALLS[:1]), cache


def run_backward(impl, case, clause="FC-2"):
    _, cache = run_forward(impl, case)
    grads = unpack(invoke(impl, "fully_connected_backward", case.dZ, cache, clause=clause,
                          recipe=case.recipe, calls=CALLS),
                   ("dX", "dW", "db"), "fully_connected_backward", clause)
    return {name: check_array(g, function="fully_connected_backward", output=name,
                              clause=GRADIENTS[name][1], shape=case.arrays[x].shape,
                              dtype=case.X.dtype, recipe=case.recipe, calls=CALLS)
            for name, g, x in zip(GRADIENTS, grads, "XWb")}


@pytest.mark.clause("FC-1", "TOL-1")
@pytest.mark.output("out")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_fully_connected_forward_matches_float64_matmul(impl, seed, name, dtype):
    case = fc_case(seed, *SETTINGS[name], dtype=dtype)
    Z, _ = run_forward(impl, case)
    X, W, b = (case.arrays[k].astype(np.float64) for k in "XWb")
    tol = sum_tolerance(oracles.fully_connected(np.abs(X), np.abs(W), np.abs(b)), X.shape[1] + 1,
                        dtype)
    assert_close(Z, oracles.fully_connected(X, W, b), tol, function="fully_connected_forward",
                 output="Z", clause="FC-1", recipe=case.recipe, calls=CALLS[:1],
                 case=dict(case.arrays))


@pytest.mark.clause("FC-2", "FC-3", "TOL-4")
@pytest.mark.parametrize("output", GRADIENTS)
@pytest.mark.parametrize("name", SETTINGS)
def test_fully_connected_backward_matches_finite_differences(impl, seed, name, output):
    case = fc_case(seed, *SETTINGS[name])
    wrt, clause = GRADIENTS[output]
    grads = run_backward(impl, case, clause)
    args = {k: case.arrays[k] for k in "XWb"}
    mags = dict(zip(GRADIENTS, oracles.fully_connected_backward(
        np.abs(case.dZ), np.abs(case.X), np.abs(case.W))))
    f_mag = float(np.sum(np.abs(case.dZ) * oracles.fully_connected(
        np.abs(case.X), np.abs(case.W), np.abs(case.b))))

    def f(value):
        return float(np.sum(case.dZ * oracles.fully_connected(**dict(args, **{wrt: value}))))
    assert_gradient(grads[output], f, case.arrays[wrt], mags[output], f_mag,
                    function="fully_connected_backward", output=output, clause=clause,
                    recipe=case.recipe, calls=CALLS, whole=True, case=dict(case.arrays))


@pytest.mark.clause("FC-2", "FC-3", "GEN-2", "TOL-1")
@pytest.mark.parametrize("output", GRADIENTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_fully_connected_backward_matches_oracle(impl, seed, name, dtype, output):
    case = fc_case(seed, *SETTINGS[name], dtype=dtype)
    wrt, clause = GRADIENTS[output]
    grads = run_backward(impl, case, clause)
    a = {k: v.astype(np.float64) for k, v in case.arrays.items()}
    expected = dict(zip(GRADIENTS, oracles.fully_connected_backward(a["dZ"], a["X"], a["W"])))
    mags = dict(zip(GRADIENTS, oracles.fully_connected_backward(
        np.abs(a["dZ"]), np.abs(a["X"]), np.abs(a["W"]))))
    N, D = case.X.shape
    M = case.W.shape[1]
    terms = {"dX": M, "dW": N, "db": N}[output]
    assert_close(grads[output], expected[output], sum_tolerance(mags[output], terms, dtype),
                 function="fully_connected_backward", output=output, clause=clause,
                 recipe=case.recipe, calls=CALLS, case=dict(case.arrays))


@pytest.mark.clause("FC-1", "FC-2", "FC-3", "GEN-2")
@given(settings=strategies.fc_settings, seed=strategies.seeds, dtype=strategies.dtypes)
def test_fully_connected_backward_shapes_and_dtypes(impl, settings, seed, dtype):
    run_backward(impl, fc_case(seed, dtype=dtype, **settings))


@pytest.mark.clause("GEN-3")
@given(settings=strategies.fc_settings, seed=strategies.seeds)
def test_fully_connected_forward_does_not_modify_its_inputs(impl, settings, seed):
    case = fc_case(seed, **settings)
    before = case.copies("X", "W", "b")
    run_forward(impl, case)
    for name, old in zip("XWb", before):
        assert_unchanged(old, case.arrays[name], function="fully_connected_forward",
                         argument=name, recipe=case.recipe, calls=CALLS[:1])


@pytest.mark.clause("GEN-3")
@given(settings=strategies.fc_settings, seed=strategies.seeds)
def test_fully_connected_backward_does_not_modify_dZ(impl, settings, seed):
    case = fc_case(seed, **settings)
    dZ = case.dZ.copy()
    run_backward(impl, case)
    assert_unchanged(dZ, case.dZ, function="fully_connected_backward", argument="dZ",
                     recipe=case.recipe, calls=CALLS)


def _invalid_fc_calls():
    X, W, b = np.zeros((4, 6)), np.zeros((6, 3)), np.zeros(3)
    yield "X-3d", (X[None], W, b), "X", (1, 4, 6), "X with 3 axes"
    yield "W-1d", (X, W[:, 0], b), "W", (6,), "W with 1 axis"
    yield "b-2d", (X, W, b[None]), "b", (1, 3), "b with 2 axes"
    yield "inner-mismatch", (X, W[:5], b), "W", (5, 3), "W with 5 rows for X with 6 columns"
    yield "transposed-W", (X, W.T, b), "W", (3, 6), "W transposed, (M, D) instead of (D, M)"
    yield "bias-length", (X, W, np.zeros(4)), "b", (4,), "b of length 4 for M = 3"


INVALID = {case[0]: case[1:] for case in _invalid_fc_calls()}


@pytest.mark.clause("FC-4", "GEN-4")
@pytest.mark.parametrize("which", INVALID)
def test_fully_connected_forward_rejects_invalid_arguments(impl, which):
    args, argument, received, why = INVALID[which]
    assert_rejects(impl, "fully_connected_forward", args, argument=argument, received=received,
                   clause="FC-4", why=why)


@pytest.mark.clause("FC-4", "GEN-4")
def test_fully_connected_backward_rejects_dZ_of_wrong_shape(impl):
    case = fc_case(0, 4, 6, 3)
    _, cache = run_forward(impl, case)
    dZ = np.zeros((3, 4))
    assert_rejects(impl, "fully_connected_backward", (dZ, cache), argument="dZ",
                   received=dZ.shape, clause="FC-4", why="a dZ of shape (3, 4) for Z of shape (4, 3)")
