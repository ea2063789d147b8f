"""softmax_cross_entropy_loss: SPEC LOSS-1 to LOSS-5 (and GEN-1 to GEN-10 as they apply).

Each test judges one output (the loss or dZ) for one property (its `spec` marker). The loss value
tests accept any real number type (that it is a Python float is judged by its own test, GEN-7).
Values are compared with the SciPy oracle computed from the test's own untouched arrays.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given

from cnnspec.spec_tests import oracles, strategies
from cnnspec.spec_tests.cases import (EXTREME_LOGITS, LAYOUTS, Case, extreme_loss_case, layout,
                                     loss_case)
from cnnspec.spec_tests.checks import EPS

spec = pytest.mark.spec
FUNCTION = "softmax_cross_entropy_loss"

# (N, K, scale of the logits): each setting exists to expose some bug.
SETTINGS = {
    "batch": (8, 10, 1.0),
    "two-classes": (5, 2, 3.0),
    "one-row": (1, 4, 1.0),                # N = 1: a squeeze shows
    "large-logits": (6, 10, 1e4),          # exp overflows without the row-maximum shift
    "small-logits": (4, 7, 1e-3),          # the loss is within 1e-3 of log(K): no shortcut
    "100-classes": (16, 100, 5.0),         # not ten classes; labels miss most classes
    "batch-256": (256, 10, 3.0),           # the mean of many rows
    "long-rows": (3, 3001, 2.0),           # each softmax sums 3001 exponentials (float32)
}
DTYPES = ["float64", "float32"]
OUTPUTS = {"loss": "LOSS-1", "dZ": "LOSS-2"}
LABEL_DTYPES = ["int8", "uint8", "int16", "int32", "uint32", "int64", "uint64"]


def make(name, seed, dtype="float64"):
    N, K, scale = SETTINGS[name]
    return loss_case(seed, N, K, scale, dtype)


def tolerance(Z):
    """SPEC TOL-3: 4 (K + max|Z|) eps, for the loss (divided by N for dZ)."""
    return 4 * (Z.shape[1] + float(np.abs(Z).max())) * EPS[Z.dtype]


def expected(case, output):
    """The oracle's loss or dZ, from the case's own arrays, and its tolerance (TOL-3)."""
    loss, dZ = oracles.softmax_cross_entropy(case.Z.astype(np.float64), case.y)
    tol = tolerance(case.Z)
    return (loss, tol) if output == "loss" else (dZ, tol / len(case.y))


CALL = "loss, dZ = impl.softmax_cross_entropy_loss(case.Z, case.y)"


def check_line(output):
    if output == "loss":
        return ("from cnnspec.spec_tests import oracles; print('error in loss:', abs(float(loss) "
                "- oracles.softmax_cross_entropy(case.Z, case.y)[0]))")
    return ("from cnnspec.spec_tests import oracles; want = oracles.softmax_cross_entropy("
            "case.Z, case.y)[1]; got = np.asarray(dZ, float); print('largest error in dZ:', "
            "np.abs(got - want).max() if got.shape == want.shape else "
            "f'shape {got.shape}, expected {want.shape}')")


def call(judge, case, output, Z=None, y=None, **kwargs):
    """One output of softmax_cross_entropy_loss on (copies of) the case's arrays."""
    result = judge.call(FUNCTION, case.Z if Z is None else Z, case.y if y is None else y,
                        **kwargs)
    return judge.returned(result, FUNCTION, output)


def number(got):
    """The loss as a number: a one-element numeric array counts for the value tests (that the
    loss is a Python float is judged by its own test, GEN-7)."""
    if (isinstance(got, np.ndarray) and got.size == 1 and got.dtype.kind in "fiu"):
        return got.reshape(())[()]
    return got


def judge_output(judge, got, case, output, how=""):
    """The loss as a number, dZ as an array, against the oracle."""
    __tracebackhide__ = True
    want, tol = expected(case, output)
    if output == "loss":
        judge.scalar(number(got), want, tol, case=case.arrays, what=f"loss{how}")
    else:
        judge.values(got, want, tol, case=case.arrays, how=how)


def right(got, case, output):
    """Whether `got` is the right loss or dZ (a quiet judge_output, for "not judged" checks)."""
    want, tol = expected(case, output)
    got = number(got) if output == "loss" else got
    if output == "loss":
        return isinstance(got, (int, float, np.integer, np.floating)) and abs(got - want) <= tol
    return (isinstance(got, np.ndarray) and got.shape == want.shape and got.dtype.kind in "fiu"
            and bool((np.abs(got - want) <= tol).all()))


def per_output(category, *clauses):
    """Parametrize over loss and dZ, each with its own spec marker."""
    return pytest.mark.parametrize("output", [
        pytest.param(o, marks=spec(FUNCTION, o, category, OUTPUTS[o], *clauses), id=o)
        for o in OUTPUTS])


# -- values --------------------------------------------------------------------------------------

@per_output("value", "LOSS-3", "TOL-3")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_softmax_cross_entropy_loss_matches_scipy_log_softmax(judge, seed, name, dtype, output):
    case = make(name, seed, dtype)
    judge.reproduce(case.recipe, [CALL], check_line(output))
    judge_output(judge, call(judge, case, output), case, output)


@per_output("value", "TOL-3")
@given(settings=strategies.loss_settings, s=strategies.seeds, dtype=strategies.dtypes)
def test_softmax_cross_entropy_loss_matches_the_oracle_for_any_setting(judge, seed, settings, s,
                                                                       dtype, output):
    case = loss_case(seed + s, dtype=dtype, **settings)
    judge.reproduce(case.recipe, [CALL], check_line(output))
    judge_output(judge, call(judge, case, output), case, output)


@spec(FUNCTION, "dZ", "gradient", "LOSS-2", "TOL-4")
@pytest.mark.parametrize("name", ["batch", "two-classes", "one-row", "100-classes"])
def test_softmax_cross_entropy_loss_dZ_matches_finite_differences(judge, seed, name):
    """dZ is the gradient of the MEAN loss: central differences of the oracle's loss."""
    case = make(name, seed)
    judge.reproduce(case.recipe, [CALL], check_line("dZ"))
    dZ = call(judge, case, "dZ")
    N = len(case.y)
    magnitude = np.full(case.Z.shape, 2.0 / N)          # |softmax| + |onehot|, over N
    f_mag = float(np.abs(case.Z).max()) + np.log(case.Z.shape[1])
    judge.gradient(dZ, lambda Z: oracles.softmax_cross_entropy(Z, case.y)[0], case.Z, magnitude,
                   f_mag, seed=seed, whole=case.Z.size <= 200, case=case.arrays)


@per_output("value", "LOSS-3", "TOL-3")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", EXTREME_LOGITS)
def test_softmax_cross_entropy_loss_is_right_for_extreme_logits(judge, seed, kind, dtype, output):
    """Logits up to 1e4 in magnitude: rows with huge maxima, rows whose maximum is negative and
    huge, both in one batch, and labels whose probability underflows (cases.extreme_loss_case)."""
    case = extreme_loss_case(seed, kind, dtype)
    judge.reproduce(case.recipe, [CALL], check_line(output))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")         # warnings are judged by their own test
        got = call(judge, case, output)
    judge_output(judge, got, case, output, how=f" for {kind} logits")


@spec(FUNCTION, "call", "errors", "LOSS-3")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", EXTREME_LOGITS)
def test_softmax_cross_entropy_loss_raises_no_warning_for_extreme_logits(judge, pytestconfig,
                                                                        seed, kind, dtype):
    """No overflow in exp, no log(0), no division by zero (underflow to 0 is fine)."""
    if pytestconfig.getoption("isolate"):
        pytest.skip("warnings are seen only when the implementation runs in this process")
    case = extreme_loss_case(seed, kind, dtype)
    judge.reproduce(case.recipe, [
        "import warnings; warnings.simplefilter('error')",
        "with np.errstate(over='raise', divide='raise', invalid='raise'): " + CALL])
    with np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(judge, case, "dZ")
    if caught:
        said = "; ".join(sorted({f"{w.category.__name__}: {w.message}" for w in caught}))
        judge.fail(f"{FUNCTION} raised {len(caught)} warning(s) for {kind} logits (|Z| <= 1e4) "
                   f"[SPEC LOSS-3]: {said}")


@per_output("value", "LOSS-4")
@pytest.mark.parametrize("label_dtype", LABEL_DTYPES)
def test_softmax_cross_entropy_loss_accepts_any_integer_labels(judge, seed, label_dtype, output):
    """Judged only when int64 labels give the right answer: otherwise the fault is not the labels'
    dtype, and the value tests say what it is."""
    case = make("batch", seed)
    judge.reproduce(case.recipe, [f"loss, dZ = impl.{FUNCTION}(case.Z, "
                                  f"case.y.astype({label_dtype!r}))"], check_line(output))
    if not right(call(judge, case, output, y=case.y.astype(np.int64)), case, output):
        judge.fail(f"not judged: {FUNCTION}'s {output} is wrong for int64 labels already (its "
                   f"value tests say why), so this test cannot tell whether {label_dtype} labels "
                   f"are handled right.")
    judge_output(judge, call(judge, case, output, y=case.y.astype(label_dtype)), case, output,
                 how=f" for {label_dtype} labels")


@per_output("value", "GEN-1")
@pytest.mark.parametrize("kind", LAYOUTS[1:])
def test_softmax_cross_entropy_loss_for_inputs_in_any_memory_layout(judge, seed, kind, output):
    case = make("batch", seed)
    judge.reproduce(case.recipe, [
        "from cnnspec.spec_tests.cases import layout",
        f"loss, dZ = impl.{FUNCTION}(layout(case.Z, {kind!r}), layout(case.y, {kind!r}))"],
        check_line(output))
    got = call(judge, case, output, Z=layout(case.Z, kind), y=layout(case.y, kind))
    judge_output(judge, got, case, output, how=f" for Z and y in the {kind!r} memory layout")


@per_output("value", "GEN-10")
def test_softmax_cross_entropy_loss_after_a_call_with_other_sizes(judge, seed, output):
    """A call after one with other sizes and labels gets its own answer (nothing kept)."""
    first, case = make("100-classes", seed + 1), make("batch", seed)
    judge.reproduce(case.recipe + f"; first = loss_case({seed + 1}, 16, 100, 5.0)",
                    [f"impl.{FUNCTION}(first.Z, first.y)", CALL], check_line(output))
    call(judge, first, output)
    judge_output(judge, call(judge, case, output), case, output,
                 how=" on a call that follows one with other sizes")


@spec(FUNCTION, "dZ", "value", "LOSS-2", "GEN-10")
def test_softmax_cross_entropy_loss_dZ_survives_a_second_call(judge, seed):
    """The first dZ must not change when the loss runs again (no buffer reused between calls)."""
    case, second = make("batch", seed), make("batch", seed + 1)
    judge.reproduce(case.recipe + f"; second = loss_case({seed + 1}, 8, 10, 1.0)",
                    [CALL, f"again = impl.{FUNCTION}(second.Z, second.y)"], check_line("dZ"))
    dZ = call(judge, case, "dZ")
    call(judge, second, "dZ")
    judge_output(judge, dZ, case, "dZ", how=" after a second call on other logits")


@per_output("value", "GEN-10")
def test_softmax_cross_entropy_loss_takes_its_own_dZ_as_logits(judge, seed, output):
    """Feeding a returned array back in (Z = the first call's dZ) works like any other Z."""
    case = make("batch", seed)
    judge.reproduce(case.recipe, ["_, dZ = impl.softmax_cross_entropy_loss(case.Z, case.y)",
                                  "loss, dZ = impl.softmax_cross_entropy_loss(dZ, case.y)"])
    dZ = call(judge, case, "dZ")
    # Rows of equal logits would make the answer log(K) whatever the code does: not judged.
    if not (isinstance(dZ, np.ndarray) and dZ.shape == case.Z.shape and dZ.dtype.kind == "f"
            and bool(np.isfinite(dZ).all()) and bool((np.ptp(dZ, axis=1) > 0).all())):
        judge.fail(f"not judged: {FUNCTION}'s dZ is not a finite float array of Z's shape whose "
                   f"rows vary (see its tests)")
    # The expectations come from a copy of dZ taken before the call.
    again = Case(case.recipe, dict(Z=np.array(dZ), y=case.y.copy()))
    got = call(judge, again, output, Z=dZ, copies=False)
    judge_output(judge, got, again, output, how=" with Z = the dZ an earlier call returned")


# -- dtype, shape, memory ------------------------------------------------------------------------

@spec(FUNCTION, "loss", "dtype", "LOSS-1", "GEN-7")
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_loss_loss_is_a_python_float(judge, seed, dtype):
    case = make("batch", seed, dtype)
    judge.reproduce(case.recipe, [CALL, "print(type(loss))"])
    judge.python_float(call(judge, case, "loss"))


@spec(FUNCTION, "dZ", "dtype", "LOSS-2", "GEN-2")
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_loss_dZ_dtype(judge, seed, dtype):
    case = make("batch", seed, dtype)
    judge.reproduce(case.recipe, [CALL, "print(dZ.dtype)"])
    judge.dtype(call(judge, case, "dZ"), dtype)


@spec(FUNCTION, "dZ", "shape", "LOSS-2", "GEN-7")
@given(settings=strategies.loss_settings, s=strategies.seeds)
def test_softmax_cross_entropy_loss_dZ_shape(judge, seed, settings, s):
    case = loss_case(seed + s, **settings)
    judge.reproduce(case.recipe, [CALL, "print(dZ.shape)"])
    judge.shape(call(judge, case, "dZ"), case.Z.shape)


@spec(FUNCTION, "inputs", "mutation", "GEN-3")
@given(settings=strategies.loss_settings, s=strategies.seeds, dtype=strategies.dtypes)
def test_softmax_cross_entropy_loss_does_not_modify_its_inputs(judge, seed, settings, s, dtype):
    case = loss_case(seed + s, dtype=dtype, **settings)
    judge.reproduce(case.recipe, [CALL])
    call(judge, case, "dZ")
    judge.unchanged()


@spec(FUNCTION, "dZ", "mutation", "GEN-8")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["batch", "one-row"])
def test_softmax_cross_entropy_loss_dZ_shares_no_memory_with_its_inputs(judge, seed, name, dtype):
    case = make(name, seed, dtype)
    Z, y = case.copies("Z", "y")
    judge.reproduce(case.recipe, [CALL, "print(np.shares_memory(dZ, case.Z))"])
    judge.in_process_only("memory sharing shows only in the worker's memory")
    # No private copies here, so that sharing with the caller's own arrays shows.
    judge.fresh(call(judge, case, "dZ", Z=Z, y=y, copies=False), {"Z": Z, "y": y})


# -- errors --------------------------------------------------------------------------------------

def _invalid_loss_calls(rng):
    """(id, args, argument, received, why) with sizes and labels drawn from rng (hidden inputs)."""
    N, K = int(rng.integers(3, 7)), int(rng.integers(3, 9))
    Z, y = rng.standard_normal((N, K)), rng.integers(0, K, N)
    at = int(rng.integers(0, N))
    yield "Z-1d", (Z[0], y[:1]), "Z", (K,), "Z with 1 axis"
    yield "Z-3d", (Z[None], y), "Z", (1, N, K), "Z with 3 axes"
    yield "y-column", (Z, y[:, None]), "y", (N, 1), f"y of shape ({N}, 1), a column of labels"
    yield "y-length", (Z, y[:-1]), "y", (N - 1,), f"{N - 1} labels for {N} rows of Z"
    float_dtype = str(rng.choice(["float64", "float32"]))
    yield "y-float", (Z, y.astype(float_dtype)), "y", float_dtype, \
        f"{float_dtype} labels (even whole ones)"
    yield "y-bool", (Z, y % 2 == 1), "y", "bool", "boolean labels"
    big = y.copy()
    big[at] = K + int(rng.integers(0, 3))
    yield "label-too-big", (Z, big), "y", int(big[at]), f"the label {big[at]} with K = {K} classes"
    negative = y.copy()
    negative[at] = -int(rng.integers(1, 3))
    yield "label-negative", (Z, negative), "y", int(negative[at]), f"the label {negative[at]}"


INVALID_IDS = [c[0] for c in _invalid_loss_calls(np.random.default_rng(0))]


@spec(FUNCTION, "call", "errors", "LOSS-5", "GEN-4", "GEN-9")
@pytest.mark.parametrize("which", INVALID_IDS)
def test_softmax_cross_entropy_loss_rejects_invalid_arguments(judge, seed, which):
    calls = {c[0]: c[1:] for c in _invalid_loss_calls(np.random.default_rng(seed))}
    args, argument, received, why = calls[which]
    judge.reproduce("from cnnspec.spec_tests.test_softmax_cross_entropy_loss import "
                    "_invalid_loss_calls; args = {c[0]: c[1] for c in _invalid_loss_calls("
                    f"np.random.default_rng({seed}))}}[{which!r}]", [f"impl.{FUNCTION}(*args)"])
    judge.rejects(FUNCTION, args, argument=argument, received=received, why=why)
