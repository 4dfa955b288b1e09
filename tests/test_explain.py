"""`autodiff explain`: every fact it shows is checked against torch or sympy, computed here.

The corpus tests read the lesson as a student would and hold each sentence against the numbers
shown beside it, on expressions that are undefined at some of the points.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import sympy
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import expressions
from support import invoke

from autodiffcli import lang, numfmt
from autodiffcli.engines import graph, reverse, taylor
from autodiffcli.lesson import probes, reasons, sections
from autodiffcli.lesson.report import Section, render_json, render_markdown, render_text

# Two float64 computations of the same derivative by different torch paths (the snippet
# builds its graph with create_graph=True, the table without, which may change the last bit).
PATH_RTOL = 1e-12
# torch against sympy (exact, then rounded) at one point.
SYMPY_RTOL = 1e-12
# f'(1) of the d2l function, 2 sin(1) - 1, to the digits the issue quotes.
D2L = "log(x^2)*sin(x) + 1/x"
D2L_SLOPE_AT_1 = 0.682942
X = torch.linspace(-2, 2, 5, dtype=torch.float64)
DEFAULT_X = torch.linspace(-5, 5, 5, dtype=torch.float64)

CORPUS = [
    D2L,
    "1/x",
    "log(x)",
    "sqrt(x)",
    "tan(x)",
    "sin(x)",
    "x**3 - 1/x",
    "exp(-x^2)*cbrt(x)",
    "sigmoid(x)*softplus(x)",
    "3",
    "pow(2, x) + abs(x)",
    "x**x",
    "log(x)*x",
    "1/sin(x)",
    "asin(x)",
    "acos(x/5)",
    "acosh(x)",
    "atanh(x)",
    "log10(x^2)",
    "log2(abs(x))",
    "sqrt(x^2)",
    "relu(x)*x",
    "sinc(x)",
    "erf(x) + erfc(x)",
    "exp(1/x)",
    "tanh(x)**2",
    "x/(x - x)",
    "log1p(x)",
    "expm1(x)/x",
    "cosh(x) - sinh(x)",
    "atan(1/x)",
    "asinh(x)*x^2",
]


def report_for(text: str, order: int = 1, x: torch.Tensor = X, **options):
    return sections.explain(lang.parse(text), x, order, **options)


def section(report, key: str) -> Section:
    return next(s for s in report.sections if s.key == key)


def facts(report, key: str) -> dict:
    return {b["name"]: b["value"] for b in section(report, key).blocks if b["kind"] == "fact"}


def prose(report, key: str) -> str:
    return " ".join(b["text"] for b in section(report, key).blocks if b["kind"] == "text")


def same_where_finite(a, b, rtol: float = 0.0, atol: float = 0.0) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    finite = np.isfinite(a) & np.isfinite(b)
    return bool(np.allclose(a[finite], b[finite], rtol=rtol, atol=atol))


# ----- The comparison helper -----


def test_compare_matches_nan_with_nan_only():
    agreement = probes.compare([1.0, math.nan, math.inf], [1.0, math.nan, math.inf])
    assert agreement.equal and agreement.where_finite and agreement.undefined == (1, 2)


def test_compare_tells_a_nan_from_a_number_but_agrees_where_finite():
    agreement = probes.compare([1.0, math.nan], [1.0, 2.0])
    assert not agreement.equal and agreement.where_finite and agreement.undefined == (1,)


def test_compare_finds_a_finite_difference():
    assert not probes.compare([1.0, 2.0], [1.0, 2.5]).where_finite


# ----- The sections, against torch -----


def test_naive_error_is_the_message_torch_raises():
    x = X.clone().requires_grad_(True)
    with pytest.raises(RuntimeError) as caught:
        torch.sin(x).backward()
    assert facts(report_for("sin(x)"), "naive")["error"] == str(caught.value)


def test_shown_jacobian_is_torchs_jacobian():
    expected = torch.autograd.functional.jacobian(lambda t: torch.exp(t) * torch.sin(t), X)
    shown = facts(report_for("exp(x)*sin(x)"), "why")["jacobian"]
    assert shown == expected.tolist()


def test_fix_gradients_are_equal_and_are_the_diagonal():
    shown = facts(report_for("tanh(x)**2"), "fix")
    x = X.clone().requires_grad_(True)
    lang.evaluate(lang.parse("tanh(x)**2"), [x]).sum().backward()
    assert shown["grad_sum"] == x.grad.tolist() == shown["grad_ones"]
    assert shown["equal"] and shown["equals_diagonal"]


def test_misleading_trick_numbers_are_column_sums_of_the_real_jacobian():
    shown = facts(report_for("sin(x)"), "misleading")
    J = torch.func.jacrev(lambda t: torch.cumsum(torch.sin(t), 0))(X)
    assert shown["jacobian"] == J.tolist()
    np.testing.assert_allclose(shown["sum_trick"], J.sum(0).numpy(), rtol=1e-15)
    np.testing.assert_allclose(shown["vmap_grad"], torch.cos(X).numpy(), rtol=1e-15)


def test_graph_section_lists_the_real_grad_fn_names_depth_first():
    x = X.clone().requires_grad_(True)
    y = torch.exp(x) + torch.pow(x, 3.0)
    walked, stack = [], [y.grad_fn]
    while stack:
        node = stack.pop()
        walked.append(type(node).__name__)
        stack.extend(reversed([c for c, _ in node.next_functions if c is not None]))
    shown = [line["node"] for line in facts(report_for("exp(x) + x**3"), "graph")["graph"]]
    assert [name.removesuffix(" (shown above)") for name in shown] == walked


def test_backward_twice_shows_torchs_freed_graph_error():
    x = X.clone().requires_grad_(True)
    s = torch.sin(x).sum()
    s.backward()
    with pytest.raises(RuntimeError) as caught:
        s.backward()
    assert facts(report_for("sin(x)"), "twice")["error"] == str(caught.value)


def test_backward_twice_on_a_constant_says_there_is_no_graph():
    text = prose(report_for("3"), "twice")
    assert "no graph" in text and "saved no intermediate" not in text


def test_forward_and_reverse_modes_agree():
    shown = facts(report_for("x*exp(-x)"), "modes")
    assert shown["agree"]
    assert shown["forward"] == pytest.approx(shown["reverse"], rel=PATH_RTOL)


def test_reverse_mode_keeps_the_saved_input_of_sin_and_forward_mode_keeps_nothing():
    # sin saves its input for cos(x) in backward: exactly one float64 vector.
    saved = facts(report_for("sin(x)"), "modes")["saved_tensors"]
    assert saved["reverse"] == {"tensors": 1, "storages": 1, "bytes": 8 * probes.MEMORY_POINTS}
    assert saved["forward"] == {"tensors": 0, "storages": 0, "bytes": 0}


def test_jacobian_passes_are_one_per_input_forward_and_one_per_output_reverse():
    shown = facts(report_for(D2L, x=DEFAULT_X), "modes")
    n = probes.JACOBIAN_SIZE
    many_in, one_in = shown["many_in_one_out"], shown["one_in_many_out"]
    assert (many_in["forward_passes"], many_in["reverse_passes"]) == (n, 1)
    assert (one_in["forward_passes"], one_in["reverse_passes"]) == (1, n)
    assert many_in["same_jacobian"] and one_in["same_jacobian"]


def test_jacobian_both_ways_is_torchs_jacobian():
    x = torch.linspace(0.5, 2, 4, dtype=torch.float64)
    cost = probes.jacobian_both_ways(lambda t: torch.sin(t) * t.sum(), x)
    assert (cost.forward_passes, cost.reverse_passes) == (4, 4)
    assert cost.agreement.where_finite


def test_higher_order_node_counts_come_from_the_real_graphs():
    shown = facts(report_for("sin(x)*x", order=2), "higher")
    x = X.clone().requires_grad_(True)
    y = torch.sin(x) * x
    (d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), x, create_graph=True)
    assert shown["graph_nodes"] == [graph.count_nodes(t) for t in (y, d1, d2)]
    assert shown["graph_nodes"][0] < shown["graph_nodes"][1] < shown["graph_nodes"][2]


def test_higher_orders_show_taylor_work_per_order():
    parsed = lang.parse(D2L)
    shown = facts(report_for(D2L, order=3, x=DEFAULT_X + 0.5), "higher")
    assert shown["taylor_work"] == [taylor.work(parsed, k) for k in (1, 2, 3)]


def test_derivative_that_becomes_constant_does_not_break_higher_orders():
    shown = facts(report_for("x**2", order=3), "higher")
    assert shown["values"][3] == [0.0] * 5


# ----- Undefined points: said plainly, from the tape -----


def test_undefined_value_names_the_first_node_that_is_not_finite():
    reason = reasons.why_not_finite(lang.parse(D2L), 0.0)
    assert reason == (
        "f is undefined at x = 0: log(0) is a singularity, where torch gives -inf, and then f = nan"
    )


def test_infinite_value_names_the_division():
    assert reasons.why_not_finite(lang.parse("1/x"), 0.0) == (
        "f is undefined at x = 0: 1 / 0 is a singularity, where torch gives inf"
    )


def test_infinite_slope_names_the_local_derivative():
    reason = reasons.why_not_finite(lang.parse("sqrt(x)"), 0.0)
    assert reason.startswith("f'(x) is not finite at x = 0") and "sqrt(0)" in reason
    assert reason.endswith("with respect to its argument is inf")


def test_finite_point_has_no_reason():
    assert reasons.why_not_finite(lang.parse(D2L), 1.0) is None


def test_default_points_move_zero_off_the_d2l_singularity_and_say_why():
    chosen = reasons.default_points(lang.parse(D2L), -5, 5, 5)
    assert chosen.points[:2] == [-5.0, -2.5] and chosen.points[3:] == [2.5, 5.0]
    assert chosen.points[2] != 0 and abs(chosen.points[2]) <= 2.5 * max(reasons.NUDGES)
    assert reasons.why_not_finite(lang.parse(D2L), chosen.points[2]) is None
    assert chosen.notes == [
        f"The default point x = 0 was moved to {chosen.points[2]:g}, since f is undefined at "
        "x = 0: log(0) is a singularity, where torch gives -inf, and then f = nan."
    ]


def test_default_points_keep_points_no_nearby_point_improves_and_say_so():
    chosen = reasons.default_points(lang.parse("log(x)"), -5, 5, 5)
    assert chosen.points[:2] == [-5.0, -2.5]
    assert chosen.notes[0].startswith("The default point x = -5 stays")


def test_default_points_leave_finite_points_alone():
    chosen = reasons.default_points(lang.parse("tan(x)"), -5, 5, 5)
    assert chosen.points == [-5.0, -2.5, 0.0, 2.5, 5.0] and chosen.notes == []


def test_points_given_by_the_user_are_explained_as_given():
    shown = facts(report_for(D2L, x=DEFAULT_X), "goal")
    assert shown["x"] == DEFAULT_X.tolist()
    assert shown["undefined"] == {
        "2": "f is undefined at x = 0: log(0) is a singularity, where torch gives -inf, and "
        "then f = nan"
    }


def test_issue_example_is_true_about_the_jacobian_at_an_undefined_point():
    report = report_for(D2L, x=DEFAULT_X)
    why, fix = facts(report, "why"), facts(report, "fix")
    assert why["diagonal"] and why["nonfinite_columns"] == [2]
    assert "mixes points" not in prose(report, "why")
    assert "still diagonal" in prose(report, "why") and "except at x = 0" in prose(report, "why")
    assert fix["equal"] and fix["equals_diagonal"] and fix["undefined_points"] == [0.0]
    assert "identical x.grad" in prose(report, "fix")
    assert "wherever finite (not at x = 0)" in prose(report, "fix")


# ----- The corpus: no sentence contradicts another or the numbers -----


def check_consistency(report) -> None:
    goal, why, fix, modes = (facts(report, k) for k in ("goal", "why", "fix", "modes"))
    J = np.asarray(why["jacobian"], dtype=float)
    n = len(goal["x"])
    off = ~np.eye(n, dtype=bool)
    finite_off = J[off & np.isfinite(J)]
    # The language is elementwise: J is diagonal wherever it is finite, and says so.
    assert why["diagonal"] and np.all(finite_off == 0)
    assert "mixes points" not in prose(report, "why")
    assert "J is diagonal" in prose(report, "fix")
    # Every non-finite off-diagonal column is explained, and no other.
    nonfinite_columns = sorted({int(j) for j in np.nonzero(~np.isfinite(J) & off)[1]})
    assert why["nonfinite_columns"] == nonfinite_columns
    assert ("still diagonal" in prose(report, "why")) == bool(nonfinite_columns)
    # Both fixes: 'identical' exactly when the numbers are, NaN matching NaN.
    identical = np.array_equal(fix["grad_sum"], fix["grad_ones"], equal_nan=True)
    assert fix["equal"] == identical
    assert ("identical x.grad" in prose(report, "fix")) == identical
    assert fix["equals_diagonal"] and same_where_finite(fix["grad_sum"], np.diag(J))
    assert ("differs" in prose(report, "fix")) is False
    # Forward and reverse agree wherever finite, and the text says exactly that.
    agree = same_where_finite(modes["forward"], modes["reverse"], PATH_RTOL, probes.CLAIM_ATOL)
    assert modes["agree"] == agree
    assert modes["agree"] and "They agree" in prose(report, "modes")
    # Each row where f or f' is not finite is named with a reason, and only those.
    f = np.asarray(goal["f"], dtype=float)
    bad = {str(i) for i in range(n) if not (np.isfinite(f[i]) and np.isfinite(J[i, i]))}
    assert set(goal["undefined"]) == bad
    for i in bad:
        assert f"Row {i}: " in prose(report, "goal")
    # The JSON is strict and holds every section.
    data = json.loads(render_json(report), parse_constant=pytest.fail)
    assert [s["key"] for s in data["sections"]] == [s.key for s in report.sections]


@pytest.mark.parametrize("text", CORPUS)
def test_lesson_is_consistent_at_points_that_include_undefined_ones(text):
    check_consistency(report_for(text, x=DEFAULT_X))


@pytest.mark.parametrize("text", CORPUS)
def test_lesson_is_consistent_at_the_default_points(text):
    parsed = lang.parse(text)
    chosen = reasons.default_points(parsed, -5, 5, 5)
    x = torch.tensor(chosen.points, dtype=torch.float64)
    report = sections.explain(parsed, x, 1, notes=chosen.notes)
    check_consistency(report)
    for note in chosen.notes:
        assert note in prose(report, "goal")


def test_corpus_is_large_enough_and_has_the_issues_singular_functions():
    assert len(set(CORPUS)) >= 30
    assert {D2L, "1/x", "log(x)", "sqrt(x)", "tan(x)"} <= set(CORPUS)


# ----- The chain rule on the graph -----


def sympy_nodes(parsed, x):
    """Each node of the tape as a sympy expression in x (the sympy column of the table)."""
    return lang.fold(
        parsed,
        [x],
        lambda node: sympy.Float(node.value, 30),
        lambda node, op, a: op.sympy(sympy, *a),
    )


def test_trace_of_d2l_at_1_matches_sympy_node_by_node():
    parsed = lang.parse(D2L)
    rows = probes.trace(parsed, 1.0)
    x = sympy.Symbol("x")
    exact = sympy_nodes(parsed, x)
    depends = parsed.depends
    for index, (node, row) in enumerate(zip(parsed.nodes, rows, strict=True)):
        at_1 = {x: 1}
        assert row["value"] == pytest.approx(float(exact[index].subs(at_1)), rel=SYMPY_RTOL)
        tangent = float(sympy.diff(exact[index], x).subs(at_1))
        assert row["tangent"] == pytest.approx(tangent, rel=SYMPY_RTOL, abs=1e-15)
        if not node.args:
            continue
        symbols = sympy.symbols(f"a0:{len(node.args)}")
        local = lang.OPS[node.op].sympy(sympy, *symbols)
        values = {s: exact[j].subs(at_1) for s, j in zip(symbols, node.args, strict=True)}
        for position, (symbol, arg) in enumerate(zip(symbols, node.args, strict=True)):
            partial = row["partials"][position]
            if not depends[arg]:
                assert partial is None
                continue
            expected = float(sympy.diff(local, symbol).subs(values))
            assert partial == pytest.approx(expected, rel=SYMPY_RTOL, abs=1e-15)


def test_trace_of_d2l_at_1_ends_with_tangent_equal_adjoint_equal_slope():
    rows = probes.trace(lang.parse(D2L), 1.0)
    slope = 2 * math.sin(1) - 1
    x_row = next(row for row in rows if row["op"] == "x")
    assert rows[-1]["tangent"] == pytest.approx(slope, rel=PATH_RTOL)
    assert x_row["adjoint"] == pytest.approx(slope, rel=PATH_RTOL)
    assert round(slope, 6) == D2L_SLOPE_AT_1
    assert probes.derivative_at(rows, "x") == x_row["adjoint"]


def test_trace_adjoints_follow_the_chain_rule_from_the_partials():
    rows = probes.trace(lang.parse("exp(sin(x))*x + x^3"), 0.7)
    for j, row in enumerate(rows[:-1]):
        if row["adjoint"] is None:
            continue
        users = [
            (user, position)
            for user in rows
            for position, name in enumerate(user["inputs"])
            if name == f"v{j}"
        ]
        pulled = sum(user["adjoint"] * user["partials"][p] for user, p in users)
        assert row["adjoint"] == pytest.approx(pulled, rel=PATH_RTOL)


def test_trace_adjoint_of_x_is_the_derived_derivative():
    rows = probes.trace(lang.parse("exp(sin(x))*x"), 0.7)
    x = torch.tensor([0.7], dtype=torch.float64)
    (df,) = reverse.derivatives(lambda t: torch.exp(torch.sin(t)) * t, [x], 1)[1:]
    assert probes.derivative_at(rows, "x") == pytest.approx(df.item(), rel=PATH_RTOL)


def test_trace_of_pow_with_x_in_the_exponent_keeps_the_forward_tangent():
    rows = probes.trace(lang.parse("pow(2, x)"), 1.0)
    assert rows[-1]["tangent"] == pytest.approx(2 * math.log(2), rel=PATH_RTOL)


def test_chain_rule_section_concludes_with_the_two_directions():
    text = prose(report_for(D2L, trace_at=1.0), "trace")
    assert "both are f'(1)" in text and "0.682942" in text


def test_chain_rule_section_comes_after_the_graph_and_sections_are_numbered_in_order():
    report = report_for(D2L, order=2, trace_at=1.0)
    keys = [s.key for s in report.sections]
    assert keys.index("trace") == keys.index("graph") + 1
    numbers = [int(s.title.split(".")[0]) for s in report.sections]
    assert numbers == list(range(1, len(report.sections) + 1))


@pytest.mark.parametrize("order", [1, 2])
def test_section_numbers_do_not_skip(order):
    numbers = [int(s.title.split(".")[0]) for s in report_for("sin(x)", order=order).sections]
    assert numbers == list(range(1, len(numbers) + 1))


# ----- Small things seen in the output -----


def test_zero_prints_as_0_never_minus_0():
    assert numfmt.fmt(-0.0) == "0" and numfmt.fmt(0.0) == "0"
    assert "-0 " not in render_text(report_for("-x", x=torch.tensor([0.0, 1.0])))


def test_wide_jacobians_elide_middle_columns_within_the_width():
    x = torch.linspace(-5, 5, 20, dtype=torch.float64)
    text = render_text(report_for("exp(x)*sin(x)", x=x))
    matrix_lines = [line for line in text.splitlines() if line.startswith("    [")]
    assert matrix_lines and all(len(line) <= numfmt.WIDTH for line in matrix_lines)
    assert all("..." in line for line in matrix_lines)


def test_narrow_jacobians_show_every_column():
    lines = numfmt.matrix(torch.eye(3, dtype=torch.float64).tolist()).splitlines()
    assert lines == ["[1  0  0]", "[0  1  0]", "[0  0  1]"]


def test_snippet_imports_math_only_when_it_uses_it():
    x = torch.tensor([0.5], dtype=torch.float64)
    assert "import math" not in sections.snippet(lang.parse("sin(x)"), x, 1)
    assert "import math" in sections.snippet(lang.parse("sin(pi*x)"), x, 1)


@pytest.mark.parametrize("text", ["exp(-x^2)*cbrt(x)", "3", "sin(pi*x)"])
def test_generated_snippet_prints_the_derivatives(text):
    x = torch.tensor([0.3, 0.9, 1.7], dtype=torch.float64)
    code = sections.snippet(lang.parse(text), x, order=2)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    printed = [json.loads(line.split(":", 1)[1]) for line in run.stdout.splitlines()]
    columns = reverse.derivatives(lang.function_of(lang.parse(text)), [x], 2)
    np.testing.assert_allclose(printed[0], columns[1].numpy(), rtol=PATH_RTOL)
    np.testing.assert_allclose(printed[1], columns[2].numpy(), rtol=PATH_RTOL)


def test_markdown_renders_code_as_fenced_blocks():
    text = render_markdown(report_for("sin(x)"))
    assert "```python\nx = torch.tensor(points, requires_grad=True)" in text
    assert text.count("```") % 2 == 0 and text.startswith("# autodiff explain")


def test_json_is_strict_even_with_nan():
    text = render_json(report_for("log(x)", x=DEFAULT_X))
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))


# ----- Through today's CLI -----


def test_cli_explain_shows_torchs_error():
    x = X.clone().requires_grad_(True)
    with pytest.raises(RuntimeError) as caught:
        torch.sin(x).backward()
    assert f"RuntimeError: {caught.value}" in invoke("explain").stdout


def test_too_many_points_is_a_clear_error():
    result = invoke("explain", "--points", "50")
    assert result.exit_code == 2 and "use at most 20 points" in result.stderr


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions, order=st.integers(1, 3), x0=st.floats(-3, 3))
def test_lesson_and_trace_hold_on_any_expression(text, order, x0):
    parsed = lang.parse(text)
    chosen = reasons.default_points(parsed, -5, 5, 3)
    x = torch.tensor(chosen.points, dtype=torch.float64)
    check_consistency(sections.explain(parsed, x, order, trace_at=x0, notes=chosen.notes))
