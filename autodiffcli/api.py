"""The Python API: the CLI's job layer (:mod:`autodiffcli.job`, :mod:`autodiffcli.run`),
returning numpy.

Options have the CLI's names and meanings; errors are the library's own
(:mod:`autodiffcli.errors`, subclasses of ValueError) and name parameters as Python does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from autodiffcli import job, run


def derive(expression: str = "sin(x)", x: Sequence[float] | None = None, **options) -> dict:
    """f and its derivatives up to ``order``, as numpy arrays keyed by column name.

    One variable: keys x, f, df, d2f, ...; points are ``x`` if given, else the range:
    ``start``, ``stop`` and ``step`` (like numpy.arange, default 0.01) or ``num`` evenly
    spaced points, or ``input_path``.

    Several variables: keys x, y, f, f_x, f_y, f_xx, f_xy, ... (every partial up to
    ``order``), one entry per point of the grid, the first variable varying fastest. Give
    ``var`` a mapping of each variable to its range: a text "start:stop:step" or
    "start:stop:Nj" as on the command line, a (start, stop, step) tuple, or the values
    themselves; ``at`` fixes variables ({"x": 1.0}, or a list of such points); ``param``
    names constants ({"a": 2.0}); ``wrt`` chooses the variables to differentiate by.
    Shortcuts as on the command line: ``grad``, ``hessian``, ``laplacian``, ``direction``
    (a sequence, scaled to length 1), ``div``, ``curl``.

    Other options: ``order`` (default 1), ``method`` ("auto", "reverse", "forward",
    "taylor"), ``device``, ``dtype``, ``max_points``, ``max_memory``; see
    :func:`autodiffcli.job.prepare`.

    Example:
        >>> derive("x**2", [1.0, 2.0])["df"]
        array([2., 4.])
        >>> derive("x*y", var={"x": [1.0, 2.0], "y": [3.0]})["f_x"]
        array([3., 3.])
    """
    return run.table(job.prepare(expression, x, **options))


def derive_chunks(
    expression: str = "sin(x)", x: Sequence[float] | None = None, **options
) -> Iterator[dict]:
    """The same table as :func:`derive`, as an iterator of chunks (dicts of numpy columns), so
    a table of any length streams in bounded memory. Errors in the options raise at the call."""
    return run.iter_table(job.prepare(expression, x, stream=True, **options))
