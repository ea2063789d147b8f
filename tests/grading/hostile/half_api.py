"""Only the dense layer and ReLU, written plainly; the other nine functions are missing."""
import numpy as np


def relu(X):
    if not isinstance(X, np.ndarray):
        raise ValueError(f"X must be a numpy array, got {type(X).__name__}")
    return np.maximum(X, 0), X > 0


def relu_backward(dout, cache):
    if dout.shape != cache.shape:
        raise ValueError(f"dout must have shape {cache.shape}, got {dout.shape}")
    return np.where(cache, dout, 0).astype(dout.dtype)


def fully_connected_forward(X, W, b):
    return X @ W + b, (X, W)


def fully_connected_backward(dZ, cache):
    X, W = cache
    return dZ @ W.T, X.T @ dZ, dZ.sum(axis=0)
