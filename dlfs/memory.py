"""Keep the memory NumPy frees for the next training step instead of handing it back to the OS (glibc only).

A training step allocates the same large temporaries again and again: the columns of week 4's im2col are 29 MB
for 64 MNIST images in float32. glibc's ``malloc`` serves a block of 128 KiB or more (a threshold it raises, up
to 32 MiB, as such blocks are freed) with fresh pages from the OS, and gives the pages back when the block is
freed, or trims them off the top of its heap once more than a few MiB lie free there. The next step then faults
every page in again, zero-filled, one fault per 4 KiB. In ``benchmarks/conv_layer.py`` (one convolution layer,
forward and backward) that was 1,700 to 3,350 page faults per pass with glibc's defaults, the count depending on
how earlier blocks happened to lie, and the layer took 34 to 50 ms; with the settings below, no fault and 24 to
29 ms. PyTorch's allocator sits on the same ``malloc`` and gains as much (25–31 ms down to 19–22 ms).

:func:`keep_freed_memory` sets three of glibc's ``mallopt(3)`` parameters for the running process:

- ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's largest): blocks below it come from the heap, not from ``mmap``;
- ``M_TRIM_THRESHOLD`` = 512 MiB: free memory at the top of the heap is kept until there is this much;
- ``M_TOP_PAD`` = 64 MiB: the heap grows by at least this much at a time, fewer calls to the OS.

The cost: up to 512 MiB that a process has freed may stay counted in its memory until it ends. ``import dlfs``
applies it, so every notebook of the course runs with it; set ``DLFS_MALLOC=glibc`` before Python starts to keep
glibc's defaults (to compare, say). Elsewhere (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import platform

MIB = 1 << 20
SETTINGS = {  # mallopt parameter number (glibc's malloc.h) -> value
    -3: 32 * MIB,   # M_MMAP_THRESHOLD
    -1: 512 * MIB,  # M_TRIM_THRESHOLD
    -2: 64 * MIB,   # M_TOP_PAD
}
OPT_OUT = "DLFS_MALLOC"

applied = False  # whether keep_freed_memory() set the parameters in this process


def keep_freed_memory() -> bool:
    """Set glibc's malloc to keep freed memory (see the module); True if set, False where it does not apply."""
    global applied
    if os.environ.get(OPT_OUT, "").strip().lower() == "glibc" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    applied = all(mallopt(parameter, value) == 1 for parameter, value in SETTINGS.items())
    return applied
