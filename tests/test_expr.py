"""The expression language: what it accepts, what it refuses, and how it says so."""

from __future__ import annotations

import math
import sys

import pytest

from autodiffcli import lang
from autodiffcli.errors import ExpressionError


def message(text: str) -> str:
    with pytest.raises(ExpressionError) as caught:
        lang.parse(text)
    return str(caught.value)


def test_parse_does_not_import_torch():
    # Run in a fresh interpreter: the test process may have torch already.
    import subprocess

    code = (
        "import sys; from autodiffcli import lang; lang.parse('sin(x)**2 + e^x');"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip() == "False"


def test_every_function_in_the_table_parses_with_its_arity():
    for name, op in lang.FUNCTIONS.items():
        args = ", ".join(["x > 0" if name == "where" else "x"] + ["x"] * (op.arity - 1))
        parsed = lang.parse(f"{name}({args})")
        assert parsed.nodes[-1].op == name


def test_caret_is_power_with_power_precedence():
    # x^2+1 must be (x**2)+1, not Python's x ^ (2+1).
    assert lang.parse("x^2+1").nodes == lang.parse("x**2+1").nodes


def test_tape_is_postorder_with_root_last():
    parsed = lang.parse("sin(x) * 2")
    assert [node.op for node in parsed.nodes] == ["var", "sin", "const", "mul"]
    assert parsed.nodes[-1].args == (1, 2)


def test_constants_pi_and_e_are_floats():
    values = [node.value for node in lang.parse("pi + e").nodes if node.op == "const"]
    assert values == [math.pi, math.e]


def test_huge_power_of_constants_is_inf_not_a_bigint():
    import torch

    y = lang.evaluate(lang.parse("9**9**9"), [torch.zeros(2, dtype=torch.float64)])
    assert torch.isinf(y).all()


def test_huge_integer_literal_becomes_inf():
    parsed = lang.parse("1" + "0" * 400)
    assert parsed.nodes[0].value == math.inf


def test_unknown_function_suggests_the_closest_name():
    assert "unknown function 'sn' - did you mean 'sin'?" in message("sn(x)")


def test_unknown_name_suggests_the_closest_name():
    assert "did you mean 'pi'" in message("2*pii")


def test_implicit_multiplication_suggests_a_star():
    assert "write '2*x' instead of '2x'" in message("2x")


def test_syntax_error_shows_the_expression_with_a_caret():
    lines = message("sin(x))").splitlines()
    assert lines[1].strip() == "sin(x))"
    assert lines[2].index("^") == lines[1].index("sin(x))") + 6


def test_caret_column_counts_caret_operator_as_one_character():
    lines = message("x^2 +* 3").splitlines()
    assert lines[1][lines[2].index("^")] == "*"


def test_wrong_arity_says_the_expected_count():
    assert "pow() takes 2 arguments, got 1" in message("pow(x)")
    assert "sin() takes 1 argument, got 2" in message("sin(x, x)")


def test_function_used_without_call_is_explained():
    assert "'sin' is a function; call it as sin(x)" in message("sin + 1")


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "x.__class__",
        "().__class__.__bases__[0].__subclasses__()",
        "lambda: 1",
        "[c for c in ()]",
        "x if x else 1",
        "x < 1",
        "'abc'",
        "open('/etc/passwd')",
        "exec('1')",
        "eval('1')",
        "x[0]",
        "(x := 1)",
        "True",
        "None",
        "1j",
        "sin(x=1)",
        "sin(*x)",
        "x and 1",
        "{1: 2}",
        "f'{x}'",
    ],
)
def test_hostile_expressions_are_rejected(text):
    with pytest.raises(ExpressionError):
        lang.parse(text)


def test_rejected_code_never_runs(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.chdir(tmp_path)
    attempts = [
        f"__import__('pathlib').Path('{marker}').touch()",
        f"open('{marker}', 'w')",
        f"(lambda: open('{marker}', 'w'))()",
    ]
    for text in attempts:
        with pytest.raises(ExpressionError):
            lang.parse(text)
    assert not marker.exists()


def test_math_bold_lookalike_dunder_is_rejected_before_parsing():
    # Python's parser would fold these letters into the ASCII name __class__.
    assert "non-ASCII character" in message(
        "x.__\U0001d41c\U0001d425\U0001d41a\U0001d42c\U0001d42c__"
    )


def test_length_cap():
    assert "limit is 10,000" in message("x+" * 5001 + "x")


def test_deep_nesting_is_a_clear_error_not_a_crash():
    assert "nested" in message("-" * 9990 + "x")
    assert "nested" in message("sin(" * 300 + "x" + ")" * 300)
    assert "nested" in message("(" * 500 + "x" + ")" * 500)


def test_a_sum_too_long_for_pythons_parser_says_so():
    assert "too many terms" in message("+".join(["x"] * 3000))


def test_a_flat_sum_of_399_terms_is_not_nested():
    text = " + ".join(f"{i}.25*x" for i in range(1, 399)) + " - x*x/x*x"
    assert len(lang.parse(text).nodes) > 700


def test_a_tower_of_powers_is_nested_however_flat_it_is_written():
    assert "nested" in message("x**" * 250 + "x")


def test_integer_literal_over_python_digit_limit_is_a_clear_error():
    assert "number in the expression is too long" in message("1" * 5000)


def test_syntax_error_in_a_long_expression_shows_an_excerpt():
    lines = message("x+" * 2000 + ")").splitlines()
    assert len(lines[1]) < 80 and lines[1][lines[2].index("^")] == ")"


def test_empty_expression():
    assert "empty" in message("   ")


def test_python_source_round_trips_through_torch():
    import torch

    x = torch.linspace(0.5, 2.0, 7, dtype=torch.float64)
    for text in ["sin(x)**2 + 3", "pow(2, x) / x", "exp(-x^2) * cbrt(x)", "sin(pi)", "2 + 3"]:
        parsed = lang.parse(text)
        source = lang.python_source(parsed)
        namespace = {"torch": torch, "math": math, "x": x}
        exec(lang.careful_definitions(parsed), namespace)  # noqa: S102 - our own output
        expected = lang.evaluate(parsed, [x])
        actual = eval(source, namespace) + torch.zeros_like(x)  # noqa: S307 - our own output
        torch.testing.assert_close(actual, expected)
