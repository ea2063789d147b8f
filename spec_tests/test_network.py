"""The network: initialize_parameters, forward_backward, predict, test_accuracy (SPEC INIT, NET,
PRED, ACC). The implementation is compared with an oracle network built from the float64 layer
oracles, and its update with finite differences of the ORACLE's loss: differentiating the
implementation's own loss would let a mis-wired network (a flatten in the wrong order) agree with
itself."""
import functools

import numpy as np
import pytest

from cnnspec.spec_tests import oracles
from cnnspec.spec_tests.cases import network_case, params_of
from cnnspec.spec_tests.legacy_checks import (EPS, assert_close, assert_equal_scalar, assert_rejects, assert_unchanged,
                     check_array, check_float, fail, invoke, unpack)

PARAMS = list(oracles.PARAM_SHAPES)
DTYPES = ["float64", "float32"]
# Two rates, so that an implementation that ignores learning_rate cannot match both by luck.
LEARNING_RATES = {"float64": 0.5, "float32": 0.3}


def fb_calls(dtype):
    return ["params = {k: case.arrays[k] for k in ('W1','b1','W2','b2','W3','b3','W4','b4')}",
            f"loss, new_params = impl.forward_backward(case.X, case.y, params, "
            f"{LEARNING_RATES[dtype]})"]


@pytest.fixture
def seed(seed_offset):
    """One seed for the whole module, so the costly oracle-vetted draws are shared."""
    return 2024 + seed_offset


def run_forward_backward(impl, case, clause):
    params = params_of(case)
    before = {k: v.copy() for k, v in params.items()}
    lr = LEARNING_RATES[case.X.dtype.name]
    calls = fb_calls(case.X.dtype.name)
    result = invoke(impl, "forward_backward", case.X, case.y, params, lr,
                    clause=clause, recipe=case.recipe, calls=calls)
    loss, new = unpack(result, ("loss", "new_params"), "forward_backward", clause)
    loss = check_float(loss, function="forward_backward", output="loss", clause="NET-2",
                       recipe=case.recipe, calls=calls)
    if not isinstance(new, dict) or set(new) != set(PARAMS):
        got = sorted(new) if isinstance(new, dict) else type(new).__name__
        fail(f"forward_backward must return new_params as a dict with keys {PARAMS}, got {got} "
             f"[SPEC NET-3]")
    for k in PARAMS:
        check_array(new[k], function="forward_backward", output=f"new_params[{k!r}]",
                    clause="NET-3", shape=before[k].shape, dtype=before[k].dtype,
                    recipe=case.recipe, calls=calls)
    return loss, before, new


# -- initialize_parameters -----------------------------------------------------------------------

def _init(impl, seed):
    params = invoke(impl, "initialize_parameters", seed=seed, clause="INIT-1",
                    calls=[f"params = impl.initialize_parameters(seed={seed})"])
    if not isinstance(params, dict) or set(params) != set(PARAMS):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        fail(f"initialize_parameters must return a dict with exactly the keys {PARAMS}, got {got} "
             f"[SPEC INIT-1]")
    for k, shape in oracles.PARAM_SHAPES.items():
        check_array(params[k], function="initialize_parameters", output=f"params[{k!r}]",
                    clause="INIT-1", shape=shape)
        if params[k].dtype.kind != "f":
            fail(f"initialize_parameters returned params[{k!r}] with dtype {params[k].dtype}; "
                 f"expected a floating dtype (float32 recommended) [SPEC INIT-1]")
    return params


@pytest.mark.clause("INIT-1", "INIT-3")
def test_initialize_parameters_shapes_and_values(impl):
    params = _init(impl, 0)
    for k in PARAMS:
        if k.startswith("W"):
            W = params[k].reshape(params[k].shape[0], -1) if k in ("W1", "W2") else params[k].T
            # Rows are filters (conv) or units (fully connected): no two may be equal.
            distinct = len(np.unique(W, axis=0)) == len(W)
            if not distinct or np.ptp(params[k]) == 0:
                fail(f"initialize_parameters returned {k} with identical filters or units; the "
                     f"weights must be random so that symmetry is broken [SPEC INIT-3]")


@pytest.mark.clause("INIT-2")
def test_initialize_parameters_same_seed_same_parameters(impl):
    first, again, other = _init(impl, 7), _init(impl, 7), _init(impl, 8)
    for k in PARAMS:
        assert_close(again[k], first[k], 0.0, function="initialize_parameters",
                     output=f"params[{k!r}] for the same seed twice", clause="INIT-2",
                     calls=["a = impl.initialize_parameters(seed=7)",
                            "b = impl.initialize_parameters(seed=7)"])
    if all(np.array_equal(first[k], other[k]) for k in PARAMS if k.startswith("W")):
        fail("initialize_parameters(seed=7) and initialize_parameters(seed=8) returned the same "
             "weights: the seed must be used [SPEC INIT-2]")


# -- forward_backward ----------------------------------------------------------------------------

@pytest.mark.clause("NET-1", "NET-2", "TOL-5")
@pytest.mark.output("loss")
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_loss_matches_oracle_network(impl, seed, dtype):
    case = network_case(seed, 3, dtype)
    loss, before, _ = run_forward_backward(impl, case, "NET-2")
    expected = oracles.network_loss(case.X.astype(np.float64), case.y, before)
    rtol = 1e-9 if dtype == "float64" else 1e-4
    assert_equal_scalar(loss, expected, rtol * max(1.0, abs(expected)), function="forward_backward",
                        output="loss (before the step)", clause="NET-2", recipe=case.recipe,
                        calls=fb_calls(dtype), case=dict(X=case.X, y=case.y, params=before))


def _oracle_derivatives(X, y, params, name, seed, count, h=1e-6):
    """Central differences of the oracle's loss along `count` random unit directions of
    params[name], keeping only directions along which no unit or pooling winner changes, so the
    quotient is exact up to rounding (TOL-5). Yields (direction, derivative)."""
    base = oracles.network(X, params)[3]
    rng = np.random.default_rng(seed)
    found = 0
    for _ in range(10 * count):
        v = rng.standard_normal(params[name].shape)
        v /= np.linalg.norm(v)
        ends = []
        for sign in (1, -1):
            Z, _, _, pattern = oracles.network(X, dict(params, **{name: params[name] + sign * h * v}))
            ends.append((oracles.softmax_cross_entropy(Z, y)[0], np.array_equal(pattern, base)))
        if ends[0][1] and ends[1][1]:
            yield v, (ends[0][0] - ends[1][0]) / (2 * h)
            found += 1
            if found == count:
                return
    if found == 0:  # pragma: no cover - would mean the case maker let a kink through
        raise RuntimeError(f"no kink-free direction for {name}: the check would prove nothing")


@pytest.mark.clause("NET-3", "TOL-5")
@pytest.mark.parametrize("name", PARAMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_update_matches_oracle_gradient(impl, seed, dtype, name):
    """new - old must equal -learning_rate times the gradient of the oracle's loss."""
    case = network_case(seed, 3, dtype)
    _, before, new = run_forward_backward(impl, case, "NET-3")
    X = case.X.astype(np.float64)
    p64 = {k: v.astype(np.float64) for k, v in before.items()}
    lr = LEARNING_RATES[dtype]
    step = (p64[name] - new[name].astype(np.float64)) / lr               # the implied gradient
    eps = EPS[np.dtype(dtype)]
    rtol = 1e-5 if dtype == "float64" else 2e-3
    for k, (v, numeric) in enumerate(_oracle_derivatives(X, case.y, p64, name, seed, 2)):
        got = float(np.sum(step * v))
        # rtol of the directional derivative's size, plus the rounding of new - old itself
        allowed = rtol * (float(np.sum(np.abs(step * v))) + abs(numeric)) + \
            4 * eps * float(np.sum(np.abs(p64[name] * v))) / lr + 1e-9
        if abs(got - numeric) > allowed:
            ratio = got / numeric if numeric else float("nan")
            hint = ""
            if abs(ratio + 1) < 0.05:
                hint = "\n  Likely cause: the update has the wrong sign (params + lr * grad)."
            elif np.isclose(ratio, len(case.y), rtol=0.05):
                hint = "\n  Likely cause: the gradient is N times too large (loss summed, not averaged)."
            fail(f"forward_backward returned a wrong update of {name} [SPEC NET-3, TOL-5]\n"
                 f"  (params[{name!r}] - new_params[{name!r}]) / learning_rate should be the gradient "
                 f"of the loss; along random unit direction #{k} it gives {got:.8g}, but central "
                 f"differences of the oracle network's loss give {numeric:.8g} (error "
                 f"{abs(got - numeric):.3g}, allowed {allowed:.2g}, ratio {ratio:.4g}).{hint}\n"
                 f"  If only {name} is wrong, look at the layer it belongs to; if W3 alone is wrong, "
                 f"check the flatten order (C order: channel, row, column).\n"
                 f"Reproduce (with `impl` your module):\n    {case.recipe}\n    "
                 + "\n    ".join(fb_calls(dtype)))


@pytest.mark.clause("GEN-3", "NET-3")
def test_forward_backward_does_not_modify_X_or_y(impl, seed):
    case = network_case(seed, 2)
    X, y = case.copies("X", "y")
    run_forward_backward(impl, case, "NET-3")
    assert_unchanged(X, case.X, function="forward_backward", argument="X", recipe=case.recipe,
                     calls=fb_calls("float64"))
    assert_unchanged(y, case.y, function="forward_backward", argument="y", recipe=case.recipe,
                     calls=fb_calls("float64"))


def _invalid_network_calls():
    case = network_case(0, 2)
    X, y, params = case.X, case.y, params_of(case)
    yield "X-3d", (X[:, 0], y, params), "X", (2, 28, 28), "X without the channel axis"
    yield "X-3-channels", (np.repeat(X, 3, axis=1), y, params), "X", (2, 3, 28, 28), "X with 3 channels"
    yield "y-length", (X, y[:1], params), "y", (1,), "1 label for 2 images"
    missing = {k: v for k, v in params.items() if k != "W3"}
    yield "missing-W3", (X, y, missing), "W3", "W3", "params without 'W3'"
    misshapen = dict(params, W2=params["W2"][:, :4])
    yield "misshapen-W2", (X, y, misshapen), "W2", (16, 4, 3, 3), "params['W2'] of shape (16, 4, 3, 3)"


INVALID = {case[0]: case[1:] for case in _invalid_network_calls()}


@pytest.mark.clause("NET-4", "GEN-4")
@pytest.mark.parametrize("which", INVALID)
def test_forward_backward_rejects_invalid_arguments(impl, which):
    args, argument, received, why = INVALID[which]
    assert_rejects(impl, "forward_backward", args + (0.1,), argument=argument, received=received,
                   clause="NET-4", why=why)


# -- predict and test_accuracy -------------------------------------------------------------------

def predict_case(seed, N, dtype="float64"):
    """A network case whose top two logits differ by at least 1e-3 on every image (TOL-6)."""
    labels, attempt = _predict_draw(seed, N)
    return network_case(seed * 100 + attempt, N, dtype), labels.copy()


@functools.lru_cache(maxsize=16)
def _predict_draw(seed, N):
    for attempt in range(50):
        case = network_case(seed * 100 + attempt, N)
        labels, gap = oracles.network_predict(case.X, params_of(case))
        if gap >= 1e-3:
            return labels, attempt
    raise RuntimeError("no predict case with clear labels")  # pragma: no cover


def _predict(impl, case, batch_size, clause):
    calls = ["params = {k: case.arrays[k] for k in ('W1','b1','W2','b2','W3','b3','W4','b4')}",
             f"labels = impl.predict(case.X, params, batch_size={batch_size})"]
    labels = invoke(impl, "predict", case.X, params_of(case), batch_size=batch_size,
                    clause=clause, recipe=case.recipe, calls=calls)
    return check_array(labels, function="predict", output="labels", clause=clause,
                       shape=(len(case.X),), integer=True, recipe=case.recipe, calls=calls), calls


@pytest.mark.clause("PRED-1", "TOL-6")
@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_matches_oracle_argmax(impl, seed, dtype):
    case, expected = predict_case(seed, 6, dtype)
    labels, calls = _predict(impl, case, 128, "PRED-1")
    assert_close(labels, expected, 0, function="predict", output="labels", clause="PRED-1",
                 recipe=case.recipe, calls=calls)


@pytest.mark.clause("PRED-2")
@pytest.mark.parametrize("batch_size", [1, 3, 4, 7, 128])
def test_predict_does_not_depend_on_batch_size(impl, seed, batch_size):
    """7 images in batches of 3 leave a partial last batch of 1, which must not be dropped."""
    case, expected = predict_case(seed, 7)
    labels, calls = _predict(impl, case, batch_size, "PRED-2")
    assert_close(labels, expected, 0, function="predict", output=f"labels with batch_size={batch_size}",
                 clause="PRED-2", recipe=case.recipe, calls=calls)


@pytest.mark.clause("PRED-3", "GEN-3")
def test_predict_does_not_modify_X_or_params(impl, seed):
    case, _ = predict_case(seed, 3)
    params = params_of(case)
    before = {k: v.copy() for k, v in params.items()}
    X = case.X.copy()
    invoke(impl, "predict", case.X, params, clause="PRED-3", recipe=case.recipe)
    assert_unchanged(X, case.X, function="predict", argument="X", clause="PRED-3", recipe=case.recipe)
    for k in PARAMS:
        assert_unchanged(before[k], params[k], function="predict", argument=f"params[{k!r}]",
                         clause="PRED-3", recipe=case.recipe)


@pytest.mark.clause("PRED-4", "GEN-4")
@pytest.mark.parametrize("which", ["X-3d", "missing-W3", "batch-size-0"])
def test_predict_rejects_invalid_arguments(impl, which):
    if which == "batch-size-0":
        case = network_case(0, 2)
        assert_rejects(impl, "predict", (case.X, params_of(case)), {"batch_size": 0},
                       argument="batch_size", received=0, clause="PRED-4", why="batch_size 0")
        return
    args, argument, received, why = INVALID[which]
    assert_rejects(impl, "predict", (args[0], args[2]), argument=argument, received=received,
                   clause="PRED-4", why=why)


@pytest.mark.clause("ACC-1")
@pytest.mark.output("accuracy")
@pytest.mark.parametrize("batch_size", [3, 128])
def test_test_accuracy_is_percent_of_correct_labels(impl, seed, batch_size):
    """6 of 8 labels agree with the oracle's predictions: the answer is 75.0, not 0.75."""
    case, predicted = predict_case(seed, 8)
    y = predicted.copy()
    y[[2, 5]] = (y[[2, 5]] + 1) % 10
    calls = [f"y = (oracle labels with entries 2 and 5 changed) = {y.tolist()}",
             f"acc = impl.test_accuracy(case.X, y, params, batch_size={batch_size})"]
    acc = invoke(impl, "test_accuracy", case.X, y, params_of(case), batch_size=batch_size,
                 clause="ACC-1", recipe=case.recipe, calls=calls)
    acc = check_float(acc, function="test_accuracy", output="accuracy", clause="ACC-1",
                      recipe=case.recipe, calls=calls)
    assert_equal_scalar(acc, 75.0, 1e-9, function="test_accuracy", output="accuracy",
                        clause="ACC-1", recipe=case.recipe, calls=calls,
                        case=dict(X=case.X, y=y, params=params_of(case)))
