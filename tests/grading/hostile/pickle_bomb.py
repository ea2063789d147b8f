"""Returns objects built to run a command when unpickled, alone and inside object arrays."""
import os

import numpy as np

MARK = "/tmp/cnnspec-pickle-bomb-went-off"


class Bomb:
    def __reduce__(self):
        return (os.system, (f"touch {MARK}",))


def relu(X):
    out = np.empty(X.shape, dtype=object)
    out[...] = Bomb()
    return out, Bomb()


def relu_backward(dout, cache):
    return Bomb()


def fully_connected_forward(X, W, b):
    return np.array([Bomb(), 1.0], dtype=object), None
