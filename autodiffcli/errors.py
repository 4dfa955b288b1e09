"""Error types raised where a problem is found; the CLI maps them to exit codes in one place.

Messages are written in the library's own words. A message names a parameter as
``{opt.NAME}`` (``NAME`` the Python keyword, e.g. ``{opt.step}``): the Python API shows it as
``step``, the CLI as its flag (``--step``), so ``try {opt.step}=0.01`` reads ``step=0.01`` to a
Python caller and ``--step=0.01`` on the command line. Each error also carries the parameter
and the offending value as fields, for callers that want more than text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_PARAMETER = re.compile(r"\{opt\.([a-z_]+)\}")


def printable(text: str) -> str:
    """User text as a message shows it: control characters escaped, so that an echoed name
    cannot move the cursor or retitle the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def render(template: str, name: Callable[[str], str] = str) -> str:
    """``template`` (an error's message, or a hint) with each ``{opt.NAME}`` as ``name(NAME)``."""
    return _PARAMETER.sub(lambda match: name(match.group(1)), template)


class AutodiffError(ValueError):
    """A problem the user can fix; the message says what is wrong and how to fix it.

    A subclass of ValueError: bad arguments are what ValueError means to a Python caller.
    """

    exit_code = 2

    def __init__(self, message: str, *, parameter: str | None = None, value: object = None):
        self.template = message
        self.parameter = parameter
        self.value = value
        super().__init__(self.render())

    def render(self, name: Callable[[str], str] = str) -> str:
        """The message with each ``{opt.NAME}`` written as ``name(NAME)``."""
        return render(self.template, name)

    def __str__(self) -> str:
        return self.render()


class ExpressionError(AutodiffError):
    """The expression text is not in the language."""


class GridError(AutodiffError):
    """The sample points (range, count or input file) are unusable."""


class DeviceError(AutodiffError):
    """The requested device or dtype is unavailable in this torch build."""


class OutputError(AutodiffError):
    """The output path or format cannot be used."""


class OptionError(AutodiffError):
    """An option value is out of its range (order, method, tolerance, figure size...)."""


class BudgetError(AutodiffError):
    """The job would need more memory or time than its budget; the message says what fits."""


class WriteFailure(AutodiffError):
    """Writing failed at run time (disk full, permission lost): not the user's input."""

    exit_code = 1


class CheckFailed(AutodiffError):
    """`--check` found a derivative outside the tolerance."""

    exit_code = 1
