"""The expression language: the operation table, the parser, and the compilers of the tape.

:mod:`ops` is the table (one row per operation), :mod:`parse` reads text into a tape (with
:mod:`hints`, what its error messages suggest), :mod:`emit` folds the tape into torch, Python
source or LaTeX, :mod:`degree` finds the partials that are 0 by structure, and :mod:`stable`
holds the numerically careful torch forms. Nothing here imports torch until a tape is
evaluated.

Besides the functions of one number, the language has piecewise functions (``where``, ``min``,
``max``, conditions built from comparisons and and/or/not: :mod:`ops` says what they mean)
and vector-valued expressions (a top-level list, ``[x*y, x + y^2]``: :mod:`parse`).
"""

from autodiffcli.lang.degree import structural_zeros
from autodiffcli.lang.emit import (
    careful_definitions,
    evaluate,
    evaluate_nodes,
    evaluate_outputs,
    fold,
    function_of,
    guarded_fold,
    latex,
    python_source,
)
from autodiffcli.lang.ops import (
    CONDITIONS,
    CONSTANTS,
    FUNCTIONS,
    OPS,
    PIECEWISE,
    Op,
    row,
)
from autodiffcli.lang.parse import DEFAULT_VARIABLES, Expression, Node, parse

__all__ = [
    "CONDITIONS",
    "CONSTANTS",
    "DEFAULT_VARIABLES",
    "FUNCTIONS",
    "OPS",
    "PIECEWISE",
    "Expression",
    "Node",
    "Op",
    "careful_definitions",
    "evaluate",
    "evaluate_nodes",
    "evaluate_outputs",
    "fold",
    "function_of",
    "guarded_fold",
    "latex",
    "parse",
    "python_source",
    "row",
    "structural_zeros",
]
