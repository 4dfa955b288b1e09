"""Fixtures shared by the test modules (helpers live in support.py)."""

from __future__ import annotations

import pytest
from support import invoke


@pytest.fixture
def cli():
    return invoke
