"""Keep freed memory in the measuring process instead of handing it back to the OS after every step.

XLA:CPU allocates each step's temporary buffers (activations, gradients) anew and frees them at
the end of the step. With glibc's defaults those large blocks come from fresh mmap'd pages, or
from a heap that is trimmed when they are freed, so every step touches its tens of MB as brand-new
pages: one minor page fault per 4 KiB, with the kernel zeroing each page. That is time spent in
the kernel, not in training, and it flatters whatever device it is compared with.

`tune()` sets glibc's malloc, for this process, to no mmap'd blocks and no trimming, so freed
blocks are reused by the next step without a fault. Measured on the 2-core development CPU
(2026-11-26, jax 0.10.2, one jitted, donated training step, median of 5 rounds):
  CNN 32/64/128 channels, batch 128: 12,600 page faults per step -> 1; 83 -> 72 ms per step.
  MLP 784-4096-4096-10, batch 512: unchanged (23,000 faults, 341 ms): its blocks of over 64 MiB
  are allocated by XLA's worker threads, whose arenas glibc backs with mmap whatever the setting.
  Adding one arena for all threads (M_ARENA_MAX 1) removes those too (321 ms), but made the tiny
  MLP's fused epochs ~10 % slower (threads queueing on the one arena's lock), so it is not set.
The cost: the process keeps its peak heap until it exits (a quick sweep's peak RSS was 723 MiB
with a similar setting, 751–816 MiB without).

The engine's command line (`python -m engine`, which the dashboard's worker runs) calls `tune()`
before JAX is imported; run records say whether it applied (`allocator`). Elsewhere (another
libc, or mallopt refusing a value) it changes nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4

SETTINGS = (  # (parameter, value, what the run record's `allocator` column calls it)
    (M_MMAP_MAX, 0, "no mmap blocks"),
    (M_TRIM_THRESHOLD, 2**31 - 1, "no trimming"),
    (M_TOP_PAD, 512 * 2**20, "512 MiB top pad"),
)
DEFAULT = "libc default"
TUNED = "glibc: " + ", ".join(name for _, _, name in SETTINGS)

_state = {"applied": None}  # None: tune() not called in this process; else True / False


def _mallopt():
    """glibc's mallopt, or None on another platform or C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


def tune() -> bool:
    """Apply SETTINGS to this process's malloc (call before JAX allocates); True when all applied."""
    if _state["applied"] is None:
        mallopt = _mallopt()
        results = [mallopt(param, value) for param, value, _ in SETTINGS] if mallopt else [0]
        _state["applied"] = all(result == 1 for result in results)  # mallopt returns 1 on success
    return _state["applied"]


def describe() -> str:
    """What the run record's `allocator` column stores for runs measured in this process."""
    return TUNED if _state["applied"] else DEFAULT
