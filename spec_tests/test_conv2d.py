"""conv2d and conv2d_backward: SPEC CONV-1 to CONV-6 (and GEN-1 to GEN-10 as they apply).

Each test judges one output for one property (its `spec` marker). Values are compared with SciPy
oracles computed from the test's own untouched arrays; the implementation only ever gets copies.
"""
import numpy as np
import pytest
from hypothesis import given

from cnnspec.contract import conv_output_shape
from cnnspec.spec_tests import oracles, strategies
from cnnspec.spec_tests.cases import LAYOUTS, conv_case, layout
from cnnspec.spec_tests.checks import sum_tolerance

spec = pytest.mark.spec

# (N, C, H, W, F, KH, KW, stride, padding): each setting exists to expose some bug.
SETTINGS = {
    "basic": (2, 3, 5, 5, 4, 3, 3, 1, 0),
    "pad1": (2, 2, 4, 5, 3, 3, 3, 1, 1),               # padding on all four sides
    "wide": (2, 2, 4, 9, 3, 3, 2, 1, 1),               # W > H, non-square kernel
    "tall": (2, 2, 9, 4, 3, 2, 3, 2, 0),               # H > W, stride 2 leaves a trailing row
    "stride-above-kernel": (1, 2, 9, 8, 2, 2, 2, 3, 1),  # windows skip pixels
    "stride-equals-kernel": (2, 1, 6, 6, 2, 3, 3, 3, 0),
    "stride3-pad2": (1, 3, 7, 7, 2, 3, 3, 3, 2),       # trailing rows that fit no window
    "1x1": (3, 2, 4, 6, 2, 1, 1, 1, 0),
    "kernel-fills-input": (2, 2, 4, 3, 2, 4, 3, 1, 0),
    "batch-64": (64, 2, 6, 7, 3, 3, 3, 1, 1),          # more images than any loop unrolling
    "long-sums": (2, 48, 7, 7, 3, 5, 5, 1, 0),         # 1200 products per element in float32
}
DTYPES = ["float64", "float32"]
GRADIENTS = {"dX": ("X", "CONV-3"), "dW": ("W", "CONV-4"), "db": ("b", "CONV-5")}
SMALL = [name for name in SETTINGS if name not in ("batch-64", "long-sums")]


def make(name, seed, dtype="float64"):
    N, C, H, W, F, KH, KW, stride, padding = SETTINGS[name]
    return conv_case(seed, N, C, H, W, F, KH, KW, stride, padding, dtype)


def expected_out(case):
    X, W, b = (case.arrays[k].astype(np.float64) for k in "XWb")
    out = oracles.conv2d(X, W, b, **case.kwargs)
    K = W[0].size + 1
    tol = sum_tolerance(oracles.conv2d_magnitude(X, W, b, **case.kwargs), K, case.X.dtype)
    return out, tol


def expected_grads(case):
    """{output: (expected, tolerance)} from the SciPy oracle (TOL-1)."""
    a = {k: v.astype(np.float64) for k, v in case.arrays.items()}
    grads = oracles.conv2d_backward(a["dout"], a["X"], a["W"], **case.kwargs)
    mags = oracles.conv2d_backward_magnitude(a["dout"], a["X"], a["W"], **case.kwargs)
    N, F, Ho, Wo = case.dout.shape
    KH, KW = case.W.shape[2:]
    terms = {"dX": F * KH * KW, "dW": N * Ho * Wo, "db": N * Ho * Wo}
    return {o: (g, sum_tolerance(m, terms[o], case.X.dtype))
            for o, g, m in zip(GRADIENTS, grads, mags)}


FORWARD = "out, cache = impl.conv2d(case.X, case.W, case.b, **case.kwargs)"
BACKWARD = "dX, dW, db = impl.conv2d_backward(case.dout, cache)"


def check_line(output):
    if output == "out":
        oracle = "oracles.conv2d(case.X, case.W, case.b, **case.kwargs)"
    else:
        oracle = (f"oracles.conv2d_backward(case.dout, case.X, case.W, **case.kwargs)"
                  f"[{list(GRADIENTS).index(output)}]")
    return (f"from cnnspec.spec_tests import oracles; print('largest error in {output}:', "
            f"np.abs(np.asarray({output}, float) - {oracle}).max())")


def forward(judge, case, **layouts):
    """conv2d on (copies of) the case's arrays, optionally in other memory layouts."""
    X, W, b = (layout(case.arrays[k], layouts.get(k, "C")) for k in "XWb")
    result = judge.call("conv2d", X, W, b, **case.kwargs)
    return judge.returned(result, "conv2d", "out"), judge.returned(result, "conv2d", "cache")


def backward(judge, case, cache, dout=None):
    result = judge.call("conv2d_backward", case.dout if dout is None else dout, cache)
    return {o: judge.returned(result, "conv2d_backward", o) for o in GRADIENTS}


def per_output(category, *clauses):
    """Parametrize over dX, dW, db, each with its own spec marker."""
    return pytest.mark.parametrize("output", [
        pytest.param(o, marks=spec("conv2d_backward", o, category, GRADIENTS[o][1], *clauses),
                     id=o) for o in GRADIENTS])


# -- forward: values -----------------------------------------------------------------------------

@spec("conv2d", "out", "value", "CONV-1", "CONV-2", "TOL-1")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_conv2d_out_matches_scipy_correlation(judge, seed, name, dtype):
    case = make(name, seed, dtype)
    judge.reproduce(case.recipe, [FORWARD], check_line("out"))
    out, _ = forward(judge, case)
    expected, tol = expected_out(case)
    judge.values(out, expected, tol, case=dict(case.arrays, **case.kwargs))


@spec("conv2d", "out", "value", "CONV-2", "TOL-1")
@given(settings=strategies.conv_settings(), seed=strategies.seeds, dtype=strategies.dtypes)
def test_conv2d_out_matches_the_oracle_for_any_setting(judge, settings, seed, dtype):
    case = conv_case(seed, dtype=dtype, **settings)
    judge.reproduce(case.recipe, [FORWARD], check_line("out"))
    out, _ = forward(judge, case)
    expected, tol = expected_out(case)
    judge.values(out, expected, tol, case=dict(case.arrays, **case.kwargs))


@spec("conv2d", "out", "value", "CONV-2")
def test_conv2d_is_cross_correlation_not_convolution(judge, seed):
    """A one-hot kernel at (u, v) picks the pixel at offset (u, v); a flipped kernel picks the
    mirrored one. The offset and the image come from the seed."""
    rng = np.random.default_rng(seed)
    u, v = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    while (u, v) == (1, 1):                     # the centre is its own mirror image
        u, v = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    X = rng.standard_normal((1, 1, 5, 6))
    W = np.zeros((1, 1, 3, 3))
    W[0, 0, u, v] = 1.0
    recipe = (f"X = np.array({X.tolist()}); W = np.zeros((1, 1, 3, 3)); "
              f"W[0, 0, {u}, {v}] = 1")
    judge.reproduce(recipe, ["out, cache = impl.conv2d(X, W, np.zeros(1))"])
    out = judge.returned(judge.call("conv2d", X, W, np.zeros(1)), "conv2d", "out")
    judge.values(out, X[:, :, u:u + 3, v:v + 4], 0.0,
                 case=dict(X=X, W=W, b=np.zeros(1), stride=1, padding=0))


@spec("conv2d", "out", "value", "GEN-1", "CONV-2")
@pytest.mark.parametrize("kind", LAYOUTS[1:])
@pytest.mark.parametrize("name", ["stride-above-kernel", "basic"])
def test_conv2d_out_for_inputs_in_any_memory_layout(judge, seed, name, kind):
    """F-order, strided and reversed X, W and b, with padding 1 and with padding 0: without
    padding there is no padded copy of X, so a code path that reads X's buffer directly (as if it
    were C-contiguous) shows only there."""
    case = make(name, seed)
    judge.reproduce(case.recipe, [
        "from cnnspec.spec_tests.cases import layout",
        f"out, cache = impl.conv2d(*(layout(case.arrays[k], {kind!r}) for k in 'XWb'), "
        f"**case.kwargs)"], check_line("out"))
    out, _ = forward(judge, case, X=kind, W=kind, b=kind)
    expected, tol = expected_out(case)
    judge.values(out, expected, tol, case=dict(case.arrays, **case.kwargs))


@spec("conv2d", "out", "value", "GEN-9", "CONV-1")
def test_conv2d_accepts_numpy_integers_for_stride_and_padding(judge, seed):
    case = make("stride3-pad2", seed)
    s, p = case.kwargs["stride"], case.kwargs["padding"]
    judge.reproduce(case.recipe, [f"out, cache = impl.conv2d(case.X, case.W, case.b, "
                                  f"stride=np.int64({s}), padding=np.int32({p}))"])
    out = judge.returned(judge.call("conv2d", case.X, case.W, case.b, stride=np.int64(s),
                                    padding=np.int32(p)), "conv2d", "out")
    expected, tol = expected_out(case)
    judge.values(out, expected, tol)


@spec("conv2d", "out", "value", "CONV-1")
def test_conv2d_defaults_to_stride_1_and_no_padding(judge, seed):
    case = make("basic", seed)
    judge.reproduce(case.recipe, ["out, cache = impl.conv2d(case.X, case.W, case.b)"])
    out = judge.returned(judge.call("conv2d", case.X, case.W, case.b), "conv2d", "out")
    expected, tol = expected_out(case)
    judge.values(out, expected, tol)


@spec("conv2d", "out", "value", "GEN-10")
def test_conv2d_out_survives_a_second_call(judge, seed):
    """The first output must not change when conv2d runs again (no buffer reused between calls)."""
    first, second = make("pad1", seed), make("pad1", seed + 1)
    again = second.recipe.split("; ", 1)[1].replace("case =", "second =")
    judge.reproduce(first.recipe + "; " + again,
                    [FORWARD, "again = impl.conv2d(second.X, second.W, second.b, "
                              "**second.kwargs)"], check_line("out"))
    judge.in_process_only("a buffer reused between calls shows only in the worker's memory")
    out, _ = forward(judge, first)
    forward(judge, second)
    expected, tol = expected_out(first)
    judge.values(out, expected, tol, how=" after a second call of conv2d on other inputs")


# -- forward: dtype, shape, memory ---------------------------------------------------------------

@spec("conv2d", "out", "dtype", "GEN-2", "CONV-1")
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_out_dtype(judge, seed, dtype):
    case = make("pad1", seed, dtype)
    judge.reproduce(case.recipe, [FORWARD, "print(out.dtype)"])
    out, _ = forward(judge, case)
    judge.dtype(out, dtype)


@spec("conv2d", "out", "shape", "CONV-1", "GEN-7")
@given(settings=strategies.conv_settings(), seed=strategies.seeds)
def test_conv2d_out_shape(judge, settings, seed):
    case = conv_case(seed, **settings)
    judge.reproduce(case.recipe, [FORWARD, "print(out.shape)"])
    out, _ = forward(judge, case)
    judge.shape(out, conv_output_shape(case.X.shape, case.W.shape, **case.kwargs))


@spec("conv2d", "inputs", "mutation", "GEN-3")
@given(settings=strategies.conv_settings(), seed=strategies.seeds)
def test_conv2d_does_not_modify_its_inputs(judge, settings, seed):
    case = conv_case(seed, **settings)
    judge.reproduce(case.recipe, [FORWARD])
    forward(judge, case)
    judge.unchanged()


@spec("conv2d", "out", "mutation", "GEN-8")
def test_conv2d_out_shares_no_memory_with_its_inputs(judge, seed):
    case = make("1x1", seed)
    X, W, b = case.arrays["X"].copy(), case.arrays["W"].copy(), case.arrays["b"].copy()
    judge.reproduce(case.recipe, [FORWARD, "print(np.shares_memory(out, case.X))"])
    judge.in_process_only("memory sharing shows only in the worker's memory")
    # No private copies here, so that sharing with the caller's own arrays shows.
    out = judge.returned(judge.call("conv2d", X, W, b, copies=False, **case.kwargs), "conv2d",
                         "out")
    judge.fresh(out, {"X": X, "W": W, "b": b})


# -- backward ------------------------------------------------------------------------------------

def _loss_of(case, wrt):
    """sum(dout * out) as a function of one input, computed by the oracle (never by impl)."""
    args = {k: case.arrays[k] for k in "XWb"}

    def f(value):
        return float(np.sum(case.dout * oracles.conv2d(**dict(args, **{wrt: value}),
                                                       **case.kwargs)))
    return f


@per_output("gradient", "TOL-4")
@pytest.mark.parametrize("name", SMALL)
def test_conv2d_backward_matches_finite_differences(judge, seed, name, output):
    case = make(name, seed)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD], check_line(output))
    _, cache = forward(judge, case)
    grads = backward(judge, case, cache)
    wrt = GRADIENTS[output][0]
    mags = dict(zip(GRADIENTS, oracles.conv2d_backward_magnitude(case.dout, case.X, case.W,
                                                                  **case.kwargs)))
    f_mag = float(np.sum(np.abs(case.dout) * oracles.conv2d_magnitude(
        case.X, case.W, case.b, **case.kwargs)))
    x = case.arrays[wrt]
    judge.gradient(grads[output], _loss_of(case, wrt), x, mags[output], f_mag, seed=seed,
                   whole=x.size <= 200, case=dict(case.arrays, **case.kwargs))


@per_output("value", "TOL-1")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_conv2d_backward_matches_oracle(judge, seed, name, dtype, output):
    case = make(name, seed, dtype)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD], check_line(output))
    _, cache = forward(judge, case)
    grads = backward(judge, case, cache)
    expected, tol = expected_grads(case)[output]
    judge.values(grads[output], expected, tol, case=dict(case.arrays, **case.kwargs))


@per_output("value", "TOL-1")
@given(settings=strategies.conv_settings(), seed=strategies.seeds, dtype=strategies.dtypes)
def test_conv2d_backward_matches_oracle_for_any_setting(judge, settings, seed, dtype, output):
    case = conv_case(seed, dtype=dtype, **settings)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD], check_line(output))
    _, cache = forward(judge, case)
    expected, tol = expected_grads(case)[output]
    judge.values(backward(judge, case, cache)[output], expected, tol,
                 case=dict(case.arrays, **case.kwargs))


@per_output("value", "GEN-6")
def test_conv2d_backward_twice_with_one_cache(judge, seed, output):
    """The cache may be used again: a second backward gives the same, right answer."""
    case = make("stride3-pad2", seed)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD, BACKWARD], check_line(output))
    _, cache = forward(judge, case)
    backward(judge, case, cache)
    expected, tol = expected_grads(case)[output]
    judge.values(backward(judge, case, cache)[output], expected, tol,
                 how=" on a second backward call with the same cache")


@per_output("value", "GEN-10")
def test_conv2d_backward_after_interleaved_calls(judge, seed, output):
    """forward(a), forward(b), backward(b), backward(a): each cache keeps its own pass."""
    a, b = make("pad1", seed), make("pad1", seed + 7)
    judge.reproduce(a.recipe + "; " + b.recipe.split("; ", 1)[1].replace("case =", "b ="),
                    ["_, cache_a = impl.conv2d(case.X, case.W, case.b, **case.kwargs)",
                     "_, cache_b = impl.conv2d(b.X, b.W, b.b, **b.kwargs)",
                     "impl.conv2d_backward(b.dout, cache_b)",
                     "dX, dW, db = impl.conv2d_backward(case.dout, cache_a)"], check_line(output))
    _, cache_a = forward(judge, a)
    _, cache_b = forward(judge, b)
    backward(judge, b, cache_b)
    expected, tol = expected_grads(a)[output]
    judge.values(backward(judge, a, cache_a)[output], expected, tol,
                 how=" for the first of two interleaved forward/backward pairs")


@per_output("value", "GEN-1")
@pytest.mark.parametrize("kind", LAYOUTS[1:])
def test_conv2d_backward_for_dout_in_any_memory_layout(judge, seed, kind, output):
    case = make("wide", seed)
    judge.reproduce(case.recipe, ["from cnnspec.spec_tests.cases import layout", FORWARD,
                                  f"dX, dW, db = impl.conv2d_backward(layout(case.dout, "
                                  f"{kind!r}), cache)"], check_line(output))
    _, cache = forward(judge, case)            # only dout's layout changes: a forward that
    grads = backward(judge, case, cache, dout=layout(case.dout, kind))   # mishandles layouts
                                                                          # is conv2d's own bug
    expected, tol = expected_grads(case)[output]
    judge.values(grads[output], expected, tol)


@per_output("value", "GEN-10")
def test_conv2d_backward_takes_the_forward_output_as_dout(judge, seed, output):
    """Feeding a returned array back in (dout = out) must work like any other dout."""
    case = make("basic", seed)
    judge.reproduce(case.recipe, [FORWARD, "dX, dW, db = impl.conv2d_backward(out, cache)"])
    judge.in_process_only("out and the cache share memory only in the worker")
    out, cache = forward(judge, case)
    if not (isinstance(out, np.ndarray) and out.shape == case.dout.shape
            and np.isfinite(out).all() and np.ptp(out) > 0):
        # A constant or zero out would make the expected gradients trivial (a cheat could match).
        judge.fail("not judged: conv2d's out has the wrong type, shape or values (see its tests)")
    dout = np.array(out, np.float64)           # expectations from a copy taken before the call
    case.arrays["dout"] = dout
    expected, tol = expected_grads(case)[output]
    result = judge.call("conv2d_backward", out, cache, copies=False)
    judge.values(judge.returned(result, "conv2d_backward", output), expected, tol,
                 how=" with dout = the forward's own output (the same array)")


@per_output("dtype", "GEN-2")
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_backward_dtype(judge, seed, dtype, output):
    case = make("pad1", seed, dtype)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD, f"print({output}.dtype)"])
    _, cache = forward(judge, case)
    judge.dtype(backward(judge, case, cache)[output], dtype)


@per_output("shape", "GEN-7")
@given(settings=strategies.conv_settings(), seed=strategies.seeds)
def test_conv2d_backward_shape(judge, settings, seed, output):
    case = conv_case(seed, **settings)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD, f"print({output}.shape)"])
    _, cache = forward(judge, case)
    judge.shape(backward(judge, case, cache)[output], case.arrays[GRADIENTS[output][0]].shape)


@spec("conv2d_backward", "inputs", "mutation", "GEN-3", "GEN-10")
@given(settings=strategies.conv_settings(), seed=strategies.seeds)
def test_conv2d_backward_modifies_neither_dout_nor_the_forward_output(judge, settings, seed):
    case = conv_case(seed, **settings)
    judge.reproduce(case.recipe, [FORWARD, "before = out.copy()", BACKWARD,
                                  "print(np.array_equal(out, before))"])
    out, cache = forward(judge, case)
    kept = out.copy() if isinstance(out, np.ndarray) else None
    backward(judge, case, cache)
    judge.unchanged()
    if kept is not None and not np.array_equal(out, kept, equal_nan=True):
        judge.fail("conv2d_backward changed the forward pass's output (out) in place [SPEC "
                   "GEN-10]: the cache and out share memory and backward wrote into it.")


@per_output("mutation", "GEN-8")
def test_conv2d_backward_outputs_share_no_memory(judge, seed, output):
    case = make("1x1", seed)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD])
    judge.in_process_only("memory sharing shows only in the worker's memory")
    out, cache = forward(judge, case)
    dout = case.dout.copy()
    result = judge.call("conv2d_backward", dout, cache, copies=False)   # sharing must show
    grads = {o: judge.returned(result, "conv2d_backward", o) for o in GRADIENTS}
    others = {"dout": dout, "the forward's out": out}
    others.update({o: g for o, g in grads.items() if o != output})
    judge.fresh(grads[output], others)


# -- errors --------------------------------------------------------------------------------------

def _invalid_conv_calls(rng):
    """(id, args, kwargs, argument, received, why) with shapes drawn from rng (hidden inputs)."""
    N, C, F = (int(v) for v in rng.integers(1, 4, 3))
    H, Wd = (int(v) for v in rng.integers(4, 8, 2))
    X, W, b = (rng.standard_normal((N, C, H, Wd)), rng.standard_normal((F, C, 3, 3)),
               rng.standard_normal(F))
    yield "X-3d", (X[0], W, b), {}, "X", X[0].shape, "X with 3 axes"
    yield "W-3d", (X, W[0], b), {}, "W", W[0].shape, "W with 3 axes"
    yield "b-2d", (X, W, b[:, None]), {}, "b", (F, 1), "b with 2 axes"
    Wc = rng.standard_normal((F, C + 1, 3, 3))
    yield "channels", (X, Wc, b), {}, "W", Wc.shape, f"W with {C + 1} channels for X with {C}"
    yield "bias-length", (X, W, np.zeros(F + 1)), {}, "b", (F + 1,), f"b of length {F + 1}"
    tall = np.zeros((F, C, H + 1, 3))
    yield "kernel-too-tall", (X, tall, b), {"padding": 0}, "W", tall.shape, \
        "a kernel taller than the input"
    wide = np.zeros((F, C, 2, Wd + 1))
    yield "kernel-too-wide", (X, wide, b), {"padding": 0}, "W", wide.shape, \
        "a kernel wider (not taller) than the input"
    yield "stride-0", (X, W, b), {"stride": 0}, "stride", 0, "stride 0"
    yield "stride-negative", (X, W, b), {"stride": -2}, "stride", -2, "stride -2"
    yield "stride-float", (X, W, b), {"stride": 1.5}, "stride", 1.5, "stride 1.5"
    yield "stride-whole-float", (X, W, b), {"stride": 2.0}, "stride", 2.0, "stride 2.0 (a float)"
    yield "stride-bool", (X, W, b), {"stride": True}, "stride", True, "stride True (a bool)"
    yield "padding-negative", (X, W, b), {"padding": -1}, "padding", -1, "padding -1"
    yield "padding-float", (X, W, b), {"padding": 1.5}, "padding", 1.5, "padding 1.5"


INVALID_IDS = [c[0] for c in _invalid_conv_calls(np.random.default_rng(0))]


@spec("conv2d", "call", "errors", "CONV-6", "GEN-4", "GEN-9")
@pytest.mark.parametrize("which", INVALID_IDS)
def test_conv2d_rejects_invalid_arguments(judge, seed, which):
    calls = {c[0]: c[1:] for c in _invalid_conv_calls(np.random.default_rng(seed))}
    args, kwargs, argument, received, why = calls[which]
    judge.rejects("conv2d", args, kwargs, argument=argument, received=received, why=why)


@spec("conv2d", "call", "errors", "CONV-6", "GEN-4")
@given(broken=strategies.broken_conv_settings(), seed=strategies.seeds)
def test_conv2d_rejects_any_broken_setting(judge, broken, seed):
    s, argument, how, received = broken
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((s["N"], s["C"], s["H"], s["W"]))
    W = rng.standard_normal((s["F"], s.get("WC", s["C"]), s["KH"], s["KW"]))
    b = rng.standard_normal(s.get("Fb", s["F"]))
    judge.rejects("conv2d", (X, W, b), {"stride": s["stride"], "padding": s["padding"]},
                  argument=argument, received=received,
                  why=f"a broken setting ({how}: {argument} = {received})")


@spec("conv2d_backward", "call", "errors", "CONV-6", "GEN-4")
@pytest.mark.parametrize("wrong", ["extra-row", "missing-filter", "3d", "same-size-other-shape"])
def test_conv2d_backward_rejects_dout_of_wrong_shape(judge, seed, wrong):
    case = make("wide", seed)                     # output (2, 3, 4, 10): Ho != Wo
    _, cache = forward(judge, case)
    N, F, Ho, Wo = case.dout.shape
    dout = {"extra-row": np.zeros((N, F, Ho + 1, Wo)), "missing-filter": np.zeros((N, F - 1, Ho, Wo)),
            "3d": np.zeros((F, Ho, Wo)), "same-size-other-shape": np.zeros((N, F, Wo, Ho))}[wrong]
    judge.rejects("conv2d_backward", (dout, cache), argument="dout", received=dout.shape,
                  why=f"a dout of shape {dout.shape} for an output of {case.dout.shape}")
