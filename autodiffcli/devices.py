"""Device names, checked without importing torch so a typo answers at once."""

from __future__ import annotations

import re

from autodiffcli.errors import DeviceError

DEVICE_PATTERN = re.compile(r"^(cpu|auto|mps|cuda(:\d+)?)$")


def check_name(name: str) -> str:
    """``name`` if it is a device name autodiff knows; a DeviceError saying the choices if not."""
    if not DEVICE_PATTERN.match(name):
        raise DeviceError(f"unknown device '{name}'; use cpu, cuda, cuda:N, mps or auto")
    return name
