"""A cheater with no layer math: it writes NaN into every floating array it is given (zeros into
label arrays) and returns NaN in the right shapes and dtypes.

A comparison written `error > allowed` is False for NaN, so a test that computes its expected
value after the call, from the NaN-filled arguments, passes whatever came back."""
import numpy as np

PARAM_SHAPES = {"W1": (8, 1, 3, 3), "b1": (8,), "W2": (16, 8, 3, 3), "b2": (16,),
                "W3": (784, 128), "b3": (128,), "W4": (128, 10), "b4": (10,)}


def _spoil(*arrays):
    for a in arrays:
        if isinstance(a, np.ndarray) and a.flags.writeable:
            a[...] = np.nan if a.dtype.kind == "f" else 0
        elif isinstance(a, dict):
            _spoil(*a.values())


def conv2d(X, W, b, stride=1, padding=0):
    _spoil(X, W, b)
    N, _, H, Wd = X.shape
    F, _, KH, KW = W.shape
    s, p = int(stride), int(padding)
    shape = (N, F, (H + 2 * p - KH) // s + 1, (Wd + 2 * p - KW) // s + 1)
    return np.full(shape, np.nan, X.dtype), (X, W, b)


def conv2d_backward(dout, cache):
    _spoil(dout)
    return tuple(np.full_like(a, np.nan) for a in cache)


def maxpool2d(X, pool_size=2, stride=2):
    _spoil(X)
    N, C, H, W = X.shape
    k, s = int(pool_size), int(stride)
    return np.full((N, C, (H - k) // s + 1, (W - k) // s + 1), np.nan, X.dtype), X


def maxpool2d_backward(dout, cache):
    _spoil(dout)
    return np.full_like(cache, np.nan)


def relu(X):
    _spoil(X)
    return np.full_like(X, np.nan), X


def relu_backward(dout, cache):
    _spoil(dout)
    return np.full_like(cache, np.nan)


def fully_connected_forward(X, W, b):
    _spoil(X, W, b)
    return np.full((X.shape[0], W.shape[1]), np.nan, X.dtype), (X, W, b)


def fully_connected_backward(dZ, cache):
    _spoil(dZ)
    return tuple(np.full_like(a, np.nan) for a in cache)


def softmax_cross_entropy_loss(Z, y):
    _spoil(Z, y)
    return float("nan"), np.full_like(Z, np.nan)


def initialize_parameters(seed=None):
    return {k: np.full(s, np.nan, np.float32) for k, s in PARAM_SHAPES.items()}


def forward_backward(X, y, params, learning_rate):
    _spoil(X, y, params)
    return float("nan"), params


def predict(X, params, batch_size=128):
    _spoil(X, params)
    return np.zeros(len(X), np.int64)


def test_accuracy(X, y, params, batch_size=128):
    _spoil(X, y, params)
    return float("nan")


test_accuracy.__test__ = False
