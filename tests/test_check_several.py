"""--check of tables of several variables, components or a parameter: every column of the plan
against sympy's partials and finite differences along each variable, the report and failure
line naming the column and point, and piecewise functions judged one-sidedly at their switch
points."""

from __future__ import annotations

import mpmath
import pytest
from support import invoke

from autodiffcli import job, lang, run
from autodiffcli.engines import compute
from autodiffcli.verify import partial_references, references, several

GRID = ["--var", "x=-1:1:5j", "--var", "y=-1:1:5j"]


def checked(*args: str):
    """derive ... --check -q: (exit code, the report's lines, the last line of stderr)."""
    result = invoke("derive", *args, "--check", "-q")
    lines = result.stderr.splitlines()
    return result.exit_code, lines, lines[-1] if lines else ""


def rows_of(lines: list[str]) -> dict[tuple[str, str], str]:
    """{(column, reference): its line} from a column report."""
    start = next(i for i, line in enumerate(lines) if line.startswith("column"))
    out = {}
    for line in lines[start + 1 :]:
        if line.startswith(("not differentiable", "  ", "Error")):
            break
        column, reference = line.split()[:2]
        out[column, reference] = line
    return out


def test_every_partial_is_checked_against_both_references():
    code, lines, _ = checked(
        "x*exp(-x^2-y^2)", "--var", "x=-2:2:0.5", "--var", "y=-1:1:5j", "-k", "2"
    )
    assert code == 0, lines
    rows = rows_of(lines)
    for column in ["f_x", "f_y", "f_xx", "f_xy", "f_yy"]:
        assert rows[column, "symbolic"].endswith(" ok") and " 40 " in rows[column, "symbolic"]
        assert rows[column, "numerical"].endswith(" ok")
    assert ("f", "symbolic") in rows and ("f", "numerical") not in rows


def test_the_report_names_the_numerical_reference_and_the_engine():
    _, lines, _ = checked("x*y", *GRID)
    assert lines[0].endswith("; derivatives by reverse mode")
    assert lines[1].startswith("numerical reference: finite differences of f at 30 digits")
    assert "stencils multiplied for mixed partials" in lines[1]


def test_derived_columns_are_checked_as_polynomials_of_the_partials():
    code, lines, _ = checked("x*y^2", "--at", "x=1,y=2", "--laplacian", "--dir", "1,2")
    assert code == 0, lines
    rows = rows_of(lines)
    assert set(rows) == {
        ("f", "symbolic"),
        ("laplacian", "symbolic"),
        ("laplacian", "numerical"),
        ("f_dir", "symbolic"),
        ("f_dir", "numerical"),
    }


def test_a_laplacian_that_is_exactly_zero_is_zero_in_both_references():
    code, lines, _ = checked(
        "log(x^2 + y^2)", "--var", "x=1:3:5j", "--var", "y=1:3:5j", "--laplacian"
    )
    assert code == 0, lines
    rows = rows_of(lines)
    assert rows["laplacian", "symbolic"].endswith(" ok")
    assert rows["laplacian", "numerical"].endswith(" ok")


def test_a_parameter_differentiated_by_is_a_checked_column():
    code, lines, _ = checked("a*sin(x)", "--param", "a=2", "--wrt", "x,a", "--num", "5")
    assert code == 0, lines
    assert {("f_x", "numerical"), ("f_a", "symbolic"), ("f_a", "numerical")} <= set(rows_of(lines))
    assert "worst at" in lines[2] and "a=" not in "".join(lines[3:])  # only the table's x


def test_each_component_of_a_vector_valued_f_and_its_jacobian_determinant_are_checked():
    code, lines, _ = checked("[x*y, x + y^2]", *GRID)
    assert code == 0, lines
    rows = rows_of(lines)
    for column in ["f1", "f2", "f1_x", "f1_y", "f2_x", "f2_y", "det_J"]:
        assert rows[column, "symbolic"].endswith(" ok")


def test_div_and_curl_of_a_field_are_checked():
    code, lines, _ = checked("[exp(x)*cos(y), exp(x)*sin(y)]", *GRID, "--div", "--curl")
    assert code == 0, lines
    assert {("div", "numerical"), ("curl", "symbolic")} <= set(rows_of(lines))


def test_the_sample_spreads_over_the_flat_indices_of_the_grid():
    problem = job.prepare("x*y", var={"x": "-1:1:5j", "y": "-1:1:5j"})
    outcome = run.check(problem, 1e-10, 0.0, points=3)
    line = rows_of(outcome.report.splitlines())["f_x", "symbolic"]
    assert line.split()[2:4] == ["3", "0"]


def perturbed(name: str, at_x: float, factor: float):
    """compute.evaluate_columns with column ``name`` off by ``factor`` where x == at_x."""
    original = compute.evaluate_columns

    def evaluate(plan, values, like):
        out = original(plan, values, like)
        k = plan.names.index(name)
        out[k] = out[k] * (1 + (factor - 1) * (like == at_x))
        return out

    return evaluate


def test_a_wrong_mixed_partial_fails_naming_the_column_point_values_and_rule(monkeypatch):
    monkeypatch.setattr(compute, "evaluate_columns", perturbed("f_xy", 0.5, 1 + 1e-6))
    code, lines, last = checked(
        "sin(x)*exp(y)", "--var", "x=-1:1:5j", "--var", "y=-1:1:3j", "-k", "2"
    )
    assert code == 1
    assert rows_of(lines)["f_xy", "symbolic"].split()[-3:] == ["FAIL", "(3", "points)"]
    assert last.startswith("Error: --check failed: column f_xy differs from the ")
    assert " reference at x = 0.5, y = " in last
    assert "allowed 1e-10*|ref| = " in last and "times the tolerance" in last
    assert last.endswith("failing columns: f_xy")


def test_the_lowest_failing_order_is_named_first(monkeypatch):
    monkeypatch.setattr(compute, "evaluate_columns", perturbed("f_y", 0.5, 1 + 1e-6))
    monkeypatch.setattr(compute, "evaluate_columns", perturbed("f_yy", 0.5, 1 + 1e-3))
    _, _, last = checked("x*exp(y)", *GRID, "-k", "2", "--method", "reverse")
    assert "column f_y differs" in last and last.endswith("failing columns: f_y, f_yy")


def test_a_check_with_no_time_checks_no_column_and_fails():
    code, _, last = checked("x*y", *GRID, "--check-timeout", "0")
    assert code == 1
    assert "--check checked nothing in columns f, f_x, f_y: every point was skipped" in last


def test_a_one_variable_table_is_still_checked_order_by_order():
    code, lines, _ = checked("sin(x)", "--num", "5", "-k", "2")
    assert code == 0
    assert lines[1].split()[:2] == ["order", "reference"]


# ----- the numerical reference -----


def test_a_mixed_difference_agrees_with_mpmath_diff_of_the_same_orders():
    parsed = lang.parse("exp(x*y)*sin(y)", ("x", "y"))
    f = references.mp_function(references.sympy_expression(parsed), references.symbols(parsed))
    value, reason = partial_references.mixed_difference(f, (0.3, 0.7), (1, 2), 1e-10, 1e-12)
    with mpmath.workdps(40):
        exact = mpmath.diff(lambda x, y: mpmath.exp(x * y) * mpmath.sin(y), (0.3, 0.7), (1, 2))
    assert reason == references.OK
    assert float(value) == pytest.approx(float(exact), rel=1e-25)


def test_a_mixed_partial_across_a_switch_line_is_not_differentiable_numerically():
    # f_xy of where(x < y, x*y, (x^2 + y^2)/2) on x = y: forward in x and backward in y sees
    # one branch, the reverse the other; forward in both straddles the line like central.
    parsed = lang.parse("where(x < y, x*y, x^2/2 + y^2/2)", ("x", "y"))
    f = references.mp_function(references.sympy_expression(parsed), references.symbols(parsed))
    _, reason = partial_references.mixed_difference(f, (0.5, 0.5), (1, 1), 1e-10, 1e-12)
    assert reason == references.KINK


# ----- piecewise functions at their switch points -----


def test_a_where_that_is_smooth_at_its_switch_point_passes():
    code, lines, _ = checked("where(x < 0, 0, x^2)", "--num", "5")
    assert code == 0, lines
    assert rows_of(lines)["df", "symbolic"].split()[2:4] == ["5", "0"]
    assert not any(line.startswith("not differentiable") for line in lines)


def test_a_where_with_a_corner_is_not_differentiable_there_with_the_engines_convention():
    code, lines, _ = checked("where(x > 0, x, 0)", "--num", "5")
    assert code == 0, lines
    assert rows_of(lines)["df", "symbolic"].endswith("(skipped: 1 not differentiable)")
    note = lines[
        lines.index("not differentiable where a condition switches (skipped, not failed):") + 1
    ]
    assert note == (
        "  df at x=0, where x > 0 switches: df is 0 on the left and 1 on the right along x; "
        "autograd gives df = 0, taking the derivative of the branch the condition picks at the "
        "point"
    )


def test_a_tie_of_max_is_not_differentiable_and_the_engine_takes_the_mean():
    code, lines, _ = checked("max(x, 0)*y", "--var", "x=-1:1:3j", "--at", "y=2")
    assert code == 0, lines
    assert any(
        "f_x at x=0, y=2, where the arguments of max(0, x) tie: f_x is 0 on the left and 2 "
        "on the right along x; autograd gives f_x = 1, taking the mean of the two sides' "
        "derivatives" in line
        for line in lines
    )


def test_a_jump_of_f_makes_its_partial_not_differentiable():
    code, lines, _ = checked("where(x > 0, 1, 0)*y", "--var", "x=-1:1:3j", "--at", "y=2")
    assert code == 0, lines
    assert any("f jumps from 0 (left) to 2 (right) along x" in line for line in lines)


def test_a_switch_point_where_both_sides_agree_is_judged_and_the_convention_can_fail():
    # min(x^2, y) at (0, 0): along x it is min(x^2, 0) = 0 on both sides, so f_xx = 0, while
    # the engine's tie rule takes the mean of the branches' 2 and 0.
    code, _, last = checked("min(x^2, y)", "--at", "x=0,y=0", "-k", "2")
    assert code == 1
    assert "column f_xx differs from the symbolic reference at x = 0.0, y = 0.0" in last
    assert last.endswith(
        "at that point the arguments of min(x**2, y) tie and both sides agree, but the engine "
        "gives the mean of the two sides' derivatives, as min and max take at a tie"
    )


def test_only_switch_points_are_probed_so_a_near_switch_point_is_checked():
    # x = 1 + 1e-9 is 2**-20 |x| from the switch at 1: a probe there would cross it.
    problem = job.prepare("where(x < 1, x, x^2)*y", var={"x": [1 + 1e-9], "y": [2.0]})
    outcome = run.check(problem, 1e-10, 0.0)
    assert outcome.failure is None
    assert "not differentiable" not in outcome.report


def test_the_column_check_is_chosen_for_piecewise_or_several_variables_only():
    assert several.checks_by_order(job.prepare("sin(x)", num=3))
    assert not several.checks_by_order(job.prepare("max(x, 0)", num=3))
    assert not several.checks_by_order(job.prepare("x*y", at="x=1,y=2"))
    assert not several.checks_by_order(job.prepare("a*x", param="a=1", num=3))


def test_a_derived_column_at_a_switch_point_names_the_partial_that_has_no_derivative():
    code, lines, _ = checked("[y, max(x, 0)*y]", "--var", "x=-1:1:3j", "--at", "y=1", "--curl")
    assert code == 0, lines
    assert any(
        line.startswith("  curl at x=0, y=1, where the arguments of max(0, x) tie: f2_x is 0 on")
        and "autograd gives curl = -0.5" in line
        for line in lines
    )


def test_a_column_skipped_only_where_it_is_not_differentiable_is_not_unchecked():
    code, lines, _ = checked("where(x > 0, x, 0)*y", "--at", "x=0,y=1")
    assert code == 0, lines
    assert rows_of(lines)["f_x", "symbolic"].endswith(
        "nothing checked (skipped: 1 not differentiable)"
    )
