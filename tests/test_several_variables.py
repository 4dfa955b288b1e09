"""Several variables in derive: names, grids, columns by multi-index, shortcuts, engines, and
bad input refused in one line before torch loads (issue 17)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import invoke, modules_loaded_by

from autodiffcli import job, run
from autodiffcli.api import derive
from autodiffcli.engines import interpolation
from autodiffcli.errors import AutodiffError


def header(result) -> list[str]:
    return result.stdout.splitlines()[0].split(",")


def rows(result) -> list[list[float]]:
    return [[float(v) for v in line.split(",")] for line in result.stdout.splitlines()[1:]]


# ----- names and grids -----


def test_x_and_y_are_variables_without_declaration():
    result = invoke("derive", "x*y", "--at", "x=1,y=2")
    assert result.exit_code == 0, result.stderr
    assert header(result) == ["x", "y", "f", "f_x", "f_y"]
    assert rows(result) == [[1.0, 2.0, 2.0, 2.0, 1.0]]


def test_two_variables_default_to_200_points_per_axis_on_minus_5_to_5():
    table = derive("x*y", order=0)
    assert len(table["f"]) == 200 * 200
    assert np.unique(table["x"]).tolist() == pytest.approx(np.arange(-5, 5, 0.05).tolist())


def test_three_variables_default_to_50_points_per_axis():
    table = derive("x*y*z", order=0)
    assert len(table["f"]) == 50**3
    assert np.unique(table["z"]).min() == -5.0 and np.unique(table["z"]).max() < 5.0


def test_a_variable_fixed_by_at_leaves_the_others_the_grid_of_their_count():
    assert len(derive("x*y*z", at="z=1", order=0)["f"]) == 200 * 200
    assert len(derive("x*y", at="x=1", order=0)["f"]) == 200


def test_the_first_variable_varies_fastest_so_reshape_gives_the_grid():
    table = derive("x + 10*y", var={"x": "0:3:1", "y": "0:2:1"}, order=0)
    grid_x, grid_y = np.meshgrid([0.0, 1.0, 2.0], [0.0, 1.0])
    assert table["x"].reshape(2, 3).tolist() == grid_x.tolist()
    assert table["f"].reshape(2, 3).tolist() == (grid_x + 10 * grid_y).tolist()


def test_var_options_set_the_variable_order():
    result = invoke("derive", "x - y", "--var", "y=0:2:1", "--var", "x=5:7:1", "-k", "0")
    assert header(result) == ["y", "x", "f"]
    assert [r[:2] for r in rows(result)] == [[0, 5], [1, 5], [0, 6], [1, 6]]


def test_count_form_gives_n_points_with_both_ends():
    table = derive("x*y", var={"x": "-1:1:5j", "y": "0:0:1j"}, order=0)
    assert table["x"].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]


def test_step_form_excludes_the_stop():
    table = derive("x*y", var={"x": "0:1:0.25", "y": "0:1:0.5"}, order=0)
    assert np.unique(table["x"]).tolist() == [0.0, 0.25, 0.5, 0.75]


def test_the_resolved_grid_is_described_on_stderr_only():
    result = invoke("derive", "x*y", "--var", "x=-1:1:3j", "--var", "y=0:1:0.5")
    assert result.exit_code == 0
    assert "x from -1 to 1 step 1 (3 points)" in result.stderr
    assert "y from 0 to 0.5 step 0.5 (2 points)" in result.stderr
    assert "6 points, x varying fastest" in result.stderr
    assert "Grid" not in result.stdout


def test_a_declared_name_of_several_letters_joins_partials_with_underscores():
    table = derive("alpha*beta^2", var={"alpha": [2.0], "beta": [3.0]}, order=2)
    assert table["f_alpha_beta"].tolist() == [6.0]
    assert table["f_beta_beta"].tolist() == [4.0]


# ----- --at, --param, --wrt -----


def test_at_naming_some_variables_gives_a_slice():
    table = derive("x*y", at={"x": 2.0}, var={"y": "0:3:1"}, order=0)
    assert table["x"].tolist() == [2.0, 2.0, 2.0]
    assert table["f"].tolist() == [0.0, 2.0, 4.0]


def test_repeated_at_gives_scattered_points():
    table = derive("x*y", at=["x=1,y=2", "x=3,y=4"], order=0)
    assert table["f"].tolist() == [2.0, 12.0]


def test_at_options_must_name_the_same_variables():
    with pytest.raises(AutodiffError, match="must name the same variables"):
        job.prepare("x*y", at=["x=1,y=2", "x=3"])


def test_a_parameter_is_a_constant_and_not_a_column():
    table = derive("a*sin(x)", param={"a": 2.0}, x=[0.5])
    assert list(table) == ["x", "f", "df"]
    assert table["f"][0] == pytest.approx(2 * math.sin(0.5))


def test_wrt_a_parameter_gives_the_sensitivity():
    table = derive("a*sin(x)", param={"a": 2.0}, x=[0.5], wrt="x,a")
    assert list(table) == ["x", "f", "f_x", "f_a"]
    assert table["f_a"][0] == pytest.approx(math.sin(0.5))


def test_wrt_restricts_the_partials_to_the_variables_named():
    table = derive("x^2*y^3", at={"x": 1.0, "y": 2.0}, wrt="y", order=2)
    assert list(table) == ["x", "y", "f", "f_y", "f_yy"]
    assert table["f_yy"].tolist() == [12.0]


# ----- bad input: one line, before torch -----


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["pii*x"], "--var pii=START:STOP:STEP or --param pii=VALUE"),
        (["x*y", "--var", "x=0:1:0.5", "--var", "x=0:1:0.25"], "declared twice"),
        (["a*x", "--var", "a=0:1:0.5", "--param", "a=2"], "declared twice"),
        (["x*sin", "--param", "sin=2"], "sin is a function of the language"),
        (["x*y", "--var", "z=0:1:0.5"], "does not use z, so it is constant along z"),
        (["x*y*z", "--max-points", "1000"], "50 (x) x 50 (y) x 50 (z) = 125,000 points"),
        (["x*y", "--start", "0"], "--start cannot say which one they mean"),
        (["x*y", "--var", "x=0:1"], "START:STOP:STEP"),
        (["x*y", "--at", "x=1,w=2"], "not a variable of f"),
        (["x*y", "--dir", "1,2,3"], "f is differentiated by 2 variables"),
        (["x*y", "--dir", "0,0"], "nonzero vector"),
        (["x*y", "--div"], "needs a field"),
        (["x*y", "--method", "forward", "-k", "2"], "first derivatives"),
        (["x*y", "--wrt", "w"], "does not have"),
    ],
)
def test_bad_declarations_are_refused_in_one_line(arguments, words):
    result = invoke("derive", *arguments)
    assert result.exit_code == 2
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_declarations_answer_before_torch_loads():
    loaded = modules_loaded_by(
        "derive", "x*y", "--var", "x=0:1:0.5", "--var", "x=1:2:1", exit_code=2
    )
    assert "torch" not in loaded


# ----- columns: every partial by multi-index, and the shortcuts -----


def test_order_k_gives_every_partial_in_canonical_order():
    table = derive("x^2*y^3", at={"x": 2.0, "y": 1.0}, order=2)
    assert list(table)[2:] == ["f", "f_x", "f_y", "f_xx", "f_xy", "f_yy"]
    assert [table[n][0] for n in list(table)[2:]] == [4.0, 4.0, 12.0, 2.0, 12.0, 24.0]


def test_three_variables_name_third_order_partials_by_multi_index():
    table = derive("x*y*z^2", at={"x": 1.0, "y": 2.0, "z": 3.0}, order=3)
    assert table["f_xyz"][0] == pytest.approx(6.0, rel=1e-14)
    assert table["f_yzz"].tolist() == [2.0]
    assert table["f_xxx"].tolist() == [0.0]


def test_grad_and_hessian_give_first_and_distinct_second_partials():
    table = derive("x^2*y^3", at={"x": 2.0, "y": 1.0}, grad=True, hessian=True)
    assert list(table)[2:] == ["f", "f_x", "f_y", "f_xx", "f_xy", "f_yy"]


def test_laplacian_is_the_sum_of_pure_second_partials():
    table = derive("x^2*y^3 + z^4", at={"x": 2.0, "y": 1.0, "z": 1.0}, laplacian=True)
    assert list(table)[3:] == ["f", "laplacian"]
    assert table["laplacian"].tolist() == [2.0 + 24.0 + 12.0]


def test_directional_derivative_uses_the_unit_vector():
    table = derive("3*x + 4*y", at={"x": 0.0, "y": 0.0}, direction=(3, 4))
    assert table["f_dir"][0] == pytest.approx(5.0)


def test_the_direction_is_reported_normalised_on_stderr():
    result = invoke("derive", "x*y", "--at", "x=1,y=1", "--dir", "3,4")
    assert "unit vector (0.6, 0.8)" in result.stderr


# ----- engines -----

FUNCTIONS = ["x*exp(-x^2-y^2) + sin(x*y)", "log(exp(x) + exp(y))", "atan(y/x)*sqrt(x^2+y^2)"]


@pytest.mark.parametrize("text", FUNCTIONS)
def test_reverse_and_taylor_agree_on_every_partial_to_order_3(text):
    options = {"var": {"x": "0.5:2:0.5", "y": "-1:1:0.5"}, "order": 3}
    taylor = derive(text, method="taylor", **options)
    reverse = derive(text, method="reverse", **options)
    for name in taylor:
        np.testing.assert_allclose(taylor[name], reverse[name], rtol=1e-12, atol=1e-13)


def test_forward_mode_gives_the_reverse_mode_gradient():
    options = {"var": {"x": "0.5:2:0.5", "y": "-1:1:0.5"}, "grad": True}
    forward = derive("sin(x*y) + x/y", method="forward", **options)
    reverse = derive("sin(x*y) + x/y", method="reverse", **options)
    for name in forward:
        np.testing.assert_array_equal(forward[name], reverse[name])


def test_the_taylor_engine_gives_mixed_partials_of_order_8():
    table = derive("exp(x + 2*y)", at={"x": 0.1, "y": -0.2}, order=8)
    # d^(i+j) f / dx^i dy^j = 2^j f
    f = math.exp(0.1 - 0.4)
    assert table["f_xxxyyyyy"][0] == pytest.approx(32 * f, rel=1e-10)
    assert table["f_yyyyyyyy"][0] == pytest.approx(256 * f, rel=1e-10)


@pytest.mark.parametrize(("m", "order"), [(2, 3), (3, 2), (2, 6), (3, 4)])
def test_interpolation_weights_recover_every_monomial_exactly(m, order):
    directions = interpolation.directions(m, order)
    for d in range(1, order + 1):
        weights = np.array(interpolation.weights(m, order, d))
        for target, i in enumerate(interpolation.multi_indices(m, d)):
            values = np.array(
                [math.prod(s**e for s, e in zip(v, i, strict=True)) for v in directions]
            )
            recovered = weights @ values
            expected = np.eye(len(recovered))[target]
            np.testing.assert_allclose(recovered, expected, atol=1e-12)


def test_a_small_memory_budget_gives_the_same_table_in_more_chunks():
    options = {"var": {"x": "-1:1:101j", "y": "-1:1:101j"}, "order": 2}
    whole = derive("sin(x*y)*exp(x)", **options)
    chunked = derive("sin(x*y)*exp(x)", max_memory=1 << 20, **options)
    for name in whole:
        np.testing.assert_array_equal(whole[name], chunked[name])


# ----- the d2l example: the quadratic approximation at (-1, 0) -----


def test_taylor_at_gives_d2l_s_quadratic_approximation():
    problem = job.prepare("x*exp(-x^2-y^2)", order=2)
    terms = run.taylor_terms(problem, [{"x": -1.0, "y": 0.0}])
    by_power = {
        (int(a), int(b)): c
        for a, b, c in zip(terms["power_x"], terms["power_y"], terms["coefficient"], strict=True)
    }
    e = math.exp(-1)
    # e^-1 (-1 - (x+1) + (x+1)^2 + y^2)
    expected = {(0, 0): -e, (1, 0): -e, (0, 1): 0, (2, 0): e, (1, 1): 0, (0, 2): e}
    assert by_power == pytest.approx(expected, abs=1e-15)


def test_taylor_at_on_the_command_line_names_every_variable():
    result = invoke("derive", "x*exp(-x^2-y^2)", "-k", "2", "--taylor-at", "x=-1,y=0")
    assert header(result) == ["x0", "y0", "k", "power_x", "power_y", "coefficient", "derivative"]
    assert len(rows(result)) == 6
    missing = invoke("derive", "x*exp(-x^2-y^2)", "--taylor-at", "x=-1")
    assert missing.exit_code == 2 and "must give every variable" in missing.stderr


# ----- vector-valued f -----


def test_a_vector_function_gives_its_jacobian_row_by_row_and_its_determinant():
    result = invoke("derive", "[x*y, x + y^2]", "--at", "x=1,y=2")
    assert header(result) == ["x", "y", "f1", "f2", "f1_x", "f1_y", "f2_x", "f2_y", "det_J"]
    assert rows(result) == [[1.0, 2.0, 2.0, 5.0, 2.0, 1.0, 1.0, 4.0, 7.0]]


def test_a_non_square_jacobian_has_no_determinant():
    table = derive("[x*y, x + y^2, sin(x)]", at={"x": 1.0, "y": 2.0})
    assert "det_J" not in table and "f3_y" in table


def test_auto_takes_forward_mode_when_f_has_fewer_inputs_than_outputs():
    assert job.prepare("[x*y, x + y, x - y]").method == "forward"
    assert job.prepare("[x*y, x + y]").method == "reverse"
    assert job.prepare("x*y").method == "reverse"


def test_forward_and_reverse_give_the_same_jacobian():
    options = {"var": {"x": "0.5:2:0.5", "y": "-1:1:0.5"}}
    forward = derive("[x*y, exp(x)*sin(y), x/y]", method="forward", **options)
    reverse = derive("[x*y, exp(x)*sin(y), x/y]", method="reverse", **options)
    for name in forward:
        np.testing.assert_array_equal(forward[name], reverse[name])


def test_the_rotation_field_has_curl_2_and_divergence_0():
    table = derive("[-y, x]", var={"x": "-1:1:3j", "y": "-1:1:3j"}, div=True, curl=True)
    assert list(table) == ["x", "y", "f1", "f2", "div", "curl"]
    assert set(table["curl"].tolist()) == {2.0} and set(table["div"].tolist()) == {0.0}


def test_curl_in_space_has_three_components():
    table = derive("[-y*z, x*z, 0*x]", at={"x": 1.0, "y": 2.0, "z": 3.0}, curl=True)
    # curl = (-x, -y, 2z)
    assert [table[f"curl_{v}"][0] for v in "xyz"] == [-1.0, -2.0, 6.0]


def test_vector_partials_of_order_2_agree_between_engines():
    options = {"var": {"x": "0.5:2:0.5", "y": "-1:1:0.5"}, "order": 2}
    taylor = derive("[x^2*y, sin(x*y)]", method="taylor", **options)
    reverse = derive("[x^2*y, sin(x*y)]", method="reverse", **options)
    for name in taylor:
        np.testing.assert_allclose(taylor[name], reverse[name], rtol=1e-13, atol=1e-14)


# ----- piecewise -----


def test_the_branch_not_taken_leaks_no_nan_into_partials():
    table = derive("where(x > 0, sqrt(x), 0)*y", at={"x": -1.0, "y": 2.0}, order=3)
    assert all(table[name][0] == 0 for name in list(table)[2:])


def test_auto_keeps_mixed_partials_with_nested_reverse_mode_up_to_order_4():
    assert job.prepare("x*y", order=4).method == "reverse"
    assert job.prepare("x*y", order=5).method == "taylor"
    assert job.prepare("x*y", laplacian=True).method == "taylor"  # pure partials only
    assert job.prepare("sin(x)", order=2).method == "taylor"


def test_the_default_engine_keeps_structural_zeros_of_mixed_partials_exact():
    table = derive("x/y", at={"x": -2.0, "y": 0.3}, order=4)
    assert table["f_xxyy"][0] == 0.0 and table["f_xxxy"][0] == 0.0


def test_partials_beyond_a_polynomial_degree_are_exactly_zero_in_taylor_mode():
    table = derive("x/y", at={"x": -2.0, "y": 0.3}, order=8, method="taylor")
    assert table["f_xxyy"][0] == 0.0 and table["f_xxxyyyyy"][0] == 0.0
    assert table["f_xyyyyyyy"][0] != 0.0


@pytest.mark.parametrize(
    ("text", "variable", "degree"),
    [
        ("x/y", "x", 1),
        ("x/y", "y", math.inf),
        ("x^2*y^3/(1 + x^2)", "y", 3),
        ("(x + y)^3 - x*y", "x", 3),
        ("where(y > 0, x^2, x)", "x", 2),
        ("where(x > 0, x^2, x)", "x", math.inf),
        ("max(x, 0)", "x", math.inf),
        ("x^0.5", "x", math.inf),
        ("sin(y)*x", "x", 1),
    ],
)
def test_the_degree_of_f_in_a_variable_is_read_from_the_tape(text, variable, degree):
    from autodiffcli import lang
    from autodiffcli.lang.degree import degrees

    parsed = lang.parse(text, variables=("x", "y"))
    assert degrees(parsed, variable)[-1] == degree


def test_taylor_at_of_a_vector_function_gives_each_component_s_terms():
    result = invoke("derive", "[x*y, x + y^2]", "-k", "1", "--taylor-at", "x=1,y=2")
    assert header(result)[5] == "component"
    assert len(rows(result)) == 6  # 2 components x (1 + 2) terms, no det_J
    assert "Grid" not in result.stderr  # the grid is not what is written
