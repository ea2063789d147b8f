"""A cheater with no layer math: every function echoes what it was given as its answer: the
arguments themselves where the shapes fit, otherwise their values repeated to the output's shape
(np.resize), and test_accuracy compares the labels with themselves.

It finds the tests that accept an answer because it resembles the input (a relu of positive
numbers, a pooling of a constant image, a gradient compared only by shape)."""
import numpy as np


def conv2d(X, W, b, stride=1, padding=0):
    N, _, H, Wd = X.shape
    F, _, KH, KW = W.shape
    s, p = int(stride), int(padding)
    shape = (N, F, (H + 2 * p - KH) // s + 1, (Wd + 2 * p - KW) // s + 1)
    return np.resize(X, shape), (X, W, b)


def conv2d_backward(dout, cache):
    X, W, b = cache
    return np.resize(dout, X.shape), W, b


def maxpool2d(X, pool_size=2, stride=2):
    N, C, H, W = X.shape
    k, s = int(pool_size), int(stride)
    return np.resize(X, (N, C, (H - k) // s + 1, (W - k) // s + 1)), X


def maxpool2d_backward(dout, cache):
    return np.resize(dout, cache.shape)


def relu(X):
    return X, X


def relu_backward(dout, cache):
    return dout


def fully_connected_forward(X, W, b):
    return np.resize(X, (X.shape[0], W.shape[1])), (X, W, b)


def fully_connected_backward(dZ, cache):
    X, W, b = cache
    return X, W, b


def softmax_cross_entropy_loss(Z, y):
    return float(np.mean(Z)), Z


def initialize_parameters(seed=None):
    shapes = {"W1": (8, 1, 3, 3), "b1": (8,), "W2": (16, 8, 3, 3), "b2": (16,),
              "W3": (784, 128), "b3": (128,), "W4": (128, 10), "b4": (10,)}
    return {k: np.full(s, 0 if seed is None else seed, np.float32) for k, s in shapes.items()}


def forward_backward(X, y, params, learning_rate):
    return float(np.mean(X)), params


def predict(X, params, batch_size=128):
    return np.resize(np.arange(10), len(X))


def test_accuracy(X, y, params, batch_size=128):
    return 100.0 * float(np.mean(y == y))


test_accuracy.__test__ = False
