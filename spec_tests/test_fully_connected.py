"""fully_connected_forward and fully_connected_backward: SPEC FC-1 to FC-4 (and GEN-1 to GEN-10).

Each test judges one output for one property (its `spec` marker). Values are compared with the
float64 oracle computed from the test's own untouched arrays; the implementation only ever gets
copies.
"""
import numpy as np
import pytest
from hypothesis import given

from cnnspec.contract import fc_output_shape
from cnnspec.spec_tests import oracles, strategies
from cnnspec.spec_tests.cases import LAYOUTS, fc_case, layout
from cnnspec.spec_tests.checks import private, sum_tolerance

spec = pytest.mark.spec

# (N, D, M): rectangular, so that a transposed matrix cannot have the right shape by luck, except
# where only the values can tell; each setting exists to expose some bug.
SETTINGS = {
    "rect": (4, 6, 3),             # D > M
    "wide": (2, 3, 7),             # M > D
    "square": (3, 5, 5),           # dZ @ W and dZ.T @ X have the right shapes: values must tell
    "single-row": (1, 4, 2),       # N = 1: a squeeze or a sum over the wrong axis shows
    "one-output": (5, 4, 1),       # M = 1: Z (N, 1), db (1,)
    "one-input": (3, 1, 4),        # D = 1: dX (N, 1)
    "batch-64-100-outputs": (64, 20, 100),  # more rows than any unrolling, more than 10 outputs
    "long-rows": (3, 3001, 2),     # Z sums 3002 terms in float32 (not a power of two)
    "long-batch": (3001, 3, 2),    # dW and db sum 3001 terms in float32
}
SMALL = ["rect", "wide", "square", "single-row", "one-output", "one-input"]
DTYPES = ["float64", "float32"]
GRADIENTS = {"dX": ("X", "FC-2"), "dW": ("W", "FC-3"), "db": ("b", "FC-3")}


def make(name, seed, dtype="float64"):
    return fc_case(seed, *SETTINGS[name], dtype=dtype)


def f64(case):
    return {k: v.astype(np.float64) for k, v in case.arrays.items()}


def expected_Z(case):
    """The oracle's Z and its TOL-1 tolerance (D products plus the bias)."""
    a = f64(case)
    magnitude = oracles.fully_connected(np.abs(a["X"]), np.abs(a["W"]), np.abs(a["b"]))
    return (oracles.fully_connected(a["X"], a["W"], a["b"]),
            sum_tolerance(magnitude, a["X"].shape[1] + 1, case.X.dtype))


def magnitudes(case):
    """{output: M of TOL-1}: the backward sums taken over absolute values."""
    a = f64(case)
    return dict(zip(GRADIENTS, oracles.fully_connected_backward(
        np.abs(a["dZ"]), np.abs(a["X"]), np.abs(a["W"]))))


def expected_grads(case):
    """{output: (expected, tolerance)}: dX sums M terms, dW and db sum N."""
    a = f64(case)
    grads = dict(zip(GRADIENTS, oracles.fully_connected_backward(a["dZ"], a["X"], a["W"])))
    N, M = case.dZ.shape
    terms = {"dX": M, "dW": N, "db": N}
    return {o: (grads[o], sum_tolerance(m, terms[o], case.X.dtype))
            for o, m in magnitudes(case).items()}


FORWARD = "Z, cache = impl.fully_connected_forward(case.X, case.W, case.b)"
BACKWARD = "dX, dW, db = impl.fully_connected_backward(case.dZ, cache)"


def check_line(output):
    if output == "Z":
        oracle = "oracles.fully_connected(case.X, case.W, case.b)"
    else:
        oracle = (f"oracles.fully_connected_backward(case.dZ, case.X, case.W)"
                  f"[{list(GRADIENTS).index(output)}]")
    return (f"from cnnspec.spec_tests import oracles; want = {oracle}; got = np.asarray("
            f"{output}, float); print('largest error in {output}:', np.abs(got - want).max() "
            f"if got.shape == want.shape else f'shape {{got.shape}}, expected {{want.shape}}')")


def forward(judge, case, **layouts):
    """fully_connected_forward on (copies of) the case's arrays, optionally in other layouts."""
    X, W, b = (layout(case.arrays[k], layouts.get(k, "C")) for k in "XWb")
    result = judge.call("fully_connected_forward", X, W, b)
    return (judge.returned(result, "fully_connected_forward", "Z"),
            judge.returned(result, "fully_connected_forward", "cache"))


def backward(judge, case, cache, dZ=None):
    """fully_connected_backward on a copy of dZ and the cache ITSELF: a cache is opaque and passed
    back as it came (GEN-6), so that a backward that consumes or accumulates into it shows."""
    dZ = private(case.dZ if dZ is None else dZ)
    result = judge.call("fully_connected_backward", dZ, cache, copies=False)
    return {o: judge.returned(result, "fully_connected_backward", o) for o in GRADIENTS}


def usable_as_dZ(Z, case):
    """Whether a returned Z can serve as an upstream gradient that tells right from wrong: finite,
    of dZ's shape, and not all zeros (zeros would make every expected gradient 0)."""
    return (isinstance(Z, np.ndarray) and Z.shape == case.dZ.shape and Z.dtype.kind == "f"
            and bool(np.isfinite(Z).all()) and bool(np.any(Z != 0)))


def per_output(category, *clauses):
    """Parametrize over dX, dW, db, each with its own spec marker."""
    return pytest.mark.parametrize("output", [
        pytest.param(o, marks=spec("fully_connected_backward", o, category, GRADIENTS[o][1],
                                   *clauses), id=o) for o in GRADIENTS])


# -- forward: values -----------------------------------------------------------------------------

@spec("fully_connected_forward", "Z", "value", "FC-1", "TOL-1")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_fully_connected_forward_Z_matches_float64_matmul(judge, seed, name, dtype):
    case = make(name, seed, dtype)
    judge.reproduce(case.recipe, [FORWARD], check_line("Z"))
    Z, _ = forward(judge, case)
    expected, tol = expected_Z(case)
    judge.values(Z, expected, tol, case=case.arrays)


@spec("fully_connected_forward", "Z", "value", "FC-1", "TOL-1")
@given(settings=strategies.fc_settings, s=strategies.seeds, dtype=strategies.dtypes)
def test_fully_connected_forward_Z_matches_the_oracle_for_any_setting(judge, seed, settings, s,
                                                                     dtype):
    case = fc_case(seed + s, dtype=dtype, **settings)
    judge.reproduce(case.recipe, [FORWARD], check_line("Z"))
    Z, _ = forward(judge, case)
    expected, tol = expected_Z(case)
    judge.values(Z, expected, tol, case=case.arrays)


@spec("fully_connected_forward", "Z", "value", "GEN-1", "FC-1")
@pytest.mark.parametrize("kind", LAYOUTS[1:])
def test_fully_connected_forward_Z_for_inputs_in_any_memory_layout(judge, seed, kind):
    """Fortran order (W given as a transposed view), strided and reversed views: same Z."""
    case = make("rect", seed)
    judge.reproduce(case.recipe, [
        "from cnnspec.spec_tests.cases import layout",
        f"Z, cache = impl.fully_connected_forward(*(layout(case.arrays[k], {kind!r}) "
        f"for k in 'XWb'))"], check_line("Z"))
    Z, _ = forward(judge, case, X=kind, W=kind, b=kind)
    expected, tol = expected_Z(case)
    judge.values(Z, expected, tol, case=case.arrays,
                 how=f" for inputs in the {kind!r} memory layout")


@spec("fully_connected_forward", "Z", "value", "GEN-10")
def test_fully_connected_forward_Z_survives_a_second_call(judge, seed):
    """The first Z must not change when the layer runs again (no buffer reused between calls)."""
    first, second = make("rect", seed), make("rect", seed + 1)
    judge.reproduce(first.recipe + f"; second = fc_case({seed + 1}, 4, 6, 3)",
                    [FORWARD, "again = impl.fully_connected_forward(second.X, second.W, "
                              "second.b)"], check_line("Z"))
    Z, _ = forward(judge, first)
    forward(judge, second)
    expected, tol = expected_Z(first)
    judge.values(Z, expected, tol, how=" after a second call on other inputs of the same shapes")


@spec("fully_connected_forward", "Z", "value", "GEN-10")
def test_fully_connected_forward_Z_of_a_call_after_another_batch_size(judge, seed):
    """A call after one with other sizes gets its own answer (nothing kept from the first)."""
    first, second = make("batch-64-100-outputs", seed), make("wide", seed + 1)
    judge.reproduce(second.recipe + f"; first = fc_case({seed}, 64, 20, 100)",
                    ["impl.fully_connected_forward(first.X, first.W, first.b)", FORWARD],
                    check_line("Z"))
    forward(judge, first)
    Z, _ = forward(judge, second)
    expected, tol = expected_Z(second)
    judge.values(Z, expected, tol, case=second.arrays,
                 how=" on a call that follows one with other sizes")


# -- forward: dtype, shape, memory ---------------------------------------------------------------

@spec("fully_connected_forward", "Z", "dtype", "GEN-2", "FC-1")
@pytest.mark.parametrize("dtype", DTYPES)
def test_fully_connected_forward_Z_dtype(judge, seed, dtype):
    case = make("rect", seed, dtype)
    judge.reproduce(case.recipe, [FORWARD, "print(Z.dtype)"])
    Z, _ = forward(judge, case)
    judge.dtype(Z, dtype)


@spec("fully_connected_forward", "Z", "shape", "FC-1", "GEN-7")
@given(settings=strategies.fc_settings, s=strategies.seeds)
def test_fully_connected_forward_Z_shape(judge, seed, settings, s):
    case = fc_case(seed + s, **settings)
    judge.reproduce(case.recipe, [FORWARD, "print(Z.shape)"])
    Z, _ = forward(judge, case)
    judge.shape(Z, fc_output_shape(case.X.shape, case.W.shape))


@spec("fully_connected_forward", "inputs", "mutation", "GEN-3")
@given(settings=strategies.fc_settings, s=strategies.seeds)
def test_fully_connected_forward_does_not_modify_its_inputs(judge, seed, settings, s):
    case = fc_case(seed + s, **settings)
    judge.reproduce(case.recipe, [FORWARD])
    forward(judge, case)
    judge.unchanged()


@spec("fully_connected_forward", "Z", "mutation", "GEN-8")
@pytest.mark.parametrize("name", ["rect", "single-row", "one-output"])
def test_fully_connected_forward_Z_shares_no_memory_with_its_inputs(judge, seed, name):
    case = make(name, seed)
    X, W, b = case.copies("X", "W", "b")
    judge.reproduce(case.recipe, [FORWARD, "print(np.shares_memory(Z, case.X), "
                                           "np.shares_memory(Z, case.b))"])
    judge.in_process_only("memory sharing shows only in the worker's memory")
    # No private copies here, so that sharing with the caller's own arrays shows.
    Z = judge.returned(judge.call("fully_connected_forward", X, W, b, copies=False),
                       "fully_connected_forward", "Z")
    judge.fresh(Z, {"X": X, "W": W, "b": b})


# -- backward ------------------------------------------------------------------------------------

def _loss_of(case, wrt):
    """sum(dZ * Z) as a function of one input, computed by the oracle (never by impl)."""
    args = {k: case.arrays[k] for k in "XWb"}

    def f(value):
        return float(np.sum(case.dZ * oracles.fully_connected(**dict(args, **{wrt: value}))))
    return f


@per_output("gradient", "TOL-4")
@pytest.mark.parametrize("name", SMALL + ["batch-64-100-outputs"])
def test_fully_connected_backward_matches_finite_differences(judge, seed, name, output):
    case = make(name, seed)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD], check_line(output))
    _, cache = forward(judge, case)
    grads = backward(judge, case, cache)
    wrt = GRADIENTS[output][0]
    a = f64(case)
    f_mag = float(np.sum(np.abs(a["dZ"]) * oracles.fully_connected(
        np.abs(a["X"]), np.abs(a["W"]), np.abs(a["b"]))))
    x = case.arrays[wrt]
    judge.gradient(grads[output], _loss_of(case, wrt), x, magnitudes(case)[output], f_mag,
                   seed=seed, whole=x.size <= 200, case=case.arrays)


@per_output("value", "TOL-1")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_fully_connected_backward_matches_oracle(judge, seed, name, dtype, output):
    case = make(name, seed, dtype)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD], check_line(output))
    _, cache = forward(judge, case)
    expected, tol = expected_grads(case)[output]
    judge.values(backward(judge, case, cache)[output], expected, tol, case=case.arrays)


@per_output("value", "TOL-1")
@given(settings=strategies.fc_settings, s=strategies.seeds, dtype=strategies.dtypes)
def test_fully_connected_backward_matches_oracle_for_any_setting(judge, seed, settings, s, dtype,
                                                                 output):
    case = fc_case(seed + s, dtype=dtype, **settings)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD], check_line(output))
    _, cache = forward(judge, case)
    expected, tol = expected_grads(case)[output]
    judge.values(backward(judge, case, cache)[output], expected, tol, case=case.arrays)


@per_output("value", "GEN-6")
def test_fully_connected_backward_twice_with_one_cache(judge, seed, output):
    """The cache may be used again: a second backward gives the same, right answer."""
    case = make("wide", seed)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD, BACKWARD], check_line(output))
    _, cache = forward(judge, case)
    backward(judge, case, cache)
    expected, tol = expected_grads(case)[output]
    judge.values(backward(judge, case, cache)[output], expected, tol, case=case.arrays,
                 how=" on a second backward call with the same cache")


@per_output("value", "GEN-10")
def test_fully_connected_backward_after_interleaved_calls(judge, seed, output):
    """forward(a), forward(b), backward(b), backward(a): each cache keeps its own pass."""
    a, b = make("rect", seed), make("rect", seed + 7)
    judge.reproduce(a.recipe + f"; b = fc_case({seed + 7}, 4, 6, 3)",
                    ["_, cache_a = impl.fully_connected_forward(case.X, case.W, case.b)",
                     "_, cache_b = impl.fully_connected_forward(b.X, b.W, b.b)",
                     "impl.fully_connected_backward(b.dZ, cache_b)",
                     "dX, dW, db = impl.fully_connected_backward(case.dZ, cache_a)"],
                    check_line(output))
    _, cache_a = forward(judge, a)
    _, cache_b = forward(judge, b)
    backward(judge, b, cache_b)
    expected, tol = expected_grads(a)[output]
    judge.values(backward(judge, a, cache_a)[output], expected, tol, case=a.arrays,
                 how=" for the first of two interleaved forward/backward pairs")


@per_output("value", "GEN-10")
def test_fully_connected_backward_survives_a_second_backward(judge, seed, output):
    """The gradients of a first backward must not change when backward runs again."""
    a, b = make("square", seed), make("square", seed + 3)
    judge.reproduce(a.recipe + f"; b = fc_case({seed + 3}, 3, 5, 5)",
                    [FORWARD, BACKWARD, "_, cache_b = impl.fully_connected_forward(b.X, b.W, b.b)",
                     "impl.fully_connected_backward(b.dZ, cache_b)"], check_line(output))
    _, cache_a = forward(judge, a)
    grads = backward(judge, a, cache_a)
    _, cache_b = forward(judge, b)
    backward(judge, b, cache_b)
    expected, tol = expected_grads(a)[output]
    judge.values(grads[output], expected, tol, case=a.arrays,
                 how=" after another forward/backward pair ran (was its memory reused?)")


@per_output("value", "GEN-1")
@pytest.mark.parametrize("kind", LAYOUTS[1:])
def test_fully_connected_backward_for_dZ_in_any_memory_layout(judge, seed, kind, output):
    case = make("rect", seed)
    judge.reproduce(case.recipe, [
        "from cnnspec.spec_tests.cases import layout", FORWARD,
        f"dX, dW, db = impl.fully_connected_backward(layout(case.dZ, {kind!r}), cache)"],
        check_line(output))
    _, cache = forward(judge, case)
    grads = backward(judge, case, cache, dZ=layout(case.dZ, kind))
    expected, tol = expected_grads(case)[output]
    judge.values(grads[output], expected, tol, case=case.arrays,
                 how=f" for dZ in the {kind!r} memory layout")


@per_output("value", "GEN-1")
@pytest.mark.parametrize("kind", LAYOUTS[1:])
def test_fully_connected_backward_after_a_forward_on_any_memory_layout(judge, seed, kind, output):
    """The cache may hold the forward's inputs as they came (GEN-6): in any layout. Not judged
    (a failure that says so, never a free pass) when the forward's own Z is wrong for that
    layout: its tests say why."""
    case = make("wide", seed)
    judge.reproduce(case.recipe, [
        "from cnnspec.spec_tests.cases import layout",
        f"Z, cache = impl.fully_connected_forward(*(layout(case.arrays[k], {kind!r}) "
        f"for k in 'XWb'))", BACKWARD], check_line(output))
    Z, cache = forward(judge, case, X=kind, W=kind, b=kind)
    want, tol = expected_Z(case)
    if not (isinstance(Z, np.ndarray) and Z.shape == want.shape and Z.dtype.kind == "f"
            and bool((np.abs(Z - want) <= tol).all())):
        judge.fail(f"not judged: fully_connected_forward's Z is wrong for inputs in the "
                   f"{kind!r} layout (see its layout test)")
    expected, tol = expected_grads(case)[output]
    judge.values(backward(judge, case, cache)[output], expected, tol, case=case.arrays,
                 how=f" after a forward pass on inputs in the {kind!r} memory layout")


@per_output("value", "GEN-10")
def test_fully_connected_backward_takes_the_forward_output_as_dZ(judge, seed, output):
    """Feeding a returned array back in (dZ = Z) must work like any other dZ."""
    case = make("rect", seed)
    judge.reproduce(case.recipe, [FORWARD, "dX, dW, db = impl.fully_connected_backward(Z, cache)"])
    Z, cache = forward(judge, case)
    if not usable_as_dZ(Z, case):
        judge.fail("not judged: fully_connected_forward's Z is not a finite, non-zero array of "
                   "dZ's shape (see its tests)")
    case.arrays["dZ"] = np.array(Z, np.float64)   # expectations from a copy taken before the call
    expected, tol = expected_grads(case)[output]
    result = judge.call("fully_connected_backward", Z, cache, copies=False)
    judge.values(judge.returned(result, "fully_connected_backward", output), expected, tol,
                 how=" with dZ = the forward's own output (the same array)")


@per_output("dtype", "GEN-2")
@pytest.mark.parametrize("dtype", DTYPES)
def test_fully_connected_backward_dtype(judge, seed, dtype, output):
    case = make("rect", seed, dtype)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD, f"print({output}.dtype)"])
    _, cache = forward(judge, case)
    judge.dtype(backward(judge, case, cache)[output], dtype)


@per_output("shape", "GEN-7")
@given(settings=strategies.fc_settings, s=strategies.seeds)
def test_fully_connected_backward_shape(judge, seed, settings, s, output):
    case = fc_case(seed + s, **settings)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD, f"print({output}.shape)"])
    _, cache = forward(judge, case)
    judge.shape(backward(judge, case, cache)[output], case.arrays[GRADIENTS[output][0]].shape)


@spec("fully_connected_backward", "inputs", "mutation", "GEN-3", "GEN-10")
@given(settings=strategies.fc_settings, s=strategies.seeds)
def test_fully_connected_backward_modifies_neither_dZ_nor_the_forward_output(judge, seed,
                                                                            settings, s):
    case = fc_case(seed + s, **settings)
    judge.reproduce(case.recipe, [FORWARD, "before = Z.copy()", BACKWARD,
                                  "print(np.array_equal(Z, before))"])
    Z, cache = forward(judge, case)
    kept = Z.copy() if isinstance(Z, np.ndarray) else None
    backward(judge, case, cache)
    judge.unchanged()
    if kept is not None and not np.array_equal(Z, kept, equal_nan=True):
        judge.fail("fully_connected_backward changed the forward pass's output (Z) in place "
                   "[SPEC GEN-10]: the cache and Z share memory and backward wrote into it.")


@per_output("mutation", "GEN-8")
@pytest.mark.parametrize("name", ["rect", "single-row", "one-input"])
def test_fully_connected_backward_outputs_share_no_memory(judge, seed, name, output):
    case = make(name, seed)
    judge.reproduce(case.recipe, [FORWARD, BACKWARD])
    X, W, b, dZ = case.copies("X", "W", "b", "dZ")
    judge.in_process_only("memory sharing shows only in the worker's memory")
    # No private copies, so that sharing with the caller's own arrays shows.
    result = judge.call("fully_connected_forward", X, W, b, copies=False)
    Z, cache = (judge.returned(result, "fully_connected_forward", o) for o in ("Z", "cache"))
    result = judge.call("fully_connected_backward", dZ, cache, copies=False)
    grads = {o: judge.returned(result, "fully_connected_backward", o) for o in GRADIENTS}
    others = {"dZ": dZ, "the forward's Z": Z, "the forward's X": X, "the forward's W": W,
              "the forward's b": b}
    others.update({o: g for o, g in grads.items() if o != output})
    judge.fresh(grads[output], others)


# -- errors --------------------------------------------------------------------------------------

def _invalid_fc_calls(rng):
    """(id, args, argument, received, why) with shapes drawn from rng (hidden inputs)."""
    N = int(rng.integers(2, 6))
    D, M = (int(v) for v in rng.choice(np.arange(2, 9), 2, replace=False))   # D != M
    X, W, b = (rng.standard_normal((N, D)), rng.standard_normal((D, M)), rng.standard_normal(M))
    yield "X-1d", (X[0], W, b), "X", (D,), f"X with 1 axis (one row of shape ({D},))"
    yield "X-3d", (X[None], W, b), "X", (1, N, D), "X with 3 axes"
    yield "W-1d", (X, W[:, 0], b), "W", (D,), "W with 1 axis"
    yield "W-3d", (X, W[None], b), "W", (1, D, M), "W with 3 axes"
    yield "b-2d", (X, W, b[None]), "b", (1, M), "b with 2 axes, (1, M)"
    yield "inner-mismatch", (X, W[:-1], b), "W", (D - 1, M), \
        f"W with {D - 1} rows for X with {D} columns"
    yield "transposed-W", (X, W.T, b), "W", (M, D), "W transposed, (M, D) instead of (D, M)"
    yield "bias-length", (X, W, np.zeros(M + 1)), "b", (M + 1,), f"b of length {M + 1} for M = {M}"


INVALID_IDS = [c[0] for c in _invalid_fc_calls(np.random.default_rng(0))]


@spec("fully_connected_forward", "call", "errors", "FC-4", "GEN-4")
@pytest.mark.parametrize("which", INVALID_IDS)
def test_fully_connected_forward_rejects_invalid_arguments(judge, seed, which):
    calls = {c[0]: c[1:] for c in _invalid_fc_calls(np.random.default_rng(seed))}
    args, argument, received, why = calls[which]
    judge.reproduce("from cnnspec.spec_tests.test_fully_connected import _invalid_fc_calls; "
                    f"args = {{c[0]: c[1] for c in _invalid_fc_calls(np.random.default_rng("
                    f"{seed}))}}[{which!r}]", ["impl.fully_connected_forward(*args)"])
    judge.rejects("fully_connected_forward", args, argument=argument, received=received, why=why)


WRONG_DZ = ["extra-row", "missing-column", "1d", "3d", "same-size-other-shape"]


def wrong_dZ(seed, wrong):
    """A case (N != M, drawn from the seed) and a dZ of the wrong shape for its Z."""
    rng = np.random.default_rng(seed)
    N, M = (int(v) for v in rng.choice(np.arange(2, 7), 2, replace=False))
    case = fc_case(seed, N, int(rng.integers(2, 6)), M)
    dZ = {"extra-row": np.zeros((N + 1, M)), "missing-column": np.zeros((N, M - 1)),
          "1d": np.zeros(N * M), "3d": np.zeros((1, N, M)),
          "same-size-other-shape": np.zeros((M, N))}[wrong]
    return case, dZ


@spec("fully_connected_backward", "call", "errors", "FC-4", "GEN-4")
@pytest.mark.parametrize("wrong", WRONG_DZ)
def test_fully_connected_backward_rejects_dZ_of_wrong_shape(judge, seed, wrong):
    case, dZ = wrong_dZ(seed, wrong)
    judge.reproduce(f"from cnnspec.spec_tests.test_fully_connected import wrong_dZ; case, dZ = "
                    f"wrong_dZ({seed}, {wrong!r})",
                    [FORWARD, "impl.fully_connected_backward(dZ, cache)"])
    _, cache = forward(judge, case)
    judge.rejects("fully_connected_backward", (dZ, cache), argument="dZ", received=dZ.shape,
                  why=f"a dZ of shape {dZ.shape} for Z of shape {case.dZ.shape}")
