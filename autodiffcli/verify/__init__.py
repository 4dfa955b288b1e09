"""Independent checks of the engines' derivatives: :mod:`references` (sympy + mpmath, and
high-precision finite differences, each under a time budget), :mod:`check` (``--check``'s
comparison and report, order by order for one variable), :mod:`partial_references` and
:mod:`several` (the same for every column of a table of several variables, components or a
parameter). Imported only by ``--check`` and ``--reference``: sympy is slow to import."""

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
from autodiffcli.verify.several import (
    ColumnCheck,
    check_columns,
    checks_by_order,
    columns_failure,
    outcome,
    render_columns,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "CheckRow",
    "ColumnCheck",
    "RunningSample",
    "check",
    "check_columns",
    "checks_by_order",
    "columns_failure",
    "failure_message",
    "outcome",
    "render",
    "render_columns",
    "sample_indices",
    "symbolic_columns",
]
