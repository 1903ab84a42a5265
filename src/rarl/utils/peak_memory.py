"""Peak memory of a piece of CPU work, measured from the kernel's resident-set high-water mark (Linux).

    exact_allocations()                 # once, before torch allocates anything
    bytes_above_start = peak_memory(fn)

`exact_allocations` makes every allocation of 4 KiB or more its own mmap, returned to the system when freed
(glibc `mallopt(M_MMAP_THRESHOLD)`, which also stops the threshold from adapting), so the resident set follows
PyTorch's live tensors instead of keeping freed blocks in the heap. Set it in a fresh process: in one that has
already allocated and freed much (a test worker), fragmented heap pages make the same work read up to twice as
much. `peak_memory` resets the high-water mark (VmHWM) through /proc/self/clear_refs, runs `fn()` and returns
the peak above the resident memory before it. Unlike torch.profiler's per-operator net allocations it sees
temporaries that an operator allocates and frees inside itself, as the CUDA caching allocator's peak does.
`benchmarks/plan_validation.py` and the memory plan's tests use it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["exact_allocations", "peak_memory", "resident_bytes"]

_M_MMAP_THRESHOLD = -3


def resident_bytes(key: str) -> int:
    """A /proc/self/status memory line in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status (this measurement needs Linux)")


def exact_allocations() -> None:
    """Every allocation of 4 KiB or more its own mmap (see the module docstring)."""
    ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 4096)


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak resident memory while `fn()` runs, above the resident memory before it (bytes)."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # free heap pages go back, so reusing them counts again
    before = resident_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    fn()
    return resident_bytes("VmHWM") - before
