"""autodiff: evaluate a function of x, differentiate it with PyTorch autograd, write it, plot it.

The public API is :func:`derive` and :func:`derive_chunks`: the CLI's own job layer.
"""

from autodiffcli.version import __version__

__all__ = ["__version__", "derive", "derive_chunks"]


def __getattr__(name: str):
    # Lazy so that `autodiff --help` and expression errors never pay for importing torch.
    if name in ("derive", "derive_chunks"):
        from autodiffcli import api

        return getattr(api, name)
    raise AttributeError(f"module 'autodiffcli' has no attribute {name!r}")
