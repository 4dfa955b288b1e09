"""Vector-valued expressions: a top-level list [f, g, ...] is one tape with an output per
component; component(k) is component k as a scalar expression, and evaluate_outputs computes
every component in one fold."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch
from matplotlib.mathtext import MathTextParser

from autodiffcli import lang
from autodiffcli.engines import reverse, taylor
from autodiffcli.errors import ExpressionError
from autodiffcli.verify import references

XY = ("x", "y")
VECTOR = "[x*y, x + y^2]"


def message(text: str, variables=XY) -> str:
    with pytest.raises(ExpressionError) as caught:
        lang.parse(text, variables)
    return str(caught.value)


def grid() -> list[torch.Tensor]:
    x = torch.tensor([-1.5, 0.0, 0.5, 2.0], dtype=torch.float64)
    y = torch.tensor([0.25, -2.0, 1.0, 3.0], dtype=torch.float64)
    return [x, y]


# ----- Parsing -----


def test_a_top_level_list_has_one_output_per_component():
    parsed = lang.parse(VECTOR, XY)
    assert parsed.is_vector and len(parsed.outputs) == 2 and parsed.variables == XY


def test_a_scalar_expression_has_its_last_node_as_its_one_output():
    parsed = lang.parse("sin(x) * 2")
    assert parsed.outputs == (len(parsed.nodes) - 1,) and not parsed.is_vector


def test_an_expression_built_without_outputs_gets_the_scalar_default():
    nodes = lang.parse("x + 1").nodes
    assert lang.Expression("x + 1", nodes).outputs == (2,)


def test_components_share_what_they_have_in_common():
    parsed = lang.parse("[exp(-x^2) * y, exp(-x^2) + y]", XY)
    assert [node.op for node in parsed.nodes].count("exp") == 1


def test_within_one_component_a_repeated_sub_expression_stays_two_nodes():
    parsed = lang.parse("[sin(x) + sin(x), sin(x)]")
    assert [node.op for node in parsed.nodes].count("sin") == 2


def test_a_component_may_be_a_node_another_uses():
    parsed = lang.parse("[x + y, x]", XY)
    assert parsed.outputs == (2, 0)


def test_a_list_inside_an_expression_is_refused():
    assert message("sin([x, y])") == (
        "a list (at column 5) is allowed only around the whole expression, where it makes a "
        "vector-valued function, as in [x*y, x + y]"
    )


def test_an_empty_list_is_refused():
    assert message("[]").startswith("an empty list is not a function")


def test_a_one_element_list_is_refused_not_read_as_its_element():
    assert message("[x]").startswith("a list of one component is not a function: write a scalar")


def test_a_comparison_as_a_component_is_refused():
    assert message("[x > 0, y]").startswith("a comparison gives true/false")


def test_a_tuple_is_still_refused():
    assert "tuples not allowed" in message("x, y")


# ----- component(k) -----


def test_component_has_its_own_text():
    parsed = lang.parse("[x*y, x + y^2]", XY)
    assert [parsed.component(k).text for k in range(2)] == ["x*y", "x + y^2"]


def test_component_is_the_tape_its_text_gives():
    parsed = lang.parse("[exp(-x^2) * y, log(y) - exp(-x^2)]", XY)
    for k in range(2):
        component = parsed.component(k)
        assert component.nodes == lang.parse(component.text, XY).nodes
        assert component.variables == XY and not component.is_vector


def test_component_of_a_reused_node_is_in_the_order_its_text_gives():
    parsed = lang.parse("[y*2, x + y*2]", XY)  # x + y*2 reads y*2 of the first component
    assert parsed.component(1).nodes == lang.parse("x + y*2", XY).nodes


def test_component_of_a_tape_built_by_hand_is_pruned_in_tape_order():
    tape = lang.parse("[y*2, x + y*2]", XY).nodes
    built = lang.Expression("two outputs", tape, XY, outputs=(2, 4))
    component = built.component(1)
    assert component.text == "two outputs[1]" and len(component.nodes) == 5
    assert [node.op for node in component.nodes] == ["var", "const", "mul", "var", "add"]


def test_a_scalar_expression_is_its_own_component_0():
    parsed = lang.parse("x + 1")
    assert parsed.component(0) is parsed
    with pytest.raises(IndexError):
        parsed.component(1)


# ----- Evaluation -----


def test_evaluate_outputs_agrees_with_each_component_bit_for_bit():
    text = "[where(x > 0, sqrt(x), 0) * y, sqrt(x) + max(x, y), exp(-x^2) * y, 3]"
    parsed = lang.parse(text, XY)
    outputs = lang.evaluate_outputs(parsed, grid())
    assert len(outputs) == 4
    for k, output in enumerate(outputs):
        expected = lang.evaluate(parsed.component(k), grid())
        assert output.shape == grid()[0].shape
        np.testing.assert_array_equal(output.numpy(), expected.numpy())


def test_evaluate_outputs_of_a_scalar_expression_is_its_value():
    parsed = lang.parse("x*y", XY)
    (output,) = lang.evaluate_outputs(parsed, grid())
    assert output.tolist() == lang.evaluate(parsed, grid()).tolist()


class _CountExp(torch.overrides.TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += func is torch.exp
        return func(*args, **(kwargs or {}))


def test_evaluate_outputs_computes_a_shared_node_once():
    parsed = lang.parse("[exp(-x^2) * y, exp(-x^2) + y]", XY)
    with _CountExp() as counter:
        lang.evaluate_outputs(parsed, grid())
    assert counter.calls == 1


def test_evaluate_and_function_of_refuse_a_vector():
    parsed = lang.parse(VECTOR, XY)
    with pytest.raises(ValueError, match="vector-valued"):
        lang.evaluate(parsed, grid())
    with pytest.raises(ValueError, match="component"):
        lang.function_of(parsed)


def test_each_components_derivatives_by_both_engines_agree():
    parsed = lang.parse("[where(x > y, sqrt(x - y), x*y), max(x, y)^2]", XY)
    for k in range(2):
        component = parsed.component(k)
        for wrt in range(2):
            by_reverse = reverse.derivatives(lang.function_of(component), grid(), 3, wrt)
            by_taylor = taylor.derivatives(component, grid(), 3, wrt)
            for a, b in zip(by_reverse, by_taylor, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_a_guarded_branch_of_one_component_leaks_no_nan_beside_another():
    # sqrt(x) is one node read by both components: guarded in the first, not in the second.
    parsed = lang.parse("[where(x > 0, sqrt(x), 0), sqrt(x)]")
    x = torch.tensor([-1.0, 4.0], dtype=torch.float64, requires_grad=True)
    guarded, plain = lang.evaluate_outputs(parsed, [x])
    (slope,) = torch.autograd.grad(guarded.sum(), x)
    assert slope.tolist() == [0.0, 0.25] and math.isnan(plain[0].item())


# ----- The other compilers -----


def test_python_source_of_a_vector_is_a_tuple_that_runs():
    parsed = lang.parse("[x*y, where(x > 0, log(x), y), 2]", XY)
    x, y = grid()
    namespace = {"torch": torch, "math": math, "x": x, "y": y}
    printed = eval(lang.python_source(parsed), namespace)  # noqa: S307 - our own output
    assert isinstance(printed, tuple) and len(printed) == 3
    for value, expected in zip(printed, lang.evaluate_outputs(parsed, grid()), strict=True):
        np.testing.assert_array_equal((value + torch.zeros_like(x)).numpy(), expected.numpy())


def test_latex_of_a_vector_is_a_bracketed_list_that_renders():
    latex = lang.latex(lang.parse(VECTOR, XY))
    assert latex == r"\left[x y,\ x + y^{2}\right]"
    MathTextParser("path").parse(f"${latex}$")


def test_the_sympy_reference_is_built_per_component():
    parsed = lang.parse(VECTOR, XY)
    x, y = references.symbols(parsed)
    with pytest.raises(ValueError, match="component"):
        references.sympy_expression(parsed)
    formulas = [references.sympy_expression(parsed.component(k)) for k in range(2)]
    assert [sp.simplify(f - g) for f, g in zip(formulas, [x * y, x + y**2], strict=True)] == [0, 0]
