"""Handing freed memory back to the system after a burst of large buffers."""

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, where there is one."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl)
        return None


def give_back() -> None:
    """Hands the memory numpy and PIL have freed back to the system. glibc keeps freed blocks of up to 32 MB in
    each thread's arena for reuse: speech's windows left a 10-hour file 13% above a 10-minute one, and a burst
    of picture searches left the server holding what it had decoded."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
