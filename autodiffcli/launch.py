"""The console script's entry point: the command line loads here, so that Ctrl-C while typer
and rich import (the first 0.3 s) ends as Ctrl-C does later, in one line with exit code 130,
never a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from autodiffcli.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        raise SystemExit(130) from None
    run()
