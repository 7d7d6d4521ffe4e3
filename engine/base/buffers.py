"""Buffer sizes of the memory and copy bandwidth microbenchmarks: far beyond the last-level cache. No jax.

`bandwidth_sizes(platform, full)` is the ladder QUICK_BYTES or FULL_BYTES plus one buffer far beyond the
cache: on a CPU the power of two >= LLC_FACTOR x the last-level cache (`llc_bytes`, from Linux sysfs), on an
accelerator GPU_LARGE_BYTES. `engine.measure.micro` times them; `engine.jobs.guard` sizes the job's memory
from the largest. Sizes in bytes.
"""

from __future__ import annotations

import math
from pathlib import Path

# The fixed ladder of buffer sizes; `bandwidth_sizes` adds the one far beyond the cache.
QUICK_BYTES = (16 * 2**20, 64 * 2**20)
FULL_BYTES = (16 * 2**20, 64 * 2**20, 256 * 2**20, 1024 * 2**20)
SYS_CPU_CACHE = "/sys/devices/system/cpu/cpu0/cache"
DEFAULT_LLC_BYTES = 64 * 2**20  # when sysfs says nothing: above most single-socket L3s per core complex
LLC_FACTOR = 4  # the largest CPU buffer is at least this many times the last-level cache
GPU_LARGE_BYTES = 2**30  # 20x the 50 MiB L2 of an H100/H200, above any current GPU's L2


def _parse_size(text: str) -> int:
    """sysfs cache size ("32768K", "32M", "1024") in bytes."""
    text = text.strip().upper()
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def llc_bytes(root: str | Path = SYS_CPU_CACHE) -> int:
    """Size of the last-level cache of CPU 0: the data or unified cache of the highest level listed
    under `root` (Linux sysfs); DEFAULT_LLC_BYTES when there is none or it cannot be read."""
    best = None
    for index in sorted(Path(root).glob("index*")):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            level, size = int((index / "level").read_text()), _parse_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if size > 0 and (best is None or level > best[0] or (level == best[0] and size > best[1])):
            best = (level, size)
    return best[1] if best else DEFAULT_LLC_BYTES


def bandwidth_sizes(platform: str, full: bool = False, llc: int | None = None) -> tuple[int, ...]:
    """Buffer sizes for memory_bandwidth and host_to_device: QUICK_BYTES or FULL_BYTES plus one far
    beyond the cache (module doc): on a cpu the power of two >= LLC_FACTOR x `llc` (default
    `llc_bytes()`), on an accelerator GPU_LARGE_BYTES. Sorted, no repeats."""
    base = FULL_BYTES if full else QUICK_BYTES
    if platform == "cpu":
        large = 2 ** math.ceil(math.log2(LLC_FACTOR * (llc_bytes() if llc is None else llc)))
    else:
        large = GPU_LARGE_BYTES
    return tuple(sorted({*base, large}))
