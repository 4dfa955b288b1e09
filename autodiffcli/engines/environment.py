"""Where the engines compute: the torch device and dtype, threads, and a deep stack."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch

from autodiffcli.devices import check_name
from autodiffcli.errors import DeviceError
from autodiffcli.limits import DTYPES

TORCH_DTYPES = {name: getattr(torch, name) for name in DTYPES}
DEEP_STACK_BYTES = 512 * 2**20


class Target(NamedTuple):
    """The torch device and dtype a problem computes on."""

    device: torch.device
    dtype: torch.dtype


def target(device: str, dtype: str) -> Target:
    """The Target for a device name and a dtype name: the first step that needs torch."""
    resolved = resolve_device(device)
    return Target(resolved, resolve_dtype(dtype, resolved))


def resolve_device(name: str) -> torch.device:
    """The torch device for ``name``; a clear error if this torch build cannot provide it."""
    check_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        return _cuda_device(name)
    if name == "mps" and not _mps_available():
        raise DeviceError(
            f"--device mps is not available in this torch build ({torch.__version__}); "
            "use --device cpu"
        )
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The torch dtype for ``name``; MPS has no float64."""
    dtype = TORCH_DTYPES[name]
    if device.type == "mps" and dtype == torch.float64:
        raise DeviceError("--device mps does not support float64; add --dtype float32")
    return dtype


def _cuda_device(name: str) -> torch.device:
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}"
        reason = "a CPU-only build" if torch.version.cuda is None else "no CUDA device is visible"
        raise DeviceError(f"--device {name} needs CUDA, but {build} is {reason}; use --device cpu")
    device = torch.device(name)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DeviceError(
            f"--device {name}: only {count} CUDA device(s) visible (cuda:0..cuda:{count - 1})"
        )
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


@contextlib.contextmanager
def one_compute_thread(device: torch.device) -> Iterator[None]:
    """On the CPU, compute with one thread so that a writer thread has the other core.

    Measured on 2 cores: 11.4-12.2 M rows/s pipelined this way against 9.8-10.1 M rows/s
    computing and writing in turn.
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# glibc's mallopt parameter that fixes the size from which malloc maps memory on its own.
_M_MMAP_THRESHOLD = -3
# Chunk columns are 8 MB (1<<20 float64 points) or 4 MB (float32): every one is at least this.
LARGE_BLOCK_BYTES = 4 << 20


def return_large_blocks() -> bool:
    """Have malloc hand every block of LARGE_BLOCK_BYTES or more back to the system when it
    is freed; returns whether this C library allows it (glibc does; elsewhere nothing changes).

    By default glibc raises its mapping threshold to the largest block freed so far, so after
    the first chunk every column comes from the heap, where freed chunks fragment and stay.
    With this, every chunk's columns are fresh pages: the page faults cost 10-20% of order-1
    throughput (0.63-0.69 s against 0.72-0.83 s per 1e7 rows to /dev/null, in-process), and
    peak RSS for 1e8 rows to Parquet falls from 416-449 MB to 346 MB. Process-wide and
    permanent, so only the streaming path calls it, and only where memory needs it.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES))


def on_deep_stack(function: Callable, *args):
    """function(*args) on a thread with a 512 MB stack (address space; pages are used only
    as touched). Freeing a graph whose nodes Python has walked recurses in C++ once per level:
    at order 10 that is hundreds of thousands of levels, and the 8 MB main stack overflows
    (a segfault, seen with explain -k 10)."""
    outcome: dict = {}

    def call() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    previous = threading.stack_size(DEEP_STACK_BYTES)
    try:
        thread = threading.Thread(target=call, name="autodiff-graph", daemon=True)
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
