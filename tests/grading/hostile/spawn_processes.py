"""Spawns children that outlive their parent and hold every inherited pipe open."""
import os
import subprocess

import numpy as np


def _spawn():
    fds = [int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2]
    for _ in range(3):
        try:
            subprocess.Popen(["sleep", "600"], pass_fds=[fd for fd in fds if _ok(fd)],
                             start_new_session=True)
        except OSError:
            pass
    if os.fork() == 0:          # a daemon that keeps running after the worker exits
        os.setsid()
        if os.fork() == 0:
            import time
            time.sleep(600)
        os._exit(0)


def _ok(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


_spawn()


def relu(X):
    _spawn()
    return np.maximum(X, 0), X > 0
