"""Forks until the system says no, and every child spins: a neighbour graded beside it must keep
its speed, and nothing may be shared between the two (a process limit per user, for one)."""
import os
import time

import numpy as np


def _hog():
    children = 0
    while True:
        try:
            pid = os.fork()
        except OSError:
            return children
        if pid == 0:
            while True:
                pass
        children += 1


_hog()


def relu(X):
    time.sleep(0.01)
    return np.maximum(X, 0), X > 0
