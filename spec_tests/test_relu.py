"""relu and relu_backward: SPEC RELU-1 to RELU-3 (and GEN-1 to GEN-10 as they apply).

Each test judges one output for one property (its `spec` marker). Values are compared with the
oracle (np.maximum, np.where) computed from the test's own untouched arrays; the implementation
only ever gets copies. Inputs are drawn at least 1e-3 away from the kink at 0 (cases.relu_case);
the kink rule itself is pinned by exact zeros of both signs and tiny values at seed-drawn places
(cases.relu_kink_case).
"""

import numpy as np
import pytest
from hypothesis import given

from cnnspec.spec_tests import oracles, strategies
from cnnspec.spec_tests.cases import LAYOUTS, relu_case, relu_kink_case
from cnnspec.spec_tests import calls, checks
from cnnspec.spec_tests.calls import copy_in, named

spec = pytest.mark.spec

SHAPES = {
    "1d": (11,),
    "2d": (4, 5),
    "4d": (2, 3, 4, 4),
    "5d": (2, 1, 3, 2, 4),
    "batch-64": (64, 8, 7, 7),                     # a whole batch of feature maps
}
SMALL = [name for name in SHAPES if name != "batch-64"]
DTYPES = ["float64", "float32"]
# Extreme values: the largest magnitude of relu_case's input, per dtype.
EXTREMES = {
    "huge": lambda dtype: 1e30,
    "near-overflow": lambda dtype: 0.9 * float(np.finfo(dtype).max),   # X + |X| overflows
    "tiny": lambda dtype: 1e-30,
}


def context(case):
    """What the diagnosis of a failure reads: the call's inputs."""
    return dict(case.arrays)


def expected_out(case):
    return oracles.relu(case.X), 0.0                # exact: relu only selects (TOL-2)


def expected_dX(case, dout=None):
    return oracles.relu_backward(case.dout if dout is None else dout, case.X), 0.0


FORWARD = "out, cache = impl.relu(case.X)"
BACKWARD = "dX = impl.relu_backward(case.dout, cache)"


def expect_line(output, dout="case.dout"):
    """The oracle's answer as a line of Python, run before any call (a call may change the case's
    arrays in place)."""
    oracle = "oracles.relu(case.X)" if output == "out" else f"oracles.relu_backward({dout}, case.X)"
    return f"from cnnspec.spec_tests import oracles; expected = {oracle}"


def reproduce(judge, recipe, lines, output=None):
    return calls.reproduce(judge, recipe, lines, output, output and expect_line(output))


def forward(judge, case, kind="C"):
    """relu on a copy of the case's X, optionally in another memory layout."""
    result = judge.call("relu", copy_in(case.X, kind), copies=False)
    return judge.returned(result, "relu", "out"), judge.returned(result, "relu", "cache")


def forward_for_backward(judge, case, kind="C", X=None):
    """relu's pass for a backward test, on X as it is or a copy of case.X in layout `kind`."""
    return calls.forward_for_backward(judge, "relu", copy_in(case.X, kind) if X is None else X,
                                      case.X.shape)


after_forward = checks.after_forward("relu", "relu_backward")


def backward(judge, case, cache, dout=None, kind="C"):
    return calls.backward(judge, "relu_backward", case.dout if dout is None else dout, cache, kind)


# -- forward: values -----------------------------------------------------------------------------

@spec("relu", "out", "value", "RELU-1", "TOL-2")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_relu_out_is_elementwise_max_with_zero(judge, seed, shape, dtype):
    """Exact zeros of both signs and values of +-1e-30 are among the inputs (seed-drawn places)."""
    case = relu_kink_case(seed, SHAPES[shape], dtype)
    reproduce(judge, case.recipe, [FORWARD], "out")
    out, _ = forward(judge, case)
    judge.values(out, *expected_out(case), case=context(case))


@spec("relu", "out", "value", "RELU-1", "TOL-2")
@given(shape=strategies.shapes, seed=strategies.seeds, dtype=strategies.dtypes)
def test_relu_out_matches_the_oracle_for_any_shape(judge, shape, seed, dtype):
    case = relu_case(seed, shape, dtype)
    reproduce(judge, case.recipe, [FORWARD], "out")
    out, _ = forward(judge, case)
    judge.values(out, *expected_out(case), case=context(case))


@spec("relu", "out", "value", "RELU-1", "TOL-2")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("extreme", EXTREMES)
def test_relu_out_of_extreme_values(judge, seed, extreme, dtype):
    case = relu_case(seed, (3, 4, 5), dtype, scale=EXTREMES[extreme](dtype))
    reproduce(judge, case.recipe, [FORWARD], "out")
    out, _ = forward(judge, case)
    judge.values(out, *expected_out(case), case=context(case))


@spec("relu", "out", "value", "GEN-1", "RELU-1")
@pytest.mark.parametrize("kind", LAYOUTS[1:])
def test_relu_out_for_inputs_in_any_memory_layout(judge, seed, kind):
    case = relu_case(seed, (2, 3, 4, 5))
    reproduce(judge, case.recipe, ["from cnnspec.spec_tests.cases import layout",
                                   f"out, cache = impl.relu(layout(case.X, {kind!r}))"], "out")
    out, _ = forward(judge, case, kind)
    judge.values(out, *expected_out(case), case=context(case))


@spec("relu", "out", "value", "GEN-10")
def test_relu_out_survives_a_second_call(judge, seed):
    """The first output must not change when relu runs again (no buffer reused between calls)."""
    first, second = relu_case(seed, (3, 4, 5)), relu_case(seed + 1, (3, 4, 5))
    reproduce(judge, first.recipe + "; " + named(second, "second"),
              [FORWARD, "again = impl.relu(second.X)"], "out")
    judge.in_process_only("a buffer reused between calls shows only in the worker's memory")
    out, _ = forward(judge, first)
    forward(judge, second)
    judge.values(out, *expected_out(first), how=" after a second call of relu on another input")


# -- forward: dtype, shape, memory ---------------------------------------------------------------

@spec("relu", "out", "dtype", "GEN-2", "RELU-1")
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_out_dtype(judge, seed, dtype):
    case = relu_case(seed, (2, 3, 4), dtype)
    judge.reproduce(case.recipe, [FORWARD, "print(out.dtype)"])
    out, _ = forward(judge, case)
    judge.dtype(out, dtype)


@spec("relu", "out", "shape", "RELU-1", "GEN-7")
@given(shape=strategies.shapes, seed=strategies.seeds)
def test_relu_out_shape(judge, shape, seed):
    case = relu_case(seed, shape)
    judge.reproduce(case.recipe, [FORWARD, "print(out.shape)"])
    out, _ = forward(judge, case)
    judge.shape(out, case.X.shape)


@spec("relu", "inputs", "mutation", "GEN-3")
@given(shape=strategies.shapes, seed=strategies.seeds)
def test_relu_does_not_modify_its_input(judge, shape, seed):
    case = relu_case(seed, shape)
    judge.reproduce(case.recipe, [FORWARD])
    forward(judge, case)
    judge.unchanged()


# Inputs for the memory test: a mixed one, and one with no negative value (nothing to change).
SIGNS = {"mixed": lambda X: X, "all-positive": np.abs}


@spec("relu", "out", "mutation", "GEN-8")
@pytest.mark.parametrize("signs", SIGNS)
def test_relu_out_shares_no_memory_with_its_input(judge, seed, signs):
    case = relu_case(seed, (3, 4, 5))
    X = SIGNS[signs](case.X).copy()
    judge.reproduce(case.recipe, [f"X = {'np.abs(case.X)' if signs != 'mixed' else 'case.X'}",
                                  "out, cache = impl.relu(X)", "print(np.shares_memory(out, X))"])
    judge.in_process_only("memory sharing shows only in the worker's memory")
    # No private copy here, so that sharing with the caller's own array shows.
    out = judge.returned(judge.call("relu", X, copies=False), "relu", "out")
    judge.fresh(out, {"X": X})


# -- backward: values ----------------------------------------------------------------------------

@spec("relu_backward", "dX", "gradient", "RELU-2", "TOL-4")
@pytest.mark.parametrize("shape", SMALL)
@after_forward
def test_relu_backward_matches_finite_differences(judge, seed, shape):
    case = relu_case(seed, SHAPES[shape])
    reproduce(judge, case.recipe, [FORWARD, BACKWARD], "dX")
    _, cache = forward_for_backward(judge, case)
    dX = backward(judge, case, cache)
    magnitude = oracles.relu_backward(np.abs(case.dout), case.X)
    judge.gradient(dX, lambda X: float(np.sum(case.dout * oracles.relu(X))), case.X, magnitude,
                   float(np.sum(np.abs(case.dout * case.X))), seed=seed, whole=True,
                   case=context(case))


@spec("relu_backward", "dX", "value", "RELU-2", "TOL-2")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@after_forward
def test_relu_backward_matches_oracle(judge, seed, shape, dtype):
    case = relu_case(seed, SHAPES[shape], dtype)
    reproduce(judge, case.recipe, [FORWARD, BACKWARD], "dX")
    _, cache = forward_for_backward(judge, case)
    judge.values(backward(judge, case, cache), *expected_dX(case), case=context(case))


@spec("relu_backward", "dX", "value", "RELU-2", "TOL-2")
@given(shape=strategies.shapes, seed=strategies.seeds, dtype=strategies.dtypes)
@after_forward
def test_relu_backward_matches_oracle_for_any_shape(judge, shape, seed, dtype):
    case = relu_case(seed, shape, dtype)
    reproduce(judge, case.recipe, [FORWARD, BACKWARD], "dX")
    _, cache = forward_for_backward(judge, case)
    judge.values(backward(judge, case, cache), *expected_dX(case), case=context(case))


@spec("relu_backward", "dX", "value", "RELU-2")
@pytest.mark.parametrize("dtype", DTYPES)
@after_forward
def test_relu_backward_passes_no_gradient_at_zero(judge, seed, dtype):
    """The kink rule: X == 0 (either sign) gets 0, like X < 0; X = 1e-30 > 0 passes dout."""
    case = relu_kink_case(seed, (3, 4, 5), dtype)
    reproduce(judge, case.recipe, [FORWARD, BACKWARD, "print(dX[case.X == 0])"], "dX")
    _, cache = forward_for_backward(judge, case)
    judge.values(backward(judge, case, cache), *expected_dX(case), case=context(case),
                 how=" where X is exactly 0 or +-1e-30 (seed-drawn places)")


@spec("relu_backward", "dX", "value", "RELU-2", "TOL-2")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("extreme", EXTREMES)
@after_forward
def test_relu_backward_of_extreme_values(judge, seed, extreme, dtype):
    case = relu_case(seed, (3, 4, 5), dtype, scale=EXTREMES[extreme](dtype))
    reproduce(judge, case.recipe, [FORWARD, BACKWARD], "dX")
    _, cache = forward_for_backward(judge, case)
    judge.values(backward(judge, case, cache), *expected_dX(case), case=context(case))


# -- backward: repeated calls, layouts -----------------------------------------------------------

@spec("relu_backward", "dX", "value", "GEN-6")
@after_forward
def test_relu_backward_twice_with_one_cache(judge, seed):
    """The cache may be used again: a second backward gives the same, right answer."""
    case = relu_case(seed, (3, 4, 5))
    reproduce(judge, case.recipe, [FORWARD, BACKWARD, BACKWARD], "dX")
    _, cache = forward_for_backward(judge, case)
    backward(judge, case, cache)
    judge.values(backward(judge, case, cache), *expected_dX(case),
                 how=" on a second backward call with the same cache")


@spec("relu_backward", "dX", "value", "GEN-10")
@after_forward
def test_relu_backward_after_interleaved_calls(judge, seed):
    """forward(a), forward(b), backward(b), backward(a): each cache keeps its own pass."""
    a, b = relu_case(seed, (3, 4, 5)), relu_case(seed + 7, (3, 4, 5))
    reproduce(judge, a.recipe + "; " + named(b, "b"),
              ["_, cache_a = impl.relu(case.X)", "_, cache_b = impl.relu(b.X)",
               "impl.relu_backward(b.dout, cache_b)",
               "dX = impl.relu_backward(case.dout, cache_a)"], "dX")
    _, cache_a = forward_for_backward(judge, a)
    _, cache_b = forward_for_backward(judge, b)
    backward(judge, b, cache_b)
    judge.values(backward(judge, a, cache_a), *expected_dX(a),
                 how=" for the first of two interleaved forward/backward pairs")


@spec("relu_backward", "dX", "value", "GEN-10")
@after_forward
def test_relu_backward_dX_survives_a_second_call(judge, seed):
    """An earlier dX stays as it was returned when relu_backward runs again."""
    a, b = relu_case(seed, (3, 4, 5)), relu_case(seed + 3, (3, 4, 5))
    reproduce(judge, a.recipe + "; " + named(b, "b"),
              [FORWARD, BACKWARD, "_, cache_b = impl.relu(b.X)",
               "impl.relu_backward(b.dout, cache_b)"], "dX")
    judge.in_process_only("a buffer reused between calls shows only in the worker's memory")
    _, cache_a = forward_for_backward(judge, a)
    dX = backward(judge, a, cache_a)
    _, cache_b = forward_for_backward(judge, b)
    backward(judge, b, cache_b)
    judge.values(dX, *expected_dX(a), how=" after a second backward call on another input")


@spec("relu_backward", "dX", "value", "GEN-1")
@pytest.mark.parametrize("kind", LAYOUTS[1:])
@after_forward
def test_relu_backward_for_dout_in_any_memory_layout(judge, seed, kind):
    """dout in another layout than X (which stays C-contiguous): elements match by index."""
    case = relu_case(seed, (2, 3, 4, 5))
    reproduce(judge, case.recipe, ["from cnnspec.spec_tests.cases import layout", FORWARD,
                                   f"dX = impl.relu_backward(layout(case.dout, {kind!r}), "
                                   f"cache)"], "dX")
    _, cache = forward_for_backward(judge, case)
    judge.values(backward(judge, case, cache, kind=kind), *expected_dX(case),
                 case=context(case))


@spec("relu_backward", "dX", "value", "GEN-10")
@after_forward
def test_relu_backward_takes_the_forward_output_as_dout(judge, seed):
    """Feeding a returned array back in (dout = out) must work like any other dout."""
    case = relu_case(seed, (3, 4, 5))
    judge.reproduce(case.recipe, [FORWARD, expect_line("dX", dout="out.copy()"),
                                  "dX = impl.relu_backward(out, cache)"], calls.error_line("dX"))
    judge.in_process_only("out and the cache share memory only in the worker")
    out, cache = forward_for_backward(judge, case)
    if not (isinstance(out, np.ndarray) and np.isfinite(out).all()):
        judge.fail("not judged: relu's out has the wrong type or values (see its tests)")
    expected = expected_dX(case, dout=np.array(out, np.float64))    # from a copy, before the call
    if not np.any(expected[0]):
        judge.fail("not judged: with dout = relu's out, the right dX is 0 everywhere, so this "
                   "test cannot tell it from an empty one (see relu's tests)")
    dX = judge.returned(judge.call("relu_backward", out, cache, copies=False), "relu_backward",
                        "dX")
    judge.values(dX, *expected, how=" with dout = the forward's own output (the same array)")


# -- backward: dtype, shape, memory --------------------------------------------------------------

@spec("relu_backward", "dX", "dtype", "GEN-2", "RELU-2")
@pytest.mark.parametrize("dtype", DTYPES)
@after_forward
def test_relu_backward_dtype(judge, seed, dtype):
    case = relu_case(seed, (2, 3, 4), dtype)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD, "print(dX.dtype)"])
    _, cache = forward_for_backward(judge, case)
    judge.dtype(backward(judge, case, cache), dtype)


@spec("relu_backward", "dX", "shape", "RELU-2", "GEN-7")
@given(shape=strategies.shapes, seed=strategies.seeds)
@after_forward
def test_relu_backward_shape(judge, shape, seed):
    case = relu_case(seed, shape)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD, "print(dX.shape)"])
    _, cache = forward_for_backward(judge, case)
    judge.shape(backward(judge, case, cache), case.X.shape)


@spec("relu_backward", "inputs", "mutation", "GEN-3")
@given(shape=strategies.shapes, seed=strategies.seeds)
@after_forward
def test_relu_backward_does_not_modify_dout(judge, shape, seed):
    case = relu_case(seed, shape)
    judge.reproduce(case.recipe, [FORWARD, "before = case.dout.copy()", BACKWARD,
                                  "print(np.array_equal(case.dout, before))"])
    _, cache = forward_for_backward(judge, case)
    backward(judge, case, cache)
    judge.unchanged()


@spec("relu_backward", "inputs", "mutation", "GEN-3", "GEN-6", "GEN-10")
@after_forward
def test_relu_backward_leaves_the_forward_pass_as_it_was(judge, seed):
    """The forward's input X (which a cache may keep) and its output out stay as they were."""
    case = relu_case(seed, (3, 4, 5))
    judge.reproduce(case.recipe, [FORWARD, "before = (case.X.copy(), out.copy())", BACKWARD,
                                  "print(np.array_equal(case.X, before[0]), "
                                  "np.array_equal(out, before[1]))"])
    judge.in_process_only("the forward's arrays are the worker's own")
    X = case.X.copy()                   # the forward's own X: a cache may keep a reference to it
    out, cache = forward_for_backward(judge, case, X=X)
    calls.judge_forward_pass_kept(judge, "relu_backward", X, out,
                                  lambda: backward(judge, case, cache))


@spec("relu_backward", "dX", "mutation", "GEN-8")
@pytest.mark.parametrize("signs", SIGNS)
@after_forward
def test_relu_backward_dX_shares_no_memory(judge, seed, signs):
    case = relu_case(seed, (3, 4, 5))
    case.arrays["X"] = SIGNS[signs](case.X)
    X, dout = case.X.copy(), case.dout.copy()
    judge.reproduce(case.recipe, [f"X = {'np.abs(case.X)' if signs != 'mixed' else 'case.X'}",
                                  "out, cache = impl.relu(X)",
                                  "dX = impl.relu_backward(case.dout, cache)",
                                  "print(np.shares_memory(dX, case.dout))"])
    judge.in_process_only("memory sharing shows only in the worker's memory")
    out, cache = forward_for_backward(judge, case, X=X)       # no copies: sharing must show
    dX = judge.returned(judge.call("relu_backward", dout, cache, copies=False), "relu_backward",
                        "dX")
    judge.fresh(dX, {"dout": dout, "the forward's input X": X, "the forward's out": out})


# -- errors --------------------------------------------------------------------------------------

def _wrong_douts(rng, shape):
    """(id, dout) whose shape is not `shape` (a 3-D shape whose first and last axes differ)."""
    A, B, C = shape
    yield "transposed", rng.standard_normal((C, B, A))        # the same size, another shape
    yield "flattened", rng.standard_normal(A * B * C)
    yield "extra-axis", rng.standard_normal((1, A, B, C))
    yield "one-more-column", rng.standard_normal((A, B, C + 1))


WRONG_DOUT_IDS = [w[0] for w in _wrong_douts(np.random.default_rng(0), (1, 2, 3))]


def wrong_dout_case(seed, wrong):
    """A case of shape (A, B, C) with A != C, and a dout of the wrong shape."""
    rng = np.random.default_rng(seed)
    A, B = (int(v) for v in rng.integers(2, 5, 2))
    shape = (A, B, A + int(rng.integers(1, 3)))
    return relu_case(seed, shape), dict(_wrong_douts(rng, shape))[wrong]


@spec("relu_backward", "call", "errors", "RELU-3", "GEN-4")
@pytest.mark.parametrize("wrong", WRONG_DOUT_IDS)
@after_forward
def test_relu_backward_rejects_dout_of_wrong_shape(judge, seed, wrong):
    case, dout = wrong_dout_case(seed, wrong)
    judge.reproduce(f"from cnnspec.spec_tests.test_relu import wrong_dout_case; "
                    f"case, dout = wrong_dout_case({seed}, {wrong!r})",
                    [FORWARD, "impl.relu_backward(dout, cache)"])
    _, cache = forward_for_backward(judge, case)
    judge.rejects("relu_backward", (dout, cache), argument="dout", received=dout.shape,
                  why=f"a dout of shape {dout.shape} for X of shape {case.X.shape}")
