"""Independent checks of the engines' derivatives: :mod:`references` (sympy + mpmath, and
high-precision finite differences, each under a time budget) and :mod:`check` (``--check``'s
comparison and report). Imported only by ``--check`` and ``--reference``: sympy is slow to
import."""

from autodiffcli.verify.check import (
    CheckRow,
    RunningSample,
    check,
    failure_message,
    render,
    sample_indices,
    symbolic_columns,
)
from autodiffcli.verify.references import DEFAULT_TIMEOUT

__all__ = [
    "DEFAULT_TIMEOUT",
    "CheckRow",
    "RunningSample",
    "check",
    "failure_message",
    "render",
    "sample_indices",
    "symbolic_columns",
]
