"""Re-record tests/unchanged/ from the current code: `python tests/record_unchanged.py`.

Do it only in the commit of a change that justifies a new output, and say so in its message."""

from __future__ import annotations

import shutil
from pathlib import Path

import unchanged_cases

FOLDER = Path(__file__).parent / "unchanged"

if __name__ == "__main__":
    shutil.rmtree(FOLDER, ignore_errors=True)
    unchanged_cases.record(FOLDER)
