"""`autodiff explain` for f of several variables and vector-valued f, at one point: the sum
trick's verdict on the classic maps, and a corpus of vector functions (2 and 3 variables, square
and not, some undefined at their point) whose every boolean fact is recomputed here with torch,
independently of the lesson's own experiments.
"""

from __future__ import annotations

import json

import pytest
import torch
from support import invoke

from autodiffcli import job, lang, run
from autodiffcli.lesson import picture, several

# Two torch paths to one number agree within this (the lesson's own CLAIM_RTOL is 1e-12).
RTOL = 1e-10
ATOL = 1e-12
SOFTMAX = "[exp(x)/(exp(x)+exp(y)), exp(y)/(exp(x)+exp(y))]"

# (expression, point): 2 and 3 variables, square and not, undefined at some points
CORPUS = [
    ("[x*y, x + y^2]", "x=1,y=2"),
    (SOFTMAX, "x=1,y=2"),
    ("[sin(x), y^2]", "x=1,y=2"),
    ("[y, x]", "x=1,y=2"),
    ("[x*y, x+y, x-y]", "x=1,y=2"),
    ("[x*y*z, x+z]", "x=1,y=2,z=3"),
    ("[sin(x), cos(y), exp(z)]", "x=0.5,y=1,z=2"),
    ("[x+y+z, x*y, y*z]", "x=1,y=2,z=3"),
    ("[x^2, y^2, z^2]", "x=1,y=-2,z=3"),
    ("[atan(y/x), sqrt(x^2+y^2)]", "x=1,y=1"),
    ("[x*cos(y), x*sin(y)]", "x=2,y=0.5"),
    ("[exp(x)*sin(y), exp(x)*cos(y), x*y*z]", "x=0.1,y=0.2,z=0.3"),
    ("[tanh(x+y), tanh(x-y)]", "x=0.3,y=0.1"),
    ("[max(x, y), min(x, y)]", "x=1,y=2"),
    ("[where(x > 0, x, y), y]", "x=1,y=2"),
    ("[x*y, y*z, z*x, x+y+z]", "x=1,y=2,z=3"),
    ("[x*y - y*x, x]", "x=1,y=2"),
    # undefined at the point
    ("[log(x*y), x]", "x=-1,y=1"),
    ("[x*y, 1/(x-y)]", "x=1,y=1"),
    ("[sqrt(x), sqrt(y)]", "x=0,y=1"),
    ("[sqrt(x*y), x]", "x=0,y=1"),
    ("[sqrt(x*y), y]", "x=0,y=1"),
    ("[log(x), log(y), log(z)]", "x=1,y=-1,z=2"),
    ("[x/y, y/x]", "x=0,y=1"),
    ("[asin(x+y), acos(x-y), z]", "x=1,y=1,z=0"),
]


def lesson_of(text: str, at: str | None = None, trace: str | None = None, order: int | None = None):
    problem = job.prepare(text, at=None if at is None else [at], default_num=5, order=order)
    request = run.LessonRequest(
        run.trace_point(problem, trace), chosen_points=at is not None, move_undefined=False
    )
    run.check_lesson(problem, request)
    return problem, run.lesson(problem, request)


def facts(report) -> dict[str, dict]:
    return {
        s.key: {b["name"]: b["value"] for b in s.blocks if b["kind"] == "fact"}
        for s in report.sections
    }


def prose(report, key: str) -> str:
    section = next(s for s in report.sections if s.key == key)
    return " ".join(b["text"] for b in section.blocks if b["kind"] == "text")


# ----- the test's own torch, apart from the lesson's -----


def component_function(problem, k: int, constants: dict):
    """f_k as a function of the point p (n,), evaluated on its own tape."""
    expression = problem.expression.component(k)

    def f(p):
        by_name = dict(zip(problem.free, p.unbind(-1), strict=True))
        inputs = [
            by_name[n].reshape(1) if n in by_name else torch.tensor([constants[n]]).double()
            for n in expression.variables
        ]
        return lang.evaluate_outputs(expression, inputs)[0].reshape(())

    return f


def whole_function(problem, constants: dict):
    """f as a map R^n -> R^m, all outputs on one tape (as a user would stack them)."""

    def f(p):
        by_name = dict(zip(problem.free, p.unbind(-1), strict=True))
        inputs = [
            by_name[n].reshape(1) if n in by_name else torch.tensor([constants[n]]).double()
            for n in problem.expression.variables
        ]
        return torch.cat(lang.evaluate_outputs(problem.expression, inputs))

    return f


def same_where_finite(a, b, rtol=RTOL, atol=ATOL) -> bool:
    a = torch.as_tensor(a, dtype=torch.float64).flatten()
    b = torch.as_tensor(b, dtype=torch.float64).flatten()
    finite = torch.isfinite(a) & torch.isfinite(b)
    return bool(((a - b).abs() <= atol + rtol * b.abs())[finite].all())


def identical(a, b) -> bool:
    """Equal entry by entry, NaN matching NaN and inf the same inf."""
    a = torch.as_tensor(a, dtype=torch.float64).flatten()
    b = torch.as_tensor(b, dtype=torch.float64).flatten()
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


def close_or_same_nonfinite(a, b) -> bool:
    """Within RTOL/ATOL where both are finite, and the same NaN or inf elsewhere."""
    a, b = torch.as_tensor(a).flatten(), torch.as_tensor(b).flatten()
    finite = torch.isfinite(a) & torch.isfinite(b)
    return same_where_finite(a, b) and identical(a[~finite], b[~finite])


def tensor(value) -> torch.Tensor:
    return torch.tensor(
        [float("nan") if v is None else v for v in _flat(value)], dtype=torch.float64
    )


def _flat(value):
    if isinstance(value, list):
        for item in value:
            yield from _flat(item)
    else:
        yield value


@pytest.fixture(scope="module", params=CORPUS, ids=[f"{t} at {a}" for t, a in CORPUS])
def case(request):
    text, at = request.param
    problem, report = lesson_of(text, at, order=2)
    point = dict(pair.split("=") for pair in at.split(","))
    p = torch.tensor([float(point[n]) for n in problem.free], dtype=torch.float64)
    rows = [
        torch.autograd.functional.jacobian(component_function(problem, k, {}), p)
        for k in range(problem.outputs)
    ]
    J = torch.stack(rows)
    values = whole_function(problem, {})(p)
    return problem, report, facts(report), p, J, values


# ----- the classic maps -----


def test_the_sum_trick_is_wrong_on_x_times_y_and_x_plus_y_squared():
    _, report = lesson_of("[x*y, x + y^2]", "x=1,y=2")
    sums = facts(report)["sum"]
    assert sums["verdict"] == "not_diagonal" and sums["gives_each_output_derivative"] is False
    assert sums["column_sums"] == [3.0, 5.0] and sums["diagonal"] == [2.0, 4.0]
    assert "the sum trick does not give each output's derivative" in prose(report, "sum")


def test_the_sum_trick_is_wrong_on_a_softmax():
    _, report = lesson_of(SOFTMAX, "x=1,y=2")
    sums = facts(report)["sum"]
    assert sums["verdict"] == "not_diagonal" and sums["gives_each_output_derivative"] is False
    assert sums["column_sums"] == pytest.approx([0.0, 0.0], abs=1e-15)  # softmax sums to 1


def test_the_sum_trick_is_right_on_an_elementwise_map():
    _, report = lesson_of("[sin(x), y^2]", "x=1,y=2")
    sums = facts(report)["sum"]
    assert sums["verdict"] == "diagonal" and sums["gives_each_output_derivative"] is True
    assert sums["column_sums"] == sums["diagonal"] == [pytest.approx(0.5403023058681398), 4.0]


def test_a_scalar_f_of_two_variables_has_its_gradient_from_y_backward_and_the_sum_trick():
    _, report = lesson_of("x^2*y", "x=1,y=2")
    got = facts(report)
    assert got["naive"]["error"] is None and got["naive"]["gradient"] == [4.0, 1.0]
    assert got["sum"]["verdict"] == "scalar" and got["sum"]["grad_sum"] == [4.0, 1.0]
    assert "the gradient of f" in prose(report, "sum")


def test_y_backward_on_a_vector_fails_with_torchs_own_message():
    _, report = lesson_of("[x*y, x + y^2]", "x=1,y=2")
    leaf = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError) as raised:
        torch.stack([leaf[0] * leaf[1], leaf[0] + leaf[1] ** 2]).backward()
    assert facts(report)["naive"]["error"] == str(raised.value)


def test_backward_v_is_v_times_J_on_the_vector_1_minus_2():
    _, report = lesson_of("[x*y, x + y^2]", "x=1,y=2")
    vjp = facts(report)["vjp"]
    assert vjp["v"] == [1.0, -2.0] and vjp["vjp"] == [0.0, -7.0] and vjp["vjp_is_vJ"]


def test_the_jacobian_over_stacked_points_is_block_diagonal():
    _, report = lesson_of("[x*y, x + y^2]", "x=1,y=2")
    blocks = facts(report)["blocks"]
    assert blocks["off_block_zero"] and blocks["exact_across_points"]
    J = torch.tensor(blocks["jacobian"])
    assert J.shape == (6, 6) and bool((J[:2, 2:] == 0).all() and (J[2:4, 4:] == 0).all())


def test_passes_are_counted_on_wide_shapes_built_from_f():
    _, report = lesson_of("[x*y, x + y^2]", "x=1,y=2")
    costs = facts(report)["modes"]["costs"]
    assert (costs["many_outputs"]["inputs"], costs["many_outputs"]["outputs"]) == (2, 1000)
    assert (costs["many_outputs"]["forward_passes"], costs["many_outputs"]["reverse_passes"]) == (
        2,
        1000,
    )
    assert (costs["many_inputs"]["inputs"], costs["many_inputs"]["outputs"]) == (1000, 1)
    assert (costs["many_inputs"]["forward_passes"], costs["many_inputs"]["reverse_passes"]) == (
        1000,
        1,
    )


def test_each_output_has_its_hessian_by_forward_over_reverse():
    _, report = lesson_of("[x*y, x + y^2]", "x=1,y=2", order=2)
    hessians = facts(report)["hessian"]["hessians"]
    assert [h["forward_over_reverse"] for h in hessians] == [[[0, 1], [1, 0]], [[0, 0], [0, 2]]]
    assert all(h["agree"] and h["symmetric"] for h in hessians)


def test_the_heading_names_every_variable():
    result = invoke("explain", "[x*y, x + y^2]", "--at", "x=1,y=2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("autodiff explain: f(x, y) = [x*y, x + y^2]\n")
    assert json.loads(invoke("explain", "x*y*z", "-f", "json").stdout)["variables"] == [
        "x",
        "y",
        "z",
    ]


def test_without_at_the_point_is_1_2_3_and_the_lesson_says_so():
    result = invoke("explain", "x^2*y + sin(z)", "-f", "json")
    goal = json.loads(result.stdout)["sections"][0]
    got = {b["name"]: b["value"] for b in goal["blocks"] if b["kind"] == "fact"}
    assert got["point"] == [1.0, 2.0, 3.0]
    assert "default point x = 1, y = 2, z = 3" in got["notes"][0]


def test_several_points_are_refused_in_one_line():
    result = invoke("explain", "[x*y, x+y]", "--at", "x=1,y=2", "--at", "x=2,y=3")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "at one point" in result.stderr and "--at x=1,y=2" in result.stderr


def test_a_parameter_is_a_constant_and_not_an_input():
    problem = job.prepare("a*sin(x)", param=["a=2"], default_num=5)
    report = run.lesson(problem, run.LessonRequest())
    goal = facts(report)["goal"]
    assert goal["parameters"] == {"a": 2.0} and goal["point"] == [1.0]
    assert facts(report)["jacobian"]["jacobian"] == [[pytest.approx(2 * 0.5403023058681398)]]


# ----- --trace with several inputs -----


def test_the_trace_has_a_tangent_per_input_and_adjoints_v_times_J():
    _, report = lesson_of("[x*y, x + y^2]", "x=1,y=2", trace="x=1,y=2")
    trace = facts(report)["trace"]
    inputs = {row["op"]: row for row in trace["nodes"] if row["op"] in ("x", "y")}
    assert inputs["x"]["tangents"] == {"x": 1.0, "y": 0.0}
    assert [inputs["x"]["adjoint"], inputs["y"]["adjoint"]] == [0.0, -7.0]  # v^T J, v = (1, -2)
    assert trace["tangents_are_J"] and trace["adjoints_are_vJ"] and trace["seed"] == [1.0, -2.0]


def test_trace_must_name_every_input():
    result = invoke("explain", "[x*y, x+y]", "--trace", "x=1")
    assert result.exit_code == 2 and "must give every input of f, x, y" in result.stderr
    assert "Traceback" not in result.stderr


def test_trace_of_one_variable_still_takes_a_number_and_refuses_text():
    assert invoke("explain", "sin(x)", "--trace", "0.5").exit_code == 0
    result = invoke("explain", "sin(x)", "--trace", "abc")
    assert result.exit_code == 2
    assert result.stderr == "Error: --trace must be a number, the point x0 of f(x), got 'abc'\n"


def test_the_graph_picture_shows_every_input_with_its_tangents():
    problem = job.prepare("[x*y, x + y^2]", at=["x=1,y=2"])
    rows = several.trace_rows(problem.expression, problem.free, {"x": 1.0, "y": 2.0})
    labels = picture.drawn_labels(picture.tape_figure(problem.expression, rows))
    assert any(label.startswith("v0 = x\n") for label in labels)
    assert any(label.startswith("v1 = y\n") for label in labels)
    assert any("tangent d/dx 0\ntangent d/dy 1" in label for label in labels)


def test_graph_and_dot_files_are_written_for_several_inputs(tmp_path):
    graph, dot = tmp_path / "g.svg", tmp_path / "g.dot"
    result = invoke(
        "explain", "[x*y, x + y^2]", "--trace", "x=1,y=2", "--graph", str(graph), "--dot", str(dot)
    )
    assert result.exit_code == 0, result.stderr
    assert graph.read_text().startswith("<?xml") and "tangent d/dy" in dot.read_text()


# ----- undefined points -----


def test_an_undefined_output_is_said_undefined_and_why():
    _, report = lesson_of("log(x*y)", "x=-1,y=1")
    goal = facts(report)["goal"]
    assert goal["undefined"] == {
        "f": "f is undefined at (x, y) = (-1, 1): log(-1) has no real value"
    }
    assert "though torch's rules still give finite numbers" in prose(report, "goal")
    assert "torch's gradient" in prose(report, "naive")
    assert "the gradient of f" not in prose(report, "naive").replace("not the gradient of f", "")
    assert facts(report)["sum"]["gives_each_output_derivative"] is None


def test_nothing_is_claimed_equal_where_no_entry_is_finite():
    _, report = lesson_of("[x*y, 1/(x-y)]", "x=1,y=1")
    assert "nothing to compare" in prose(report, "vjp")
    assert "nothing to compare" in prose(report, "sum")


def test_a_pole_of_one_output_leaks_nan_into_the_whole_maps_other_row_and_the_lesson_says_so():
    _, report = lesson_of("[x*y, 1/(x-y)]", "x=1,y=1")
    jac = facts(report)["jacobian"]
    assert jac["jacobian"][0] == [1.0, 1.0] and not jac["whole_map_same"]
    assert "0 * inf = nan leaks into row i" in prose(report, "jacobian")


# ----- the corpus: every boolean fact against the test's own torch -----


def test_the_corpus_covers_shapes_and_undefined_points():
    shapes = set()
    for text, at in CORPUS:
        problem = job.prepare(text, at=[at])
        shapes.add((problem.outputs == len(problem.free), len(problem.free)))
    assert len(CORPUS) >= 20 and {(True, 2), (False, 2), (True, 3), (False, 3)} <= shapes


def test_the_jacobian_is_torchs_row_by_row_and_the_whole_map_verdict_holds(case):
    problem, report, got, p, J, values = case
    assert identical(tensor(got["jacobian"]["jacobian"]), J)
    whole = torch.autograd.functional.jacobian(whole_function(problem, {}), p)
    assert got["jacobian"]["whole_map_same"] == identical(whole, J)


def test_outputs_called_undefined_are_exactly_the_non_finite_ones(case):
    problem, report, got, p, J, values = case
    names = ["f"] if problem.outputs == 1 else [f"f{k + 1}" for k in range(problem.outputs)]
    bad = {
        name
        for name, value, row in zip(names, values.tolist(), J, strict=True)
        if not (torch.isfinite(torch.tensor(value)) and bool(torch.isfinite(row).all()))
    }
    assert set(got["goal"]["undefined"]) == bad


def test_y_backward_fails_exactly_on_a_vector(case):
    problem, report, got, p, J, values = case
    assert (got["naive"]["error"] is None) == (problem.outputs == 1)


def test_backward_v_is_v_at_J_where_the_lesson_says_so(case):
    problem, report, got, p, J, values = case
    v = torch.tensor(got["vjp"]["v"], dtype=torch.float64)
    leaf = p.clone().requires_grad_(True)
    whole_function(problem, {})(leaf).backward(v)
    assert identical(tensor(got["vjp"]["vjp"]), leaf.grad)
    assert got["vjp"]["vjp_is_vJ"] == same_where_finite(leaf.grad, v @ J)


def test_the_sum_trick_verdict_is_read_off_torchs_jacobian(case):
    problem, report, got, p, J, values = case
    sums = got["sum"]
    m, n = J.shape
    leaf = p.clone().requires_grad_(True)
    whole_function(problem, {})(leaf).sum().backward()
    assert identical(tensor(sums["grad_sum"]), leaf.grad)
    assert sums["is_column_sums"] == same_where_finite(leaf.grad, J.sum(0))
    assert sums["square"] == (m == n and m > 1)
    defined = bool(torch.isfinite(values).all())
    exists = torch.tensor(got["jacobian"]["partials_exist"])
    assert not defined or not bool(exists.all()) or bool(torch.isfinite(J).all())
    if m == 1:
        assert sums["verdict"] == "scalar"
        assert sums["gives_each_output_derivative"] == (True if bool(exists.all()) else None)
        return
    if m != n:
        assert sums["verdict"] == "not_square" and sums["gives_each_output_derivative"] is None
        single = [
            problem.free[j]
            for j in range(n)
            if bool(exists[:, j].all()) and int((J[:, j] != 0).sum()) <= 1
        ]
        assert sums["single_entry_columns"] == single
        return
    off = ~torch.eye(n, dtype=torch.bool)
    coupled = bool(((J != 0) & exists & off).any())
    all_zero = bool((J[off] == 0).all() and exists[off].all())
    expected = "not_diagonal" if coupled else "diagonal" if all_zero else "undetermined"
    assert sums["verdict"] == expected
    assert sums["off_diagonal_zero"] == all_zero
    equal = [close_or_same_nonfinite(J[:, j].sum(), J[j, j]) for j in range(n)]
    assert sums["equals_diagonal"] == equal
    diagonal = bool(torch.diagonal(exists).all())
    exact = {
        "diagonal": (all(equal) if diagonal else None) if defined else None,
        "not_diagonal": all(equal) and diagonal,
        "undetermined": None,
    }
    assert sums["gives_each_output_derivative"] == exact[expected]


def test_the_stacked_points_claims_hold(case):
    problem, report, got, p, J, values = case
    blocks = got["blocks"]
    points = torch.tensor(blocks["points"], dtype=torch.float64)
    k, n, m = points.shape[0], points.shape[1], problem.outputs
    f = whole_function(problem, {})

    def stacked(flat):
        return torch.cat([f(row) for row in flat.reshape(k, n)])

    full = torch.autograd.functional.jacobian(stacked, points.reshape(-1)).reshape(k, m, k, n)
    mask = ~torch.eye(k, dtype=torch.bool)[:, None, :, None].expand(k, m, k, n)
    assert blocks["off_block_zero"] == bool((full[mask] == 0).all())
    own = torch.stack(
        [
            torch.stack(
                [
                    torch.autograd.functional.jacobian(component_function(problem, c, {}), point)
                    for c in range(m)
                ]
            ).sum(0)
            for point in points
        ]
    )
    leaf = points.reshape(-1).clone().requires_grad_(True)
    stacked(leaf).sum().backward()
    summed = leaf.grad.reshape(k, n)
    assert blocks["summed_is_own"] == same_where_finite(summed, own)
    comparable = bool((torch.isfinite(summed) & torch.isfinite(own)).any())
    assert blocks["exact_across_points"] == (
        blocks["off_block_zero"] and close_or_same_nonfinite(summed, own) and comparable
    )


def test_forward_and_reverse_mode_claims_hold(case):
    problem, report, got, p, J, values = case
    modes = got["modes"]
    u = torch.tensor(modes["u"], dtype=torch.float64)
    _, forward = torch.func.jvp(whole_function(problem, {}), (p,), (u,))
    assert identical(tensor(modes["jvp"]), forward)
    assert modes["jvp_is_Ju"] == same_where_finite(forward, J @ u)
    costs = modes["costs"].values()
    assert modes["forward_passes_are_inputs"] == all(
        c["forward_passes"] == c["inputs"] for c in costs
    )
    assert modes["reverse_passes_are_outputs"] == all(
        c["reverse_passes"] == c["outputs"] for c in costs
    )
    assert modes["forward_passes_are_inputs"] and modes["reverse_passes_are_outputs"]
    follows = []
    for c in costs:
        fewer_forward = c["forward_passes"] < c["reverse_passes"]
        faster_forward = c["forward_seconds"] < c["reverse_seconds"]
        tie = c["forward_passes"] == c["reverse_passes"]
        follows.append(tie or fewer_forward == faster_forward)
    assert modes["times_follow_counts"] == all(follows)


def test_hessian_claims_hold(case):
    problem, report, got, p, J, values = case
    for k, hessian in enumerate(got["hessian"]["hessians"]):
        expected = torch.autograd.functional.hessian(component_function(problem, k, {}), p)
        shown = tensor(hessian["forward_over_reverse"]).reshape(expected.shape)
        assert hessian["agree"] == same_where_finite(shown, expected)
        assert hessian["symmetric"] == same_where_finite(shown, shown.T)
    memory = got["hessian"]["memory"]
    assert memory["tape_smaller_than_hessian"] == (
        memory["graphed_tape_bytes"] < memory["dense_bytes"]
    )


def test_the_snippet_prints_the_jacobian_it_shows(case, capsys):
    problem, report, got, p, J, values = case
    code = next(s for s in report.sections if s.key == "try").blocks[-1]["text"]
    exec(compile(code, "snippet", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    text = printed[0].removeprefix("J = ").replace("nan", "NaN").replace("inf", "Infinity")
    shown = json.loads(text)
    assert identical(tensor(shown), J)


def test_an_order_above_the_hessian_is_refused_for_several_variables():
    result = invoke("explain", "x*y", "--at", "x=1,y=2", "-k", "3")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "derive -k 3" in result.stderr


# ----- where a number of J is not a derivative -----


def not_derivatives(report) -> dict[str, dict]:
    return {e["entry"]: e for e in facts(report)["jacobian"]["not_derivatives"]}


def test_a_corner_entry_is_not_a_derivative_and_its_sides_are_named():
    _, report = lesson_of("[abs(x), y]", "x=0,y=1")
    assert facts(report)["jacobian"]["partials_exist"] == [[False, True], [True, True]]
    entry = not_derivatives(report)["df1/dx"]
    assert entry["kind"] == "corner" and entry["torch"] == 0.0
    assert entry["sides"] == [pytest.approx(-1.0), pytest.approx(1.0)]
    assert (
        "df1/dx does not exist at (x, y) = (0, 1): the slopes just left and right of it along x "
        "are -1 and 1; torch's 0 is its rule's convention" in prose(report, "jacobian")
    )


def test_a_corner_keeps_the_sum_trick_from_calling_diag_J_the_derivatives():
    _, report = lesson_of("[abs(x), y]", "x=0,y=1")
    sums = facts(report)["sum"]
    assert sums["verdict"] == "diagonal" and sums["gives_each_output_derivative"] is None
    assert sums["not_derivatives"] == ["df1/dx"]
    text = prose(report, "sum")
    assert "df1/dx is not a derivative here" in text
    assert "the derivative of each output by its own input" not in text


def test_a_scalar_with_a_corner_has_torchs_gradient_not_the_gradient():
    _, report = lesson_of("abs(x)+y", "x=0,y=1")
    assert facts(report)["naive"]["is_gradient"] is False
    assert facts(report)["sum"]["gives_each_output_derivative"] is None
    for key in ("naive", "sum"):
        assert "the gradient of f" not in prose(report, key).replace("not the gradient of f", "")
        assert "df/dx is not a derivative here" in prose(report, key)


def test_the_hessian_of_an_output_with_a_corner_is_not_called_symmetric():
    _, report = lesson_of("[abs(x), y]", "x=0,y=1", order=2)
    f1, f2 = facts(report)["hessian"]["hessians"]
    assert f1["second_derivatives_exist"] == [[False, False], [True, True]]
    assert f1["symmetric_where_they_exist"] is None and f2["symmetric_where_they_exist"]
    text = prose(report, "hessian")
    first = text[text.index("For f1:") : text.index("For f2:")]
    assert "H is symmetric" not in first and "row d/dx of H is torch's numbers" in first


def test_a_second_derivative_with_a_corner_is_named_with_its_sides():
    _, report = lesson_of("y*abs(x) + x*y^2", "x=0,y=1", order=2)
    (hessian,) = facts(report)["hessian"]["hessians"]
    assert hessian["second_derivatives_exist"] == [[False, False], [False, True]]
    assert "d2f/dydx does not exist at (x, y) = (0, 1)" in prose(report, "hessian")
    assert "are 1 and 3" in prose(report, "hessian")


def test_a_tie_of_max_and_min_has_no_partials_and_no_verdict():
    _, report = lesson_of("[max(x,y), min(x,y)]", "x=1,y=1")
    assert facts(report)["jacobian"]["partials_exist"] == [[False, False], [False, False]]
    entry = not_derivatives(report)["df1/dy"]
    assert entry["kind"] == "corner" and entry["torch"] == 0.5
    assert entry["sides"] == [pytest.approx(0.0), pytest.approx(1.0)]
    assert facts(report)["sum"]["verdict"] == "undetermined"
    text = prose(report, "sum")
    assert "changes with y too" not in text and "while df1/dx = 0.5" not in text


def test_a_tie_of_where_gives_torchs_gradient_not_the_gradient():
    _, report = lesson_of("where(x > y, x, y)", "x=1,y=1")
    assert facts(report)["naive"]["is_gradient"] is False
    assert set(not_derivatives(report)) == {"df/dx", "df/dy"}
    assert "the gradient of f" not in prose(report, "naive").replace("not the gradient of f", "")


def test_a_jump_is_not_a_derivative():
    _, report = lesson_of("where(x > 0, 1, 0) + y", "x=0,y=1")
    assert not_derivatives(report)["df/dx"]["kind"] == "jump"
    assert "f jumps along x there (1 just left, 1 at the point, 2 just right)" in prose(
        report, "jacobian"
    )


def test_a_partial_from_one_side_only_is_not_a_derivative():
    _, report = lesson_of("x^1.5 + y", "x=0,y=1")
    assert not_derivatives(report)["df/dx"]["kind"] == "one_sided"
    assert "f is not finite just left of it along x" in prose(report, "jacobian")


def test_torchs_number_beside_other_equal_sides_is_not_the_derivative():
    _, report = lesson_of("where(x == 0, 0, x) + y", "x=0,y=1")
    assert not_derivatives(report)["df/dx"]["kind"] == "differs"
    assert "is 1 from both sides along x, but torch gives 0" in prose(report, "jacobian")


def test_smooth_partials_are_derivatives_even_where_they_are_0():
    for text, at in [
        ("[x^2, y^3]", "x=0,y=0"),
        ("[x*y, x + y^2]", "x=1,y=2"),
        (SOFTMAX, "x=0,y=1"),
    ]:
        _, report = lesson_of(text, at)
        assert facts(report)["jacobian"]["not_derivatives"] == [], text


def test_an_infinite_partial_is_not_called_the_gradient():
    _, report = lesson_of("sqrt(x)*y", "x=0,y=1")
    assert facts(report)["naive"]["is_gradient"] is False
    for key in ("naive", "sum"):
        assert "the gradient of f" not in prose(report, key).replace("not the gradient of f", "")
    assert "the derivative of the one output by every input" not in prose(report, "sum")


def test_a_nan_gradient_at_a_cone_tip_names_the_sides():
    _, report = lesson_of("sqrt(x^2+y^2)", "x=0,y=0")
    assert facts(report)["naive"]["is_gradient"] is False
    assert "the slopes just left and right of it along x are -1 and 1" in prose(report, "jacobian")


def test_an_infinite_diagonal_entry_keeps_the_trick_from_giving_derivatives():
    _, report = lesson_of("[sqrt(x), y]", "x=0,y=1")
    sums = facts(report)["sum"]
    assert sums["gives_each_output_derivative"] is None
    assert "as the table shows" not in prose(report, "sum")
    assert "df1/dx is not a derivative here" in prose(report, "sum")


# ----- the sum trick's verdict against its own numbers -----


def test_the_sum_trick_compares_columns_within_rounding():
    _, report = lesson_of("[0.2*x, 0.1*x + y, z - 0.1*x]", "x=1,y=1,z=1")
    sums = facts(report)["sum"]
    assert sums["equals_diagonal"] == [True, True, True]
    assert sums["cancelling_columns"] == ["x"]
    assert "Here it is wrong" not in prose(report, "sum")


def test_cancelling_columns_are_a_coincidence_not_a_wrong_trick():
    _, report = lesson_of("[x, 0.3*x + y, z - 0.3*x]", "x=1,y=1,z=1")
    sums = facts(report)["sum"]
    assert sums["verdict"] == "not_diagonal" and sums["gives_each_output_derivative"] is True
    text = prose(report, "sum")
    assert "1^T J is not diag(J), and" not in text and "only because" not in text
    assert "by coincidence at this point" in text


def test_a_diagonal_J_is_stated_at_this_point_only():
    for text, at in [("[x*0, y]", "x=1,y=2"), ("[x + y^2, y]", "x=1,y=0")]:
        _, report = lesson_of(text, at)
        said = prose(report, "sum")
        assert "alone" not in said and "0 at this point (d f_i/d x_j = 0 for i != j)" in said


def test_the_trick_quotes_the_number_its_table_shows():
    _, report = lesson_of(SOFTMAX, "x=0,y=1")
    text = prose(report, "sum")
    grad = facts(report)["sum"]["grad_sum"][0]
    assert grad != 0 and f"for x it gives {grad:.6g}" in text
    assert "the same up to rounding" in text and "Every column sum is 0 to rounding" in text


# ----- the stacked points -----


def test_stacked_points_avoid_where_f_is_undefined_and_show_its_values():
    _, report = lesson_of("[log(y), x]", "x=1,y=0.2")
    blocks = facts(report)["blocks"]
    assert blocks["undefined_points"] == []
    assert all(y > 0 for _, y in blocks["points"])
    assert torch.isfinite(torch.tensor(blocks["values"])).all()
    assert blocks["values"][0] == [pytest.approx(torch.log(torch.tensor(0.2)).item()), 1.0]


def test_stacked_points_say_which_are_undefined_where_none_can_be_avoided():
    _, report = lesson_of("sqrt(-1-x^2-y^2)", "x=0.5,y=0.5")
    assert facts(report)["blocks"]["undefined_points"] == [0, 1, 2]
    assert "f is not finite at point 0, 1, 2" in prose(report, "blocks")


def test_the_stacked_section_is_over_many_points_not_a_grid():
    _, report = lesson_of("[x*y, x + y^2]", "x=1,y=2")
    section = next(s for s in report.sections if s.key == "blocks")
    assert section.title.endswith("Why the trick is exact over many points")


# ----- where nothing is finite, overflow, the trace point -----


def test_a_trace_at_an_undefined_point_claims_no_agreement():
    _, report = lesson_of("log(x*y)", "x=1,y=1", trace="x=-1,y=1")
    trace = facts(report)["trace"]
    assert trace["tangents_are_J"] is None and trace["adjoints_are_vJ"] is None
    text = prose(report, "trace")
    assert "f is undefined at (x, y) = (-1, 1): log(-1) has no real value" in text
    assert "are torch's J" not in text


def test_an_overflow_is_not_called_undefined():
    _, report = lesson_of("exp(800*x)*y", "x=1,y=1", order=2)
    assert "f overflows float64" in prose(report, "goal")
    for key in ("jacobian", "naive", "sum", "hessian"):
        assert "undefined" not in prose(report, key), key


def test_nothing_finite_is_not_called_agreement():
    _, report = lesson_of("sqrt(-1-x^2-y^2)", "x=0.5,y=0.5", order=2)
    modes, hessian = prose(report, "modes"), prose(report, "hessian")
    assert "Both ways give the same" not in modes and "nothing to compare" in modes
    assert "agrees with nested reverse" not in hessian
    assert hessian.count("nothing to compare") >= 2


# ----- dtype, order, names -----


def test_the_lesson_computes_in_the_problems_dtype():
    result = invoke(
        "explain", "exp(100*x)*y", "--at", "x=1,y=1", "--dtype", "float32", "-f", "json"
    )
    assert result.exit_code == 0, result.stderr
    goal = json.loads(result.stdout)["sections"][0]
    got = {b["name"]: b["value"] for b in goal["blocks"] if b["kind"] == "fact"}
    assert got["values"] == [None]  # inf, which JSON writes as null
    assert "f overflows float32" in got["undefined"]["f"]
    problem = job.prepare("[0.1*x, y]", at=["x=1,y=2"], dtype="float32")
    report = run.lesson(problem, run.LessonRequest(chosen_points=True))
    assert facts(report)["jacobian"]["jacobian"][0][0] == torch.tensor(0.1, dtype=torch.float32)
    assert (
        "dtype=torch.float32"
        in next(s for s in report.sections if s.key == "try").blocks[-1]["text"]
    )


def test_the_hessian_section_needs_order_2():
    _, report = lesson_of("[x*y, x + y^2]", "x=1,y=2")
    assert "hessian" not in facts(report)
    _, report = lesson_of("[x*y, x + y^2]", "x=1,y=2", order=2)
    assert "hessian" in facts(report)


def test_the_outputs_are_out_not_y_where_y_is_an_input():
    _, report = lesson_of("[x*y, x + y^2]", "x=1,y=2")
    code = "\n".join(b["text"] for s in report.sections for b in s.blocks if b["kind"] == "code")
    assert "out = f(p)" in code and "out.backward()" in code and "y = f" not in code
    assert "y.backward" not in code and "y.sum()" not in code
    titles = " ".join(s.title for s in report.sections)
    assert "out.backward()" in titles and "out.sum().backward()" in titles


def test_the_wrong_trick_is_not_held_against_a_diagonal_entry_that_is_no_derivative():
    _, report = lesson_of("[log(x*y), sqrt(x) + y]", "x=-1,y=-2")
    text = prose(report, "sum")
    assert "while torch's df2/dy = 1, not a derivative" in text
    assert "while df2/dy = 1" not in text
    assert text.count("not derivatives here (section 2)") == 1
