"""Numbers as the lesson and its pictures show them: 6 significant digits, never -0."""

from __future__ import annotations

# Text is wrapped at this width; code and matrices are indented by 4 within it.
WIDTH = 88
CODE_INDENT = 4


def fmt(value: float) -> str:
    """A number as shown: 6 significant digits, and 0 never as -0."""
    if value == 0:
        return "0"
    return f"{value:.6g}"


def fmt_optional(value: float | None) -> str:
    """A number, or '-' where there is none (a constant has no adjoint)."""
    return "-" if value is None else fmt(value)


def number_rows(*columns: list[float]) -> list[list[str]]:
    """Table rows from equal-length columns of numbers."""
    return [[fmt(value) for value in row] for row in zip(*columns, strict=True)]


def vector(values: list[float]) -> str:
    """[a, b, c] with each number as shown."""
    return "[" + ", ".join(fmt(v) for v in values) + "]"


def matrix(rows: list[list[float]], width: int = WIDTH - CODE_INDENT) -> str:
    """A matrix with aligned columns; beyond ``width`` characters the middle columns are
    elided as '...', keeping as many columns on each side as fit."""
    cells = [[fmt(v) for v in row] for row in rows]
    if not cells or not cells[0]:
        return "[]"
    cell = max(len(c) for row in cells for c in row)
    columns = len(cells[0])
    if 2 + columns * (cell + 2) - 2 > width:
        keep = max(1, (width - 2 - len("...") - 2) // (2 * (cell + 2)))
        cells = [[*row[:keep], "...", *row[-keep:]] for row in cells]
    return "\n".join("[" + "  ".join(c.rjust(cell) for c in row) + "]" for row in cells)
