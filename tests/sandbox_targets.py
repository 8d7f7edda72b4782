"""Module-level functions the sandbox tests run in a child process."""

import ctypes
import os
import time


def healthy(value, *, progress):
    progress("detector 'healthy'")
    return value * 2


def segfault(*, progress):
    progress("detector 'segfaults'")
    ctypes.string_at(0)


def aborts(*, progress):
    progress("detector 'aborts'")
    os.abort()


def hangs(*, progress):
    progress("detector 'hangs'")
    while True:
        time.sleep(0.05)


def allocates(*, progress):
    progress("detector 'allocates'")
    import numpy as np

    return np.ones((16 << 30) // 8).sum()


def raises(*, progress):
    raise KeyError("weights")
