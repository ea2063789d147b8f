"""spec_tests/diagnose.py names the classic mistakes: run real mutants and read the diagnosis."""
import importlib.util

import numpy as np
import pytest

from cnnspec import reference
from cnnspec.spec_tests import diagnose
from cnnspec.spec_tests.cases import conv_case, fc_case, loss_case, pool_case, relu_case
from cnnspec.spec_tests.diagnose import known_mistakes
from cnnspec.selftest import mutants


@pytest.fixture(scope="module")
def mutant_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mutants")


def load_mutant(name, folder):
    path = mutants.build(mutants.by_name(name), folder)
    spec = importlib.util.spec_from_file_location(f"diag_mutant_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def conv_outputs(module, case):
    out, cache = module.conv2d(case.X, case.W, case.b, **case.kwargs)
    dX, dW, db = module.conv2d_backward(case.dout, cache)
    return {"out": out, "dX": dX, "dW": dW, "db": db}


def pool_dX(module, X, dout, pool_size, stride):
    _, cache = module.maxpool2d(X, pool_size, stride)
    return module.maxpool2d_backward(dout, cache)


def fc_outputs(module, case):
    Z, cache = module.fully_connected_forward(case.X, case.W, case.b)
    dX, dW, db = module.fully_connected_backward(case.dZ, cache)
    return {"Z": Z, "dX": dX, "dW": dW, "db": db}


CONV = dict(seed=3, N=3, C=2, H=6, W=5, F=3, KH=3, KW=2, stride=2, padding=1)

# (mutant, function, output, case maker, a word the sentence must contain)
CONV_MUTANTS = [
    ("conv_flipped_kernel", "conv2d", "out", "flipped"),
    ("conv_padding_one_side", "conv2d", "out", "one side"),
    ("conv_stride_ignored_forward", "conv2d", "out", "stride is ignored"),
    ("conv_missing_bias", "conv2d", "out", "bias"),
    ("conv_backward_stride_ignored", "conv2d_backward", "dX", "stride is ignored in the backward"),
    ("conv_backward_dX_flipped", "conv2d_backward", "dX", "flipped"),
    ("conv_backward_dX_not_cropped", "conv2d_backward", "dX", "padding"),
    ("conv_backward_dW_mean", "conv2d_backward", "dW", "averaged"),
    ("conv_backward_dW_first_image", "conv2d_backward", "dW", "first image"),
    ("conv_backward_db_mean", "conv2d_backward", "db", "averaged"),
]


@pytest.mark.parametrize("name, function, output, word", CONV_MUTANTS,
                         ids=[m[0] for m in CONV_MUTANTS])
def test_diagnose_names_conv_mistakes(mutant_dir, name, function, output, word):
    case = conv_case(**CONV)
    got = conv_outputs(load_mutant(name, mutant_dir), case)[output]
    sentences = known_mistakes(function, output, got, dict(case.arrays, **case.kwargs))
    assert any(word in s for s in sentences), sentences


def test_diagnose_names_pooling_tie_mistakes(mutant_dir):
    X = np.array([[5.0, 5.0], [5.0, 5.0]]).reshape(1, 1, 2, 2)
    dout = np.ones((1, 1, 1, 1))
    case = dict(X=X, dout=dout, pool_size=2, stride=2)
    every = pool_dX(load_mutant("pool_every_tied_max", mutant_dir), X, dout, 2, 2)
    last = pool_dX(load_mutant("pool_last_max", mutant_dir), X, dout, 2, 2)
    assert any("every tied maximum" in s
               for s in known_mistakes("maxpool2d_backward", "dX", every, case))
    assert any("LAST" in s for s in known_mistakes("maxpool2d_backward", "dX", last, case))


def test_diagnose_names_overlap_not_accumulated(mutant_dir):
    X = np.array([[1.0, 2.0, 1.0], [2.0, 9.0, 2.0], [1.0, 2.0, 1.0]]).reshape(1, 1, 3, 3)
    dout = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    got = pool_dX(load_mutant("pool_overlap_not_accumulated", mutant_dir), X, dout, 2, 1)
    sentences = known_mistakes("maxpool2d_backward", "dX", got,
                               dict(X=X, dout=dout, pool_size=2, stride=1))
    assert any("add up" in s for s in sentences), sentences


def test_diagnose_names_relu_mistakes(mutant_dir):
    X = np.array([[-1.0, 0.0, 2.0, 0.0]])
    dout = np.array([[1.0, 2.0, -3.0, 4.0]])
    case = dict(X=X, dout=dout)
    for name, word in (("relu_gradient_at_zero", "X == 0"), ("relu_backward_mask_from_dout", "dout")):
        module = load_mutant(name, mutant_dir)
        got = module.relu_backward(dout, module.relu(X)[1])
        assert any(word in s for s in known_mistakes("relu_backward", "dX", got, case)), name


@pytest.mark.parametrize("name, output, square, word", [
    ("fc_backward_dW_transposed", "dW", False, "transposed"),
    ("fc_backward_dW_transposed", "dW", True, "transposed"),
    ("fc_backward_dX_no_transpose", "dX", True, "W.T"),
    ("fc_backward_db_mean", "db", False, "averaged"),
    ("fc_missing_bias", "Z", False, "bias"),
])
def test_diagnose_names_dense_mistakes(mutant_dir, name, output, square, word):
    case = fc_case(5, N=4, D=3, M=3 if square else 5)
    got = fc_outputs(load_mutant(name, mutant_dir), case)[output]
    function = "fully_connected_forward" if output == "Z" else "fully_connected_backward"
    assert any(word in s for s in known_mistakes(function, output, got, case.arrays))


@pytest.mark.parametrize("name, output, word", [
    ("loss_summed", "loss", "summed"),
    ("loss_dZ_not_divided", "dZ", "not divided"),
    ("loss_onehot_broadcast", "dZ", "whole columns"),
])
def test_diagnose_names_loss_mistakes(mutant_dir, name, output, word):
    case = loss_case(7, N=5, K=4)
    loss, dZ = load_mutant(name, mutant_dir).softmax_cross_entropy_loss(case.Z, case.y)
    got = {"loss": loss, "dZ": dZ}[output]
    assert any(word in s for s in known_mistakes("softmax_cross_entropy_loss", output, got,
                                                 case.arrays))


def test_diagnose_names_softmax_overflow(mutant_dir):
    case = loss_case(7, N=4, K=3, scale=1e4)
    with np.errstate(all="ignore"):
        loss, dZ = load_mutant("loss_no_max_shift", mutant_dir).softmax_cross_entropy_loss(
            case.Z, case.y)
    for output, got in (("loss", loss), ("dZ", dZ)):
        assert any("overflows" in s for s in known_mistakes("softmax_cross_entropy_loss", output,
                                                            got, case.arrays))


def test_value_hints_never_blame_the_dtype(mutant_dir):
    """A float64 answer for float32 input is right in value: its value tests pass, and the dtype
    advice belongs to the dtype verdict (spec_tests/checks.py), not to a value hint."""
    case = conv_case(**dict(CONV, dtype="float32"))
    got = conv_outputs(load_mutant("conv_float64_promotion", mutant_dir), case)["out"]
    assert got.dtype == np.float64
    assert not any("float64" in s for s in known_mistakes("conv2d", "out", got,
                                                          dict(case.arrays, **case.kwargs)))


def test_diagnose_names_summed_network_loss():
    from cnnspec.spec_tests.cases import network_case, params_of
    case = network_case(1, N=3)
    right = reference.forward_backward(case.X, case.y, params_of(case), 0.0)[0]
    sentences = known_mistakes("forward_backward", "loss", right * 3,
                               dict(X=case.X, y=case.y, params=params_of(case)))
    assert any("summed" in s for s in sentences), sentences


def test_diagnose_stays_silent_on_correct_answers():
    """The reference's own outputs match no known mistake, in float64 and float32."""
    for dtype in ("float64", "float32"):
        case = conv_case(**dict(CONV, dtype=dtype))
        for output, got in conv_outputs(reference, case).items():
            function = "conv2d" if output == "out" else "conv2d_backward"
            assert known_mistakes(function, output, got, dict(case.arrays, **case.kwargs)) == []
        case = pool_case(2, 2, 2, 7, 7, 3, 2, dtype)
        got = pool_dX(reference, case.X, case.dout, 3, 2)
        assert known_mistakes("maxpool2d_backward", "dX", got, dict(case.arrays, **case.kwargs)) == []
        case = relu_case(4, (3, 5), dtype)
        got = reference.relu_backward(case.dout, reference.relu(case.X)[1])
        assert known_mistakes("relu_backward", "dX", got, case.arrays) == []
        case = fc_case(5, 4, 3, 3, dtype)
        for output, got in fc_outputs(reference, case).items():
            function = "fully_connected_forward" if output == "Z" else "fully_connected_backward"
            assert known_mistakes(function, output, got, case.arrays) == []
        case = loss_case(6, 5, 4, dtype=dtype)
        loss, dZ = reference.softmax_cross_entropy_loss(case.Z, case.y)
        assert known_mistakes("softmax_cross_entropy_loss", "loss", loss, case.arrays) == []
        assert known_mistakes("softmax_cross_entropy_loss", "dZ", dZ, case.arrays) == []


def test_diagnose_never_raises():
    assert known_mistakes("conv2d", "out", "not an array", {"X": None}) == []
    assert known_mistakes("no_such_function", "out", np.zeros(3), {}) == []
    assert known_mistakes("conv2d", "out", np.zeros(3), None) == []


def _pool_backward_columns_bounded_by_height(X, dout, p, s):
    """A loop pooling backward whose column range stops at the height (the bug of issue 10)."""
    dX = np.zeros_like(X)
    N, C, H, _ = X.shape
    for n, c, i, j in np.ndindex(N, C, (H - p) // s + 1, (H - p) // s + 1):
        window = X[n, c, i * s:i * s + p, j * s:j * s + p]
        u, v = np.unravel_index(np.argmax(window), window.shape)
        dX[n, c, i * s + u, j * s + v] += dout[n, c, i, j]
    return dX


def test_diagnose_names_pooling_loops_bounded_by_the_wrong_side():
    case = pool_case(5, 2, 2, 4, 11, 2, 2)
    got = _pool_backward_columns_bounded_by_height(case.X, case.dout, 2, 2)
    sentences = known_mistakes("maxpool2d_backward", "dX", got, dict(case.arrays, **case.kwargs))
    assert any("bounded by H instead of W" in s for s in sentences), sentences
    square = pool_case(5, 2, 2, 6, 6, 2, 2)           # H == W: the same loop is right, and silent
    got = _pool_backward_columns_bounded_by_height(square.X, square.dout, 2, 2)
    assert known_mistakes("maxpool2d_backward", "dX", got,
                          dict(square.arrays, **square.kwargs)) == []


def test_diagnose_names_a_pooling_maximum_started_at_zero():
    case = pool_case(3, 2, 2, 6, 7, 2, 2, offset=-0.1)    # some windows all negative
    right = reference.maxpool2d(case.X, 2, 2)[0]
    sentences = known_mistakes("maxpool2d", "out", np.maximum(right, 0), dict(case.arrays,
                                                                            **case.kwargs))
    assert any("starts at 0" in s for s in sentences), sentences
    assert known_mistakes("maxpool2d", "out", right, dict(case.arrays, **case.kwargs)) == []


def test_diagnose_names_relu_overflow_only_where_it_happens():
    case = relu_case(2, (3, 5), "float32", scale=0.9 * float(np.finfo(np.float32).max))
    with np.errstate(over="ignore"):
        got = (case.X + np.abs(case.X)) / 2
    assert any("overflows" in s for s in known_mistakes("relu", "out", got, case.arrays))
    right = reference.relu(case.X)[0]
    assert known_mistakes("relu", "out", right, case.arrays) == []
    assert known_mistakes("relu", "out", np.zeros_like(right), case.arrays) == []
