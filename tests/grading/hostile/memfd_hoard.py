"""Hoards memory where a per-process limit does not look: 3 GiB written into memfd files (each
under the file-size limit), while the process's own heap stays small."""
import os


def relu(X):
    block = b"\1" * 2**20
    for _ in range(3 * 1024 // 48):
        fd = os.memfd_create("hoard")
        for _ in range(48):
            os.write(fd, block)
    return X, None
