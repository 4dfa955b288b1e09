"""The lesson as data: sections of blocks (text, code, tables, facts), rendered as plain
text, markdown or JSON. Torch-free: every number in it was computed before it got here.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

from autodiffcli.limits import EXPLAIN_FORMATS
from autodiffcli.numfmt import CODE_INDENT, WIDTH


@dataclass
class Section:
    """One step of the lesson: a title and blocks of ("text"|"code"|"table"|"fact", payload)."""

    key: str
    title: str
    blocks: list[dict] = field(default_factory=list)

    def text(self, body: str) -> Section:
        self.blocks.append({"kind": "text", "text": body})
        return self

    def code(self, body: str, language: str = "python") -> Section:
        self.blocks.append({"kind": "code", "language": language, "text": body})
        return self

    def table(self, header: list[str], rows: list[list[str]]) -> Section:
        self.blocks.append({"kind": "table", "header": header, "rows": rows})
        return self

    def fact(self, name: str, value) -> Section:
        """A machine-readable value kept in the JSON output beside the prose."""
        self.blocks.append({"kind": "fact", "name": name, "value": value})
        return self


@dataclass
class Report:
    """The whole lesson for one expression; ``variables`` name f's inputs in the heading,
    f(x) = ... or f(x, y) = ...."""

    expression: str
    sections: list[Section]
    variables: tuple[str, ...] = ("x",)

    def __repr__(self) -> str:
        return f"Report({self.expression!r}, {len(self.sections)} sections)"


def render_markdown(report: Report) -> str:
    out = [f"# autodiff explain: {_heading(report)}", ""]
    for section in report.sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            out += _markdown_block(block)
    return "\n".join(out).rstrip() + "\n"


def _heading(report: Report) -> str:
    return f"f({', '.join(report.variables)}) = {report.expression}"


def _markdown_block(block: dict) -> list[str]:
    if block["kind"] == "text":
        return [block["text"], ""]
    if block["kind"] == "code":
        return [f"```{block['language']}", block["text"].rstrip("\n"), "```", ""]
    if block["kind"] == "table":
        header = block["header"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in block["rows"]]
        return [*lines, ""]
    return []


def render_text(report: Report) -> str:
    out = [f"autodiff explain: {_heading(report)}", ""]
    for section in report.sections:
        out += [section.title, "-" * len(section.title)]
        for block in section.blocks:
            out += _text_block(block)
    return "\n".join(out).rstrip() + "\n"


def _text_block(block: dict) -> list[str]:
    indent = " " * CODE_INDENT
    if block["kind"] == "text":
        return [*textwrap.wrap(block["text"], WIDTH), ""]
    if block["kind"] == "code":
        return [*(indent + line for line in block["text"].rstrip("\n").splitlines()), ""]
    if block["kind"] == "table":
        rows = [block["header"], *block["rows"]]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
        ]
        return [indent + line for line in lines] + [""]
    return []


def render_json(report: Report) -> str:
    data: dict = {"expression": report.expression}
    if report.variables != ("x",):  # one variable's JSON stays as it was
        data["variables"] = list(report.variables)
    data |= {
        "sections": [{"key": s.key, "title": s.title, "blocks": s.blocks} for s in report.sections],
    }
    return json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n"


def _json_safe(value):
    """NaN and inf are not JSON: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


# One renderer per format that run.EXPLAIN_FORMATS lists (the CLI's choices come from there).
RENDERERS: dict[str, Callable[[Report], str]] = {
    name: globals()[f"render_{name}"] for name in EXPLAIN_FORMATS
}
