"""`autodiff explain` says nothing false: a corpus of expressions (constants, x itself, corners,
poles, overflow, undefined ranges, identities, long nests; orders 1-3; with and without a
trace), each lesson read claim by claim. Every boolean the lesson states is recomputed here
with torch (or sympy, for what torch cannot know), and every cost sentence is held against the
counts printed beside it.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import sympy
import torch

from autodiffcli import lang
from autodiffcli.engines import graph
from autodiffcli.lesson import costs, probes, reasons, sections
from autodiffcli.lesson.report import render_json, render_text
from autodiffcli.verify.references import symbols, sympy_expression

# torch against sympy's exact value where the lesson calls a value f'(x) (float64 paths).
EXACT_RTOL = 1e-8
# One-sided slopes further apart than this (relative) make a corner.
CORNER_GAP = 1e-3
D2L = "log(x^2)*sin(x) + 1/x"
DEFAULT = (-5.0, 5.0, 5)

# (expression, (start, stop, points) or None for the default points, order, trace point)
CORPUS = [
    # constants and x itself
    ("3", DEFAULT, 1, None),
    ("pi", DEFAULT, 2, 1.0),
    ("2*e - 1", DEFAULT, 3, None),
    ("x", DEFAULT, 3, None),
    ("+x", DEFAULT, 1, 2.0),
    ("-x", DEFAULT, 2, None),
    # corners
    ("abs(x)", DEFAULT, 2, 0.0),
    ("relu(x)", (-1.0, 1.0, 3), 2, 0.0),
    ("abs(x - 1)*x", (-1.0, 3.0, 5), 3, 1.0),
    ("relu(x)**2", (-1.0, 1.0, 3), 2, None),
    ("abs(sin(x))", (-3.0, 3.0, 3), 1, 0.0),
    # poles
    ("1/x", (-1.0, 1.0, 3), 1, 0.0),
    ("1/(x - 1)^2", (-1.0, 3.0, 5), 2, 1.0),
    ("tan(x)", DEFAULT, 3, None),
    ("1/sin(x)", (-3.0, 3.0, 3), 1, None),
    ("exp(1/x)", (-1.0, 1.0, 3), 1, 0.5),
    # overflow of float64
    ("exp(x**2)", (20.0, 30.0, 3), 1, 30.0),
    ("cosh(x)", (700.0, 720.0, 3), 2, None),
    ("x**300", (10.0, 20.0, 3), 1, 20.0),
    ("exp(x) - exp(x)", (700.0, 720.0, 3), 1, 720.0),
    # undefined ranges
    ("log(x)", (-2.0, 2.0, 5), 1, -1.0),
    ("log(x)", DEFAULT, 2, None),
    ("sqrt(x)", (-1.0, 1.0, 3), 2, 0.0),
    ("asin(x)", (-2.0, 2.0, 5), 1, 1.0),
    ("acosh(x)", DEFAULT, 1, None),
    ("log(-abs(x))", (-1.0, 1.0, 3), 1, None),
    ("x**x", DEFAULT, 1, 0.0),
    ("atanh(x)", (-1.0, 1.0, 3), 2, None),
    ("sqrt(-1 - x^2)", (-1.0, 1.0, 3), 1, 0.0),
    # identities
    ("sin(x)**2 + cos(x)**2", DEFAULT, 2, 1.0),
    ("exp(log(x))", (-1.0, 2.0, 4), 1, 1.0),
    ("log(exp(x))", DEFAULT, 1, None),
    ("sqrt(x^2)", (-1.0, 1.0, 3), 1, 0.0),
    ("x/x", (-1.0, 1.0, 3), 1, None),
    ("x - x", DEFAULT, 2, None),
    ("0*x", DEFAULT, 1, 1.0),
    # long nests and the d2l function
    ("sin(cos(tan(exp(log1p(x^2)))))", (-1.0, 1.0, 3), 2, 0.5),
    ("atan(atan(atan(atan(x))))", DEFAULT, 3, 1.0),
    ("sigmoid(softplus(sinc(x)))*erf(x)", DEFAULT, 2, None),
    ("expm1(x)/x", DEFAULT, 1, 0.0),
    ("cbrt(x)*exp(-x^2)", DEFAULT, 2, 0.0),
    (D2L, DEFAULT, 3, 1.0),
    (D2L, (-2.0, 2.0, 5), 1, 0.0),
]


def lesson(case):
    text, grid, order, x0 = case
    parsed = lang.parse(text)
    if grid is DEFAULT:
        chosen = reasons.default_points(parsed, *DEFAULT)
        x = torch.tensor(chosen.points, dtype=torch.float64)
        notes = chosen.notes
    else:
        x = torch.linspace(*grid, dtype=torch.float64)
        notes = []
    return parsed, x, sections.explain(parsed, x, order, trace_at=x0, notes=notes)


def by_key(report) -> dict:
    return {s.key: s for s in report.sections}


def facts(section) -> dict:
    return {b["name"]: b["value"] for b in section.blocks if b["kind"] == "fact"}


def prose(section) -> str:
    return " ".join(b["text"] for b in section.blocks if b["kind"] == "text")


def torch_slopes(f, points) -> np.ndarray:
    leaf = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    y = f(leaf)
    if not y.requires_grad:
        return np.zeros(len(points))
    (grad,) = torch.autograd.grad(y.sum(), leaf, materialize_grads=True)
    return grad.numpy()


def sympy_at(parsed, point: float, k: int):
    """sympy's k-th derivative at the point, by subs and evalf (not the references' mpmath
    path), as a sympy number."""
    (variable,) = symbols(parsed)
    formula = sympy.diff(sympy_expression(parsed), variable, k) if k else sympy_expression(parsed)
    try:
        return formula.subs(variable, sympy.Float(point, 40)).evalf(30)
    except (TypeError, ValueError, ZeroDivisionError):
        return sympy.nan


def is_real_finite(value) -> bool:
    return bool(value.is_number and value.is_real and value.is_finite)


def close_to(value, number: float) -> bool:
    """sympy's ``value`` is real and within EXACT_RTOL of ``number`` (a float)."""
    return is_real_finite(value) and math.isclose(
        float(value), number, rel_tol=EXACT_RTOL, abs_tol=1e-12
    )


def is_corner(f, point: float) -> bool:
    h = 2.0**-30 * max(1.0, abs(point))
    left, right = torch_slopes(f, [point - h, point + h])
    return bool(abs(left - right) > CORNER_GAP * (1 + abs(left) + abs(right)))


@pytest.fixture(scope="module", params=range(len(CORPUS)), ids=[f"{c[0]}-k{c[2]}" for c in CORPUS])
def read(request):
    case = CORPUS[request.param]
    parsed, x, report = lesson(case)
    return case, parsed, x, report, by_key(report)


def test_corpus_covers_the_kinds_the_issue_lists():
    texts = {case[0] for case in CORPUS}
    assert len(texts) >= 40
    assert {case[2] for case in CORPUS} == {1, 2, 3}
    assert any(case[3] is None for case in CORPUS) and any(case[3] is not None for case in CORPUS)


def test_each_row_where_f_or_f_prime_is_not_finite_is_explained_once(read):
    case, parsed, x, report, parts = read
    f = lang.function_of(parsed)
    goal = prose(parts["goal"])
    values = f(x).numpy()
    slopes = torch_slopes(f, x.tolist())
    undefined = facts(parts["goal"])["undefined"]
    for i in range(len(x)):
        bad = not (math.isfinite(values[i]) and math.isfinite(slopes[i]))
        assert (str(i) in undefined) == bad
        assert goal.count(f"Row {i}: ") <= 1


def test_rows_called_not_the_derivative_are_corners_or_differ_from_sympy(read):
    case, parsed, x, report, parts = read
    f = lang.function_of(parsed)
    slopes = torch_slopes(f, x.tolist())
    for i in facts(parts["goal"])["not_derivative"]:
        point = float(x[int(i)])
        exact = sympy_at(parsed, point, 1)
        corner = is_corner(f, point)
        differs = not close_to(exact, slopes[int(i)])
        assert corner or differs, (case, point)


def test_slopes_called_exact_are_sympys_derivative(read):
    case, parsed, x, report, parts = read
    f = lang.function_of(parsed)
    slopes = torch_slopes(f, x.tolist())
    for i, kind in enumerate(facts(parts["goal"])["slope_verdicts"]):
        if kind != "exact":
            continue
        exact = sympy_at(parsed, float(x[i]), 1)
        if math.isinf(slopes[i]):
            assert not is_real_finite(exact) or abs(float(exact)) > np.finfo(np.float64).max
            continue
        assert close_to(exact, slopes[i]), (case, float(x[i]))
        assert not is_corner(f, float(x[i])), (case, float(x[i]))


def test_the_diagonal_is_called_f_prime_only_where_every_point_is_confirmed(read):
    case, parsed, x, report, parts = read
    goal = facts(parts["goal"])
    confirmed = all(kind == "exact" for kind in goal["slope_verdicts"]) and not goal["undefined"]
    assert ("as sympy's exact f' confirms at every point" in prose(parts["why"])) == confirmed


def test_x_itself_and_constants_are_told_apart_by_torch(read):
    case, parsed, x, report, parts = read
    leaf = x.clone().requires_grad_(True)
    y = lang.function_of(parsed)(leaf)
    text = prose(parts["graph"])
    assert ("does not depend on x" in text) == (not y.requires_grad)
    assert ("f is x itself" in text) == (y.requires_grad and y.grad_fn is None)
    assert facts(parts["graph"])["is_x"] == (y.requires_grad and y.grad_fn is None)


def test_the_cumsum_demo_says_it_coincides_with_f_prime_exactly_when_it_does(read):
    case, parsed, x, report, parts = read
    shown = facts(parts["misleading"])
    trick, per_point = np.array(shown["sum_trick"]), np.array(shown["vmap_grad"])
    finite = np.isfinite(trick) & np.isfinite(per_point)
    same = bool(np.allclose(trick[finite], per_point[finite], rtol=1e-12, atol=1e-12))
    assert shown["sum_trick_is_per_point"] == same
    assert ("happens to equal torch's f'" in prose(parts["misleading"])) == same
    column_sums = np.array(shown["column_sums"])
    lower = np.triu(np.array(shown["jacobian"], dtype=float), 1)
    assert shown["lower_triangular"] == bool(np.all(lower[np.isfinite(lower)] == 0))
    finite = np.isfinite(trick) & np.isfinite(column_sums)
    assert shown["sum_trick_is_column_sums"] == bool(
        np.allclose(trick[finite], column_sums[finite], rtol=1e-12, atol=1e-12)
    )


def test_pass_counts_in_the_text_are_the_ones_counted(read):
    case, parsed, x, report, parts = read
    shown = facts(parts["modes"])
    many, one = shown["many_in_one_out"], shown["one_in_many_out"]
    text = prose(parts["modes"])
    constant = not lang.function_of(parsed)(x.clone().requires_grad_(True)).requires_grad
    assert (many["reverse_passes"] == 0) == constant
    if constant:
        assert "made no backward pass" in text and "follow the counts" not in text
        return
    assert (many["forward_passes"], many["reverse_passes"]) == (many["inputs"], 1)
    assert (one["forward_passes"], one["reverse_passes"]) == (1, one["outputs"])
    assert (
        f"forward made {many['forward_passes']} passes and reverse {many['reverse_passes']}" in text
    )
    assert f"forward made {one['forward_passes']} and reverse {one['reverse_passes']}" in text


def test_the_timing_sentence_for_equal_times_says_they_took_as_long():
    many_in = probes.JacobianCost(32, 1, 32, 1, 1e-3, 1e-3, probes.compare([1.0], [1.0]))
    one_in = probes.JacobianCost(1, 32, 1, 32, 1e-3, 1e-3, probes.compare([1.0], [1.0]))
    text = costs.timing_text(many_in, one_in)
    assert text.startswith("The times do not follow the counts here")
    assert "forward mode's 32 passes took as long as reverse mode's 1" in text
    assert "forward mode's 1 pass took as long as reverse mode's 32" in text
    assert "1,000 microseconds" in text


def test_the_timing_sentence_agrees_with_the_times_printed(read):
    case, parsed, x, report, parts = read
    shown = facts(parts["modes"])
    text = prose(parts["modes"])
    if shown["many_in_one_out"]["reverse_passes"] == 0:
        return

    def follows(cost):
        forward, reverse = cost["forward_seconds"], cost["reverse_seconds"]
        if cost["forward_passes"] < cost["reverse_passes"]:
            return forward < reverse
        return reverse < forward

    follow = follows(shown["many_in_one_out"]) and follows(shown["one_in_many_out"])
    assert shown["times_follow_counts"] == follow
    assert ("The times follow the counts here" in text) == follow
    assert ("The times do not follow the counts here" in text) == (not follow)


def test_the_memory_sentence_gives_the_counted_tensors_and_bytes(read):
    case, parsed, x, report, parts = read
    saved = facts(parts["modes"])["saved_tensors"]["reverse"]
    text = prose(parts["modes"])
    if saved["tensors"] == 0:
        assert "autograd saved no tensors" in text
        return
    assert f"saved {saved['tensors']} tensor" in text
    assert f"{saved['bytes'] / 1e6:.3g} MB" in text
    assert (f"views of {saved['storages']} distinct" in text) == (
        saved["storages"] != saved["tensors"]
    )


def test_graph_growth_is_stated_as_counted(read):
    case, parsed, x, report, parts = read
    if "higher" not in parts:
        return
    shown = facts(parts["higher"])
    nodes, text = shown["graph_nodes"], prose(parts["higher"])
    assert f"hold {', '.join(str(n) for n in nodes)} nodes" in text
    more = [k for k in range(1, len(nodes)) if nodes[k] > nodes[k - 1]]
    fewer = [k for k in range(1, len(nodes)) if nodes[k] < nodes[k - 1]]
    assert ("more than the order before" in text) == bool(more)
    assert ("fewer than the order before" in text) == bool(fewer)
    assert "grows by" not in text and "x per order" not in text


def test_graph_counts_and_graphlessness_are_torchs(read):
    case, parsed, x, report, parts = read
    if "higher" not in parts:
        return
    shown = facts(parts["higher"])
    f = lang.function_of(parsed)
    leaf = x.clone().requires_grad_(True)
    output = f(leaf)
    counts, graphed = [graph.count_nodes(output)], [output.requires_grad]
    for _ in range(len(shown["graph_nodes"]) - 1):
        if output.requires_grad:
            (output,) = torch.autograd.grad(
                output.sum(), leaf, create_graph=True, materialize_grads=True
            )
        else:
            output = torch.zeros_like(leaf)
        counts.append(graph.count_nodes(output))
        graphed.append(output.requires_grad)
    assert shown["graph_nodes"] == counts and shown["graphed"] == graphed
    text = prose(parts["higher"])
    assert ("has no graph" in text) == (graphed[0] and not all(graphed))


def test_the_trace_calls_its_slope_f_prime_only_where_sympy_confirms_it(read):
    case, parsed, x, report, parts = read
    if "trace" not in parts:
        return
    x0 = case[3]
    text = prose(parts["trace"])
    rows = facts(parts["trace"])["nodes"]
    f = lang.function_of(parsed)
    value = float(f(torch.tensor([x0], dtype=torch.float64))[0])
    slope = torch_slopes(f, [x0])[0]
    exact = sympy_at(parsed, x0, 1)
    claimed = f"both are f'({x0:g})" in text
    if claimed:
        assert math.isfinite(value) and rows[-1]["tangent"] == pytest.approx(slope, rel=1e-12)
        assert close_to(exact, slope)
        assert not is_corner(f, x0)
    if not math.isfinite(value):
        assert not claimed
        assert "does not exist" in text or "neither is finite" in text or "differ" in text


def test_overflow_and_singularity_are_told_apart_by_the_exact_value(read):
    case, parsed, x, report, parts = read
    for i, reason in facts(parts["goal"])["undefined"].items():
        exact = sympy_at(parsed, float(x[int(i)]), 0)
        if "overflows float64" in reason:
            assert is_real_finite(exact) and abs(float(exact)) > np.finfo(np.float64).max
        if "cannot be computed in float64" in reason:
            assert "beyond float64's largest value" in reason
        if "is a singularity" in reason:
            assert not is_real_finite(exact) or "then f" in reason


def test_node_names_appear_only_where_the_numbering_is_shown(read):
    case, parsed, x, report, parts = read
    for key in ("goal", "why", "fix", "misleading", "graph", "modes", "higher"):
        if key in parts:
            assert not re.search(r"\bv\d+\b", prose(parts[key])), key


def test_negative_operands_are_parenthesised(read):
    case, parsed, x, report, parts = read
    text = render_text(report)
    assert not re.search(r"[-+*/^] -\d", text)


def test_the_json_is_strict(read):
    case, parsed, x, report, parts = read
    data = json.loads(render_json(report), parse_constant=pytest.fail)
    assert [s["key"] for s in data["sections"]] == [s.key for s in report.sections]


# ----- The issue's reproducers, one behaviour each -----


def explained(text: str, points=(-5.0, 5.0, 5), order: int = 1, trace_at=None):
    x = torch.linspace(*points, dtype=torch.float64)
    return by_key(sections.explain(lang.parse(text), x, order, trace_at=trace_at))


def test_x_itself_is_not_called_a_function_without_derivative():
    parts = explained("x", order=3)
    assert "f is x itself" in prose(parts["graph"])
    assert "every derivative is 0" not in render_text_of(parts)


def render_text_of(parts: dict) -> str:
    return " ".join(prose(section) for section in parts.values())


def test_a_trace_where_f_is_undefined_does_not_call_its_slope_f_prime():
    text = prose(explained("log(x)", (-2.0, 2.0, 3), trace_at=-1.0)["trace"])
    assert "both are f'(-1)" not in text
    assert "f is undefined at x = -1, so f'(-1) does not exist" in text


def test_an_undefined_row_says_torchs_slope_there_is_not_a_derivative_once():
    goal = prose(explained("log(x)", (-5.0, 5.0, 3))["goal"])
    assert goal.count("Row 0: ") == 1
    assert "f'(-5) does not exist either, though torch's rules still give -0.2" in goal


def test_a_corner_is_named_as_torchs_convention_with_the_one_sided_slopes():
    text = prose(explained("abs(x)", (-1.0, 1.0, 3), trace_at=0.0)["trace"])
    assert "both are f'(0)" not in text
    assert "corner at x = 0" in text and "slopes just left and right of it are -1 and 1" in text


def test_the_second_derivative_at_a_corner_is_said_not_to_exist():
    text = prose(explained("relu(x)", (-1.0, 1.0, 3), order=2)["higher"])
    assert "so f'(0) does not exist, nor does f''(0)" in text


def test_a_slope_sympy_contradicts_is_named_with_sympys_value():
    goal = prose(explained("x**x", (-1.0, 1.0, 3))["goal"])
    assert "torch gives f'(0) = 0, but sympy's exact f' is -inf there" in goal


def test_overflow_of_float64_is_not_called_an_infinity():
    goal = prose(explained("exp(x**2)", (20.0, 30.0, 3))["goal"])
    assert "f overflows float64 at x = 30: exp(900) is about 7.32881e+390" in goal
    assert "infinite" not in goal


def test_a_pole_is_called_undefined():
    goal = prose(explained("1/x", (-1.0, 1.0, 3))["goal"])
    assert "f is undefined at x = 0: 1 / 0 is a singularity" in goal


def test_negative_operands_of_an_operator_are_in_parentheses():
    reason = reasons.why_not_finite(lang.parse("x**x"), -2.5)
    assert reason == "f is undefined at x = -2.5: (-2.5) ^ (-2.5) has no real value"


def test_saved_tensors_and_their_distinct_storages_are_both_counted():
    parts = explained(D2L, (-2.0, 2.0, 4))
    saved = facts(parts["modes"])["saved_tensors"]["reverse"]
    assert saved["tensors"] > saved["storages"]
    assert (
        f"saved {saved['tensors']} tensors, views of {saved['storages']} distinct blocks"
        in prose(parts["modes"])
    )


def test_the_cumsum_demo_says_when_its_numbers_coincide_with_f_prime():
    text = prose(explained("relu(x)", (-1.0, 1.0, 3))["misleading"])
    assert "happens to equal torch's f' at every point shown" in text
    assert "not a per-point derivative" not in text


def test_a_careful_formulation_is_named_with_the_nodes_torch_recorded():
    parts = explained("atan(x)", (-1.0, 1.0, 3))
    recorded = {row["node"] for row in facts(parts["graph"])["graph"]}
    text = prose(parts["graph"])
    assert "atan is computed by a numerically careful formulation" in text
    named = re.search(r"recorded its operations: (.*?);", text).group(1).split(", ")
    assert set(named) <= recorded and "WhereBackward0" in named


def test_a_default_point_that_stays_says_what_was_tried():
    chosen = reasons.default_points(lang.parse("log(x)"), -5, 5, 5)
    assert chosen.notes[0] == (
        "The default point x = -5 stays, though f or f' is not finite there: f and f' are "
        "not finite at any point tried within 1 of it either."
    )


def test_the_one_input_jacobian_is_described_before_its_row():
    text = prose(explained("sin(x)", (-1.0, 1.0, 3))["modes"])
    assert "of s -> (f(s), f(2s), ..., f(32s)) at s = -1 (1 input, 32 outputs)" in text


def test_the_trace_gives_local_partials_as_formulas_and_sympys_assembled_slope():
    parts = explained(D2L, (-2.0, 2.0, 5), trace_at=1.0)
    formulas = facts(parts["trace"])["formulas"]
    assert "v3 = log(v2): dv3/dv2 = 1/v2 = 1" in formulas
    assert "v5 = v3*v4: dv5/dv3 = v4 = 0.841471; dv5/dv4 = v3 = 0" in formulas
    (x,) = symbols(lang.parse(D2L))
    assembled = sympy.diff(sympy_expression(lang.parse(D2L)), x)
    text = prose(parts["trace"])
    assert f"df/dx = {assembled}. At x = 1 it gives 0.682942, the adjoint of x above" in text


def test_order_zero_still_explains_f_prime():
    parts = explained("abs(x)", (-1.0, 1.0, 3), order=0)
    assert "Row 1: f has a corner at x = 0" in prose(parts["goal"])
    assert "higher" not in parts


def test_an_overflow_far_beyond_float64_is_written_as_a_power_of_ten():
    reason = reasons.why_not_finite(lang.parse("exp(exp(exp(x)))"), 6.0)
    assert "exp(1.61027e+175) is about 10^6.99332e+174, beyond float64's largest" in reason
