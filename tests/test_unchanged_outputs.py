"""The outputs of a fixed set of commands stay as recorded in tests/unchanged/: derive tables
of 20 expressions at orders 0-10 by both engines (CSV, TSV, NDJSON, float32, --taylor-at,
stdin), Parquet values, schema and metadata, explain text and JSON of 10 expressions (live
timings made deterministic), plot SVGs, and the error lines and exit codes of 20 bad inputs.

Recorded before the 2026-11-30 restructure and compared after it: identical but for explain's
snippet section (now generated from the engine's own formulation) and the Taylor engine's module
path in one sentence. A later change may alter a recorded output only in the commit that
justifies it, re-running `python tests/record_unchanged.py` and saying so in the message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from unchanged_cases import case_file, cases, run_case

FOLDER = Path(__file__).parent / "unchanged"
CASES = cases()


def first_difference(expected: str, actual: str) -> str:
    lines = zip(expected.splitlines(), actual.splitlines(), strict=False)
    for number, (a, b) in enumerate(lines, 1):
        if a != b:
            return f"line {number}:\n  recorded: {a}\n  now:      {b}"
    return "the outputs differ in length"


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_output_is_unchanged(case_id):
    recorded = json.loads((FOLDER / case_file(case_id)).read_text())
    actual = {"id": case_id, **run_case(CASES[case_id])}
    for key in sorted(set(recorded) | set(actual)):
        expected, now = recorded.get(key), actual.get(key)
        if isinstance(expected, str) and isinstance(now, str) and expected != now:
            pytest.fail(f"{key} of {case_id!r} changed at {first_difference(expected, now)}")
        assert now == expected, f"{key} of {case_id!r} changed"


def test_every_case_has_a_recording():
    assert sorted(path.name for path in FOLDER.glob("*.json")) == sorted(
        case_file(case_id) for case_id in CASES
    )
