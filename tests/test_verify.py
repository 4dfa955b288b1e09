"""--check and the references: autograd agrees with sympy on a corpus, and --check can fail."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
import torch
from corpus import CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import expressions, noise, ranges
from support import check_grid, invoke, table

from autodiffcli import domain as domains
from autodiffcli import job, lang, verify
from autodiffcli.errors import OptionError
from autodiffcli.lang import stable
from autodiffcli.limits import DEFAULT_MAX_POINTS
from autodiffcli.plotting import figure as figures
from autodiffcli.verify import references
from autodiffcli.verify.check import MAX_CHECK_POINTS, worst_failure

RTOL = 1e-10
ATOL = 1e-12


def autograd_columns(text: str, domain, order: int, n: int = 41, dtype=torch.float64):
    g = domains.from_num(domain[0], domain[1], n, DEFAULT_MAX_POINTS)
    return [c.numpy().astype(np.float64) for c in table(lang.parse(text), g, order, "cpu", dtype)]


def test_corpus_is_large_and_covers_every_function():
    assert len(CORPUS) >= 60
    used = {node.op for text, _ in CORPUS for node in lang.parse(text).nodes}
    assert set(lang.FUNCTIONS) <= used


@pytest.mark.parametrize(("text", "domain"), CORPUS, ids=[f"{t} on {d}" for t, d in CORPUS])
def test_autograd_agrees_with_the_symbolic_reference(text, domain):
    order = 3
    columns = autograd_columns(text, domain, order)
    symbolic = verify.symbolic_columns(lang.parse(text), columns[0], order)
    for k in range(order + 1):
        np.testing.assert_allclose(
            columns[k + 1], symbolic[k], rtol=RTOL, atol=ATOL, err_msg=f"order {k}"
        )


def test_numerical_reference_agrees_with_symbolic():
    parsed = lang.parse("exp(-x^2/2)*sin(3*x)")
    xs = np.linspace(-2, 2, 9)
    f = references.mp_function(references.sympy_expression(parsed), references.symbols(parsed))
    exact = verify.symbolic_columns(parsed, xs, 2)
    for k in (1, 2):
        np.testing.assert_allclose(references.numerical_derivative(f, xs, k), exact[k], rtol=1e-14)


def test_check_passes_and_reports_each_order():
    result = invoke("derive", "x*sin(x)", "-k", "2", "--check")
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert sum(" symbolic " in line and line.rstrip().endswith("ok") for line in lines) == 3
    assert sum(" numerical " in line and line.rstrip().endswith("ok") for line in lines) == 2


def test_check_fails_when_tolerance_is_tighter_than_the_dtype_allows():
    result = invoke(
        "derive", "x*sin(x)", "--dtype", "float32", "--check", "--rtol", "1e-12", "--atol", "0"
    )
    assert result.exit_code == 1
    assert "FAIL" in result.stderr
    final = result.stderr.strip().splitlines()[-1]
    assert final.startswith("Error: --check failed: order ") and "at x = " in final


def test_check_skips_points_where_the_reference_is_undefined():
    result = invoke("derive", "log(x)", "--start", "-1", "--stop", "1", "--check", "-q")
    assert result.exit_code == 0
    row = next(line for line in result.stderr.splitlines() if line.lstrip().startswith("0"))
    assert int(row.split()[3]) == 100  # x < 0: log is not real; at 0 both are -inf


def test_check_samples_a_bounded_set_including_both_ends():
    indices = verify.sample_indices(10_000_000)
    assert len(indices) <= MAX_CHECK_POINTS
    assert indices[0] == 0 and indices[-1] == 9_999_999


def test_plot_reference_adds_dashed_symbolic_lines_and_an_error_panel(tmp_path):
    parsed = lang.parse("x*sin(x)")
    columns = autograd_columns("x*sin(x)", (-3, 3), 2)
    symbolic = verify.symbolic_columns(parsed, columns[0], 2)
    figure = figures.plot_figure(columns, "x*sin(x)", reference=symbolic)
    assert len(figure.axes) == 2
    labels = figure.axes[0].get_legend_handles_labels()[1]  # inside the axes or below them
    assert "$f'(x)$ symbolic" in labels and "$f''(x)$ symbolic" in labels
    assert figure.axes[1].get_yscale() == "log"
    for name, args in (("plain.svg", []), ("reference.svg", ["--reference"])):
        result = invoke("plot", "x*sin(x)", "-k", "2", *args, "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.stderr
    assert 'id="axes_2"' not in (tmp_path / "plain.svg").read_text()
    assert 'id="axes_2"' in (tmp_path / "reference.svg").read_text()


# ----- Property-based: random expressions from the grammar -----


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(expressions, noise), bounds=ranges, order=st.integers(0, 3))
def test_cli_never_shows_a_traceback(text, bounds, order):
    start, width, num = bounds
    # '--' ends the options, as for any command whose argument may start with '-'.
    result = invoke(
        "derive",
        "--start",
        repr(start),
        "--stop",
        repr(start + width),
        "--num",
        str(num),
        "-k",
        str(order),
        "-q",
        "--",
        text,
    )
    assert result.exit_code in (0, 2), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if result.exit_code == 2:
        assert result.stderr.startswith("Error: ") and result.stdout == ""


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions, bounds=ranges)
def test_autograd_agrees_with_symbolic_where_well_conditioned(text, bounds):
    start, width, num = bounds
    parsed = lang.parse(text)
    g = domains.from_num(start, start + width, min(num, 8), DEFAULT_MAX_POINTS)
    columns = [c.numpy() for c in table(parsed, g, 2, "cpu", torch.float64)]
    try:
        symbolic = verify.symbolic_columns(parsed, columns[0], 2)
    except (RecursionError, OverflowError):
        return
    for k in (1, 2):
        ours, exact = columns[k + 1], symbolic[k]
        scale = np.maximum(np.abs(exact), 1.0)
        conditioned = (
            np.isfinite(ours)
            & np.isfinite(exact)
            & (np.abs(exact) < 1e8)
            & np.isfinite(columns[1])
            & (np.abs(columns[1]) < 1e8)
        )
        # Relative to max(|ref|, 1): cancellation can leave tiny derivatives with a few ulps
        # of their larger terms.
        assert np.all(np.abs(ours - exact)[conditioned] <= 1e-7 * scale[conditioned]), (
            text,
            columns[0][conditioned],
            ours[conditioned],
            exact[conditioned],
        )


def test_plot_check_reports_and_can_fail(tmp_path):
    passing = invoke("plot", "tanh(x)", "--check", "-o", str(tmp_path / "a.png"))
    assert passing.exit_code == 0 and " symbolic " in passing.stderr
    failing = invoke(
        "plot",
        "tanh(x)",
        "--dtype",
        "float32",
        "--check",
        "--rtol",
        "1e-12",
        "--atol",
        "0",
        "-o",
        str(tmp_path / "b.png"),
    )
    assert failing.exit_code == 1 and "--check failed: order " in failing.stderr


# ----- References that tell the truth (issue 12) and bounded verification (issue 9) -----

TIMEOUT = 0.5  # seconds per reference and order, for the budget tests
SLOW = "exp(exp(exp(exp(exp(exp(x))))))"  # symbolic derivatives explode in size


def check_rows(text: str, xs, order: int, timeout=None):
    """verify.check on autograd's columns at xs, with the float64 default tolerances."""
    parsed = lang.parse(text)
    g = domains.from_values(np.asarray(xs, dtype=np.float64), len(xs))
    columns = [c.numpy() for c in table(parsed, g, order, "cpu", torch.float64)]
    return verify.check(parsed, columns, order, RTOL, ATOL, timeout=timeout)


def reasons(rows, reference: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        if row.reference == reference:
            for why, n in row.reasons:
                counts[why] = counts.get(why, 0) + n
    return counts


def wrong_first_derivative(a):
    """sin with f' off by 1e-6 and f, f'', ... right: an error injected only into f'."""
    return torch.sin(a) + 1e-6 * (a - a.detach())


def test_check_names_order_1_when_only_the_first_derivative_rule_is_wrong(monkeypatch):
    # The torch formulation of sin, swapped for a careful form that lives in lang.stable.
    monkeypatch.setattr(stable, "wrong_first_derivative", wrong_first_derivative, raising=False)
    wrong = dataclasses.replace(lang.OPS["sin"], kind="careful", target="wrong_first_derivative")
    monkeypatch.setitem(lang.OPS, "sin", wrong)
    rows = check_rows("sin(x)", np.linspace(-2, 2, 9), 3)
    assert [row.order for row in rows if not row.passed] == [1, 1]
    assert worst_failure(rows).order == 1
    assert verify.failure_message(rows).startswith("{opt.check} failed: order 1 differs")


def test_failure_message_names_the_point_furthest_beyond_its_tolerance_exactly():
    parsed = lang.parse("x*sin(x)")
    xs = np.linspace(-3, 3, 11)
    columns = autograd_columns("x*sin(x)", (-3, 3), 2, n=11)
    columns[3] = columns[3].copy()
    columns[3][2] *= 1 + 1e-8
    columns[3][7] *= 1 + 1e-6  # the worst
    rows = verify.check(parsed, columns, 2, RTOL, ATOL, timeout=None)
    worst = worst_failure(rows)
    assert (worst.order, worst.worst_x) == (2, xs[7])
    message = verify.failure_message(rows)
    assert f"at x = {float(xs[7])!r}: autograd {float(columns[3][7])!r}" in message


def test_failure_message_is_none_when_every_row_passes():
    assert verify.failure_message(check_rows("x*sin(x)", [0.5, 1.0], 2)) is None


@pytest.mark.parametrize("text", ["relu(x)", "abs(x)", "abs(x - 1)*x"])
def test_numerical_reference_skips_kinks_instead_of_failing(text):
    rows = check_rows(text, np.linspace(-1, 2, 31), 2)
    assert all(row.passed for row in rows)
    assert reasons(rows, "numerical").get("not differentiable", 0) >= 1


def test_numerical_reference_skips_an_infinite_derivative():
    rows = check_rows("cbrt(x)", [-1.0, 0.0, 1.0], 1)
    assert all(row.passed for row in rows)
    assert reasons(rows, "numerical") == {"did not converge": 1}


def test_numerical_reference_steps_relative_to_x_at_large_and_small_magnitudes():
    for text, xs, order in (("x^3", [1e20, 1.5e20, 2e20], 3), ("log(x)", [1e-90, 1e-43, 1e45], 1)):
        rows = check_rows(text, xs, order)
        numerical = [row for row in rows if row.reference == "numerical"]
        assert all(row.passed and row.checked == 3 for row in numerical), text


@pytest.mark.parametrize(("text", "x", "order"), [("sin(x)", 1e100, 1), ("exp(x)", 1e-100, 1)])
def test_numerical_reference_says_where_it_cannot_resolve_x_instead_of_a_false_alarm(
    text, x, order
):
    rows = check_rows(text, [x], order)
    assert all(row.passed for row in rows)
    assert reasons(rows, "numerical") == {"beyond the numerical reference's reach": 1}


def test_a_pole_is_skipped_by_both_references():
    xs = domains.from_range(-1, 1.05, 0.1, 100).take(np.arange(21))
    rows = check_rows("1/x", xs, 1)
    assert all(row.passed for row in rows)
    assert reasons(rows, "symbolic")["not real or not finite"] == 2  # f and f' at 0
    assert reasons(rows, "numerical")["not real or not finite"] == 1


@pytest.mark.parametrize(
    ("text", "x", "true"),
    [
        ("log1p(x)/x", 1e-45, 1.0),  # 1 + 1e-45 needs 46 digits
        ("(1 - cos(x))/x^2", 1e-25, 0.5),  # cos(1e-25) needs 51
        ("log(x)", 1e-43, math.log(1e-43)),
        ("softplus(x)", -800.0, 0.0),  # e^-800 is below float64
    ],
)
def test_symbolic_reference_raises_precision_until_two_evaluations_agree(text, x, true):
    value = verify.symbolic_columns(lang.parse(text), np.array([x]), 0, timeout=None)[0][0]
    assert value == pytest.approx(true, rel=1e-15)


def test_symbolic_reference_does_not_take_agreeing_zeros_for_a_value():
    # softplus''(400) = e^-400/(1 + e^-400)^2: its terms cancel to 0 below 175 digits.
    value = verify.symbolic_columns(lang.parse("softplus(x)"), np.array([400.0]), 2)[2][0]
    assert value == pytest.approx(math.exp(-400.0), rel=1e-15)


def test_check_fails_where_the_formula_cancels_in_float64():
    # f = 0 in float64 at 1e-25 (cos rounds to 1); the reference knows it is 0.5.
    rows = check_rows("(1 - cos(x))/x^2", [1e-25, 1.0], 0)
    assert worst_failure(rows).worst_x == 1e-25
    assert "reference 0.5" in verify.failure_message(rows)


@pytest.mark.parametrize("text", ["7^12345", "9^9^9", "x + 7^12345", "2^(2^(2^20))"])
def test_constant_powers_are_folded_to_floats_never_to_big_integers(text):
    started = time.monotonic()
    rows = check_rows(text, [-1.0, 0.0, 1.0], 1, timeout=None)
    assert time.monotonic() - started < 5
    assert all(row.passed for row in rows)


def test_a_reference_past_its_budget_is_skipped_as_too_expensive():
    parsed = lang.parse(SLOW)
    xs = np.array([-1.0, 0.0, 1.0])
    columns = [xs] + [np.zeros(3)] * 7  # values do not matter: nothing gets compared
    started = time.monotonic()
    rows = verify.check(parsed, columns, 6, RTOL, ATOL, timeout=TIMEOUT)
    # Two references side by side, each at most TIMEOUT per order, and killed at the first
    # order past it: well under 13 orders' worth.
    assert time.monotonic() - started < 13 * TIMEOUT + 5
    assert "too expensive" in reasons(rows, "symbolic")
    assert "skipped: " in verify.render(rows, RTOL, ATOL) and "too expensive" in verify.render(
        rows, RTOL, ATOL
    )


def test_plot_reference_columns_are_bounded_too():
    started = time.monotonic()
    columns = verify.symbolic_columns(lang.parse(SLOW), np.linspace(-1, 1, 50), 6, TIMEOUT)
    assert time.monotonic() - started < 7 * TIMEOUT + 5
    assert len(columns) == 7 and np.isnan(columns[6]).all()


def test_a_failing_reference_process_is_reported_not_raised(monkeypatch):
    def explode(*args):
        raise RecursionError("too deep")

    monkeypatch.setattr(references, "_symbolic_iter", explode)
    rows = check_rows("sin(x)", [0.5], 1, timeout=5)
    assert reasons(rows, "symbolic") == {"reference failed": 2}  # f and f'
    assert all(row.passed for row in rows)


@pytest.mark.parametrize(("rtol", "atol"), [(-1.0, None), (None, -1e-3), (math.nan, None)])
def test_tolerances_refuse_negative_or_nan_values_naming_the_option(rtol, atol):
    with pytest.raises(OptionError) as caught:
        job.check_tolerances("float64", rtol, atol)
    assert caught.value.parameter == ("rtol" if rtol is not None else "atol")


def test_check_grid_passes_the_method_through_to_the_table():
    g = domains.from_num(-1, 1, 5, 100)
    rows = check_grid(
        lang.parse("x*sin(x)"), g, 2, "cpu", torch.float64, RTOL, ATOL, method="reverse"
    )
    assert all(row.passed for row in rows) and len(rows) == 5


# ----- Issue 20: a tolerance that sees errors in tiny values -----

# What the tool printed before issue 20's fixes (items 1-4), at the order and dtype it printed.
BEFORE_THE_FIXES = [
    ("asinh(x)", 1e200, 2, 1, "float64", 0.0),
    ("asin(x)", 1e-12, 2, 2, "float64", 1.0000333894311098e-12),
    ("tanh(x)", 1e-100, 2, 2, "float64", -0.0),
    ("sigmoid(x)", -100.0, 2, 1, "float32", 0.0),
    ("erfc(x)", 10.0, 2, 2, "float32", 8.519894663094888e-43),
]


def check_of(text: str, x: float, order: int, dtype: str, replaced=None):
    """--check's verdict on the table at x, with one value replaced (order k, value)."""
    from support import problem

    from autodiffcli import run

    built = problem(text, [x], order, "taylor", dtype=dtype)
    columns = [np.asarray(c, dtype=np.float64) for c in run.table(built).values()]
    if replaced is not None:
        columns[replaced[0] + 1][0] = replaced[1]
    rtol, atol, _ = job.check_tolerances(dtype, None, None)
    rows = verify.check(
        lang.parse(text),
        columns,
        order,
        rtol,
        atol + job.SUBNORMAL_STEPS[dtype],
        timeout=None,
        zero=job.NOISE_AT_ZERO[dtype],
    )
    return verify.failure_message(rows)


@pytest.mark.parametrize(("text", "x", "order", "k", "dtype", "old"), BEFORE_THE_FIXES)
def test_check_fails_on_the_numbers_before_the_fixes_and_passes_on_todays(
    text, x, order, k, dtype, old
):
    assert check_of(text, x, order, dtype) is None
    failure = check_of(text, x, order, dtype, replaced=(k, old))
    assert failure is not None and f"order {k} differs" in failure


def test_check_fails_where_the_users_formula_cancels_to_zero():
    result = invoke("derive", "exp(x)-1", "--start", "1e-20", "--stop", "2e-20", "--num", "3")
    assert result.exit_code == 0
    checked = invoke(
        "derive", "exp(x)-1", "--start", "1e-20", "--stop", "2e-20", "--num", "3", "--check"
    )
    assert checked.exit_code == 1 and "order 0 differs" in checked.stderr.splitlines()[-1]


def test_rounding_noise_on_a_true_zero_passes():
    # d/dx (sin^2 + cos^2) is 0; autograd adds terms of size 1 that cancel to a few ulps.
    result = invoke("derive", "sin(x)^2 + cos(x)^2", "--num", "101", "--check", "-q")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "reason"),
    [("abs(x)", "not differentiable"), ("relu(x)", "not differentiable")],
)
def test_the_symbolic_reference_calls_a_kink_not_differentiable(text, reason):
    points = domains.from_values([-1.0, 0.0, 1.0], 3)
    rows = check_grid(lang.parse(text), points, 1, "cpu", torch.float64, 1e-10, 0.0, timeout=None)
    symbolic = next(row for row in rows if row.reference == "symbolic" and row.order == 1)
    assert dict(symbolic.reasons) == {reason: 1}


def test_the_symbolic_reference_takes_the_limit_where_its_formula_is_zero_over_zero():
    exact = verify.symbolic_columns(lang.parse("cbrt(x^3)"), np.array([0.0, 2.0]), 1)[1]
    assert exact.tolist() == [1.0, 1.0]


def test_a_constant_beyond_float64_is_inf_in_the_reference_as_in_the_table():
    result = invoke("derive", "9^9^9*x", "--num", "3", "--check", "-q")
    assert result.exit_code == 0, result.stderr


# ----- Issue 20: --check samples a streamed table as it goes out -----


def _stream_into(sample, count: int) -> None:
    sizes = np.random.default_rng(3).integers(1, 700, size=count)
    begin = 0
    for size in sizes:
        sample.add(np.arange(begin, min(begin + size, count), dtype=np.float64))
        begin += size
        if begin >= count:
            return


def test_a_running_sample_keeps_both_ends_and_at_most_its_limit_evenly_spread():
    from autodiffcli.verify import RunningSample

    sample = RunningSample(50, max_values=10**6)
    _stream_into(sample, 10_000)
    kept = sample.points()
    assert len(kept) == 50 and kept[0] == 0 and kept[-1] == 9999
    assert np.all(np.diff(kept) > 0) and np.diff(kept).max() <= 3 * 9999 / 49


def test_a_running_sample_of_all_keeps_every_point():
    from autodiffcli.verify import RunningSample

    sample = RunningSample(None, max_values=10**6)
    _stream_into(sample, 10_000)
    np.testing.assert_array_equal(sample.points(), np.arange(10_000.0))


def test_a_running_sample_of_all_past_its_budget_samples_its_budget_and_says_so():
    from autodiffcli.verify import RunningSample

    sample = RunningSample(None, max_values=1000)
    _stream_into(sample, 10_000)
    kept = sample.points()
    assert sample.capped and len(kept) == 1000 and (kept[0], kept[-1]) == (0, 9999)


def test_one_large_add_keeps_a_running_sample_under_twice_its_limit():
    from autodiffcli.verify import RunningSample

    sample = RunningSample(10, max_values=10**6)
    sample.add(np.arange(100_000.0))
    assert sample.held < 20
    assert sample.points()[[0, -1]].tolist() == [0.0, 99_999.0]
