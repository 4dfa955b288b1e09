"""autodiff: evaluate a function of x, differentiate it with PyTorch autograd, write it, plot it.

The public API is :func:`derive`; it runs on the same expression, grid and core code as the CLI.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "derive"]


def __getattr__(name: str):
    # Lazy so that `autodiff --help` and expression errors never pay for importing torch.
    if name == "derive":
        from autodiffcli.api import derive

        return derive
    raise AttributeError(f"module 'autodiffcli' has no attribute {name!r}")
