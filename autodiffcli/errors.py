"""Error types raised where a problem is found; the CLI maps them to exit codes in one place."""


class AutodiffError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""

    exit_code = 2


class ExpressionError(AutodiffError):
    """The expression text is not in the language."""


class GridError(AutodiffError):
    """The sample points (range, count or input file) are unusable."""


class DeviceError(AutodiffError):
    """The requested device or dtype is unavailable in this torch build."""


class OutputError(AutodiffError):
    """The output path or format cannot be used."""


class WriteFailure(AutodiffError):
    """Writing failed at run time (disk full, permission lost): not the user's input."""

    exit_code = 1


class CheckFailed(AutodiffError):
    """`--check` found a derivative outside the tolerance."""

    exit_code = 1
