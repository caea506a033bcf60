"""Give freed memory back to the operating system (glibc only; a no-op elsewhere).

glibc keeps freed heap pages for reuse, in one arena per thread that allocated them. A Streamlit
server runs every session's script on its own thread, so the memory behind one finished
computation (a hallucination report's intermediate activations, say: ~130 MB) stays counted in the
server's resident size long after it was freed. ``malloc_trim`` returns those pages.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_free_memory() -> bool:
    """Return freed heap pages to the OS; True when the C library could be asked to."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
