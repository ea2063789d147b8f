"""softmax_cross_entropy_loss: SPEC LOSS-1 to LOSS-5."""
import warnings

import numpy as np
import pytest
from hypothesis import given

from cnnspec.spec_tests import oracles, strategies
from cnnspec.spec_tests.cases import loss_case
from cnnspec.spec_tests.legacy_checks import (EPS, assert_close, assert_equal_scalar, assert_gradient, assert_rejects,
                     assert_unchanged, check_array, check_float, invoke, unpack)

FUNCTION = "softmax_cross_entropy_loss"
CALLS = ["loss, dZ = impl.softmax_cross_entropy_loss(case.Z, case.y)"]
SETTINGS = {"batch": (8, 10, 1.0), "two-classes": (5, 2, 3.0), "one-row": (1, 4, 1.0),
            "large-logits": (6, 10, 1e4), "small-logits": (4, 7, 1e-3)}
DTYPES = ["float64", "float32"]


def tolerance(Z, dtype):
    """SPEC TOL-3: 4 (K + max|Z|) eps."""
    return 4 * (Z.shape[1] + float(np.abs(Z).max())) * EPS[np.dtype(dtype)]


def run(impl, case, clause="LOSS-1"):
    loss, dZ = unpack(invoke(impl, FUNCTION, case.Z, case.y, clause=clause, recipe=case.recipe,
                             calls=CALLS), ("loss", "dZ"), FUNCTION, clause)
    inputs = dict(Z=case.Z, y=case.y)
    loss = check_float(loss, function=FUNCTION, output="loss", clause="LOSS-1",
                       recipe=case.recipe, calls=CALLS, case=inputs)
    dZ = check_array(dZ, function=FUNCTION, output="dZ", clause="LOSS-2", shape=case.Z.shape,
                     dtype=case.Z.dtype, recipe=case.recipe, calls=CALLS, case=inputs)
    return loss, dZ


@pytest.mark.clause("LOSS-1", "LOSS-3", "TOL-3")
@pytest.mark.output("loss")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_softmax_cross_entropy_loss_matches_scipy_log_softmax(impl, seed, name, dtype):
    case = loss_case(seed, *SETTINGS[name], dtype=dtype)
    loss, _ = run(impl, case)
    expected, _ = oracles.softmax_cross_entropy(case.Z.astype(np.float64), case.y)
    assert_equal_scalar(loss, expected, tolerance(case.Z, dtype), function=FUNCTION,
                        output="loss", clause="LOSS-1", recipe=case.recipe, calls=CALLS,
                        case=dict(case.arrays))


@pytest.mark.clause("LOSS-2", "LOSS-3", "TOL-3")
@pytest.mark.output("dZ")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SETTINGS)
def test_softmax_cross_entropy_loss_dZ_matches_scipy_softmax(impl, seed, name, dtype):
    case = loss_case(seed, *SETTINGS[name], dtype=dtype)
    _, dZ = run(impl, case, "LOSS-2")
    _, expected = oracles.softmax_cross_entropy(case.Z.astype(np.float64), case.y)
    assert_close(dZ, expected, tolerance(case.Z, dtype) / len(case.y), function=FUNCTION,
                 output="dZ", clause="LOSS-2", recipe=case.recipe, calls=CALLS,
                 case=dict(case.arrays))


@pytest.mark.clause("LOSS-2", "TOL-4")
@pytest.mark.output("dZ")
@pytest.mark.parametrize("name", ["batch", "two-classes", "one-row"])
def test_softmax_cross_entropy_loss_dZ_matches_finite_differences(impl, seed, name):
    case = loss_case(seed, *SETTINGS[name])
    _, dZ = run(impl, case, "LOSS-2")
    magnitude = np.full(case.Z.shape, 2.0 / len(case.y))   # |softmax| + |onehot| over N
    assert_gradient(dZ, lambda Z: oracles.softmax_cross_entropy(Z, case.y)[0], case.Z, magnitude,
                    float(np.abs(case.Z).max()) + np.log(case.Z.shape[1]), function=FUNCTION,
                    output="dZ", clause="LOSS-2", recipe=case.recipe, calls=CALLS, whole=True,
                    case=dict(case.arrays))


@pytest.mark.clause("LOSS-3")
@pytest.mark.output("loss")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_softmax_cross_entropy_loss_is_stable_for_large_logits(impl, dtype, sign):
    """Logits of +-1e4 must not overflow exp() or take log(0): no warnings, finite answers."""
    Z = np.array([[sign * 1e4, 0.0, -sign * 1e4], [1e4, 1e4, -1e4]], dtype)
    y = np.array([1, 2])
    recipe = f"Z = np.array([[{sign * 1e4}, 0.0, {-sign * 1e4}], [1e4, 1e4, -1e4]], {dtype!r}); y = np.array([1, 2])"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):   # underflow to 0 is fine
            loss, dZ = run(impl, type("Case", (), dict(Z=Z, y=y, recipe=recipe))(), "LOSS-3")
    expected, expected_dZ = oracles.softmax_cross_entropy(Z.astype(np.float64), y)
    assert_equal_scalar(loss, expected, tolerance(Z, dtype), function=FUNCTION, output="loss",
                        clause="LOSS-3", recipe=recipe, calls=CALLS, case=dict(Z=Z, y=y))
    assert_close(dZ, expected_dZ, tolerance(Z, dtype) / 2, function=FUNCTION, output="dZ",
                 clause="LOSS-3", recipe=recipe, calls=CALLS, case=dict(Z=Z, y=y))


@pytest.mark.clause("LOSS-1", "LOSS-4")
@pytest.mark.output("loss")
@pytest.mark.parametrize("label_dtype", ["int8", "uint8", "int32", "int64", "uint64"])
def test_softmax_cross_entropy_loss_accepts_any_integer_labels(impl, seed, label_dtype):
    case = loss_case(seed, 5, 4)
    y = case.y.astype(label_dtype)
    loss, dZ = unpack(invoke(impl, FUNCTION, case.Z, y, clause="LOSS-4", recipe=case.recipe,
                             calls=[f"loss, dZ = impl.{FUNCTION}(case.Z, case.y.astype({label_dtype!r}))"]),
                      ("loss", "dZ"), FUNCTION, "LOSS-4")
    expected, _ = oracles.softmax_cross_entropy(case.Z, case.y)
    assert_equal_scalar(check_float(loss, function=FUNCTION, output="loss", clause="LOSS-4"),
                        expected, tolerance(case.Z, "float64"), function=FUNCTION,
                        output=f"loss for {label_dtype} labels", clause="LOSS-4",
                        recipe=case.recipe, calls=CALLS)


@pytest.mark.clause("LOSS-1", "LOSS-2", "GEN-2", "GEN-7")
@given(settings=strategies.loss_settings, seed=strategies.seeds, dtype=strategies.dtypes)
def test_softmax_cross_entropy_loss_types_shapes_and_dtypes(impl, settings, seed, dtype):
    run(impl, loss_case(seed, dtype=dtype, **settings))


@pytest.mark.clause("GEN-3")
@given(settings=strategies.loss_settings, seed=strategies.seeds)
def test_softmax_cross_entropy_loss_does_not_modify_its_inputs(impl, settings, seed):
    case = loss_case(seed, **settings)
    Z, y = case.copies("Z", "y")
    run(impl, case)
    assert_unchanged(Z, case.Z, function=FUNCTION, argument="Z", recipe=case.recipe, calls=CALLS)
    assert_unchanged(y, case.y, function=FUNCTION, argument="y", recipe=case.recipe, calls=CALLS)


def _invalid_loss_calls():
    Z, y = np.zeros((4, 3)), np.array([0, 1, 2, 0])
    yield "Z-1d", (Z[0], y[:1]), "Z", (3,), "Z with 1 axis"
    yield "y-2d", (Z, y[:, None]), "y", (4, 1), "y with 2 axes"
    yield "y-length", (Z, y[:3]), "y", (3,), "3 labels for 4 rows of Z"
    yield "y-float", (Z, y.astype(float)), "y", "float64", "float labels (even whole ones)"
    yield "y-bool", (Z, y > 0), "y", "bool", "boolean labels"
    yield "label-too-big", (Z, np.array([0, 1, 3, 0])), "y", 3, "the label 3 with K = 3 classes"
    yield "label-negative", (Z, np.array([0, -1, 2, 0])), "y", -1, "the label -1"


INVALID = {case[0]: case[1:] for case in _invalid_loss_calls()}


@pytest.mark.clause("LOSS-5", "GEN-4")
@pytest.mark.parametrize("which", INVALID)
def test_softmax_cross_entropy_loss_rejects_invalid_arguments(impl, which):
    args, argument, received, why = INVALID[which]
    assert_rejects(impl, FUNCTION, args, argument=argument, received=received, clause="LOSS-5",
                   why=why)
