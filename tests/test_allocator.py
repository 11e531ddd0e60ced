"""`lumen serve` fixes glibc's mmap threshold, so freed blocks of a few hundred kB go back to the system."""

from __future__ import annotations

import subprocess
import sys

import pytest

# In a fresh process: free a 640 kB block (glibc then raises its mmap threshold
# past it), allocate another, and print how much of it is mapped memory.
PROBE = """
import ctypes, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                     "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "fixed":
    from lumen.server.memory import fix_mmap_threshold
    fix_mmap_threshold()
libc.free(libc.malloc(640 * 1024))
mapped = libc.mallinfo2().hblkhd
block = libc.malloc(640 * 1024)
print(libc.mallinfo2().hblkhd - mapped)
libc.free(block)
"""


def mapped_bytes(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                            env={"PATH": "/usr/bin:/bin"})
    return int(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_blocks_stay_mapped_after_a_free_once_the_threshold_is_fixed():
    assert mapped_bytes("default") == 0, "glibc's dynamic threshold moved the block to its heap"
    assert mapped_bytes("fixed") >= 640 * 1024
