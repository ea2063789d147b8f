"""A cheater with no layer math: it writes zeros into every array it is given and returns zeros,
or the (now zeroed) arrays it was given, in the right shapes and dtypes.

A test that computes its expected value after the call, from the arrays the implementation
received, sees zeros in and zeros out and passes. The only arithmetic here is on shapes; the
loss of all-zero logits, log(K), and the label 0 of all-zero logits follow from shapes alone."""
import math

import numpy as np

PARAM_SHAPES = {"W1": (8, 1, 3, 3), "b1": (8,), "W2": (16, 8, 3, 3), "b2": (16,),
                "W3": (784, 128), "b3": (128,), "W4": (128, 10), "b4": (10,)}


def _zero(*arrays):
    for a in arrays:
        if isinstance(a, np.ndarray) and a.flags.writeable:
            a[...] = 0
        elif isinstance(a, dict):
            _zero(*a.values())


def conv2d(X, W, b, stride=1, padding=0):
    _zero(X, W, b)
    N, _, H, Wd = X.shape
    F, _, KH, KW = W.shape
    s, p = int(stride), int(padding)
    shape = (N, F, (H + 2 * p - KH) // s + 1, (Wd + 2 * p - KW) // s + 1)
    return np.zeros(shape, X.dtype), (X, W, b)


def conv2d_backward(dout, cache):
    _zero(dout)
    X, W, b = cache
    return X, W, b


def maxpool2d(X, pool_size=2, stride=2):
    _zero(X)
    N, C, H, W = X.shape
    k, s = int(pool_size), int(stride)
    return np.zeros((N, C, (H - k) // s + 1, (W - k) // s + 1), X.dtype), X


def maxpool2d_backward(dout, cache):
    _zero(dout)
    return cache


def relu(X):
    _zero(X)
    return X, X


def relu_backward(dout, cache):
    _zero(dout)
    return dout


def fully_connected_forward(X, W, b):
    _zero(X, W, b)
    return np.zeros((X.shape[0], W.shape[1]), X.dtype), (X, W, b)


def fully_connected_backward(dZ, cache):
    _zero(dZ)
    return cache


def softmax_cross_entropy_loss(Z, y):
    _zero(Z, y)
    N, K = Z.shape
    dZ = np.full((N, K), 1.0 / K, Z.dtype)       # softmax of zeros, minus the one-hot of label 0
    dZ[:, 0] -= 1
    return math.log(K), dZ / N


def initialize_parameters(seed=None):
    return {k: np.zeros(s, np.float32) for k, s in PARAM_SHAPES.items()}


def forward_backward(X, y, params, learning_rate):
    _zero(X, y, params)
    return math.log(10), params


def predict(X, params, batch_size=128):
    _zero(X, params)
    return np.zeros(len(X), np.int64)


def test_accuracy(X, y, params, batch_size=128):
    _zero(X, y, params)
    return 100.0


test_accuracy.__test__ = False
