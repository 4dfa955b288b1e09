"""The Python API: the CLI's job layer (:mod:`autodiffcli.job`, :mod:`autodiffcli.run`),
returning numpy.

Options have the CLI's names and meanings; errors are the library's own
(:mod:`autodiffcli.errors`, subclasses of ValueError) and name parameters as Python does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from autodiffcli import job, run


def derive(expression: str = "sin(x)", x: Sequence[float] | None = None, **options) -> dict:
    """f and its derivatives up to ``order``, as numpy arrays keyed x, f, df, d2f, ...

    Points are ``x`` if given, else the range: ``start``, ``stop`` and ``step`` (like
    numpy.arange, default 0.01) or ``num`` evenly spaced points, or ``input_path``. Other
    options: ``order`` (default 1), ``method`` ("auto", "reverse", "taylor"), ``device``,
    ``dtype``, ``max_points``, ``max_memory``; see :func:`autodiffcli.job.prepare`.

    Example:
        >>> derive("x**2", [1.0, 2.0])["df"]
        array([2., 4.])
    """
    return run.table(job.prepare(expression, x, **options))


def derive_chunks(
    expression: str = "sin(x)", x: Sequence[float] | None = None, **options
) -> Iterator[dict]:
    """The same table as :func:`derive`, as an iterator of chunks (dicts of numpy columns), so
    a table of any length streams in bounded memory. Errors in the options raise at the call."""
    return run.iter_table(job.prepare(expression, x, stream=True, **options))
