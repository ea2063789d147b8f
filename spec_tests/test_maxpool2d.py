"""maxpool2d and maxpool2d_backward: SPEC POOL-1 to POOL-5."""
import numpy as np
import pytest
from hypothesis import given

from cnnspec.spec_tests import oracles, strategies
from cnnspec.spec_tests.cases import pool_case
from cnnspec.spec_tests.legacy_checks import (assert_close, assert_gradient, assert_rejects, assert_unchanged, check_array,
                     invoke, unpack)

# (N, C, H, W, pool_size, stride)
SETTINGS = {
    "2x2-stride2": (2, 3, 6, 6, 2, 2),
    "odd-size": (2, 2, 7, 5, 2, 2),              # trailing row and column fit no window
    "3x3-stride2-overlap": (1, 2, 7, 7, 3, 2),   # overlapping windows
    "2x2-stride1-overlap": (2, 2, 5, 4, 2, 1),
    "3x3-stride3": (1, 2, 9, 8, 3, 3),
    "1x1": (1, 2, 3, 3, 1, 1),
}
DTYPES = ["float64", "float32"]


def make(name, seed, dtype="float64"):
    N, C, H, W, p, s = SETTINGS[name]
    return pool_case(seed, N, C, H, W, p, s, dtype)


def calls(backward=False):
    lines = ["out, cache = impl.maxpool2d(case.X, **case.kwargs)"]
    return lines + (["dX = impl.maxpool2d_backward(case.dout, cache)"] if backward else [])


def run_forward(impl, X, pool_size, stride, recipe=None, clause="POOL-2"):
    result = invoke(impl, "maxpool2d", X, pool_size=pool_size, stride=stride, clause=clause,
                    recipe=recipe, calls=calls())
    out, cache = unpack(result, ("out", "cache"), "maxpool2d", clause)
    N, C, H, W = X.shape
    shape = (N, C, (H - pool_size) // stride + 1, (W - pool_size) // stride + 1)
    return check_array(out, function="maxpool2d", output="out", clause="POOL-1", shape=shape,
                       dtype=X.dtype, recipe=recipe, calls=calls()), cache


def run_backward(impl, X, dout, pool_size, stride, recipe=None, clause="POOL-3"):
    _, cache = run_forward(impl, X, pool_size, stride, recipe)
    dX = invoke(impl, "maxpool2d_backward", dout, cache, clause=clause, recipe=recipe,
                calls=calls(True))
    return check_array(dX, function="maxpool2d_backward", output="dX", clause=clause,
                       shape=X.shape, dtype=X.dtype, recipe=recipe, calls=calls(True))


# -- forward -------------------------------------------------------------------------------------

@pytest.mark.clause("POOL-1", "POOL-2", "TOL-2")
@pytest.mark.output("out")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_maxpool2d_matches_scipy_maximum_filter(impl, seed, name, dtype):
    case = make(name, seed, dtype)
    out, _ = run_forward(impl, case.X, recipe=case.recipe, **case.kwargs)
    expected = oracles.maxpool2d(case.X.astype(np.float64), **case.kwargs)
    assert_close(out, expected, 0.0, function="maxpool2d", output="out", clause="POOL-2",
                 recipe=case.recipe, calls=calls(), case=dict(case.arrays, **case.kwargs))


@pytest.mark.clause("POOL-1", "POOL-2")
@pytest.mark.output("out")
def test_maxpool2d_of_negative_values(impl):
    """A window of negative numbers has a negative maximum (not 0, not its largest |value|)."""
    X = -np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    out, _ = run_forward(impl, X, 2, 2, recipe="X = -np.arange(1.0, 17.0).reshape(1, 1, 4, 4)")
    assert_close(out, [[[[-1.0, -3.0], [-9.0, -11.0]]]], 0.0, function="maxpool2d", output="out",
                 clause="POOL-2", recipe="X = -np.arange(1.0, 17.0).reshape(1, 1, 4, 4)",
                 calls=["out, cache = impl.maxpool2d(X, 2, 2)"])


@pytest.mark.clause("POOL-1", "GEN-2")
@given(settings=strategies.pool_settings(), seed=strategies.seeds, dtype=strategies.dtypes)
def test_maxpool2d_output_shape_and_dtype(impl, settings, seed, dtype):
    case = pool_case(seed, dtype=dtype, **settings)
    run_forward(impl, case.X, recipe=case.recipe, clause="POOL-1", **case.kwargs)


@pytest.mark.clause("GEN-3")
@given(settings=strategies.pool_settings(), seed=strategies.seeds)
def test_maxpool2d_does_not_modify_its_input(impl, settings, seed):
    case = pool_case(seed, **settings)
    X = case.X.copy()
    run_forward(impl, case.X, recipe=case.recipe, **case.kwargs)
    assert_unchanged(X, case.X, function="maxpool2d", argument="X", recipe=case.recipe,
                     calls=calls())


# -- backward ------------------------------------------------------------------------------------

@pytest.mark.clause("POOL-3", "POOL-4", "TOL-4")
@pytest.mark.output("dX")
@pytest.mark.parametrize("name", SETTINGS)
def test_maxpool2d_backward_matches_finite_differences(impl, seed, name):
    case = make(name, seed)
    dX = run_backward(impl, case.X, case.dout, recipe=case.recipe, **case.kwargs)
    magnitude = oracles.maxpool2d_backward(np.abs(case.dout), case.X, **case.kwargs)
    f_mag = float(np.sum(np.abs(case.dout * oracles.maxpool2d(case.X, **case.kwargs))))

    def f(X):
        return float(np.sum(case.dout * oracles.maxpool2d(X, **case.kwargs)))
    assert_gradient(dX, f, case.X, magnitude, f_mag, function="maxpool2d_backward", output="dX",
                    clause="POOL-3", recipe=case.recipe, calls=calls(True),
                    whole=case.X.size <= 200, case=dict(case.arrays, **case.kwargs))


@pytest.mark.clause("POOL-3", "POOL-4", "GEN-2", "TOL-2")
@pytest.mark.output("dX")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_maxpool2d_backward_matches_oracle(impl, seed, name, dtype):
    case = make(name, seed, dtype)
    dX = run_backward(impl, case.X, case.dout, recipe=case.recipe, **case.kwargs)
    expected = oracles.maxpool2d_backward(case.dout.astype(np.float64), case.X, **case.kwargs)
    p, s = case.kwargs["pool_size"], case.kwargs["stride"]
    windows = (-(-p // s)) ** 2                    # how many windows may share one pixel
    tol = 4 * windows * np.finfo(dtype).eps * oracles.maxpool2d_backward(
        np.abs(case.dout.astype(np.float64)), case.X, **case.kwargs)
    assert_close(dX, expected, tol, function="maxpool2d_backward", output="dX", clause="POOL-3",
                 recipe=case.recipe, calls=calls(True), case=dict(case.arrays, **case.kwargs))


# The tie rule, pinned case by case (POOL-3): the FIRST maximum in row-major order takes it all.
TIES = {
    "all-equal": ([[5.0, 5.0], [5.0, 5.0]], [[1.0, 0.0], [0.0, 0.0]]),
    "all-zero": ([[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]),
    "second-row": ([[1.0, 2.0], [3.0, 3.0]], [[0.0, 0.0], [1.0, 0.0]]),
    "right-column": ([[1.0, 4.0], [2.0, 4.0]], [[0.0, 1.0], [0.0, 0.0]]),
    "diagonal": ([[7.0, 1.0], [1.0, 7.0]], [[1.0, 0.0], [0.0, 0.0]]),
    "negative": ([[-3.0, -1.0], [-1.0, -2.0]], [[0.0, 1.0], [0.0, 0.0]]),
}


@pytest.mark.clause("POOL-3")
@pytest.mark.output("dX")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tie", TIES)
def test_maxpool2d_backward_sends_tied_gradient_to_first_maximum(impl, tie, dtype):
    window, expected = TIES[tie]
    X = np.array(window, dtype).reshape(1, 1, 2, 2)
    dout = np.array([[[[1.0]]]], dtype)
    recipe = f"X = np.array({window}, {dtype!r}).reshape(1, 1, 2, 2); dout = np.ones((1, 1, 1, 1), {dtype!r})"
    dX = run_backward(impl, X, dout, 2, 2, recipe=recipe)
    assert_close(dX, np.reshape(expected, (1, 1, 2, 2)), 0.0, function="maxpool2d_backward",
                 output="dX", clause="POOL-3", recipe=recipe,
                 calls=["out, cache = impl.maxpool2d(X, 2, 2)",
                        "dX = impl.maxpool2d_backward(dout, cache)"],
                 case=dict(X=X, dout=dout, pool_size=2, stride=2))


@pytest.mark.clause("POOL-3", "POOL-4")
@pytest.mark.output("dX")
def test_maxpool2d_backward_accumulates_overlapping_windows(impl):
    """With stride 1, the centre 9 wins all four 2x2 windows and collects 1 + 2 + 3 + 4."""
    X = np.array([[1.0, 2.0, 1.0], [2.0, 9.0, 2.0], [1.0, 2.0, 1.0]]).reshape(1, 1, 3, 3)
    dout = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    recipe = "X = [[1,2,1],[2,9,2],[1,2,1]]; dout = [[1,2],[3,4]] (as float64 (1,1,.,.) arrays)"
    dX = run_backward(impl, X, dout, 2, 1, recipe=recipe, clause="POOL-4")
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 10.0
    assert_close(dX, expected, 0.0, function="maxpool2d_backward", output="dX", clause="POOL-4",
                 recipe=recipe, calls=["out, cache = impl.maxpool2d(X, pool_size=2, stride=1)",
                                       "dX = impl.maxpool2d_backward(dout, cache)"],
                 case=dict(X=X, dout=dout, pool_size=2, stride=1))


@pytest.mark.clause("POOL-1", "POOL-3", "GEN-2")
@given(settings=strategies.pool_settings(), seed=strategies.seeds, dtype=strategies.dtypes)
def test_maxpool2d_backward_shape_and_dtype(impl, settings, seed, dtype):
    case = pool_case(seed, dtype=dtype, **settings)
    run_backward(impl, case.X, case.dout, recipe=case.recipe, **case.kwargs)


@pytest.mark.clause("GEN-3")
@given(settings=strategies.pool_settings(), seed=strategies.seeds)
def test_maxpool2d_backward_does_not_modify_dout(impl, settings, seed):
    case = pool_case(seed, **settings)
    dout = case.dout.copy()
    run_backward(impl, case.X, case.dout, recipe=case.recipe, **case.kwargs)
    assert_unchanged(dout, case.dout, function="maxpool2d_backward", argument="dout",
                     recipe=case.recipe, calls=calls(True))


# -- errors --------------------------------------------------------------------------------------

def _invalid_pool_calls():
    X = np.zeros((2, 3, 6, 6))
    yield "X-3d", (X[0],), {}, "X", (3, 6, 6), "X with 3 axes"
    yield "pool-too-big", (X,), {"pool_size": 7}, "pool_size", 7, "pool_size 7 on a 6x6 image"
    yield "pool-0", (X,), {"pool_size": 0}, "pool_size", 0, "pool_size 0"
    yield "stride-0", (X,), {"stride": 0}, "stride", 0, "stride 0"
    yield "stride-float", (X,), {"stride": 1.5}, "stride", 1.5, "stride 1.5"


INVALID = {case[0]: case[1:] for case in _invalid_pool_calls()}


@pytest.mark.clause("POOL-5", "GEN-4")
@pytest.mark.parametrize("which", INVALID)
def test_maxpool2d_rejects_invalid_arguments(impl, which):
    args, kwargs, argument, received, why = INVALID[which]
    assert_rejects(impl, "maxpool2d", args, kwargs, argument=argument, received=received,
                   clause="POOL-5", why=why)


@pytest.mark.clause("POOL-5", "GEN-4")
def test_maxpool2d_backward_rejects_dout_of_wrong_shape(impl):
    _, cache = unpack(invoke(impl, "maxpool2d", np.zeros((2, 3, 6, 6)), clause="POOL-5"),
                      ("out", "cache"), "maxpool2d", "POOL-5")
    dout = np.zeros((2, 3, 3, 2))
    assert_rejects(impl, "maxpool2d_backward", (dout, cache), argument="dout",
                   received=dout.shape, clause="POOL-5",
                   why="a dout of shape (2, 3, 3, 2) for an output of (2, 3, 3, 3)")


@pytest.mark.clause("POOL-5", "GEN-4")
@given(broken=strategies.broken_pool_settings(), seed=strategies.seeds)
def test_maxpool2d_rejects_any_broken_setting(impl, broken, seed):
    s, argument, received = broken
    X = np.random.default_rng(seed).standard_normal((s["N"], s["C"], s["H"], s["W"]))
    assert_rejects(impl, "maxpool2d", (X,), {"pool_size": s["pool_size"], "stride": s["stride"]},
                   argument=argument, received=received, clause="POOL-5",
                   why=f"{argument} = {received} on a {s['H']}x{s['W']} image")
