"""Fixtures shared by the test modules (helpers live in support.py)."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from support import invoke

# In CI, property tests draw a fixed set of examples, so whether a submission lands does not
# depend on the luck of the draw; developers' runs keep exploring at random, and what they find
# becomes an issue (and then a fixed example).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def cli():
    return invoke
