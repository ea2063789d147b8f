"""Imports a module that does not exist."""
import numpy as np
import tensorflow_from_the_future  # noqa: F401


def relu(X):
    return np.maximum(X, 0), X > 0
