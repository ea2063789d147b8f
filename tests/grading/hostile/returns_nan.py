"""Every layer answers with NaNs of the right shape and dtype."""
import numpy as np


def relu(X):
    return np.full_like(X, np.nan), None


def relu_backward(dout, cache):
    return np.full_like(dout, np.nan)


def softmax_cross_entropy_loss(Z, y):
    return float("nan"), np.full_like(Z, np.nan)


def fully_connected_forward(X, W, b):
    return np.full((X.shape[0], W.shape[1]), np.nan, X.dtype), None
