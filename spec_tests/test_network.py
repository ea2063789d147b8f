"""The network: initialize_parameters, forward_backward, predict, test_accuracy (SPEC INIT, NET,
PRED, ACC).

The implementation is compared with an oracle network built from the float64 layer oracles, and its
update with finite differences of the ORACLE's loss: differentiating the implementation's own loss
would let a mis-wired network (a flatten in the wrong order) agree with itself. Each test judges
one output: the loss, the update of one parameter, the labels or the accuracy.
"""
import numpy as np
import pytest

from cnnspec.contract import PARAM_SHAPES, PARAMS
from cnnspec.spec_tests import oracles
from cnnspec.spec_tests.cases import close_logits_case, network_case, params_of, predict_case
from cnnspec.spec_tests.checks import EPS, describe_value

spec = pytest.mark.spec
DTYPES = ["float64", "float32"]
# Two rates, so that an implementation that ignores learning_rate cannot match both by luck.
LEARNING_RATES = {"float64": 0.5, "float32": 0.3}
PARAMS_LINE = "params = {k: case.arrays[k] for k in ('W1','b1','W2','b2','W3','b3','W4','b4')}"


@pytest.fixture
def seed(seed_offset):
    """One seed for the whole module, so the costly oracle-vetted draws are shared; --seed N
    still moves every input."""
    return 2024 + seed_offset


def per_param(category, *clauses):
    return pytest.mark.parametrize("name", [
        pytest.param(k, marks=spec("forward_backward", k, category, *clauses), id=k)
        for k in PARAMS])


# -- initialize_parameters -----------------------------------------------------------------------

def init(judge, seed, **kwargs):
    params = judge.call("initialize_parameters", seed=seed, **kwargs)
    if not isinstance(params, dict) or set(params) != set(PARAMS):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        if judge.category != "shape":
            judge.fail(f"not judged: initialize_parameters must return a dict with the keys "
                       f"{list(PARAMS)}, got {got} (see its shape test)")
        judge.fail(f"initialize_parameters must return a dict with exactly the keys "
                   f"{list(PARAMS)}, got {got} [SPEC {judge.clause}]")
    return params


@spec("initialize_parameters", "params", "shape", "INIT-1", "GEN-7")
def test_initialize_parameters_keys_and_shapes(judge, seed):
    judge.reproduce(None, [f"params = impl.initialize_parameters(seed={seed})"])
    params = init(judge, seed)
    for k, shape in PARAM_SHAPES.items():
        judge.shape(params[k], shape, what=f"params[{k!r}]")


@spec("initialize_parameters", "params", "dtype", "INIT-1")
def test_initialize_parameters_dtype_is_floating(judge, seed):
    judge.reproduce(None, [f"params = impl.initialize_parameters(seed={seed})"])
    params = init(judge, seed)
    for k in PARAMS:
        if not (isinstance(params[k], np.ndarray) and params[k].dtype.kind == "f"):
            judge.fail(f"initialize_parameters returned params[{k!r}] as "
                       f"{getattr(params[k], 'dtype', type(params[k]).__name__)}; expected a "
                       f"floating array (float32 recommended) [SPEC {judge.clause}]")


@spec("initialize_parameters", "params", "value", "INIT-3")
def test_initialize_parameters_values_are_finite_and_break_symmetry(judge, seed):
    judge.reproduce(None, [f"params = impl.initialize_parameters(seed={seed})"])
    params = init(judge, seed)
    for k in PARAMS:
        value = np.asarray(params[k], np.float64)
        if not np.isfinite(value).all():
            judge.fail(f"initialize_parameters returned non-finite values in {k} [SPEC INIT-3]")
        if k.startswith("W"):
            rows = value.reshape(value.shape[0], -1) if value.ndim == 4 else value.T
            if len(np.unique(rows, axis=0)) != len(rows) or np.ptp(value) == 0:
                judge.fail(f"initialize_parameters returned {k} with identical filters or units; "
                           f"the weights must be random so that symmetry is broken [SPEC INIT-3]")


def _same(judge, a, b, what):
    if all(np.ptp(np.asarray(b[k], np.float64)) == 0 for k in PARAMS if k.startswith("W")):
        # Constant weights are "the same" for any seed: nothing to judge (INIT-3 says why).
        judge.fail("not judged: initialize_parameters returned constant weights (see its "
                   "symmetry test, INIT-3)")
    for k in PARAMS:
        judge.values(np.asarray(a[k]), np.asarray(b[k], np.float64), 0.0, what=f"params[{k!r}] {what}")


@spec("initialize_parameters", "params", "value", "INIT-2")
def test_initialize_parameters_same_seed_same_parameters(judge, seed):
    judge.reproduce(None, [f"a = impl.initialize_parameters(seed={seed})",
                           f"b = impl.initialize_parameters(seed={seed})"])
    first = init(judge, seed)
    kept = {k: np.array(v, copy=True) for k, v in first.items()}
    _same(judge, init(judge, seed), kept, f"for seed={seed} twice")


@spec("initialize_parameters", "params", "value", "INIT-2", "INIT-4")
def test_initialize_parameters_seed_0_is_a_seed(judge):
    """0 is a seed like any other, not "no seed": two calls with seed=0 agree."""
    judge.reproduce(None, ["a = impl.initialize_parameters(seed=0)",
                           "b = impl.initialize_parameters(seed=0)"])
    first = {k: np.array(v, copy=True) for k, v in init(judge, 0).items()}
    _same(judge, init(judge, 0), first, "for seed=0 twice")


@spec("initialize_parameters", "params", "value", "INIT-2")
def test_initialize_parameters_different_seeds_differ(judge, seed):
    judge.reproduce(None, [f"a = impl.initialize_parameters(seed={seed})",
                           f"b = impl.initialize_parameters(seed={seed + 1})"])
    a, b = init(judge, seed), init(judge, seed + 1)
    weights = [np.asarray(p[k], np.float64) for p in (a, b) for k in PARAMS if k.startswith("W")]
    if not all(np.isfinite(w).all() and np.ptp(w) > 0 for w in weights):
        judge.fail("not judged: initialize_parameters returned constant or non-finite weights "
                   "(see its symmetry test, INIT-3)")
    if all(np.array_equal(a[k], b[k]) for k in PARAMS if k.startswith("W")):
        judge.fail(f"initialize_parameters(seed={seed}) and (seed={seed + 1}) returned the same "
                   "weights: the seed must be used [SPEC INIT-2]")


@spec("initialize_parameters", "params", "value", "INIT-4", "GEN-10")
def test_initialize_parameters_returns_new_arrays_each_call(judge, seed):
    """Zeroing an earlier result in place must not change a later call's answer."""
    judge.reproduce(None, [f"a = impl.initialize_parameters(seed={seed})",
                           "for v in a.values(): v[...] = 0",
                           f"b = impl.initialize_parameters(seed={seed})"])
    first = init(judge, seed)
    kept = {k: np.array(v, copy=True) for k, v in first.items()}
    for v in first.values():
        if isinstance(v, np.ndarray) and v.flags.writeable:
            v[...] = 0
    _same(judge, init(judge, seed), kept, "after the caller zeroed an earlier result")


# After np.random.seed(1), the next global draw is RandomState(1)'s first one if nothing drew.
UNTOUCHED = "np.random.rand() == np.random.RandomState(1).rand()"


@spec("initialize_parameters", "params", "mutation", "INIT-4")
def test_initialize_parameters_leaves_the_global_random_state_alone(judge, seed):
    judge.reproduce(None, ["np.random.seed(1)", f"impl.initialize_parameters(seed={seed})",
                           f"print('global state untouched:', {UNTOUCHED})"])
    saved = np.random.get_state()
    try:
        np.random.seed(1)
        before = np.random.get_state()
        first = init(judge, seed)
        after = np.random.get_state()
        np.random.seed(2)
        second = init(judge, seed)
    finally:
        np.random.set_state(saved)
    # Isolated, the calls run in the worker, whose global state the grader cannot see: only the
    # second check (a global draw shows as different weights for one seed) holds there.
    if not judge.isolated and not (before[2:] == after[2:] and np.array_equal(before[1], after[1])):
        judge.fail("initialize_parameters changed NumPy's global random state (np.random.seed / "
                   "np.random.randn): use a generator of its own, np.random.default_rng(seed) "
                   "[SPEC INIT-4]")
    if not all(np.array_equal(first[k], second[k]) for k in PARAMS):
        judge.fail("initialize_parameters(seed=...) gave different weights after np.random.seed "
                   "changed: it reads NumPy's global random state instead of its seed [SPEC INIT-4]")


@spec("initialize_parameters", "params", "mutation", "INIT-4")
def test_initialize_parameters_without_a_seed_leaves_the_global_random_state_alone(judge):
    """No seed means a fresh generator (np.random.default_rng()), not a seed drawn from
    np.random: that advances the program's global random state, so a training script's
    np.random.seed(0) no longer gives the same shuffles once it creates a network."""
    judge.reproduce(None, ["np.random.seed(1)", "impl.initialize_parameters()",
                           f"print('global state untouched:', {UNTOUCHED})"])
    judge.in_process_only("NumPy's global random state of the worker process is not visible")
    saved = np.random.get_state()
    try:
        np.random.seed(1)
        before = np.random.get_state()
        judge.call("initialize_parameters")
        after = np.random.get_state()
    finally:
        np.random.set_state(saved)
    if not (before[2:] == after[2:] and np.array_equal(before[1], after[1])):
        judge.fail("initialize_parameters() without a seed changed NumPy's global random state "
                   f"[SPEC {judge.clause}]: it drew from np.random (a seed from np.random.randint, "
                   "or the weights from np.random.randn). Without a seed, use a fresh generator "
                   "of its own: np.random.default_rng(seed) with seed=None.")


@spec("initialize_parameters", "params", "mutation", "GEN-8", "INIT-4")
def test_initialize_parameters_returns_arrays_that_share_no_memory(judge, seed):
    """Eight separate arrays: biases cut from one zeros buffer (zeros[:8], zeros[:16], ...) all
    change when training updates one of them in place."""
    judge.reproduce(None, [f"params = impl.initialize_parameters(seed={seed})",
                           "print([(a, b) for a in params for b in params if a < b and "
                           "np.shares_memory(params[a], params[b])])"])
    judge.in_process_only("memory sharing shows only in the worker's memory")
    params = init(judge, seed)
    for i, k in enumerate(PARAMS):
        judge.fresh(params[k], {f"params[{o!r}]": params[o] for o in PARAMS[i + 1:]},
                    what=f"params[{k!r}]")


# -- forward_backward ----------------------------------------------------------------------------

def fb_lines(dtype, lr=None):
    lr = LEARNING_RATES[dtype] if lr is None else lr
    return [PARAMS_LINE, f"loss, new_params = impl.forward_backward(case.X, case.y, params, {lr})"]


def run_forward_backward(judge, case, lr=None):
    """(loss, params before, new params) from one call on private copies."""
    params = params_of(case)
    lr = LEARNING_RATES[case.X.dtype.name] if lr is None else lr
    result = judge.call("forward_backward", case.X, case.y, params, lr)
    loss = judge.returned(result, "forward_backward", "loss")
    new = judge.returned(result, "forward_backward", "new_params")
    if judge.output in PARAMS and (not isinstance(new, dict) or judge.output not in new):
        got = sorted(new) if isinstance(new, dict) else type(new).__name__
        judge.fail(f"forward_backward must return new_params as a dict with the key "
                   f"{judge.output!r}, got {got} [SPEC NET-3, GEN-7]")
    return loss, params, new


@spec("forward_backward", "loss", "network", "NET-1", "NET-2", "TOL-5")
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_loss_matches_oracle_network(judge, seed, dtype):
    case = network_case(seed, 3, dtype)
    judge.reproduce(case.recipe, fb_lines(dtype),
                    "from cnnspec.spec_tests import oracles; print(loss - oracles.network_loss("
                    "case.X, case.y, params))")
    loss, _, _ = run_forward_backward(judge, case)
    expected = oracles.network_loss(case.X.astype(np.float64), case.y, params_of(case))
    rtol = 1e-9 if dtype == "float64" else 1e-4
    judge.scalar(loss, expected, rtol * max(1.0, abs(expected)), what="loss (before the step)",
                 case=dict(X=case.X, y=case.y, params=params_of(case)))


@spec("forward_backward", "loss", "dtype", "NET-2", "GEN-7")
def test_forward_backward_loss_is_a_python_float(judge, seed):
    case = network_case(seed, 2, "float32")
    judge.reproduce(case.recipe, fb_lines("float32") + ["print(type(loss))"])
    loss, _, _ = run_forward_backward(judge, case)
    judge.python_float(loss)


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


def judge_update(judge, case, params, new, name, lr, seed, how=""):
    """new - old must equal -lr times the gradient of the ORACLE's loss (NET-3, TOL-5)."""
    got_new = new[name]
    judge.shape(got_new, PARAM_SHAPES[name], what=f"new_params[{name!r}]")
    dtype = case.X.dtype.name
    X = case.X.astype(np.float64)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    step = (p64[name] - got_new.astype(np.float64)) / lr               # the implied gradient
    eps = EPS[np.dtype(dtype)]
    rtol = 1e-5 if dtype == "float64" else 2e-3
    for k, (v, numeric) in enumerate(_oracle_derivatives(X, case.y, p64, name, seed, 2)):
        got = float(np.sum(step * v))
        allowed = rtol * (float(np.sum(np.abs(step * v))) + abs(numeric)) + \
            4 * eps * float(np.sum(np.abs(p64[name] * v))) / lr + 1e-9
        if not abs(got - numeric) <= allowed:
            ratio = got / numeric if numeric else float("nan")
            hints = []
            if abs(ratio + 1) < 0.05:
                hints.append("the update has the wrong sign (params + lr * grad).")
            elif np.isclose(ratio, len(case.y), rtol=0.05):
                hints.append("the gradient is N times too large (loss summed, not averaged).")
            judge.fail(f"forward_backward returned a wrong update of {name}{how} [SPEC "
                       f"{judge.clause}]\n"
                       f"  (params[{name!r}] - new_params[{name!r}]) / learning_rate should be the "
                       f"gradient of the loss; along random unit direction #{k} it gives "
                       f"{got:.8g}, but central differences of the oracle network's loss give "
                       f"{numeric:.8g} (error {abs(got - numeric):.3g}, allowed {allowed:.2g}, "
                       f"ratio {ratio:.4g}).\n  If only {name} is wrong, look at the layer it "
                       f"belongs to; if W3 alone is wrong, check the flatten order (C order: "
                       f"channel, row, column).", hints)


@per_param("network", "NET-3", "TOL-5")
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_update_matches_oracle_gradient(judge, seed, dtype, name):
    case = network_case(seed, 3, dtype)
    judge.reproduce(case.recipe, fb_lines(dtype))
    _, params, new = run_forward_backward(judge, case)
    judge_update(judge, case, params, new, name, LEARNING_RATES[dtype], seed)


@per_param("network", "NET-3", "GEN-9")
def test_forward_backward_update_with_a_numpy_scalar_learning_rate(judge, seed, name):
    case = network_case(seed, 3, "float32")
    lr = np.float32(LEARNING_RATES["float32"])
    judge.reproduce(case.recipe, [PARAMS_LINE, "loss, new_params = impl.forward_backward("
                                  "case.X, case.y, params, np.float32(0.3))"])
    _, params, new = run_forward_backward(judge, case, lr=lr)
    judge_update(judge, case, params, new, name, float(lr), seed,
                 how=" for learning_rate = np.float32(0.3)")


@per_param("dtype", "NET-3", "GEN-2")
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_new_params_dtype(judge, seed, dtype, name):
    case = network_case(seed, 2, dtype)
    judge.reproduce(case.recipe, fb_lines(dtype) + [f"print(new_params[{name!r}].dtype)"])
    _, _, new = run_forward_backward(judge, case)
    judge.dtype(new[name], dtype, what=f"new_params[{name!r}]")


@per_param("dtype", "NET-3", "GEN-2")
def test_forward_backward_new_params_stay_float32_for_a_numpy_float64_learning_rate(judge, seed,
                                                                                    name):
    """NumPy 2 promotes float32 - np.float64(0.3) * float32 to float64: the update must be cast
    back (or the rate taken as a Python float)."""
    case = network_case(seed, 2, "float32")
    judge.reproduce(case.recipe, [PARAMS_LINE, "loss, new_params = impl.forward_backward("
                                  "case.X, case.y, params, np.float64(0.3))",
                                  f"print(new_params[{name!r}].dtype)"])
    _, _, new = run_forward_backward(judge, case, lr=np.float64(0.3))
    got = new[name]
    if isinstance(got, np.ndarray) and got.dtype == np.float64:
        judge.fail(f"forward_backward returned new_params[{name!r}] with dtype float64 for "
                   f"float32 params and learning_rate=np.float64(0.3); expected float32 [SPEC "
                   f"{judge.clause}]",
                   ["params[k] - learning_rate * grad is float64 when learning_rate is a NumPy "
                    "float64 (NumPy 2's promotion rules): cast the result back, "
                    "(params[k] - learning_rate * grad).astype(params[k].dtype), or use "
                    "float(learning_rate)."])
    judge.dtype(got, "float32", what=f"new_params[{name!r}]")


@spec("forward_backward", "inputs", "mutation", "GEN-3", "NET-3")
def test_forward_backward_does_not_modify_X_or_y(judge, seed):
    case = network_case(seed, 2)
    judge.reproduce(case.recipe, fb_lines("float64"))
    params = params_of(case)
    judge.call("forward_backward", case.X, case.y, params, 0.1)
    judge.unchanged(only=("X", "y"))          # params may be updated in place (NET-3)


@spec("forward_backward", "loss", "network", "GEN-10", "NET-2")
def test_forward_backward_twice_gives_the_same_loss(judge, seed):
    """No state between calls: the same batch and parameters give the same loss again."""
    case = network_case(seed, 2)
    judge.reproduce(case.recipe, fb_lines("float64") + fb_lines("float64")[1:])
    run_forward_backward(judge, case)
    loss, _, _ = run_forward_backward(judge, case)
    expected = oracles.network_loss(case.X, case.y, params_of(case))
    judge.scalar(loss, expected, 1e-9 * max(1.0, abs(expected)),
                 what="loss on a second call with the same inputs")


def _invalid_network_calls(rng):
    case = network_case(0, 2)
    X, y, params = case.X, case.y, params_of(case)
    N = int(rng.integers(2, 5))
    X = np.repeat(X, 3, axis=0)[:N]
    y = np.resize(y, N)
    yield "X-3d", (X[:, 0], y, params), "X", X[:, 0].shape, "X without the channel axis"
    three = np.repeat(X, 3, axis=1)
    yield "X-3-channels", (three, y, params), "X", three.shape, "X with 3 channels"
    big = np.zeros((N, 1, 32, 32))
    yield "X-32x32", (big, y, params), "X", big.shape, "32x32 images"
    yield "y-length", (X, y[:-1], params), "y", y[:-1].shape, f"{N - 1} labels for {N} images"
    yield "y-column", (X, y[:, None], params), "y", (N, 1), "labels of shape (N, 1)"
    missing = {k: v for k, v in params.items() if k != "W3"}
    yield "missing-W3", (X, y, missing), "W3", "W3", "params without 'W3'"
    cut = int(rng.integers(2, 7))
    misshapen = dict(params, W2=params["W2"][:, :cut])
    yield "misshapen-W2", (X, y, misshapen), "W2", misshapen["W2"].shape, \
        f"params['W2'] of shape {misshapen['W2'].shape}"


INVALID_IDS = [c[0] for c in _invalid_network_calls(np.random.default_rng(0))]


@spec("forward_backward", "call", "errors", "NET-4", "GEN-4")
@pytest.mark.parametrize("which", INVALID_IDS)
def test_forward_backward_rejects_invalid_arguments(judge, seed, which):
    args, argument, received, why = {c[0]: c[1:] for c in _invalid_network_calls(
        np.random.default_rng(seed))}[which]
    judge.rejects("forward_backward", args + (0.1,), argument=argument, received=received, why=why)


# -- predict -------------------------------------------------------------------------------------

def predict_lines(batch_size=None):
    size = "" if batch_size is None else f", batch_size={batch_size!r}"
    return [PARAMS_LINE, f"labels = impl.predict(case.X, params{size})"]


CHECK_LABELS = "print('wrong labels at', np.flatnonzero(labels != case.labels))"


def predict(judge, case, **kwargs):
    return judge.call("predict", case.X, params_of(case), **kwargs)


@spec("predict", "labels", "value", "PRED-1", "TOL-6")
@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_matches_oracle_argmax(judge, seed, dtype):
    case = predict_case(seed, 6, dtype)
    judge.reproduce(case.recipe, predict_lines(), CHECK_LABELS)
    judge.values(predict(judge, case), case.labels, 0)


@spec("predict", "labels", "value", "PRED-1", "TOL-6")
@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_decides_close_calls_by_the_exact_logits(judge, seed, dtype):
    """Six images whose top two logits are 2e-3 to 6e-3 apart (TOL-6 promises 1e-3) and equal to
    two decimals, the winner at the higher class index: logits rounded before the argmax (left
    from printing them) tie, and argmax hands the tie to the runner-up."""
    case = close_logits_case(seed, 6, dtype)
    judge.reproduce(case.recipe, predict_lines(), CHECK_LABELS)
    got = predict(judge, case)
    labels, runners = case.labels, case.runners
    if isinstance(got, np.ndarray) and got.shape == labels.shape and got.dtype.kind in "iu":
        wrong = np.flatnonzero(got != labels)
        if wrong.size and np.array_equal(got[wrong], runners[wrong]):
            judge.fail(f"predict returned wrong labels on close calls [SPEC {judge.clause}]\n"
                       f"  {wrong.size} of {labels.size} images got the runner-up class: images "
                       f"{wrong.tolist()} got {got[wrong].tolist()}, expected "
                       f"{labels[wrong].tolist()}; their top two logits differ by "
                       f"{', '.join(f'{g:.1e}' for g in case.gaps[wrong])} (TOL-6 judges gaps "
                       f"from 1e-3 up).",
                       ["the logits lose precision before the argmax (rounded, e.g. "
                        ".round(2), or computed in float16): the two top logits become equal and "
                        "argmax returns the lower class index. Take the argmax of the logits as "
                        "computed."])
    judge.values(got, labels, 0, what="labels on close calls")


@spec("predict", "labels", "value", "PRED-2")
@pytest.mark.parametrize("batch_size", [1, 3, 4, 7, 128, "np.int64(3)"])
def test_predict_does_not_depend_on_batch_size(judge, seed, batch_size):
    """7 images in batches of 3 leave a partial last batch of 1, which must not be dropped."""
    size = np.int64(3) if batch_size == "np.int64(3)" else batch_size
    case = predict_case(seed, 7)
    judge.reproduce(case.recipe, predict_lines(size), CHECK_LABELS)
    judge.values(predict(judge, case, batch_size=size), case.labels, 0,
                 what=f"labels with batch_size={batch_size}")


@spec("predict", "labels", "value", "PRED-1", "PRED-2")
def test_predict_default_batch_size_and_a_single_image(judge, seed):
    """Three images of three different classes, one call each (N = 1), batch_size left out."""
    case = predict_case(seed, 3)
    judge.reproduce(case.recipe, [PARAMS_LINE, "labels = [impl.predict(case.X[i:i + 1], params)"
                                                " for i in range(3)]"])
    for i in range(3):
        got = judge.call("predict", case.X[i:i + 1], params_of(case))
        judge.values(got, case.labels[i:i + 1], 0, what=f"labels of image {i} alone")


@spec("predict", "labels", "dtype", "PRED-1")
def test_predict_labels_are_integers(judge, seed):
    case = predict_case(seed, 3)
    judge.reproduce(case.recipe, predict_lines() + ["print(labels.dtype)"])
    judge.integer_dtype(predict(judge, case))


@spec("predict", "labels", "shape", "PRED-1", "GEN-7")
def test_predict_labels_shape(judge, seed):
    case = predict_case(seed, 3)
    judge.reproduce(case.recipe, predict_lines() + ["print(labels.shape)"])
    judge.shape(predict(judge, case), (3,))


@spec("predict", "inputs", "mutation", "PRED-3", "GEN-3")
def test_predict_does_not_modify_X_or_params(judge, seed):
    case = predict_case(seed, 3)
    judge.reproduce(case.recipe, predict_lines())
    predict(judge, case)
    judge.unchanged()


@spec("predict", "inputs", "mutation", "PRED-3", "GEN-3")
def test_predict_keeps_the_callers_params_dict_as_it_was(judge, seed):
    """predict may convert the parameters for its own use, but not by writing the converted
    arrays back into the caller's dict: the caller's training loop would go on updating arrays
    that the dict no longer holds."""
    case = predict_case(seed, 3, "float32")
    judge.reproduce(case.recipe, [PARAMS_LINE, "before = dict(params)",
                                  "labels = impl.predict(case.X, params)",
                                  "print([k for k in before if params.get(k) is not before[k]], "
                                  "sorted(set(params) - set(before)))"])
    params = params_of(case)
    before = dict(params)
    judge.call("predict", case.X.copy(), params, copies=False)   # the caller's own dict
    replaced = [k for k in before if params.get(k) is not before[k]]
    added = sorted(set(params) - set(before), key=str)
    if replaced or added:
        what = []
        for k in replaced:
            now = f"a new {describe_value(params[k])}" if k in params else "nothing (removed)"
            what.append(f"params[{k!r}] holds {now} in place of the caller's "
                        f"{describe_value(before[k])}")
        what += [f"params[{k!r}] was added" for k in added]
        judge.fail(f"predict changed the caller's params dict [SPEC {judge.clause}]: "
                   f"{'; '.join(what[:3])}{' ...' if len(what) > 3 else ''} ({len(what)} "
                   f"entries changed). Convert into a dict of your own (p = {{k: v.astype(X.dtype) "
                   f"for k, v in params.items()}}) and leave params as it was.")


def _invalid_predict_calls(rng):
    for which, args, argument, received, why in _invalid_network_calls(rng):
        if which in ("X-3d", "X-32x32", "missing-W3", "misshapen-W2"):
            yield which, (args[0], args[2]), {}, argument, received, why
    case = network_case(0, 2)
    for size in (0, -int(rng.integers(1, 100)), 2.5, True):
        yield f"batch-size-{size}", (case.X, params_of(case)), {"batch_size": size}, \
            "batch_size", size, f"batch_size {size!r}"


PREDICT_INVALID = [c[0] for c in _invalid_predict_calls(np.random.default_rng(0))]


@spec("predict", "call", "errors", "PRED-4", "GEN-4", "GEN-9")
@pytest.mark.parametrize("which", range(len(PREDICT_INVALID)), ids=PREDICT_INVALID)
def test_predict_rejects_invalid_arguments(judge, seed, which):
    _, args, kwargs, argument, received, why = list(_invalid_predict_calls(
        np.random.default_rng(seed)))[which]
    judge.rejects("predict", args, kwargs, argument=argument, received=received, why=why)


# -- test_accuracy -------------------------------------------------------------------------------

def accuracy_case(seed, wrong_share, N=8):
    """Labels that agree with the oracle's predictions except on a seed-chosen subset, so the
    true accuracy varies (and is rarely a whole number) and no table of answers can pass."""
    case = predict_case(seed, N)
    rng = np.random.default_rng([seed, int(wrong_share * 100)])
    wrong = rng.choice(N, size=int(round(wrong_share * N)), replace=False)
    y = case.labels.copy()
    y[wrong] = (y[wrong] + rng.integers(1, 10, len(wrong))) % 10
    return case, y, 100.0 * float(np.mean(y == case.labels))


def accuracy_lines(y, batch_size=None):
    size = "" if batch_size is None else f", batch_size={batch_size!r}"
    return [PARAMS_LINE, f"y = np.array({y.tolist()})",
            f"acc = impl.test_accuracy(case.X, y, params{size})"]


@spec("test_accuracy", "accuracy", "value", "ACC-1")
@pytest.mark.parametrize("share", [0.15, 0.3, 0.55, 0.85])     # never 0 or 100: no constant wins
def test_test_accuracy_is_the_percentage_of_right_labels(judge, seed, share):
    case, y, expected = accuracy_case(seed, share, N=7)
    judge.reproduce(case.recipe, accuracy_lines(y), f"print(acc, 'expected', {expected!r})")
    acc = judge.call("test_accuracy", case.X, y, params_of(case))
    judge.scalar(acc, expected, 1e-9, case=dict(X=case.X, y=y, params=params_of(case)))


@spec("test_accuracy", "accuracy", "value", "ACC-1", "PRED-2")
@pytest.mark.parametrize("batch_size", [1, 3, "np.int32(5)"])
def test_test_accuracy_does_not_depend_on_batch_size(judge, seed, batch_size):
    size = np.int32(5) if batch_size == "np.int32(5)" else batch_size
    case, y, expected = accuracy_case(seed + 1, 0.4)
    judge.reproduce(case.recipe, accuracy_lines(y, size), f"print(acc, 'expected', {expected!r})")
    acc = judge.call("test_accuracy", case.X, y, params_of(case), batch_size=size)
    judge.scalar(acc, expected, 1e-9, what=f"accuracy with batch_size={batch_size}")


@spec("test_accuracy", "accuracy", "dtype", "ACC-1", "GEN-7")
def test_test_accuracy_is_a_python_float(judge, seed):
    case, y, _ = accuracy_case(seed, 0.25)
    judge.reproduce(case.recipe, accuracy_lines(y) + ["print(type(acc))"])
    judge.python_float(judge.call("test_accuracy", case.X, y, params_of(case)))


@spec("test_accuracy", "inputs", "mutation", "GEN-3", "PRED-3")
def test_test_accuracy_does_not_modify_its_inputs(judge, seed):
    case, y, _ = accuracy_case(seed, 0.5)
    judge.reproduce(case.recipe, accuracy_lines(y))
    judge.call("test_accuracy", case.X, y, params_of(case))
    judge.unchanged()


def _invalid_accuracy_calls(rng):
    for which, args, argument, received, why in _invalid_network_calls(rng):
        if which in ("X-3d", "y-length", "y-column", "missing-W3"):
            yield which, args, {}, argument, received, why
    case = network_case(0, 2)
    yield "batch-size-0", (case.X, case.y, params_of(case)), {"batch_size": 0}, "batch_size", 0, \
        "batch_size 0"


ACCURACY_INVALID = [c[0] for c in _invalid_accuracy_calls(np.random.default_rng(0))]


@spec("test_accuracy", "call", "errors", "ACC-2", "GEN-4")
@pytest.mark.parametrize("which", range(len(ACCURACY_INVALID)), ids=ACCURACY_INVALID)
def test_test_accuracy_rejects_invalid_arguments(judge, seed, which):
    _, args, kwargs, argument, received, why = list(_invalid_accuracy_calls(
        np.random.default_rng(seed)))[which]
    judge.rejects("test_accuracy", args, kwargs, argument=argument, received=received, why=why)
