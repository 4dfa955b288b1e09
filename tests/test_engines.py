"""Autograd derivatives against an independent oracle: sympy, evaluated with mpmath."""

from __future__ import annotations

import re

import mpmath
import numpy as np
import pytest
import support
import sympy as sp
import torch
from support import table

from autodiffcli import lang
from autodiffcli.domain import from_num, from_range
from autodiffcli.engines import compute, environment, reverse
from autodiffcli.errors import DeviceError
from autodiffcli.limits import DEFAULT_MAX_POINTS

RTOL = 1e-10  # float64, well-conditioned points
ATOL = 1e-12
X = sp.Symbol("x", real=True)

# (expression in our language, the same function written independently in sympy, domain)
CASES = [
    ("sin(x)", sp.sin(X), (-3, 3)),
    ("cos(x)", sp.cos(X), (-3, 3)),
    ("tan(x)", sp.tan(X), (-1.2, 1.2)),
    ("asin(x)", sp.asin(X), (-0.9, 0.9)),
    ("acos(x)", sp.acos(X), (-0.9, 0.9)),
    ("atan(x)", sp.atan(X), (-3, 3)),
    ("sinh(x)", sp.sinh(X), (-3, 3)),
    ("cosh(x)", sp.cosh(X), (-3, 3)),
    ("tanh(x)", sp.tanh(X), (-3, 3)),
    ("asinh(x)", sp.asinh(X), (-3, 3)),
    ("acosh(x)", sp.acosh(X), (1.1, 4)),
    ("atanh(x)", sp.atanh(X), (-0.9, 0.9)),
    ("exp(x)", sp.exp(X), (-3, 3)),
    ("expm1(x)", sp.exp(X) - 1, (-3, 3)),
    ("log(x)", sp.log(X), (0.1, 5)),
    ("log1p(x)", sp.log(1 + X), (-0.5, 5)),
    ("log2(x)", sp.log(X) / sp.log(2), (0.1, 5)),
    ("log10(x)", sp.log(X) / sp.log(10), (0.1, 5)),
    ("sqrt(x)", sp.sqrt(X), (0.1, 5)),
    ("cbrt(x)", X ** sp.Rational(1, 3), (0.2, 5)),
    ("cbrt(x)", -((-X) ** sp.Rational(1, 3)), (-5, -0.2)),
    ("abs(x)", -X, (-3, -0.1)),
    ("erf(x)", sp.erf(X), (-2, 2)),
    ("erfc(x)", sp.erfc(X), (-2, 2)),
    ("sigmoid(x)", 1 / (1 + sp.exp(-X)), (-5, 5)),
    ("softplus(x)", sp.log(1 + sp.exp(X)), (-5, 30)),
    ("relu(x)", X, (0.1, 3)),
    ("sinc(x)", sp.sin(sp.pi * X) / (sp.pi * X), (0.1, 3)),
    ("pow(x, 3)", X**3, (-2, 2)),
    ("x^x", X**X, (0.2, 3)),
    ("exp(-x^2/2) * sin(3*x)", sp.exp(-(X**2) / 2) * sp.sin(3 * X), (-3, 3)),
    ("x**3 - 1/x", X**3 - 1 / X, (0.5, 3)),
    ("log(x**2)*sin(x) + 1/x", sp.log(X**2) * sp.sin(X) + 1 / X, (0.5, 3)),
]


def reference(function, order: int, xs: np.ndarray) -> np.ndarray:
    derivative = sp.diff(function, X, order) if order else function
    evaluate = sp.lambdify(X, derivative, modules="mpmath")
    with mpmath.workdps(40):
        return np.array([float(evaluate(mpmath.mpf(float(v)))) for v in xs])


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize(("text", "function", "domain"), CASES, ids=[c[0] for c in CASES])
def test_derivative_matches_sympy(text, function, domain, order):
    g = from_num(domain[0], domain[1], 13, DEFAULT_MAX_POINTS)
    columns = table(lang.parse(text), g, order, torch.device("cpu"), torch.float64)
    xs = columns[0].numpy()
    for k in range(order + 1):
        expected = reference(function, k, xs)
        np.testing.assert_allclose(columns[k + 1].numpy(), expected, rtol=RTOL, atol=ATOL)


def test_constant_expression_has_zero_derivatives():
    g = from_num(-1, 1, 5, DEFAULT_MAX_POINTS)
    columns = table(lang.parse("3"), g, 2, "cpu", torch.float64)
    assert columns[1].tolist() == [3.0] * 5
    assert columns[2].tolist() == [0.0] * 5 and columns[3].tolist() == [0.0] * 5


def test_derivative_that_becomes_constant_gives_zeros():
    g = from_num(-1, 1, 5, DEFAULT_MAX_POINTS)
    columns = table(lang.parse("x**2"), g, 4, "cpu", torch.float64)
    assert columns[3].tolist() == [2.0] * 5
    assert columns[4].tolist() == [0.0] * 5 and columns[5].tolist() == [0.0] * 5


def test_chunks_give_the_same_table_as_one_pass():
    parsed = lang.parse("tanh(x)")
    g = from_range(-3, 3, 0.01, DEFAULT_MAX_POINTS)
    target = environment.Target(torch.device("cpu"), torch.float64)
    small = list(compute.chunks(support.problem(parsed, g, 2), target, chunk_points=64))
    assert len(small) == 10
    whole = table(parsed, g, 2, "cpu", torch.float64)
    for i in range(4):
        torch.testing.assert_close(torch.cat([c[i] for c in small]), whole[i], rtol=0, atol=0)


def test_float32_table_is_float32():
    g = from_num(0, 1, 4, DEFAULT_MAX_POINTS)
    columns = table(lang.parse("sin(x)"), g, 1, "cpu", torch.float32)
    assert all(column.dtype == torch.float32 for column in columns)


@pytest.mark.parametrize("method", ["reverse", "taylor"])
def test_float32_subnormal_values_are_float64_values_rounded_once(method):
    # erfc''(10) = 8.40e-43 is subnormal in float32; computed in float32 it came out 1.5% off.
    points = [10.0, 9.0, 0.5, -100.0]
    narrow = table(lang.parse("erfc(x)"), points, 2, "cpu", torch.float32, method=method)
    wide = table(lang.parse("erfc(x)"), points, 2, "cpu", torch.float64, method=method)
    assert narrow[3][0] == wide[3][0].to(torch.float32)
    assert narrow[3][0].item() == pytest.approx(8.395312462708834e-43, rel=2e-3, abs=0)
    others = table(lang.parse("erfc(x)"), points[1:], 2, "cpu", torch.float32, method=method)
    for k in (1, 2, 3):  # rows without a subnormal value keep their float32 computation
        assert narrow[k][1:].tolist() == others[k].tolist()


def test_float32_subnormal_rows_are_found_beside_undefined_ones():
    text = "x^2*exp(-x^2) + 0*log(x - 9)"  # NaN at x = 8; 3.7e-42 at x = 10
    narrow = table(lang.parse(text), [10.0, 8.0], 0, "cpu", torch.float32, method="taylor")
    wide = table(lang.parse(text), [10.0, 8.0], 0, "cpu", torch.float64, method="taylor")
    assert narrow[1][0] == wide[1][0].to(torch.float32) and narrow[1][1].isnan()


def test_a_subnormal_constant_in_float32_is_kept():
    columns = table(lang.parse("1e-40"), [0.0, 1.0], 1, "cpu", torch.float32, method="taylor")
    assert columns[1].tolist() == [pytest.approx(1e-40, rel=1e-3)] * 2
    assert columns[2].tolist() == [0.0, 0.0]


def test_column_names():
    assert compute.column_names(support.problem("x", [1.0], 0)) == ["x", "f"]
    names = ["x", "f", "df", "d2f", "d3f"]
    assert compute.column_names(support.problem("x", [1.0], 3)) == names


def test_cuda_request_without_cuda_names_the_build():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match=re.escape(f"torch {torch.__version__}")):
        environment.resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_table_equals_cpu_table():
    parsed = lang.parse("exp(-x^2/2) * sin(3*x)")
    g = from_num(-3, 3, 100_001, DEFAULT_MAX_POINTS)
    on_cpu = table(parsed, g, 3, torch.device("cpu"), torch.float64)
    on_gpu = table(parsed, g, 3, environment.resolve_device("cuda"), torch.float64)
    for a, b in zip(on_cpu, on_gpu, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_taylor_table_equals_cpu_taylor_table():
    parsed = lang.parse("log(x^2)*sin(x) + 1/x")
    g = from_num(0.5, 3, 10_001, DEFAULT_MAX_POINTS)
    on_cpu = table(parsed, g, 8, torch.device("cpu"), torch.float64, method="taylor")
    cuda = environment.resolve_device("cuda")
    on_gpu = table(parsed, g, 8, cuda, torch.float64, method="taylor")
    for a, b in zip(on_cpu, on_gpu, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10 * float(a.abs().max()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_points_of_a_two_axis_domain_equal_the_cpu_ones():
    from autodiffcli.domain import Domain

    points = Domain(("x", "y"), (from_num(-1, 1, 7, 100), from_range(0, 1, 0.25, 100)))
    on_cpu = points.points(3, 25, torch.float64, "cpu")
    on_gpu = points.points(3, 25, torch.float64, environment.resolve_device("cuda"))
    for a, b in zip(on_cpu, on_gpu, strict=True):
        assert torch.equal(a, b.cpu())


def test_lazy_zero_derivatives_become_ordinary_zeros():
    # Autograd returns a ZeroTensor for the second derivative of abs; it must still be data.
    g = from_num(-1, 1, 3, DEFAULT_MAX_POINTS)
    columns = table(lang.parse("abs(x)"), g, 3, "cpu", torch.float64)
    assert columns[3].numpy().tolist() == [0.0, 0.0, 0.0]


def test_chunks_shrink_as_graphs_grow():
    small = reverse.chunk_points_for(2)
    large = reverse.chunk_points_for(400_000)
    assert small == reverse.CHUNK_POINTS
    assert reverse.MIN_CHUNK_POINTS <= large < 100


def test_high_orders_of_long_expressions_get_smaller_chunks():
    parsed = lang.parse("x^x^x")

    def f(x):
        return lang.evaluate(parsed, [x])

    first = reverse.graph_nodes(f, 1, torch.float64, "cpu")
    sixth = reverse.graph_nodes(f, 6, torch.float64, "cpu")  # pow is now exp(b log a): 3x/order
    assert sixth > 100 * first
    assert reverse.chunk_points_for(sixth) < reverse.chunk_points_for(first) == reverse.CHUNK_POINTS
