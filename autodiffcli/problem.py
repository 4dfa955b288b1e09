"""The problem every engine solves: what to differentiate, where, how far, by which engine.

A torch-free value, built and checked by the job layer (:mod:`autodiffcli.job`) and handed
whole to the engines, so that no layer unpacks it into loose arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

from autodiffcli.domain import Domain
from autodiffcli.lang import Expression


@dataclass(frozen=True)
class Problem:
    """A checked problem.

    Attributes:
        expression: the parsed expression; its variables are the domain's axes, in order.
        domain: the points.
        order: the highest derivative.
        method: the resolved engine, "reverse" or "taylor" (never "auto").
        device: the device name (resolved to torch's by the engines).
        dtype: the dtype name.
        max_memory: the memory budget in bytes.
        wrt: the variable the derivatives are taken by (default: the first).
    """

    expression: Expression
    domain: Domain
    order: int = 1
    method: str = "reverse"
    device: str = "cpu"
    dtype: str = "float64"
    max_memory: int = 2 << 30
    wrt: str | None = None

    def __post_init__(self) -> None:
        if self.domain.names != self.expression.variables:
            raise ValueError(
                f"the domain's axes {self.domain.names} must be the expression's variables "
                f"{self.expression.variables}, in order"
            )
        if self.wrt is not None and self.wrt not in self.expression.variables:
            raise ValueError(f"{self.wrt!r} is not a variable of the expression")

    def __repr__(self) -> str:
        return (
            f"Problem({self.expression.text!r}, {self.domain!r}, order={self.order}, "
            f"method={self.method!r}, device={self.device!r}, dtype={self.dtype!r})"
        )

    @property
    def wrt_index(self) -> int:
        """The position of the variable the derivatives are taken by."""
        return 0 if self.wrt is None else self.expression.variables.index(self.wrt)
