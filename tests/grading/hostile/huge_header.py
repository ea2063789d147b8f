"""Answers a call with a hand-made reply whose JSON header claims 120 MiB: it finds the worker's
reply pipe among its own file descriptors and writes the frame itself."""
import os
import stat
import struct

import numpy as np


def _reply_pipes():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and os.get_blocking(fd) is not None and \
                    (__import__("fcntl").fcntl(fd, __import__("fcntl").F_GETFL) & os.O_ACCMODE) \
                    == os.O_WRONLY:
                yield fd
        except OSError:
            pass


def relu(X):
    size = 120 * 2**20
    chunk = b"[" * 2**20
    for fd in _reply_pipes():
        try:
            os.write(fd, struct.pack(">Q", size))
            for _ in range(size // len(chunk)):
                os.write(fd, chunk)
        except OSError:
            pass
    return np.maximum(X, 0), X > 0
