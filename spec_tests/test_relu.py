"""relu and relu_backward: SPEC RELU-1 to RELU-3."""
import numpy as np
import pytest
from hypothesis import given

from cnnspec.spec_tests import oracles, strategies
from cnnspec.spec_tests.cases import relu_case
from cnnspec.spec_tests.legacy_checks import (assert_close, assert_gradient, assert_rejects, assert_unchanged, check_array,
                     invoke, unpack)

SHAPES = {"2d": (4, 5), "4d": (2, 3, 4, 4), "1d": (7,)}
DTYPES = ["float64", "float32"]
CALLS = ["out, cache = impl.relu(case.X)", "dX = impl.relu_backward(case.dout, cache)"]


def run_forward(impl, X, recipe=None, clause="RELU-1"):
    out, cache = unpack(invoke(impl, "relu", X, clause=clause, recipe=recipe, calls=CALLS[:1]),
                        ("out", "cache"), "relu", clause)
    return check_array(out, function="relu", output="out", clause=clause, shape=X.shape,
                       dtype=X.dtype, recipe=recipe, calls=CALLS[:1]), cache


def run_backward(impl, X, dout, recipe=None, clause="RELU-2"):
    _, cache = run_forward(impl, X, recipe)
    dX = invoke(impl, "relu_backward", dout, cache, clause=clause, recipe=recipe, calls=CALLS)
    return check_array(dX, function="relu_backward", output="dX", clause=clause, shape=X.shape,
                       dtype=X.dtype, recipe=recipe, calls=CALLS)


@pytest.mark.clause("RELU-1")
@pytest.mark.output("out")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_relu_is_elementwise_max_with_zero(impl, seed, shape, dtype):
    case = relu_case(seed, SHAPES[shape], dtype)
    X = case.X.copy()
    X.flat[::5] = 0.0                                   # exact zeros stay zeros
    out, _ = run_forward(impl, X, case.recipe + "; case.X.flat[::5] = 0")
    assert_close(out, oracles.relu(X), 0.0, function="relu", output="out", clause="RELU-1",
                 recipe=case.recipe, calls=CALLS[:1], case=dict(X=X))


@pytest.mark.clause("RELU-2", "TOL-4")
@pytest.mark.output("dX")
@pytest.mark.parametrize("shape", SHAPES)
def test_relu_backward_matches_finite_differences(impl, seed, shape):
    case = relu_case(seed, SHAPES[shape])
    dX = run_backward(impl, case.X, case.dout, case.recipe)
    magnitude = oracles.relu_backward(np.abs(case.dout), case.X)
    assert_gradient(dX, lambda X: float(np.sum(case.dout * oracles.relu(X))), case.X, magnitude,
                    float(np.sum(np.abs(case.dout * case.X))), function="relu_backward",
                    output="dX", clause="RELU-2", recipe=case.recipe, calls=CALLS,
                    whole=True, case=dict(case.arrays))


@pytest.mark.clause("RELU-2", "GEN-2")
@pytest.mark.output("dX")
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_backward_passes_no_gradient_at_zero(impl, dtype):
    """The kink rule: X == 0 gets 0, like X < 0; only X > 0 passes dout through."""
    X = np.array([[-2.0, -0.0, 0.0, 1e-30, 3.0]], dtype)
    dout = np.array([[10.0, 20.0, 30.0, 40.0, 50.0]], dtype)
    recipe = f"X = np.array([[-2.0, -0.0, 0.0, 1e-30, 3.0]], {dtype!r}); dout = [[10, 20, 30, 40, 50]]"
    dX = run_backward(impl, X, dout, recipe)
    assert_close(dX, [[0.0, 0.0, 0.0, 40.0, 50.0]], 0.0, function="relu_backward", output="dX",
                 clause="RELU-2", recipe=recipe, calls=CALLS, case=dict(X=X, dout=dout))


@pytest.mark.clause("RELU-1", "RELU-2", "GEN-2")
@given(shape=strategies.shapes, seed=strategies.seeds, dtype=strategies.dtypes)
def test_relu_shapes_and_dtypes(impl, shape, seed, dtype):
    case = relu_case(seed, shape, dtype)
    run_backward(impl, case.X, case.dout, case.recipe)


@pytest.mark.clause("GEN-3")
@given(shape=strategies.shapes, seed=strategies.seeds)
def test_relu_does_not_modify_its_input(impl, shape, seed):
    case = relu_case(seed, shape)
    X = case.X.copy()
    run_forward(impl, case.X, case.recipe)
    assert_unchanged(X, case.X, function="relu", argument="X", recipe=case.recipe, calls=CALLS[:1])


@pytest.mark.clause("GEN-3")
@given(shape=strategies.shapes, seed=strategies.seeds)
def test_relu_backward_does_not_modify_dout(impl, shape, seed):
    case = relu_case(seed, shape)
    dout = case.dout.copy()
    run_backward(impl, case.X, case.dout, case.recipe)
    assert_unchanged(dout, case.dout, function="relu_backward", argument="dout",
                     recipe=case.recipe, calls=CALLS)


@pytest.mark.clause("RELU-3", "GEN-4")
def test_relu_backward_rejects_dout_of_wrong_shape(impl):
    _, cache = run_forward(impl, np.ones((2, 3)))
    dout = np.ones((3, 2))
    assert_rejects(impl, "relu_backward", (dout, cache), argument="dout", received=dout.shape,
                   clause="RELU-3", why="a dout of shape (3, 2) for X of shape (2, 3)")
