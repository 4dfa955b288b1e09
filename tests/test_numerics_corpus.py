"""The standing numerical corpus: autograd's derivatives against sympy + mpmath.

Every expression is differentiated to order 4 by autograd and compared, point by point, with
the symbolic reference evaluated at adaptive precision (``verify.symbolic_columns``). Each
expression's tolerance at each point comes from the conditioning of its formula in float64:

- noise, by Monte Carlo arithmetic: the derivatives are computed again with the result of
  every pointwise torch operation, forward and backward, multiplied by a random 1 +- 1 ulp
  (as rounding would); the spread of the answers is what rounding between operations can
  cause (cancellation in log1p(x)/x near 0 or acos(x)^2 near 1 widens it exactly there);
- inside: rounding inside one fused kernel (1 - x*x in atanh's backward) acts like an ulp of
  its input, which moves f^(k) by about eps * |x * f^(k+1)(x)|.

A wrong derivative rule is off by far more than that.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from support import table
from torch.utils._python_dispatch import TorchDispatchMode

from autodiffcli import domain as domains
from autodiffcli import job, lang, verify
from autodiffcli.engines import reverse
from autodiffcli.verify.check import worst_failure

ORDER = 4
EPS = 2.0**-52
PERTURBATION = EPS  # each pointwise result is multiplied by 1 + u*PERTURBATION, |u| <= 1
TRIALS = 4  # perturbed evaluations per expression; the largest deviation is the noise
SAFETY = 8  # tolerance = SAFETY * (noise + inside) + RELATIVE_FLOOR * |reference| + TINY
RELATIVE_FLOOR = 16 * EPS  # a few ulps of the reference, however well conditioned
TINY = 1e-300  # absolute floor: subnormal results carry fewer bits
SERIES_NOISE = 1e-40  # mpmath's 50-digit differences leave this much where the truth is 0

# ----- Points -----
# Integers, 0 where defined, values near 0 and both tails, per kind of domain.
LINE = [-30.0, -3.0, -2.0, -1.0, -0.5, 0.0, 1e-300, 1e-8, 0.5, 1.0, 2.0, 3.0, 30.0]
WIDE = [-1e300, -1e30, -7.0, -1.0, 0.0, 1e-300, 1e-30, 1.0, 2.0, 7.0, 1e30, 1e300]
HUGE = [-1e100, -1e20, -2.0, -1.0, 0.0, 1e-100, 1.0, 2.0, 1e20, 1e100]  # x**2 stays finite
POSITIVE = [1e-300, 1e-30, 1e-8, 0.25, 1.0, 2.0, 3.0, 10.0, 1e8, 1e30, 1e300]
UNIT = [-1.0, -0.999, -0.5, -1e-8, 0.0, 1e-300, 1e-8, 0.5, 0.9, 0.999, 1.0]
ACOSH = [1.0 + 1e-8, 1.5, 2.0, 3.0, 10.0, 1e8, 1e100]
EXP = [-700.0, -40.0, -2.0, -1.0, 0.0, 1e-300, 1e-8, 1.0, 2.0, 40.0, 700.0]
TAN = [-1.5, -1.0, 0.0, 1e-300, 1e-8, 0.5, 1.0, 1.5, 3.0]
LOG1P = [-0.999, -0.5, -1e-8, 0.0, 1e-300, 1e-8, 1.0, 2.0, 1e8, 1e300]
TAILS = [-800.0, -400.0, -40.0, -3.0, -1.0, 0.0, 1e-300, 1e-8, 1.0, 3.0, 40.0, 400.0]
SINC = [-3.0, -2.5, -1.0, -1e-4, 1e-12, 1e-300, 0.0, 1e-4, 0.3, 1.0, 1.49, 1.5, 2.0, 7.5]
SMALL = [-2.0, -1.0, -0.5, 0.0, 1e-8, 0.5, 1.0, 2.0]
KINKS = [-2.0, -1.0, -1e-300, 0.0, 1e-300, 0.5, 1.0, 2.0]
INTEGERS = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0]


# ----- Expressions -----
def _moderate(x: float) -> bool:
    return x == 0 or COMPOSED_LIMITS[0] <= abs(x) <= COMPOSED_LIMITS[1]


# Each unary function with the points of its domain, then four compositions of it.
FUNCTION_POINTS = {
    "sin": WIDE,
    "cos": WIDE,
    "tan": TAN,
    "asin": UNIT,
    "acos": UNIT,
    "atan": HUGE,
    "sinh": EXP,
    "cosh": EXP,
    "tanh": WIDE,
    "asinh": HUGE,
    "acosh": ACOSH,
    "atanh": UNIT,
    "exp": EXP,
    "expm1": EXP,
    "log": POSITIVE,
    "log1p": LOG1P,
    "log2": POSITIVE,
    "log10": POSITIVE,
    "sqrt": POSITIVE,
    "cbrt": WIDE,
    "abs": KINKS,
    "erf": LINE,
    "erfc": LINE,
    "sigmoid": TAILS,
    "softplus": TAILS,
    "relu": KINKS,
    "sinc": SINC,
}
COMPOSITIONS = ["{f}(x)", "x*{f}(x)", "{f}(x)^2", "{f}(x)/(1 + x^2)"]

HAND_PICKED = [
    # x-dependent exponents, at integer points (torch's pow rule is wrong there)
    ("x**x", INTEGERS),
    ("x^(x - 1)", INTEGERS),
    ("pow(x + 2, sin(x))", SMALL),
    ("pow(2, x)", LINE),
    ("e^x", LINE),
    ("pow(x, x)*log(x)", INTEGERS),
    ("x^(1/x)", INTEGERS),
    ("(1 + x^2)^cos(x)", SMALL),
    ("pow(x, 2*x + 1)", INTEGERS),
    ("pow(0.5, x^2)", SMALL),
    ("pow(x, -x)", INTEGERS),
    ("pow(sqrt(x), x)", INTEGERS),
    # constant exponents: integer, negative, fractional
    ("x^2", WIDE[1:-1]),
    ("x^3", HUGE),
    ("x^-2", POSITIVE[1:-1]),
    ("x^0.5", POSITIVE),
    ("x^2.5", POSITIVE[:-1]),
    ("x^-0.5", POSITIVE),
    ("(x - 1)^4", SMALL),
    ("pow(x, 0)", SMALL),
    ("pow(x, 1)", SMALL),
    # operators and constants
    ("x + 1", WIDE),
    ("x - pi", WIDE),
    ("2*x", WIDE),
    ("x/3", WIDE),
    ("1/x", WIDE),
    ("-x", WIDE),
    ("+x", WIDE),
    ("3", SMALL),
    ("e*x + pi", LINE),
    ("(x + 1)/(x - 1)", [-3.0, -1.0, 0.0, 0.5, 2.0, 3.0, 1e8]),
    ("x/(1 + x)", POSITIVE[:-1]),
    # sinc and softplus near their hard zones
    ("sinc(x)*x", SINC),
    ("sinc(x/1e6)", [0.0, 1.0, 1e3, 1e5, 1.49e6, 1.6e6]),
    ("sinc(1 - x)", [0.0, 1.0, 1 + 1e-10, 2.0, 2.5]),
    ("softplus(-x)", TAILS),
    ("x*softplus(x)", TAILS),
    ("softplus(x)*sigmoid(x)", TAILS),
    ("softplus(x) - relu(x)", TAILS),
    ("sigmoid(x)*(1 - sigmoid(x))", TAILS),
    ("log(sigmoid(x))", [-40.0, -3.0, 0.0, 3.0, 40.0]),
    # kinks, away from and at the kink
    ("abs(x - 1)", KINKS),
    ("relu(x - 1)*x", KINKS),
    ("abs(sin(x))", KINKS),
    ("relu(x)^2", KINKS),
    ("abs(x)^3", KINKS),
    ("cbrt(x)^2", WIDE),
    ("cbrt(x^3)", [-1e30, -8.0, -1e-30, 0.0, 1e-30, 1.0, 27.0, 1e30]),
    # extreme magnitudes
    ("log(x)", [1e-300, 1e-43, 1e300]),
    ("log1p(x)/x", [1e-45, 1e-20, 1e-8, 1.0, 1e20]),
    ("expm1(x)/x", [-1e-30, 1e-45, 1e-8, 1.0]),
    ("x^3", [1e20, 1.5e20, 2e20]),
    ("sin(x)/x", [1e-300, 1e-8, 1.0, 1e300]),
    ("exp(-x^2/2)*sin(3*x)", LINE),
    ("log(cosh(x))", [-30.0, -1.0, 0.0, 1.0, 30.0]),
    ("sqrt(1 + x^2)", [-1e30, -2.0, 0.0, 1.0, 1e30]),
    ("atan(x)/(1 + x^2)", [-1e30, -2.0, 0.0, 1.0, 1e30]),
    ("tanh(sinh(x))", SMALL),
    ("exp(sin(x))*cos(x)", WIDE[1:-1]),
    ("erf(x)*exp(x)", LINE),
    ("erfc(x)*exp(x^2)", [-3.0, 0.0, 1.0, 3.0, 10.0]),
    ("asinh(x)*acos(x/4)", SMALL),
    ("log10(x)*log2(x)", POSITIVE),
    ("sqrt(x)*sinc(x)", POSITIVE[:-2]),
    ("sin(cos(tan(x)))", SMALL),
    ("x*sin(x)", LINE),
    ("exp(x)*x^2", EXP[:-1]),
    ("1/(1 + exp(-x))", TAILS[2:-1]),
    ("log(x^2)*sin(x) + 1/x", POSITIVE[2:-3]),
    ("atanh(x)*asin(x)", UNIT),
    ("acosh(x)/x", ACOSH),
    ("cosh(x) - sinh(x)", [-30.0, -1.0, 0.0, 1.0, 30.0]),
    ("exp(exp(x))", [-30.0, -1.0, 0.0, 1.0, 5.0]),
    ("sin(1/x)", [0.01, 0.1, 1.0, 1e8]),
    # Piecewise, at points off their switch points (checked on both sides of one there).
    ("where(x > 0, sqrt(x), x^2)", [-3.0, -1.0, 0.5, 2.0, 1e30]),
    ("where(x <= 1 and x >= -1, x^3, exp(-x^2))", [-3.0, -0.5, 0.25, 2.0]),
    ("where(x < -1 or x != 2, sin(x), cos(x))", [-3.0, 0.5, 2.5]),
    ("where(not x == 0, log(x^2), 0)", [-2.0, 0.5]),
    ("min(exp(x), 2) + max(x, x^2)", [-3.0, 0.5, 2.0]),
]
# Compositions are checked at moderate points: x**2 and the quotient rule's (1 + x**2)**2
# overflow or underflow in float64 beyond these (the formula's limit, not autograd's).
COMPOSED_LIMITS = (1e-30, 100.0)
# (expression, x): where the formula itself cannot give the derivative in float64, and
# --check says so (test_check_reports_the_known_float64_limits).
KNOWN_LIMITS = {
    ("abs(x)^2", 0.0): "abs'(0) is torch's 0 at the kink, so (abs^2)''(0) = 0, not 2",
    ("cbrt(x^3)", 0.0): "the chain rule meets cbrt'(0) * 3*0^2 = inf * 0 = NaN",
    ("sin(x)/x", 1e-300): "the quotient rule's x**-3 overflows at 1e-300: NaN from order 2",
}
CORPUS = [
    (template.format(f=name), [p for p in points if _moderate(p)])
    for name, points in FUNCTION_POINTS.items()
    for template in COMPOSITIONS
] + HAND_PICKED


class RoundingNoise(TorchDispatchMode):
    """Multiplies the result of every pointwise torch operation, forward and backward, by a
    random factor 1 + u*PERTURBATION (u uniform in [-1, 1]): Monte Carlo arithmetic."""

    def __init__(self, seed: int):
        super().__init__()
        self.generator = torch.Generator().manual_seed(seed)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if _is_rounded(func, out):
            u = torch.rand(out.shape, generator=self.generator, dtype=out.dtype) * 2 - 1
            out = out * (1 + PERTURBATION * u)
        return out


def _is_rounded(func, out) -> bool:
    """Pointwise arithmetic rounds its result; selection (where) and in-place ops are left."""
    return (
        isinstance(out, torch.Tensor)
        and out.is_floating_point()
        and torch.Tag.pointwise in func.tags
        and not func._schema.is_mutable
        and func is not torch.ops.aten.where.self
    )


def autograd_columns(parsed, xs, order: int) -> list[np.ndarray]:
    """[x, f, f', ...] by the table's code path."""
    g = domains.from_values(np.asarray(xs, dtype=np.float64), len(xs))
    return [t.numpy().astype(np.float64) for t in table(parsed, g, order, "cpu", torch.float64)]


def rounding_noise(parsed, xs, ours: list[np.ndarray]) -> list[np.ndarray]:
    """Per order, the largest deviation of a Monte Carlo evaluation from the plain one."""
    x = torch.tensor(np.asarray(xs, dtype=np.float64))
    noise = [np.zeros(len(xs)) for _ in ours]
    for seed in range(TRIALS):
        with RoundingNoise(seed):
            perturbed = reverse.derivatives(lambda t: lang.evaluate(parsed, [t]), [x], ORDER)
        for k, (a, b) in enumerate(zip(perturbed, ours, strict=True)):
            with np.errstate(invalid="ignore"):
                noise[k] = np.fmax(noise[k], np.abs(a.numpy() - b))
    return noise


def assert_agrees(text: str, points: list[float], orders=range(ORDER + 1)) -> list[int]:
    """Compare autograd with the symbolic reference at every point and order where the
    reference is finite; returns how many points were checked at each order."""
    parsed = lang.parse(text)
    xs = np.array(sorted(set(points)), dtype=np.float64)
    columns = autograd_columns(parsed, xs, ORDER)
    ours = columns[1:]
    reference = verify.symbolic_columns(parsed, xs, ORDER + 1, timeout=None)
    noise = rounding_noise(parsed, xs, ours)
    known = np.array([(text, x) in KNOWN_LIMITS for x in xs])
    checked = []
    for k in orders:
        exact = reference[k]
        usable = np.isfinite(exact) & ~known
        with np.errstate(invalid="ignore", over="ignore"):
            inside = EPS * np.abs(xs) * np.nan_to_num(np.abs(reference[k + 1]), posinf=0.0)
        allowed = SAFETY * (noise[k] + inside) + RELATIVE_FLOOR * np.abs(exact) + TINY
        with np.errstate(invalid="ignore"):
            error = np.abs(ours[k] - exact)
        bad = usable & ~(error <= allowed)
        assert not bad.any(), (
            f"{text}, order {k}: x = {xs[bad].tolist()}, autograd {ours[k][bad].tolist()}, "
            f"reference {exact[bad].tolist()}, allowed {allowed[bad].tolist()}"
        )
        checked.append(int(usable.sum()))
    return checked


def test_corpus_is_large_and_covers_every_function_and_operator():
    assert len(CORPUS) >= 150
    used = {node.op for text, _ in CORPUS for node in lang.parse(text).nodes}
    assert set(lang.OPS) <= used


@pytest.mark.parametrize(("text", "points"), CORPUS, ids=[text for text, _ in CORPUS])
def test_autograd_agrees_with_the_symbolic_reference_to_order_4(text, points):
    assert min(assert_agrees(text, points)) >= 1  # every order was checked somewhere


def test_every_function_has_points_including_integers_zero_and_both_tails():
    unary = {name for name, op in lang.FUNCTIONS.items() if op.arity == 1}
    assert set(FUNCTION_POINTS) == unary
    for name, points in FUNCTION_POINTS.items():
        assert any(p == int(p) and p != 0 for p in points), name
        assert 0.0 in points or min(points) > 0, name  # 0, where the domain has it
        assert min(points) < 0 < max(points) or min(points) > 0, name


@pytest.mark.parametrize("name", sorted(FUNCTION_POINTS))
def test_every_function_agrees_with_the_symbolic_reference_at_orders_1_to_4(name):
    points = FUNCTION_POINTS[name]
    checked = assert_agrees(f"{name}(x)", points, orders=range(1, ORDER + 1))
    assert min(checked) >= len(points) // 2  # the reference is finite at most points


def test_sinc_derivatives_at_zero_are_its_taylor_coefficients():
    # The symbolic reference meets 0/0 at x = 0; mpmath's sincpi is analytic there.
    ours = [column[0] for column in autograd_columns(lang.parse("sinc(x)"), [0.0], ORDER)[1:]]
    with mpmath.workdps(50):
        exact = [float(mpmath.chop(d, SERIES_NOISE)) for d in mpmath.diffs(mpmath.sincpi, 0, ORDER)]
    np.testing.assert_allclose(ours, exact, rtol=RELATIVE_FLOOR, atol=TINY)


@pytest.mark.parametrize(
    ("text", "x", "order", "true"),
    [
        ("x**x", 1.0, 3, 3.0),
        ("x**x", 1.0, 4, 8.0),
        ("pow(x + 2, sin(x))", 0.0, 2, 1.0 + math.log(2) ** 2),
        ("x**(x - 1)", 1.0, 2, 2.0),
        ("softplus(x)", -400.0, 2, math.exp(-400.0)),
        ("sigmoid(x)", 40.0, 1, math.exp(-40.0) / (1 + math.exp(-40.0)) ** 2),
        ("cbrt(x)", 1e300, 0, 1e100),
        ("cbrt(x)", 0.0, 1, math.inf),
        ("sinc(x)", 1e-12, 2, -(math.pi**2) / 3),
    ],
)
def test_issue_reproducers_print_the_true_value(text, x, order, true):
    value = autograd_columns(lang.parse(text), [x], order)[order + 1][0]
    assert value == pytest.approx(true, rel=1e-10, abs=0)


# ----- The two engines -----
# Points where one engine gave NaN, 0 or lost digits while the other was right (issue 20).
ENGINE_EDGES = [
    ("pow(x, 2.5)", [0.0, 0.5, 2.0]),
    ("pow(x, 1.5)", [0.0, 2.0]),
    ("pow(x, 65537)", [0.0, 1.0]),
    ("pow(x - 1, x)", [1.0, 2.0]),
    ("asinh(x)", [-1e200, 1e155, 1e200]),
    ("acosh(x)", [1e155, 1e200]),
    ("asin(x)", [1e-200, 1e-16, 1e-12]),
    ("acos(x)", [1e-200, 1e-16, 1e-12]),
    ("atanh(x)", [1e-200, 1e-16, 1e-12]),
    ("tanh(x)", [1e-300, 1e-100]),
]


def taylor_columns(parsed, xs, order: int) -> list[np.ndarray]:
    """[x, f, f', ...] by the table's code path, in Taylor mode."""
    g = domains.from_values(np.asarray(xs, dtype=np.float64), len(xs))
    columns = table(parsed, g, order, "cpu", torch.float64, method="taylor")
    return [t.numpy().astype(np.float64) for t in columns]


def is_right(ours: np.ndarray, exact: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (np.isinf(exact) & (ours == exact)) | (np.abs(ours - exact) <= allowed)


@pytest.mark.parametrize(
    ("text", "points"), CORPUS + ENGINE_EDGES, ids=[text for text, _ in CORPUS + ENGINE_EDGES]
)
def test_the_engines_agree_wherever_one_of_them_is_right(text, points):
    """Right means within --check's relative tolerance of the reference, plus the rounding
    noise that the formula itself carries (zero where the reference is not 0 and well
    conditioned), never an absolute tolerance that would hide an error in a tiny value."""
    parsed = lang.parse(text)
    xs = np.array(sorted(set(points)), dtype=np.float64)
    reverse_columns = autograd_columns(parsed, xs, ORDER)[1:]
    series_columns = taylor_columns(parsed, xs, ORDER)[1:]
    reference = verify.symbolic_columns(parsed, xs, ORDER + 1, timeout=None)
    noise = rounding_noise(parsed, xs, reverse_columns)
    rtol = job.check_tolerances("float64", None, None)[0]
    # Where reverse mode's chain rule meets inf * 0 (KNOWN_LIMITS), only Taylor can be right.
    known = np.array([(text, x) in KNOWN_LIMITS for x in xs])
    for k in range(1, ORDER + 1):
        exact = reference[k]
        with np.errstate(invalid="ignore", over="ignore"):
            inside = EPS * np.abs(xs) * np.nan_to_num(np.abs(reference[k + 1]), posinf=0.0)
        allowed = SAFETY * (noise[k] + inside) + rtol * np.abs(exact) + TINY
        by_reverse = is_right(reverse_columns[k], exact, allowed)
        by_taylor = is_right(series_columns[k], exact, allowed)
        apart = (by_reverse != by_taylor) & ~(known & by_taylor)
        assert not apart.any(), (
            f"{text}, order {k}: x = {xs[apart].tolist()}, reverse "
            f"{reverse_columns[k][apart].tolist()}, taylor {series_columns[k][apart].tolist()}, "
            f"reference {exact[apart].tolist()}"
        )


INF = math.inf


@pytest.mark.parametrize("method", ["reverse", "taylor"])
@pytest.mark.parametrize(
    ("text", "x", "limits"),
    [
        ("sqrt(x)", 0.0, [0.0, INF, -INF, INF, -INF]),
        ("log(x)", 0.0, [-INF, INF, -INF, INF, -INF]),
        ("1/x", 0.0, [INF, -INF, INF, -INF, INF]),
        ("pow(x, 2.5)", 0.0, [0.0, 0.0, 0.0, INF, -INF]),
        ("pow(x, 1.5)", 0.0, [0.0, 0.0, INF, -INF, INF]),
        ("pow(x, 65537)", 0.0, [0.0, 0.0, 0.0, 0.0, 0.0]),
        ("cbrt(x)", 0.0, [0.0, INF, -INF, INF, -INF]),
    ],
)
def test_both_engines_give_the_one_sided_limits_at_a_branch_point(method, text, x, limits):
    columns = (autograd_columns if method == "reverse" else taylor_columns)(
        lang.parse(text), [x], ORDER
    )
    assert [float(column[0]) for column in columns[1:]] == limits


# ----- The grid count rule -----


@pytest.mark.parametrize(
    ("start", "stop", "step"),
    [
        (0, 100.00000001, 1),  # stop 1e-8 past a point: numpy keeps the point, so do we
        (0, 1, 0.1),
        (0, 0.3, 0.1),
        (-5, 5, 0.01),
        (1, 0, -0.25),
        (0, 1e-300, 1e-301),
        (1e20, 2e20, 1e19),
        (0, 1, 0.3),
    ],
)
def test_grid_count_matches_numpy_arange_when_stop_is_not_a_grid_point_by_rounding(
    start, stop, step
):
    assert len(domains.from_range(start, stop, step, 10**9)) == len(np.arange(start, stop, step))


def test_grid_excludes_a_stop_that_a_point_reaches_within_rounding():
    # 0.1 * 3 is 0.30000000000000004: one ulp past 0.3, which the decimal step cannot miss by.
    assert len(domains.from_range(0.0, 0.3, 0.1, 10**9)) == 3
    last = domains.from_range(0.0, 1.0, 0.1, 10**9)
    assert len(last) == 10 and last.take([9])[0] < 1.0


@pytest.mark.parametrize(("text", "x"), sorted(KNOWN_LIMITS), ids=lambda v: str(v))
def test_check_reports_the_known_float64_limits(text, x):
    parsed = lang.parse(text)
    columns = autograd_columns(parsed, [x], ORDER)
    rtol, atol, _ = job.check_tolerances("float64", None, None)
    rows = verify.check(parsed, columns, ORDER, rtol, atol)
    worst = worst_failure(rows)
    assert worst is not None and worst.worst_x == x
    assert f"at x = {x!r}" in verify.failure_message(rows)


# ----- float32 output -----


@pytest.mark.parametrize("fmt", ["csv", "tsv", "ndjson"])
def test_float32_tables_hold_float32_digits_that_read_back_as_the_identical_float32(fmt):
    import io

    from autodiffcli import writers

    values = np.float32(1) / np.arange(1, 200, dtype=np.float32) * np.float32(1e-30)
    values = np.concatenate([values, np.float32([3.4e38, 1.4e-45, -2.5, 0.1])])
    stream = io.BytesIO()
    writer = writers.TableWriter(stream, fmt, ["f"], True, "memory")
    writer.write([values])
    writer.close()
    lines = stream.getvalue().decode().splitlines()
    fields = [line.split(":")[1].rstrip("}") for line in lines] if fmt == "ndjson" else lines[1:]
    read = np.array([np.float32(field) for field in fields], dtype=np.float32)
    np.testing.assert_array_equal(read.view(np.uint32), values.view(np.uint32))
    assert fields[-1] == "0.1"  # float32's shortest digits, not 0.10000000149011612
