"""engine.measure.allocator: the measuring process keeps freed memory, and its records say so."""

import platform
import subprocess
import sys
from pathlib import Path

from engine.measure import allocator

REPO = Path(__file__).resolve().parents[1]

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _in_fresh_process(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_process_that_did_not_tune_says_libc_default():
    assert _in_fresh_process("from engine.measure import allocator; print(allocator.describe())") == allocator.DEFAULT


def test_tune_applies_on_linux_glibc_and_the_record_says_so():
    out = _in_fresh_process("from engine.measure import allocator; print(allocator.tune(), allocator.tune()); "
                            "print(allocator.describe())")
    applied, again = out.splitlines()[0].split()
    assert applied == again  # a second call changes nothing
    assert out.splitlines()[1] == (allocator.TUNED if applied == "True" else allocator.DEFAULT)
    if GLIBC:
        assert applied == "True"


TOUCH_FREE_TOUCH = """
import ctypes, resource
from engine.measure import allocator
TUNE
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 64 * 2**20  # a step's worth of buffers, freed and allocated again as XLA does each step
def touch():
    block = libc.malloc(size); ctypes.memset(block, 1, size); return block
libc.free(touch())
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_freed_blocks_are_reused_without_new_page_faults():
    """The effect itself: 64 MiB malloc'd, written, freed and malloc'd again. With the C library's
    defaults it comes back as fresh pages (one fault per 4 KiB page: ~16,000); tuned, it is reused."""
    if not GLIBC:
        return
    untuned = int(_in_fresh_process(TOUCH_FREE_TOUCH.replace("TUNE", "")))
    tuned = int(_in_fresh_process(TOUCH_FREE_TOUCH.replace("TUNE", "assert allocator.tune()")))
    assert untuned > 10_000  # the problem, on this C library
    assert tuned < 100
