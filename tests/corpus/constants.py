"""A cheater with no layer math: every function returns fixed constants of the right shapes and
dtypes, whatever it is given (test_accuracy always says 75.0).

A test whose expected answer is the same for every input (one fixed accuracy, one table of
public inputs) is passed by a constant."""
import numpy as np

PARAM_SHAPES = {"W1": (8, 1, 3, 3), "b1": (8,), "W2": (16, 8, 3, 3), "b2": (16,),
                "W3": (784, 128), "b3": (128,), "W4": (128, 10), "b4": (10,)}


def conv2d(X, W, b, stride=1, padding=0):
    N, _, H, Wd = X.shape
    F, _, KH, KW = W.shape
    s, p = int(stride), int(padding)
    shape = (N, F, (H + 2 * p - KH) // s + 1, (Wd + 2 * p - KW) // s + 1)
    return np.full(shape, 0.5, X.dtype), (X.shape, W.shape, X.dtype)


def conv2d_backward(dout, cache):
    X_shape, W_shape, dtype = cache
    return (np.full(X_shape, 0.25, dtype), np.full(W_shape, 0.25, dtype),
            np.full(W_shape[0], 0.25, dtype))


def maxpool2d(X, pool_size=2, stride=2):
    N, C, H, W = X.shape
    k, s = int(pool_size), int(stride)
    return np.full((N, C, (H - k) // s + 1, (W - k) // s + 1), 0.5, X.dtype), (X.shape, X.dtype)


def maxpool2d_backward(dout, cache):
    shape, dtype = cache
    return np.full(shape, 0.25, dtype)


def relu(X):
    return np.full(X.shape, 0.5, X.dtype), (X.shape, X.dtype)


def relu_backward(dout, cache):
    shape, dtype = cache
    return np.full(shape, 0.25, dtype)


def fully_connected_forward(X, W, b):
    return np.full((X.shape[0], W.shape[1]), 0.5, X.dtype), (X.shape, W.shape, X.dtype)


def fully_connected_backward(dZ, cache):
    X_shape, W_shape, dtype = cache
    return (np.full(X_shape, 0.25, dtype), np.full(W_shape, 0.25, dtype),
            np.full(W_shape[1], 0.25, dtype))


def softmax_cross_entropy_loss(Z, y):
    return 2.302585092994046, np.full(Z.shape, 0.01, Z.dtype)


def initialize_parameters(seed=None):
    return {k: np.full(s, 0.01 if k.startswith("W") else 0.0, np.float32)
            for k, s in PARAM_SHAPES.items()}


def forward_backward(X, y, params, learning_rate):
    return 2.302585092994046, {k: np.full(v.shape, 0.01, v.dtype) for k, v in params.items()}


def predict(X, params, batch_size=128):
    return np.full(len(X), 3, np.int64)


def test_accuracy(X, y, params, batch_size=128):
    return 75.0


test_accuracy.__test__ = False
