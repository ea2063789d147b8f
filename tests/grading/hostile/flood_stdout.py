"""Prints megabytes at import and in relu, through print and straight into file descriptor 1."""
import os

import numpy as np

print("x" * 5_000_000)


def relu(X):
    for _ in range(200):
        print("flood " * 10_000)
    os.write(1, b"y" * 3_000_000)
    return np.maximum(X, 0), X > 0


def relu_backward(dout, cache):
    os.write(2, b"z" * 3_000_000)
    return np.where(cache, dout, 0)
