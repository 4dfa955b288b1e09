"""`autodiff explain`: every fact it shows is checked against torch, computed in the test."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autodiffcli import core, explain, expr
from tests.conftest import invoke
from tests.strategies import expressions, noise

X = torch.linspace(-2, 2, 5, dtype=torch.float64)


def report_for(text: str, order: int = 1):
    return explain.explain(expr.parse(text), X, order)


def facts(report, key: str) -> dict:
    section = next(s for s in report.sections if s.key == key)
    return {b["name"]: b["value"] for b in section.blocks if b["kind"] == "fact"}


def test_naive_error_is_the_message_torch_raises():
    x = X.clone().requires_grad_(True)
    with pytest.raises(RuntimeError) as caught:
        torch.sin(x).backward()
    assert facts(report_for("sin(x)"), "naive")["error"] == str(caught.value)
    text = invoke("explain").stdout
    assert f"RuntimeError: {caught.value}" in text


def test_shown_jacobian_is_torchs_jacobian():
    expected = torch.autograd.functional.jacobian(lambda t: torch.exp(t) * torch.sin(t), X)
    shown = facts(report_for("exp(x)*sin(x)"), "why")["jacobian"]
    assert shown == expected.tolist()


def test_fix_gradients_are_equal_and_are_the_diagonal():
    shown = facts(report_for("tanh(x)**2"), "fix")
    x = X.clone().requires_grad_(True)
    (torch.tanh(x) ** 2).sum().backward()
    assert shown["grad_sum"] == x.grad.tolist() == shown["grad_ones"]
    assert shown["equal"] and shown["equals_diagonal"]


def test_misleading_trick_numbers_are_column_sums_of_the_real_jacobian():
    shown = facts(report_for("sin(x)"), "misleading")
    J = torch.func.jacrev(lambda t: torch.cumsum(torch.sin(t), 0))(X)
    assert shown["jacobian"] == J.tolist()
    np.testing.assert_allclose(shown["sum_trick"], J.sum(0).numpy(), rtol=1e-15)
    np.testing.assert_allclose(shown["vmap_grad"], torch.cos(X).numpy(), rtol=1e-15)


@pytest.mark.parametrize(
    ("text", "build"),
    [
        ("sin(x)", lambda x: torch.sin(x)),
        ("2*sin(x)", lambda x: torch.tensor(2.0, dtype=x.dtype) * torch.sin(x)),
        ("exp(x) + x**3", lambda x: torch.exp(x) + torch.pow(x, 3.0)),
        ("log(1 + x*x)/x", lambda x: torch.log(torch.tensor(1.0, dtype=x.dtype) + x * x) / x),
    ],
)
def test_graph_node_names_are_the_real_grad_fn_names(text, build):
    x = X.clone().requires_grad_(True)
    expected = [name for _, name in explain.graph_lines(build(x))]
    names = [line["node"] for line in facts(report_for(text), "graph")["graph"]]
    assert names == expected
    walked, stack = [], [build(x).grad_fn]
    while stack:
        node = stack.pop()
        walked.append(type(node).__name__)
        stack.extend(reversed([c for c, _ in node.next_functions if c is not None]))
    assert names == walked


def test_backward_twice_shows_torchs_freed_graph_error():
    x = X.clone().requires_grad_(True)
    s = torch.sin(x).sum()
    s.backward()
    with pytest.raises(RuntimeError) as caught:
        s.backward()
    assert facts(report_for("sin(x)"), "twice")["error"] == str(caught.value)


def test_forward_and_reverse_modes_agree():
    shown = facts(report_for("x*exp(-x)"), "modes")
    assert shown["forward"] == pytest.approx(shown["reverse"], rel=1e-14)


def test_higher_order_node_counts_come_from_the_real_graphs():
    shown = facts(report_for("sin(x)*x", order=2), "higher")
    x = X.clone().requires_grad_(True)
    y = torch.sin(x) * x
    (d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), x, create_graph=True)
    assert shown["graph_nodes"] == [core.count_nodes(t) for t in (y, d1, d2)]
    assert shown["graph_nodes"][0] < shown["graph_nodes"][1] < shown["graph_nodes"][2]


def test_derivative_that_becomes_constant_does_not_break_higher_orders():
    shown = facts(report_for("x**2", order=3), "higher")
    assert shown["values"][3] == [0.0] * 5


def test_json_holds_every_section():
    result = invoke("explain", "--order", "2", "--format", "json")
    data = json.loads(result.stdout)
    keys = [section["key"] for section in data["sections"]]
    assert keys == [
        "goal",
        "naive",
        "why",
        "fix",
        "misleading",
        "graph",
        "twice",
        "modes",
        "higher",
        "try",
    ]


def test_json_is_strict_even_with_nan():
    result = invoke("explain", "log(x)", "--format", "json")
    json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))


def test_markdown_renders_code_as_fenced_blocks():
    text = invoke("explain", "--format", "markdown").stdout
    assert "```python\nx = torch.tensor(points, requires_grad=True)" in text
    assert text.count("```") % 2 == 0 and text.startswith("# autodiff explain")


def test_dot_file_is_the_graph(tmp_path):
    path = tmp_path / "g.dot"
    assert invoke("explain", "sin(x)*x", "--dot", str(path)).exit_code == 0
    dot = path.read_text()
    assert dot.startswith("digraph autograd {") and dot.rstrip().endswith("}")
    for name in ("MulBackward0", "SinBackward0", "AccumulateGrad"):
        assert f'label="{name}"' in dot


def test_too_many_points_is_a_clear_error():
    result = invoke("explain", "--points", "50")
    assert result.exit_code == 2 and "use at most 20 points" in result.stderr


def test_trace_matches_a_hand_derived_chain_rule():
    # f = log(x**2) * sin(x) + 1/x at x0 = 2, by hand:
    x0 = 2.0
    rows = explain.trace(expr.parse("log(x**2)*sin(x) + 1/x"), x0)
    by_op = {row["op"]: row for row in rows}
    assert by_op["log"]["value"] == pytest.approx(math.log(4))
    assert by_op["log"]["adjoint"] == pytest.approx(math.sin(2))  # d f / d log = sin(x)
    assert by_op["sin"]["adjoint"] == pytest.approx(math.log(4))  # d f / d sin = log(x**2)
    assert by_op["pow"]["adjoint"] == pytest.approx(math.sin(2) / 4)  # sin(x) / x**2
    assert by_op["div"]["adjoint"] == 1.0
    hand = 2 / x0 * math.sin(x0) + math.log(x0**2) * math.cos(x0) - 1 / x0**2
    assert by_op["x"]["adjoint"] == pytest.approx(hand, rel=1e-14)


def test_trace_adjoint_of_x_is_the_derived_derivative():
    rows = explain.trace(expr.parse("exp(sin(x))*x"), 0.7)
    derived = invoke("derive", "exp(sin(x))*x", "--input", "-", input="0.7\n").stdout
    df = float(derived.splitlines()[1].split(",")[2])
    assert next(r for r in rows if r["op"] == "x")["adjoint"] == df


@pytest.mark.parametrize(
    "text",
    [
        "sin(x)",
        "x**3 - 1/x",
        "exp(-x^2)*cbrt(x)",
        "sigmoid(x)*softplus(x)",
        "3",
        "pow(2, x) + abs(x)",
    ],
)
def test_generated_snippet_prints_the_derive_values(text):
    x = torch.tensor([0.3, 0.9, 1.7], dtype=torch.float64)
    code = explain.snippet(expr.parse(text), x, order=2)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    printed = [json.loads(line.split(":", 1)[1]) for line in run.stdout.splitlines()]
    derived = invoke("derive", text, "--input", "-", "-k", "2", input="0.3\n0.9\n1.7\n")
    rows = np.loadtxt(derived.stdout.splitlines()[1:], delimiter=",", ndmin=2)
    np.testing.assert_allclose(printed[0], rows[:, 2], rtol=1e-15)
    np.testing.assert_allclose(printed[1], rows[:, 3], rtol=1e-15)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(expressions, noise), order=st.integers(1, 3))
def test_explain_never_shows_a_traceback(text, order):
    result = invoke("explain", "--points", "3", "-k", str(order), "--format", "json", "--", text)
    assert result.exit_code in (0, 2), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if result.exit_code == 0:
        assert json.loads(result.stdout)["sections"]


def test_walking_and_freeing_an_order_10_graph_does_not_crash():
    # Regression: explain -k 10 segfaulted when the 656,902-node graph it had walked was freed
    # on the 8 MB main stack. A subprocess, so that a crash fails this test, not the run.
    code = (
        "import torch\n"
        "from autodiffcli import core, expr\n"
        "def work():\n"
        "    p = expr.parse('1/(x-x)')\n"
        "    x = torch.ones(1, dtype=torch.float64, requires_grad=True)\n"
        "    ds = [expr.evaluate(p, x)]\n"
        "    for _ in range(10):\n"
        "        ds.append(core.next_derivative(ds[-1], x, create_graph=True))\n"
        "    return core.count_nodes(ds[-1])\n"
        "print(core.on_deep_stack(work))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) == 656_902
