"""Device names, checked without importing torch so a typo answers at once.

A CUDA device asked of a CPU-only torch build is refused here too, from the build's own
``torch/version.py`` read as text: importing torch to learn that costs 2.5 s.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from autodiffcli.errors import DeviceError, printable

DEVICE_PATTERN = re.compile(r"cpu|auto|mps|cuda(:\d+)?")
_FIELD = re.compile(r"^(\w+)\s*(?::\s*[^=]+)?=\s*(.+?)\s*$", re.MULTILINE)


def check_name(name: str) -> str:
    """``name`` if it is a device name autodiff knows; a DeviceError saying the choices if not."""
    if not DEVICE_PATTERN.fullmatch(name):
        raise DeviceError(
            f"unknown device '{printable(name)}'; use cpu, cuda, cuda:N, mps or auto",
            parameter="device",
            value=name,
        )
    version, cuda = torch_build()
    if name.startswith("cuda") and cuda is None:
        raise DeviceError(
            f"{{opt.device}} {name} needs CUDA, but torch {version} is a CPU-only build; "
            "use {opt.device}=cpu",
            parameter="device",
            value=name,
        )
    return name


def torch_build() -> tuple[str, str | None]:
    """(torch version, CUDA version it was built with or None for a CPU-only build); both ''
    where the build cannot be read, so that torch itself decides later."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return "", ""
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text()
    except (OSError, StopIteration):
        return "", ""
    fields = dict(_FIELD.findall(text))
    cuda = fields.get("cuda", "''")
    return fields.get("__version__", "").strip("'\""), None if cuda == "None" else cuda.strip("'\"")
