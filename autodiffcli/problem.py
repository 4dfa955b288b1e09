"""The problem every engine solves: what to differentiate, where, how far, by which engine.

A torch-free value, built and checked by the job layer (:mod:`autodiffcli.job`) and handed
whole to the engines, so that no layer unpacks it into loose arguments.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from autodiffcli import partials
from autodiffcli.domain import Domain
from autodiffcli.lang import Expression


@dataclass(frozen=True)
class Problem:
    """A checked problem.

    Attributes:
        expression: the parsed expression; its variables are the domain's axes, in order
            (parameters, one-point axes that are not columns of the table, last).
        domain: the points.
        order: the highest order of the partial derivatives asked for by --order.
        method: the resolved engine, "reverse", "forward" or "taylor" (never "auto").
        device: the device name (resolved to torch's by the engines).
        dtype: the dtype name.
        max_memory: the memory budget in bytes.
        wrt: the variables the derivatives are taken by (default: every variable that is not
            a parameter).
        parameters: the names of the expression's named constants (--param).
        shortcuts: the named quantities asked for (--grad, --laplacian, ...).
    """

    expression: Expression
    domain: Domain
    order: int = 1
    method: str = "reverse"
    device: str = "cpu"
    dtype: str = "float64"
    max_memory: int = 2 << 30
    wrt: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    shortcuts: partials.Shortcuts = partials.NO_SHORTCUTS

    def __post_init__(self) -> None:
        if self.domain.names != self.expression.variables:
            raise ValueError(
                f"the domain's axes {self.domain.names} must be the expression's variables "
                f"{self.expression.variables}, in order"
            )
        if isinstance(self.wrt, str):
            object.__setattr__(self, "wrt", (self.wrt,))
        for name in (*self.wrt, *self.parameters):
            if name not in self.expression.variables:
                raise ValueError(f"{name!r} is not a variable of the expression")

    def __repr__(self) -> str:
        return (
            f"Problem({self.expression.text!r}, {self.domain!r}, order={self.order}, "
            f"method={self.method!r}, device={self.device!r}, dtype={self.dtype!r})"
        )

    @property
    def free(self) -> tuple[str, ...]:
        """The variables the points run over: the table's first columns."""
        return tuple(n for n in self.expression.variables if n not in self.parameters)

    @property
    def wrt_indices(self) -> tuple[int, ...]:
        """The positions of the variables the derivatives are taken by."""
        names = self.wrt or self.free
        return tuple(sorted(self.expression.variables.index(n) for n in names))

    @property
    def wrt_index(self) -> int:
        """The position of the first variable the derivatives are taken by."""
        return self.wrt_indices[0]

    @property
    def outputs(self) -> int:
        """The number of components of f."""
        return len(self.expression.outputs)

    @property
    def univariate(self) -> bool:
        """A table as every table was before several variables: one variable, one component,
        differentiated by that variable (names x, f, df, d2f, ...)."""
        return (
            len(self.free) == 1
            and self.outputs == 1
            and self.wrt_indices == (self.expression.variables.index(self.free[0]),)
        )

    @functools.cached_property
    def plan(self) -> partials.Plan:
        """The table's columns after the points, and the partials they need (planned once per
        problem; dataclasses.replace makes a new problem, planned anew)."""
        return partials.plan(
            self.expression.variables,
            self.outputs,
            self.order,
            self.wrt_indices,
            self.shortcuts,
            legacy=self.univariate,
        )

    def column_names(self) -> list[str]:
        """The points' columns, then f and its derivatives."""
        return [*self.free, *self.plan.names]
