"""maxpool2d and maxpool2d_backward: SPEC POOL-1 to POOL-5 (and GEN-1 to GEN-10 as they apply).

Each test judges one output for one property (its `spec` marker). Values are compared with SciPy
oracles computed from the test's own untouched arrays; the implementation only ever gets copies.
Inputs hold distinct values 1e-2 apart (cases.pool_case), so every window has one clear maximum;
the tie rule is pinned by explicit windows placed in larger random inputs, and near-ties by windows
whose top two values differ by one unit in the last place.
"""

import numpy as np
import pytest
from hypothesis import given

from cnnspec.contract import DEFAULTS
from cnnspec.spec_tests import oracles, strategies
from cnnspec.spec_tests.cases import (LAYOUTS, Case, pool_case, pool_near_tie_case,
                                      pool_tie_case)
from cnnspec.spec_tests import calls, checks
from cnnspec.spec_tests.calls import copy_in, named
from cnnspec.spec_tests.checks import sum_tolerance

spec = pytest.mark.spec

# (N, C, H, W, pool_size, stride): each setting exists to expose some bug.
SETTINGS = {
    "2x2-stride2": (2, 3, 6, 6, 2, 2),             # more channels than images
    "wide": (2, 2, 4, 11, 2, 2),                   # W > H: most windows lie right of column H
    "tall": (2, 2, 11, 4, 2, 2),                   # H > W
    "odd-size": (2, 2, 7, 5, 2, 2),                # a trailing row and column fit no window
    "3x3-stride2-overlap": (1, 2, 7, 9, 3, 2),     # overlapping windows, W > H
    "2x2-stride1-overlap": (2, 2, 5, 4, 2, 1),
    "stride-above-pool": (1, 2, 8, 11, 2, 3),      # windows skip pixels
    "3x3-stride3": (1, 2, 9, 8, 3, 3),             # stride equal to the pool size, H > W
    "1x1-stride2": (1, 2, 5, 4, 1, 2),             # a pool of one pixel: subsampling
    "single-row": (1, 1, 2, 9, 2, 2),              # one image, one row of windows
    "pool-fills-height": (2, 1, 4, 7, 4, 1),       # one row of overlapping 4x4 windows
    "pool-8": (1, 2, 17, 19, 8, 3),                # large windows overlapping by 5
    "batch-64": (64, 3, 8, 9, 2, 2),               # more images than any loop unrolling
}
SMALL = [name for name in SETTINGS if name != "batch-64"]
# For the memory tests: a 1x1 pool with stride 1 returns X's values as they are (a view would do).
SHARING = {"1x1-stride1": (1, 2, 3, 3, 1, 1), "2x2-stride2": SETTINGS["2x2-stride2"]}
DTYPES = ["float64", "float32"]
# Inputs at extreme values: pool_case's (scale, offset) of its grid of distinct values.
EXTREMES = {
    "all-negative": (1.0, -1e3),                   # a running maximum started at 0 shows
    "below-minus-1e9": (1e9, -1e10),               # ... or one started at -1e9
    "huge": (1e30, 0.0),
    "tiny": (1e-30, 0.0),
}
# The tie rule (POOL-3), pinned: a window and where its gradient goes (the FIRST maximum in
# row-major order takes it all). Each is scaled and placed in a larger random input (the seed's).
TIES = {
    "all-equal": ([[5.0, 5.0], [5.0, 5.0]], [[1, 0], [0, 0]]),
    "all-zero": ([[0.0, 0.0], [0.0, 0.0]], [[1, 0], [0, 0]]),
    "second-row": ([[1.0, 2.0], [3.0, 3.0]], [[0, 0], [1, 0]]),
    "right-column": ([[1.0, 4.0], [2.0, 4.0]], [[0, 1], [0, 0]]),
    "diagonal": ([[7.0, 1.0], [1.0, 7.0]], [[1, 0], [0, 0]]),
    "negative": ([[-3.0, -1.0], [-1.0, -2.0]], [[0, 1], [0, 0]]),
    "3x3-middle-row": ([[1.0, 2.0, 1.0], [4.0, 3.0, 4.0], [0.0, 4.0, 1.0]],
                       [[0, 0, 0], [1, 0, 0], [0, 0, 0]]),
    "3x3-corners": ([[6.0, 1.0, 6.0], [1.0, 2.0, 1.0], [6.0, 1.0, 6.0]],
                    [[1, 0, 0], [0, 0, 0], [0, 0, 0]]),
    "3x3-last-row": ([[-2.0, -3.0, -4.0], [-5.0, -6.0, -7.0], [-8.0, -1.0, -1.0]],
                     [[0, 0, 0], [0, 0, 0], [0, 1, 0]]),
}
# Near-ties: (N, C, H, W, pool_size) for pool_near_tie_case (stride = pool_size).
NEAR_TIES = {"2x2": (2, 2, 4, 7, 2), "3x3": (1, 3, 6, 10, 3)}


def make(name, seed, dtype="float64", table=SETTINGS):
    N, C, H, W, p, s = table[name]
    return pool_case(seed, N, C, H, W, p, s, dtype)


def context(case):
    """What the diagnosis of a failure reads: the call's inputs."""
    return dict(case.arrays, **case.kwargs)


def expected_out(case):
    """The oracle's output; exact, as pooling only selects values (TOL-2)."""
    return oracles.maxpool2d(case.X, **case.kwargs), 0.0


def expected_dX(case, dout=None):
    """The oracle's dX: exact where no windows overlap; where they do, TOL-1 with K = the number
    of windows that may add into one pixel (POOL-4, TOL-2)."""
    dout = np.asarray(case.dout if dout is None else dout, np.float64)
    p, s = case.kwargs["pool_size"], case.kwargs["stride"]
    windows = (-(-p // s)) ** 2 if s < p else 0
    magnitude = oracles.maxpool2d_backward(np.abs(dout), case.X, p, s)
    return (oracles.maxpool2d_backward(dout, case.X, p, s),
            sum_tolerance(magnitude, windows, case.X.dtype))


FORWARD = "out, cache = impl.maxpool2d(case.X, **case.kwargs)"
BACKWARD = "dX = impl.maxpool2d_backward(case.dout, cache)"


def expect_line(output, dout="case.dout"):
    """The oracle's answer as a line of Python, run before any call (a call may change the case's
    arrays in place)."""
    oracle = ("oracles.maxpool2d(case.X, **case.kwargs)" if output == "out"
              else f"oracles.maxpool2d_backward({dout}, case.X, **case.kwargs)")
    return f"from cnnspec.spec_tests import oracles; expected = {oracle}"


def reproduce(judge, recipe, lines, output=None):
    return calls.reproduce(judge, recipe, lines, output, output and expect_line(output))


def forward(judge, case, kind="C", **kwargs):
    """maxpool2d on a copy of the case's X, optionally in another memory layout."""
    result = judge.call("maxpool2d", copy_in(case.X, kind), copies=False,
                        **(kwargs or case.kwargs))
    return judge.returned(result, "maxpool2d", "out"), judge.returned(result, "maxpool2d", "cache")


def forward_for_backward(judge, case, kind="C", X=None, **kwargs):
    """maxpool2d's pass for a backward test, on X as it is or a copy of case.X in layout `kind`."""
    return calls.forward_for_backward(judge, "maxpool2d",
                                      copy_in(case.X, kind) if X is None else X,
                                      case.dout.shape, **(kwargs or case.kwargs))


after_forward = checks.after_forward("maxpool2d", "maxpool2d_backward")


def backward(judge, case, cache, dout=None, kind="C"):
    return calls.backward(judge, "maxpool2d_backward", case.dout if dout is None else dout, cache,
                          kind)


# -- forward: values -----------------------------------------------------------------------------

@spec("maxpool2d", "out", "value", "POOL-1", "POOL-2", "TOL-2")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_maxpool2d_out_matches_scipy_maximum_filter(judge, seed, name, dtype):
    case = make(name, seed, dtype)
    reproduce(judge, case.recipe, [FORWARD], "out")
    out, _ = forward(judge, case)
    judge.values(out, *expected_out(case), case=context(case))


@spec("maxpool2d", "out", "value", "POOL-1", "POOL-2", "TOL-2")
@given(settings=strategies.pool_settings(), seed=strategies.seeds, dtype=strategies.dtypes)
def test_maxpool2d_out_matches_the_oracle_for_any_setting(judge, settings, seed, dtype):
    case = pool_case(seed, dtype=dtype, **settings)
    reproduce(judge, case.recipe, [FORWARD], "out")
    out, _ = forward(judge, case)
    judge.values(out, *expected_out(case), case=context(case))


@spec("maxpool2d", "out", "value", "POOL-2", "TOL-2")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("extreme", EXTREMES)
def test_maxpool2d_out_of_extreme_values(judge, seed, extreme, dtype):
    """Windows of large negative, huge or tiny numbers: the maximum is one of them, exactly."""
    scale, offset = EXTREMES[extreme]
    case = pool_case(seed, 2, 2, 5, 7, 2, 2, dtype, scale=scale, offset=offset)
    reproduce(judge, case.recipe, [FORWARD], "out")
    out, _ = forward(judge, case)
    judge.values(out, *expected_out(case), case=context(case))


@spec("maxpool2d", "out", "value", "POOL-2", "GEN-2")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("near", NEAR_TIES)
def test_maxpool2d_out_of_near_ties(judge, seed, near, dtype):
    """The top two values of each window differ by one unit in the last place: the larger one
    comes out, exactly (a computation in a lower precision rounds them together)."""
    case = pool_near_tie_case(seed, *NEAR_TIES[near], dtype)
    reproduce(judge, case.recipe, [FORWARD], "out")
    out, _ = forward(judge, case)
    judge.values(out, *expected_out(case), case=context(case))


@spec("maxpool2d", "out", "value", "GEN-1", "POOL-2")
@pytest.mark.parametrize("kind", LAYOUTS[1:])
def test_maxpool2d_out_for_inputs_in_any_memory_layout(judge, seed, kind):
    case = make("3x3-stride2-overlap", seed)
    reproduce(judge, case.recipe, ["from cnnspec.spec_tests.cases import layout",
                                   f"out, cache = impl.maxpool2d(layout(case.X, {kind!r}), "
                                   f"**case.kwargs)"], "out")
    out, _ = forward(judge, case, kind)
    judge.values(out, *expected_out(case), case=context(case))


@spec("maxpool2d", "out", "value", "GEN-9", "POOL-1")
def test_maxpool2d_accepts_numpy_integers_for_pool_size_and_stride(judge, seed):
    case = make("3x3-stride2-overlap", seed)
    p, s = case.kwargs["pool_size"], case.kwargs["stride"]
    reproduce(judge, case.recipe, [f"out, cache = impl.maxpool2d(case.X, "
                                   f"pool_size=np.int64({p}), stride=np.int32({s}))"], "out")
    out, _ = forward(judge, case, pool_size=np.int64(p), stride=np.int32(s))
    judge.values(out, *expected_out(case), case=context(case))


# How each default is left out: the arguments passed, and the call as a line of Python.
LEFT_OUT = {"stride": ((3,), "impl.maxpool2d(case.X, 3)"),
            "both": ((), "impl.maxpool2d(case.X)")}


@spec("maxpool2d", "out", "value", "POOL-1", "POOL-2")
@pytest.mark.parametrize("left_out", LEFT_OUT)
def test_maxpool2d_defaults_to_pool_size_2_and_stride_2(judge, seed, left_out):
    args, call = LEFT_OUT[left_out]
    kwargs = dict(DEFAULTS["maxpool2d"], **dict(zip(("pool_size",), args)))
    case = pool_case(seed, 2, 2, 7, 8, dtype="float64", **kwargs)
    reproduce(judge, case.recipe, [f"out, cache = {call}"], "out")
    out = judge.returned(judge.call("maxpool2d", case.X, *args), "maxpool2d", "out")
    judge.values(out, *expected_out(case), case=context(case),
                 how=f" with {'the stride' if args else 'both arguments'} left to the default")


@spec("maxpool2d", "out", "value", "GEN-10")
def test_maxpool2d_out_survives_a_second_call(judge, seed):
    """The first output must not change when maxpool2d runs again (no buffer reused)."""
    first, second = make("odd-size", seed), make("odd-size", seed + 1)
    reproduce(judge, first.recipe + "; " + named(second, "second"),
              [FORWARD, "again = impl.maxpool2d(second.X, **second.kwargs)"], "out")
    judge.in_process_only("a buffer reused between calls shows only in the worker's memory")
    out, _ = forward(judge, first)
    forward(judge, second)
    judge.values(out, *expected_out(first), how=" after a second call of maxpool2d on other "
                                                "inputs")


# -- forward: dtype, shape, memory ---------------------------------------------------------------

@spec("maxpool2d", "out", "dtype", "GEN-2", "POOL-1")
@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool2d_out_dtype(judge, seed, dtype):
    case = make("odd-size", seed, dtype)
    judge.reproduce(case.recipe, [FORWARD, "print(out.dtype)"])
    out, _ = forward(judge, case)
    judge.dtype(out, dtype)


@spec("maxpool2d", "out", "shape", "POOL-1", "GEN-7")
@given(settings=strategies.pool_settings(), seed=strategies.seeds)
def test_maxpool2d_out_shape(judge, settings, seed):
    case = pool_case(seed, **settings)
    judge.reproduce(case.recipe, [FORWARD, "print(out.shape)"])
    out, _ = forward(judge, case)
    judge.shape(out, case.dout.shape)


@spec("maxpool2d", "inputs", "mutation", "GEN-3")
@given(settings=strategies.pool_settings(), seed=strategies.seeds)
def test_maxpool2d_does_not_modify_its_input(judge, settings, seed):
    case = pool_case(seed, **settings)
    judge.reproduce(case.recipe, [FORWARD])
    forward(judge, case)
    judge.unchanged()


@spec("maxpool2d", "out", "mutation", "GEN-8")
@pytest.mark.parametrize("name", SHARING)
def test_maxpool2d_out_shares_no_memory_with_its_input(judge, seed, name):
    case = make(name, seed, table=SHARING)
    X = case.X.copy()
    judge.reproduce(case.recipe, [FORWARD, "print(np.shares_memory(out, case.X))"])
    judge.in_process_only("memory sharing shows only in the worker's memory")
    # No private copy here, so that sharing with the caller's own array shows.
    out = judge.returned(judge.call("maxpool2d", X, copies=False, **case.kwargs), "maxpool2d",
                         "out")
    judge.fresh(out, {"X": X})


# -- backward: values ----------------------------------------------------------------------------

def _loss_of(case):
    """sum(dout * out) as a function of X, computed by the oracle (never by impl)."""
    def f(X):
        return float(np.sum(case.dout * oracles.maxpool2d(X, **case.kwargs)))
    return f


@spec("maxpool2d_backward", "dX", "gradient", "POOL-3", "POOL-4", "TOL-4")
@pytest.mark.parametrize("name", SMALL)
@after_forward
def test_maxpool2d_backward_matches_finite_differences(judge, seed, name):
    case = make(name, seed)
    reproduce(judge, case.recipe, [FORWARD, BACKWARD], "dX")
    _, cache = forward_for_backward(judge, case)
    dX = backward(judge, case, cache)
    magnitude = oracles.maxpool2d_backward(np.abs(case.dout), case.X, **case.kwargs)
    f_mag = float(np.sum(np.abs(case.dout * oracles.maxpool2d(case.X, **case.kwargs))))
    judge.gradient(dX, _loss_of(case), case.X, magnitude, f_mag, seed=seed,
                   whole=case.X.size <= 200, case=context(case))


@spec("maxpool2d_backward", "dX", "value", "POOL-3", "POOL-4", "TOL-2")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
@after_forward
def test_maxpool2d_backward_matches_oracle(judge, seed, name, dtype):
    case = make(name, seed, dtype)
    reproduce(judge, case.recipe, [FORWARD, BACKWARD], "dX")
    _, cache = forward_for_backward(judge, case)
    judge.values(backward(judge, case, cache), *expected_dX(case), case=context(case))


@spec("maxpool2d_backward", "dX", "value", "POOL-3", "POOL-4", "TOL-2")
@given(settings=strategies.pool_settings(), seed=strategies.seeds, dtype=strategies.dtypes)
@after_forward
def test_maxpool2d_backward_matches_oracle_for_any_setting(judge, settings, seed, dtype):
    case = pool_case(seed, dtype=dtype, **settings)
    reproduce(judge, case.recipe, [FORWARD, BACKWARD], "dX")
    _, cache = forward_for_backward(judge, case)
    judge.values(backward(judge, case, cache), *expected_dX(case), case=context(case))


@spec("maxpool2d_backward", "dX", "value", "POOL-3")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tie", TIES)
@after_forward
def test_maxpool2d_backward_sends_tied_gradient_to_first_maximum(judge, seed, tie, dtype):
    window, winner = TIES[tie]
    case = pool_tie_case(seed, window, dtype)
    reproduce(judge, case.recipe, [FORWARD, BACKWARD], "dX")
    expected, tol = expected_dX(case)
    n, c, r, s = case.at
    p = len(window)
    pinned = np.array(winner) * case.dout[n, c, r // p, s // p]
    if not np.array_equal(expected[n, c, r:r + p, s:s + p], pinned):
        pytest.fail(f"cnnspec bug: the oracle disagrees with the pinned tie rule for {tie!r}")
    _, cache = forward_for_backward(judge, case)
    judge.values(backward(judge, case, cache), expected, tol, case=context(case),
                 how=f" for a window with tied maxima ({tie}: {window}, scaled) at (n, c, row, "
                     f"col) = {tuple(int(v) for v in case.at)}")


@spec("maxpool2d_backward", "dX", "value", "POOL-3", "GEN-2")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("near", NEAR_TIES)
@after_forward
def test_maxpool2d_backward_of_near_ties(judge, seed, near, dtype):
    """The top two values of each window differ by one unit in the last place: the larger one
    takes the gradient, wherever it stands (no tolerance in the comparison, no lower precision)."""
    case = pool_near_tie_case(seed, *NEAR_TIES[near], dtype)
    reproduce(judge, case.recipe, [FORWARD, BACKWARD], "dX")
    _, cache = forward_for_backward(judge, case)
    judge.values(backward(judge, case, cache), *expected_dX(case), case=context(case),
                 how=" for windows whose two largest values differ by one unit in the last place")


@spec("maxpool2d_backward", "dX", "value", "POOL-3", "TOL-2")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("extreme", EXTREMES)
@after_forward
def test_maxpool2d_backward_of_extreme_values(judge, seed, extreme, dtype):
    scale, offset = EXTREMES[extreme]
    case = pool_case(seed, 2, 2, 5, 7, 2, 2, dtype, scale=scale, offset=offset)
    reproduce(judge, case.recipe, [FORWARD, BACKWARD], "dX")
    _, cache = forward_for_backward(judge, case)
    judge.values(backward(judge, case, cache), *expected_dX(case), case=context(case))


@spec("maxpool2d_backward", "dX", "value", "POOL-4")
@after_forward
def test_maxpool2d_backward_accumulates_overlapping_windows(judge, seed):
    """With stride 1 the centre wins all four 2x2 windows of a 3x3 image and collects the sum of
    their four gradients (the pattern is scaled, dout drawn, by the seed)."""
    rng = np.random.default_rng(seed)
    factor, dout = float(rng.uniform(0.25, 4.0)), rng.standard_normal((1, 1, 2, 2))
    X = np.array([[1.0, 2.0, 1.0], [2.0, 9.0, 2.0], [1.0, 2.0, 1.0]]).reshape(1, 1, 3, 3) * factor
    recipe = (f"X = np.array([[1.0, 2.0, 1.0], [2.0, 9.0, 2.0], [1.0, 2.0, 1.0]]).reshape(1, 1, 3, "
              f"3) * {factor!r}; dout = np.array({dout.ravel().tolist()!r}).reshape(1, 1, 2, 2)")
    judge.reproduce(recipe, ["out, cache = impl.maxpool2d(X, pool_size=2, stride=1)",
                             "dX = impl.maxpool2d_backward(dout, cache)", "print(dX)"])
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = dout.sum()
    case = Case(recipe, dict(X=X, dout=dout), dict(pool_size=2, stride=1))
    _, cache = forward_for_backward(judge, case)
    judge.values(backward(judge, case, cache), expected,
                 sum_tolerance(np.abs(dout).sum(), 4, "float64"),
                 case=dict(X=X, dout=dout, pool_size=2, stride=1))


# -- backward: repeated calls, layouts, arguments ------------------------------------------------

@spec("maxpool2d_backward", "dX", "value", "GEN-6")
@after_forward
def test_maxpool2d_backward_twice_with_one_cache(judge, seed):
    """The cache may be used again: a second backward gives the same, right answer."""
    case = make("3x3-stride2-overlap", seed)
    reproduce(judge, case.recipe, [FORWARD, BACKWARD, BACKWARD], "dX")
    _, cache = forward_for_backward(judge, case)
    backward(judge, case, cache)
    judge.values(backward(judge, case, cache), *expected_dX(case),
                 how=" on a second backward call with the same cache")


@spec("maxpool2d_backward", "dX", "value", "GEN-10")
@after_forward
def test_maxpool2d_backward_after_interleaved_calls(judge, seed):
    """forward(a), forward(b), backward(b), backward(a): each cache keeps its own pass."""
    a, b = make("wide", seed), make("wide", seed + 7)
    reproduce(judge, a.recipe + "; " + named(b, "b"),
              ["_, cache_a = impl.maxpool2d(case.X, **case.kwargs)",
               "_, cache_b = impl.maxpool2d(b.X, **b.kwargs)",
               "impl.maxpool2d_backward(b.dout, cache_b)",
               "dX = impl.maxpool2d_backward(case.dout, cache_a)"], "dX")
    _, cache_a = forward_for_backward(judge, a)
    _, cache_b = forward_for_backward(judge, b)
    backward(judge, b, cache_b)
    judge.values(backward(judge, a, cache_a), *expected_dX(a),
                 how=" for the first of two interleaved forward/backward pairs")


@spec("maxpool2d_backward", "dX", "value", "GEN-10")
@after_forward
def test_maxpool2d_backward_dX_survives_a_second_call(judge, seed):
    """An earlier dX stays as it was returned when maxpool2d_backward runs again."""
    a, b = make("odd-size", seed), make("odd-size", seed + 3)
    reproduce(judge, a.recipe + "; " + named(b, "b"),
              [FORWARD, BACKWARD, "_, cache_b = impl.maxpool2d(b.X, **b.kwargs)",
               "impl.maxpool2d_backward(b.dout, cache_b)"], "dX")
    judge.in_process_only("a buffer reused between calls shows only in the worker's memory")
    _, cache_a = forward_for_backward(judge, a)
    dX = backward(judge, a, cache_a)
    _, cache_b = forward_for_backward(judge, b)
    backward(judge, b, cache_b)
    judge.values(dX, *expected_dX(a), how=" after a second backward call on other inputs")


@spec("maxpool2d_backward", "dX", "value", "GEN-1")
@pytest.mark.parametrize("kind", LAYOUTS[1:])
@after_forward
def test_maxpool2d_backward_for_inputs_in_any_memory_layout(judge, seed, kind):
    case = make("3x3-stride2-overlap", seed)
    reproduce(judge, case.recipe, ["from cnnspec.spec_tests.cases import layout",
                                   f"out, cache = impl.maxpool2d(layout(case.X, {kind!r}), "
                                   f"**case.kwargs)",
                                   f"dX = impl.maxpool2d_backward(layout(case.dout, {kind!r}), "
                                   f"cache)"], "dX")
    _, cache = forward_for_backward(judge, case, kind)
    judge.values(backward(judge, case, cache, kind=kind), *expected_dX(case),
                 case=context(case))


@spec("maxpool2d_backward", "dX", "value", "GEN-10")
@after_forward
def test_maxpool2d_backward_takes_the_forward_output_as_dout(judge, seed):
    """Feeding a returned array back in (dout = out) must work like any other dout."""
    case = make("2x2-stride1-overlap", seed)
    judge.reproduce(case.recipe, [FORWARD, expect_line("dX", dout="out.copy()"),
                                  "dX = impl.maxpool2d_backward(out, cache)"],
                    calls.error_line("dX"))
    judge.in_process_only("out and the cache share memory only in the worker")
    out, cache = forward_for_backward(judge, case)
    if not (isinstance(out, np.ndarray) and out.shape == case.dout.shape
            and np.isfinite(out).all()):
        judge.fail("not judged: maxpool2d's out has the wrong type, shape or values (see its "
                   "tests)")
    expected = expected_dX(case, dout=np.array(out, np.float64))   # from a copy, before the call
    if not np.any(expected[0]):
        judge.fail("not judged: with dout = maxpool2d's out, the right dX is 0 everywhere, so this "
                   "test cannot tell it from an empty one (see maxpool2d's tests)")
    dX = judge.returned(judge.call("maxpool2d_backward", out, cache, copies=False),
                        "maxpool2d_backward", "dX")
    judge.values(dX, *expected, how=" with dout = the forward's own output (the same array)")


# -- backward: dtype, shape, memory --------------------------------------------------------------

@spec("maxpool2d_backward", "dX", "dtype", "GEN-2")
@pytest.mark.parametrize("dtype", DTYPES)
@after_forward
def test_maxpool2d_backward_dtype(judge, seed, dtype):
    case = make("2x2-stride1-overlap", seed, dtype)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD, "print(dX.dtype)"])
    _, cache = forward_for_backward(judge, case)
    judge.dtype(backward(judge, case, cache), dtype)


@spec("maxpool2d_backward", "dX", "shape", "POOL-3", "GEN-7")
@given(settings=strategies.pool_settings(), seed=strategies.seeds)
@after_forward
def test_maxpool2d_backward_shape(judge, settings, seed):
    case = pool_case(seed, **settings)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD, "print(dX.shape)"])
    _, cache = forward_for_backward(judge, case)
    judge.shape(backward(judge, case, cache), case.X.shape)


@spec("maxpool2d_backward", "inputs", "mutation", "GEN-3")
@given(settings=strategies.pool_settings(), seed=strategies.seeds)
@after_forward
def test_maxpool2d_backward_does_not_modify_dout(judge, settings, seed):
    case = pool_case(seed, **settings)
    judge.reproduce(case.recipe, [FORWARD, "before = case.dout.copy()", BACKWARD,
                                  "print(np.array_equal(case.dout, before))"])
    _, cache = forward_for_backward(judge, case)
    backward(judge, case, cache)
    judge.unchanged()


@spec("maxpool2d_backward", "inputs", "mutation", "GEN-3", "GEN-6", "GEN-10")
@after_forward
def test_maxpool2d_backward_leaves_the_forward_pass_as_it_was(judge, seed):
    """The forward's input X (which a cache may keep) and its output out stay as they were."""
    case = make("2x2-stride1-overlap", seed)
    judge.reproduce(case.recipe, [FORWARD, "before = (case.X.copy(), out.copy())", BACKWARD,
                                  "print(np.array_equal(case.X, before[0]), "
                                  "np.array_equal(out, before[1]))"])
    judge.in_process_only("the forward's arrays are the worker's own")
    X = case.X.copy()                   # the forward's own X: a cache may keep a reference to it
    out, cache = forward_for_backward(judge, case, X=X)
    calls.judge_forward_pass_kept(judge, "maxpool2d_backward", X, out,
                                  lambda: backward(judge, case, cache))


@spec("maxpool2d_backward", "dX", "mutation", "GEN-8")
@pytest.mark.parametrize("name", SHARING)
@after_forward
def test_maxpool2d_backward_dX_shares_no_memory(judge, seed, name):
    case = make(name, seed, table=SHARING)
    X, dout = case.X.copy(), case.dout.copy()
    judge.reproduce(case.recipe, [FORWARD, BACKWARD, "print(np.shares_memory(dX, case.dout))"])
    judge.in_process_only("memory sharing shows only in the worker's memory")
    out, cache = forward_for_backward(judge, case, X=X)       # no copies: sharing must show
    dX = judge.returned(judge.call("maxpool2d_backward", dout, cache, copies=False),
                        "maxpool2d_backward", "dX")
    judge.fresh(dX, {"dout": dout, "the forward's input X": X, "the forward's out": out})


# -- errors --------------------------------------------------------------------------------------

def _invalid_pool_calls(rng):
    """(id, args, kwargs, argument, received, why) with shapes drawn from rng (hidden inputs)."""
    N, C = (int(v) for v in rng.integers(1, 4, 2))
    H, W = (int(v) for v in rng.integers(4, 8, 2))
    X = rng.standard_normal((N, C, H, W))
    yield "X-3d", (X[0],), {}, "X", X[0].shape, "X with 3 axes"
    yield "X-5d", (X[None],), {}, "X", X[None].shape, "X with 5 axes"
    low, high = int(rng.integers(2, 5)), int(rng.integers(6, 9))
    flat = rng.standard_normal((N, C, low, high))
    yield ("pool-taller-than-X", (flat,), {"pool_size": low + 1}, "pool_size", low + 1,
           f"pool_size {low + 1} on a {low}x{high} image (taller, not wider)")
    narrow = rng.standard_normal((N, C, high, low))
    yield ("pool-wider-than-X", (narrow,), {"pool_size": low + 1}, "pool_size", low + 1,
           f"pool_size {low + 1} on a {high}x{low} image (wider, not taller)")
    yield "pool-0", (X,), {"pool_size": 0}, "pool_size", 0, "pool_size 0"
    yield "pool-negative", (X,), {"pool_size": -2}, "pool_size", -2, "pool_size -2"
    yield "pool-float", (X,), {"pool_size": 1.5}, "pool_size", 1.5, "pool_size 1.5"
    yield "pool-whole-float", (X,), {"pool_size": 2.0}, "pool_size", 2.0, "pool_size 2.0 (a float)"
    yield "pool-bool", (X,), {"pool_size": True}, "pool_size", True, "pool_size True (a bool)"
    yield "stride-0", (X,), {"stride": 0}, "stride", 0, "stride 0"
    yield "stride-negative", (X,), {"stride": -1}, "stride", -1, "stride -1"
    yield "stride-float", (X,), {"stride": 1.5}, "stride", 1.5, "stride 1.5"
    yield "stride-whole-float", (X,), {"stride": 2.0}, "stride", 2.0, "stride 2.0 (a float)"
    yield "stride-bool", (X,), {"stride": True}, "stride", True, "stride True (a bool)"


INVALID_IDS = [c[0] for c in _invalid_pool_calls(np.random.default_rng(0))]


def invalid_pool_call(seed, which):
    """(args, kwargs, argument, received, why) of the invalid call `which`, drawn from the seed."""
    return {c[0]: c[1:] for c in _invalid_pool_calls(np.random.default_rng(seed))}[which]


@spec("maxpool2d", "call", "errors", "POOL-5", "GEN-4", "GEN-9")
@pytest.mark.parametrize("which", INVALID_IDS)
def test_maxpool2d_rejects_invalid_arguments(judge, seed, which):
    args, kwargs, argument, received, why = invalid_pool_call(seed, which)
    judge.reproduce(f"from cnnspec.spec_tests.test_maxpool2d import invalid_pool_call; "
                    f"args, kwargs = invalid_pool_call({seed}, {which!r})[:2]",
                    ["impl.maxpool2d(*args, **kwargs)"])
    judge.rejects("maxpool2d", args, kwargs, argument=argument, received=received, why=why)


@spec("maxpool2d", "call", "errors", "POOL-5", "GEN-4")
@given(broken=strategies.broken_pool_settings(), seed=strategies.seeds)
def test_maxpool2d_rejects_any_broken_setting(judge, broken, seed):
    s, argument, received = broken
    shape = (s["N"], s["C"], s["H"], s["W"])
    X = np.random.default_rng(seed).standard_normal(shape)
    judge.reproduce(f"X = np.random.default_rng({seed}).standard_normal({shape})",
                    [f"impl.maxpool2d(X, pool_size={s['pool_size']!r}, stride={s['stride']!r})"])
    judge.rejects("maxpool2d", (X,), {"pool_size": s["pool_size"], "stride": s["stride"]},
                  argument=argument, received=received,
                  why=f"{argument} = {received} on a {s['H']}x{s['W']} image")


def _wrong_douts(rng, shape):
    """(id, dout) of the wrong shape for an output of `shape` (whose Ho != Wo)."""
    N, C, Ho, Wo = shape
    yield "extra-row", rng.standard_normal((N, C, Ho + 1, Wo))
    yield "missing-channel", rng.standard_normal((N, C - 1, Ho, Wo))
    yield "3d", rng.standard_normal((C, Ho, Wo))
    yield "same-size-other-shape", rng.standard_normal((N, C, Wo, Ho))
    yield "flattened", rng.standard_normal(N * C * Ho * Wo)


WRONG_DOUT_IDS = [w[0] for w in _wrong_douts(np.random.default_rng(0), (1, 2, 2, 3))]


def wrong_dout_case(seed, wrong):
    """A case whose output is (N, C, Ho, Wo) with Ho < Wo, and a dout of the wrong shape."""
    rng = np.random.default_rng(seed)
    N, C, Ho = (int(v) for v in rng.integers(2, 4, 3))
    Wo = Ho + int(rng.integers(1, 3))
    case = pool_case(seed, N, C, 2 * Ho + 1, 2 * Wo, 2, 2)
    return case, dict(_wrong_douts(rng, case.dout.shape))[wrong]


@spec("maxpool2d_backward", "call", "errors", "POOL-5", "GEN-4")
@pytest.mark.parametrize("wrong", WRONG_DOUT_IDS)
@after_forward
def test_maxpool2d_backward_rejects_dout_of_wrong_shape(judge, seed, wrong):
    case, dout = wrong_dout_case(seed, wrong)
    judge.reproduce(f"from cnnspec.spec_tests.test_maxpool2d import wrong_dout_case; "
                    f"case, dout = wrong_dout_case({seed}, {wrong!r})",
                    [FORWARD, "impl.maxpool2d_backward(dout, cache)"])
    _, cache = forward_for_backward(judge, case)
    judge.rejects("maxpool2d_backward", (dout, cache), argument="dout", received=dout.shape,
                  why=f"a dout of shape {dout.shape} for an output of {case.dout.shape}")
