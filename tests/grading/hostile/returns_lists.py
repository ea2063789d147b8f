"""The right numbers, as nested Python lists instead of arrays."""
import numpy as np


def relu(X):
    return np.maximum(X, 0).tolist(), (X > 0).tolist()


def relu_backward(dout, cache):
    return np.where(np.asarray(cache), dout, 0).tolist()


def fully_connected_forward(X, W, b):
    return (X @ W + b).tolist(), (X, W)
