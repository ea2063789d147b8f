"""conv2d and conv2d_backward: SPEC CONV-1 to CONV-6."""
import numpy as np
import pytest
from hypothesis import given

from cnnspec.spec_tests import oracles, strategies
from cnnspec.spec_tests.cases import conv_case
from cnnspec.spec_tests.checks import (assert_close, assert_gradient, assert_rejects, assert_unchanged, check_array,
                     invoke, sum_tolerance, unpack)

# (N, C, H, W, F, KH, KW, stride, padding): each setting exists to expose some bug.
SETTINGS = {
    "basic": (2, 3, 5, 5, 4, 3, 3, 1, 0),
    "pad1": (2, 2, 4, 5, 3, 3, 3, 1, 1),               # padding on all four sides
    "stride2-pad1-rect": (2, 2, 6, 5, 3, 3, 2, 2, 1),  # non-square kernel and image
    "stride3-pad2": (1, 3, 7, 7, 2, 3, 3, 3, 2),       # trailing rows that fit no window
    "stride2-ragged": (2, 2, 5, 4, 3, 2, 3, 2, 0),
    "1x1": (3, 2, 4, 6, 2, 1, 1, 1, 0),
    "kernel-fills-input": (2, 2, 4, 3, 2, 4, 3, 1, 0),
}
DTYPES = ["float64", "float32"]


def make(name, seed, dtype="float64"):
    N, C, H, W, F, KH, KW, stride, padding = SETTINGS[name]
    return conv_case(seed, N, C, H, W, F, KH, KW, stride, padding, dtype)


def calls(backward=False):
    lines = ["out, cache = impl.conv2d(case.X, case.W, case.b, **case.kwargs)"]
    if backward:
        lines.append("dX, dW, db = impl.conv2d_backward(case.dout, cache)")
    return lines


def run_forward(impl, case, clause="CONV-2"):
    result = invoke(impl, "conv2d", case.X, case.W, case.b, clause=clause, recipe=case.recipe,
                    calls=calls(), **case.kwargs)
    out, cache = unpack(result, ("out", "cache"), "conv2d", clause)
    N, C, H, W = case.X.shape
    F, _, KH, KW = case.W.shape
    s, p = case.kwargs["stride"], case.kwargs["padding"]
    shape = (N, F, (H + 2 * p - KH) // s + 1, (W + 2 * p - KW) // s + 1)
    out = check_array(out, function="conv2d", output="out", clause="CONV-1", shape=shape,
                      dtype=case.X.dtype, recipe=case.recipe, calls=calls())
    return out, cache


def run_backward(impl, case, clause):
    _, cache = run_forward(impl, case)
    result = invoke(impl, "conv2d_backward", case.dout, cache, clause=clause, recipe=case.recipe,
                    calls=calls(True))
    grads = unpack(result, ("dX", "dW", "db"), "conv2d_backward", clause)
    return {name: check_array(g, function="conv2d_backward", output=name, clause=clause,
                              shape=case.arrays[x].shape, dtype=case.X.dtype, recipe=case.recipe,
                              calls=calls(True))
            for name, g, x in zip(("dX", "dW", "db"), grads, ("X", "W", "b"))}


# -- forward -------------------------------------------------------------------------------------

@pytest.mark.clause("CONV-1", "CONV-2", "TOL-1")
@pytest.mark.output("out")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_conv2d_matches_scipy_correlation(impl, seed, name, dtype):
    case = make(name, seed, dtype)
    out, _ = run_forward(impl, case)
    X, W, b = (case.arrays[k].astype(np.float64) for k in "XWb")
    expected = oracles.conv2d(X, W, b, **case.kwargs)
    K = W[0].size + 1
    tol = sum_tolerance(oracles.conv2d_magnitude(X, W, b, **case.kwargs), K, dtype)
    assert_close(out, expected, tol, function="conv2d", output="out", clause="CONV-2",
                 recipe=case.recipe, calls=calls(), case=dict(case.arrays, **case.kwargs))


@pytest.mark.clause("CONV-2")
@pytest.mark.output("out")
def test_conv2d_is_cross_correlation_not_convolution(impl):
    """A one-hot kernel picks one neighbour; a flipped kernel would pick the opposite one."""
    X = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    W = np.zeros((1, 1, 3, 3))
    W[0, 0, 0, 1] = 1.0                                  # "the pixel above"
    out, _ = unpack(invoke(impl, "conv2d", X, W, np.zeros(1), clause="CONV-2"),
                    ("out", "cache"), "conv2d", "CONV-2")
    expected = np.array([[[[1.0, 2.0], [5.0, 6.0]]]])     # X[i + 0, j + 1]
    assert_close(out, expected, 0.0, function="conv2d", output="out", clause="CONV-2",
                 recipe="X = np.arange(16.).reshape(1, 1, 4, 4); W = zeros (1,1,3,3) with "
                        "W[0,0,0,1] = 1; b = zeros(1)",
                 calls=["out, cache = impl.conv2d(X, W, b)"],
                 case=dict(X=X, W=W, b=np.zeros(1), stride=1, padding=0))


@pytest.mark.clause("CONV-1", "GEN-1", "GEN-2", "GEN-7")
@given(settings=strategies.conv_settings(), seed=strategies.seeds, dtype=strategies.dtypes)
def test_conv2d_output_shape_and_dtype(impl, settings, seed, dtype):
    run_forward(impl, conv_case(seed, dtype=dtype, **settings), clause="CONV-1")


@pytest.mark.clause("GEN-3")
@given(settings=strategies.conv_settings(), seed=strategies.seeds)
def test_conv2d_does_not_modify_its_inputs(impl, settings, seed):
    case = conv_case(seed, **settings)
    X, W, b = case.copies("X", "W", "b")
    run_forward(impl, case)
    for name, before in zip("XWb", (X, W, b)):
        assert_unchanged(before, case.arrays[name], function="conv2d", argument=name,
                         recipe=case.recipe, calls=calls())


# -- backward ------------------------------------------------------------------------------------

GRADIENTS = {"dX": ("X", "CONV-3"), "dW": ("W", "CONV-4"), "db": ("b", "CONV-5")}


def _loss_of(case, wrt):
    """sum(dout * out) as a function of one input, computed by the oracle (never by impl)."""
    args = {k: case.arrays[k] for k in "XWb"}

    def f(value):
        return float(np.sum(case.dout * oracles.conv2d(**dict(args, **{wrt: value}), **case.kwargs)))
    return f


@pytest.mark.output("dX")
@pytest.mark.clause("CONV-3", "TOL-4")
@pytest.mark.parametrize("name", SETTINGS)
def test_conv2d_backward_dX_matches_finite_differences(impl, seed, name):
    _check_gradient(impl, make(name, seed), "dX")


@pytest.mark.output("dW")
@pytest.mark.clause("CONV-4", "TOL-4")
@pytest.mark.parametrize("name", SETTINGS)
def test_conv2d_backward_dW_matches_finite_differences(impl, seed, name):
    _check_gradient(impl, make(name, seed), "dW")


@pytest.mark.output("db")
@pytest.mark.clause("CONV-5", "TOL-4")
@pytest.mark.parametrize("name", SETTINGS)
def test_conv2d_backward_db_matches_finite_differences(impl, seed, name):
    _check_gradient(impl, make(name, seed), "db")


def _check_gradient(impl, case, output):
    wrt, clause = GRADIENTS[output]
    grads = run_backward(impl, case, clause)
    mags = dict(zip(("dX", "dW", "db"), oracles.conv2d_backward_magnitude(
        case.dout, case.X, case.W, **case.kwargs)))
    f_mag = float(np.sum(np.abs(case.dout) * oracles.conv2d_magnitude(case.X, case.W, case.b,
                                                                      **case.kwargs)))
    x = case.arrays[wrt]
    assert_gradient(grads[output], _loss_of(case, wrt), x, mags[output], f_mag,
                    function="conv2d_backward", output=output, clause=clause, recipe=case.recipe,
                    calls=calls(True), whole=x.size <= 200, case=dict(case.arrays, **case.kwargs))


@pytest.mark.clause("CONV-3", "CONV-4", "CONV-5", "GEN-2", "TOL-1")
@pytest.mark.parametrize("output", GRADIENTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_conv2d_backward_matches_oracle(impl, seed, name, dtype, output):
    """Each gradient against the SciPy oracle, with TOL-1's float32-aware tolerance."""
    case = make(name, seed, dtype)
    wrt, clause = GRADIENTS[output]
    grads = run_backward(impl, case, clause)
    a = {k: v.astype(np.float64) for k, v in case.arrays.items()}
    expected = dict(zip(GRADIENTS, oracles.conv2d_backward(a["dout"], a["X"], a["W"], **case.kwargs)))
    mags = dict(zip(GRADIENTS, oracles.conv2d_backward_magnitude(a["dout"], a["X"], a["W"],
                                                                 **case.kwargs)))
    N, F, Ho, Wo = case.dout.shape
    _, _, KH, KW = case.W.shape
    terms = {"dX": F * KH * KW, "dW": N * Ho * Wo, "db": N * Ho * Wo}[output]
    assert_close(grads[output], expected[output], sum_tolerance(mags[output], terms, dtype),
                 function="conv2d_backward", output=output, clause=clause, recipe=case.recipe,
                 calls=calls(True), case=dict(case.arrays, **case.kwargs))


@pytest.mark.clause("CONV-3", "CONV-4", "CONV-5", "GEN-2")
@given(settings=strategies.conv_settings(), seed=strategies.seeds, dtype=strategies.dtypes)
def test_conv2d_backward_shapes_and_dtypes(impl, settings, seed, dtype):
    run_backward(impl, conv_case(seed, dtype=dtype, **settings), "CONV-3")


@pytest.mark.clause("GEN-3", "GEN-6")
@given(settings=strategies.conv_settings(), seed=strategies.seeds)
def test_conv2d_backward_does_not_modify_dout_and_reuses_its_cache(impl, settings, seed):
    case = conv_case(seed, **settings)
    _, cache = run_forward(impl, case)
    dout = case.dout.copy()
    first = unpack(invoke(impl, "conv2d_backward", case.dout, cache, clause="GEN-6"),
                   ("dX", "dW", "db"), "conv2d_backward", "GEN-6")
    assert_unchanged(dout, case.dout, function="conv2d_backward", argument="dout",
                     recipe=case.recipe, calls=calls(True))
    again = unpack(invoke(impl, "conv2d_backward", case.dout, cache, clause="GEN-6"),
                   ("dX", "dW", "db"), "conv2d_backward", "GEN-6")
    for name, a, b in zip(GRADIENTS, first, again):
        assert_close(check_array(b, function="conv2d_backward", output=name, clause="GEN-6"),
                     check_array(a, function="conv2d_backward", output=name, clause="GEN-6"), 0.0,
                     function="conv2d_backward", output=f"{name} on a second call with the same "
                     "cache (the first call must not consume or change it)", clause="GEN-6",
                     recipe=case.recipe, calls=calls(True))


# -- errors --------------------------------------------------------------------------------------

def _valid():
    rng = np.random.default_rng(0)
    return rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), np.zeros(4)


def _invalid_conv_calls():
    X, W, b = _valid()
    yield "X-3d", (X[0], W, b), {}, "X", (3, 5, 5), "X with 3 axes"
    yield "W-3d", (X, W[0], b), {}, "W", (3, 3, 3), "W with 3 axes"
    yield "b-2d", (X, W, b[:, None]), {}, "b", (4, 1), "b with 2 axes"
    yield "channels", (X, W[:, :2], b), {}, "W", (4, 2, 3, 3), "W with 2 channels for X with 3"
    yield "bias-length", (X, W, b[:3]), {}, "b", (3,), "b of length 3 for 4 filters"
    yield "kernel-too-big", (X, np.zeros((4, 3, 6, 6)), b), {}, "W", (4, 3, 6, 6), \
        "a 6x6 kernel on a 5x5 input without padding"
    yield "stride-0", (X, W, b), {"stride": 0}, "stride", 0, "stride 0"
    yield "stride-float", (X, W, b), {"stride": 1.5}, "stride", 1.5, "stride 1.5"
    yield "padding-negative", (X, W, b), {"padding": -1}, "padding", -1, "padding -1"


INVALID = {case[0]: case[1:] for case in _invalid_conv_calls()}


@pytest.mark.clause("CONV-6", "GEN-4")
@pytest.mark.parametrize("which", INVALID)
def test_conv2d_rejects_invalid_arguments(impl, which):
    args, kwargs, argument, received, why = INVALID[which]
    assert_rejects(impl, "conv2d", args, kwargs, argument=argument, received=received,
                   clause="CONV-6", why=why)


@pytest.mark.clause("CONV-6", "GEN-4")
@pytest.mark.parametrize("wrong", ["extra-row", "missing-filter", "3d"])
def test_conv2d_backward_rejects_dout_of_wrong_shape(impl, wrong):
    X, W, b = _valid()
    _, cache = unpack(invoke(impl, "conv2d", X, W, b, clause="CONV-6"), ("out", "cache"),
                      "conv2d", "CONV-6")
    dout = {"extra-row": np.zeros((2, 4, 4, 3)), "missing-filter": np.zeros((2, 3, 3, 3)),
            "3d": np.zeros((4, 3, 3))}[wrong]
    assert_rejects(impl, "conv2d_backward", (dout, cache), argument="dout", received=dout.shape,
                   clause="CONV-6", why=f"a dout of shape {dout.shape} for an output of (2, 4, 3, 3)")


@pytest.mark.clause("CONV-6", "GEN-4")
@given(broken=strategies.broken_conv_settings(), seed=strategies.seeds)
def test_conv2d_rejects_any_broken_setting(impl, broken, seed):
    s, argument, how, received = broken
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((s["N"], s["C"], s["H"], s["W"]))
    W = rng.standard_normal((s["F"], s.get("WC", s["C"]), s["KH"], s["KW"]))
    b = rng.standard_normal(s.get("Fb", s["F"]))
    assert_rejects(impl, "conv2d", (X, W, b), {"stride": s["stride"], "padding": s["padding"]},
                   argument=argument, received=received, clause="CONV-6",
                   why=f"a broken setting ({how}: {argument} = {received})")
