"""The expression language: the operation table, the parser, and the compilers of the tape.

:mod:`ops` is the table (one row per operation), :mod:`parse` reads text into a tape,
:mod:`emit` folds the tape into torch, Python source or LaTeX, and :mod:`stable` holds the
numerically careful torch forms. Nothing here imports torch until a tape is evaluated.
"""

from autodiffcli.lang.emit import (
    careful_definitions,
    evaluate,
    evaluate_nodes,
    fold,
    function_of,
    latex,
    python_source,
)
from autodiffcli.lang.ops import CONSTANTS, FUNCTIONS, OPS, Op
from autodiffcli.lang.parse import DEFAULT_VARIABLES, Expression, Node, parse

__all__ = [
    "CONSTANTS",
    "DEFAULT_VARIABLES",
    "FUNCTIONS",
    "OPS",
    "Expression",
    "Node",
    "Op",
    "careful_definitions",
    "evaluate",
    "evaluate_nodes",
    "fold",
    "function_of",
    "latex",
    "parse",
    "python_source",
]
