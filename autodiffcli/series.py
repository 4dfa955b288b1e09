"""Taylor-mode rules: the truncated Taylor series of each operation's result from its arguments'.

A series is a tensor ``u`` of shape (K+1, n): ``u[k]`` holds the k-th Taylor coefficient
u^(k)(x)/k! at each of n points. A constant argument is a 0-d tensor (as in the torch column of
the operation table), so ``x**2`` is told from ``x**y`` by its exponent's shape. Every rule
works on whole rows of points (no per-point Python loops); the loops below run over the K+1
orders only, each costing O(K) row operations, so a rule costs O(K^2 n) (Griewank and Walther,
*Evaluating Derivatives*, ch. 13).

Each rule takes the torch module as its first argument ``t``: this module never imports torch,
so the operation table (:data:`autodiffcli.lang.OPS`, whose Taylor column these rules are) stays
importable without it.

Most functions share one pattern: w' = h(u) u', so w_k = (h u')_{k-1} / k (an
antiderivative), with h built from rules that already exist; tan, tanh, sigmoid and exp, whose
h involves w itself, fill their coefficients one order at a time.
"""

from __future__ import annotations

import math

# Around 0, sinc is summed from its own power series (|pi x| below at least this), where
# sin(pi x)/(pi x) would divide by zero or cancel; sinc_series_radius widens it at high orders.
SINC_SERIES_RADIUS = 1.0
# Integer exponents up to this size go by exact products (x**2 at 0 has derivatives 2 and 0).
MAX_PRODUCT_EXPONENT = 1 << 16


# ----- Building blocks -----


def is_constant(a) -> bool:
    """A constant argument is a 0-d tensor; a series has a leading order dimension."""
    return a.dim() == 0


def constant_series(t, value, like):
    """The series of a constant: ``value`` (a number or a row) at order 0, zeros above."""
    out = t.zeros_like(like)
    out[0] = value
    return out


def with_value(w, value):
    """``w`` with its order-0 row replaced by ``value``, the torch op's own result: the function
    value then matches the reverse engine bit for bit, and rules may seed recurrences with a
    stabler form than the one they would compute."""
    w[0] = value
    return w


def derivative(t, u):
    """The series of u' from that of u, one order shorter: (u')_m = (m+1) u_{m+1}."""
    orders = t.arange(1, u.shape[0], dtype=u.dtype, device=u.device)
    return u[1:] * orders.reshape(-1, *([1] * (u.dim() - 1)))


def antiderivative(t, w0, g):
    """The series of w with w(0) = w0 and w' = g: w_k = g_{k-1} / k, one order longer than g."""
    orders = t.arange(1, g.shape[0] + 1, dtype=g.dtype, device=g.device)
    tail = g / orders.reshape(-1, *([1] * (g.dim() - 1)))
    head = t.broadcast_to(t.as_tensor(w0, dtype=g.dtype, device=g.device), g.shape[1:])
    return t.cat([head.unsqueeze(0), tail])


def cauchy(t, a, b):
    """The truncated product of two series: c_k = sum_{j<=k} a_j b_{k-j}, accumulated row by
    row in place (each a_j scales all of b at once: 6x faster than one dot product per k)."""
    out = a[0] * b
    for j in range(1, a.shape[0]):
        out[j:].addcmul_(a[j], b[: b.shape[0] - j])
    return out


def spread(acc, a, m: int, w_m, shift: int = 1, value: float = 1.0) -> None:
    """Add value * a_i * w_m to acc_{m+shift+i} for every order in range: once coefficient m
    of a recurrence is known, its share of every later coefficient is added in one call."""
    start = m + shift
    length = min(a.shape[0], acc.shape[0] - start)
    if length > 0:
        acc[start : start + length].addcmul_(a[:length], w_m, value=value)


def exp_of(t, u, w0):
    """The series of w = exp(u) with w(0) = w0, from w' = w u': k w_k = sum_j j u_j w_{k-j}."""
    du = derivative(t, u)
    w, acc = t.empty_like(u), t.zeros_like(u)
    w[0] = w0
    for m in range(u.shape[0] - 1):
        spread(acc, du, m, w[m])
        t.div(acc[m + 1], m + 1, out=w[m + 1])
    return w


def divide(t, a, b):
    """The series of a / b for series b: w_k = (a_k - sum_{j>=1} b_j w_{k-j}) / b_0."""
    w, acc = t.empty_like(b), a.clone()
    w[0] = a[0] / b[0]
    for m in range(b.shape[0] - 1):
        spread(acc, b[1:], m, w[m], value=-1.0)
        t.div(acc[m + 1], b[0], out=w[m + 1])
    return _divide_at_pole(t, w, a, b)


def _divide_at_pole(t, w, a, b):
    """Where b_0 = 0 (a pole), each coefficient is infinite: the recurrence gives 0/0 = NaN,
    while its dominant term a_0 (-b_1)^k / b_0^(k+1) gives the sign that autograd's reverse
    mode gives (1/x at 0: inf, -inf, inf, ...). NaN stays where that term is 0 * inf. So
    does a coefficient that overflows near a pole (1/x at 1e-300, where the recurrence meets
    0 * inf): there the dominant term is infinite too, with the true sign."""
    pole = b[0] == 0
    overflowed = t.isnan(w) & t.isfinite(a[0]) & t.isfinite(b[0]) & ~pole
    if not bool(pole.any() or overflowed.any()):
        return w
    orders = t.arange(w.shape[0], dtype=w.dtype, device=w.device).reshape(
        -1, *([1] * (w.dim() - 1))
    )
    dominant = (
        a[0] * t.pow(-b[1], orders) / t.pow(b[0], orders + 1) if b.shape[0] > 1 else a[0] / b[0]
    )
    w = t.where(overflowed & t.isinf(dominant), dominant, w)
    return t.where(pole, dominant, w)


def power_of(t, u, p: float, w0):
    """The series of u**p for a constant real p, from u w' = p u' w:
    k u_0 w_k = (p + 1) sum_j j u_j w_{k-j} - k sum_j u_j w_{k-j} (j >= 1). Needs u_0 != 0."""
    du = derivative(t, u)
    w, weighted, plain = t.empty_like(u), t.zeros_like(u), t.zeros_like(u)
    w[0] = w0
    for m in range(u.shape[0] - 1):
        spread(weighted, du, m, w[m])
        spread(plain, u[1:], m, w[m])
        k = m + 1
        w[k] = ((p + 1) * weighted[k] - k * plain[k]) / (k * u[0])
    return _power_where_zero(t, _power_where_out_of_range(t, w, u, p), u, p)


def _power_where_out_of_range(t, w, u, p: float):
    """Where u_0 is finite and nonzero but u_0^p under- or overflows (x^2.5 at 1e-300), the
    recurrence scales every coefficient by w_0 = 0 or inf and loses them all, and where its
    terms overflow it meets inf - inf (x^0.5 at 1e-300, order 3). There
    w_k = sum_j binom(p, j) u_0^(p-j) (d^j)_k with d = u - u_0, each power of u_0 taken on
    its own (x^2.5 at 1e-300: f'' = 3.75e-150, as reverse mode gives); O(K^3), at those
    points only."""
    lost = (u[0] != 0) & t.isfinite(u[0]) & ((w[0] == 0) | t.isinf(w[0]) | t.isnan(w).any(0))
    if not bool(lost.any()):
        return w
    points = lost.nonzero().flatten()
    v = u[:, points]
    d = v.clone()
    d[0] = 0.0
    total = t.zeros_like(v)
    power, binomial = constant_series(t, 1.0, v), 1.0
    for j in range(u.shape[0]):
        if j:
            power, binomial = cauchy(t, power, d), binomial * (p - j + 1) / j
        term = binomial * t.pow(v[0], p - j) * power
        total += t.where(power != 0, term, t.zeros_like(term))  # no inf * 0 below order j
    total[0] = w[0, points]
    w = w.clone()
    w[:, points] = total
    return w


def _power_where_zero(t, w, u, p: float):
    """Where u_0 = 0 the recurrence divides by 0. There u = c t^j (1 + ...), c = u_j its
    first nonzero coefficient, so u^p = c^p t^q (...)^p with q = j p: a whole q >= 0 shifts
    the series of (u / t^j)^p up by q orders ((x^2)^2.5 = x^5); any other q gives 0 below
    order q and the infinite coefficients of t^q above it, on the side where u^p is real
    (x^2.5 at 0: 0, 0, inf; sqrt(x) at 0: inf, -inf), as autograd's reverse mode does."""
    zero = u[0] == 0
    if not bool(zero.any()):
        return w
    size = u.shape[0]
    w = w.clone()
    unknown = zero.clone()  # points whose first nonzero order is not found yet
    for j in range(1, size):
        lead = unknown & (u[j] != 0)
        unknown &= ~lead
        if bool(lead.any()):
            points = lead.nonzero().flatten()
            w[1:, points] = _power_of_monomial(t, u[j:, points], p, j, size)
    if p >= 1:  # u = 0 to order K: u^p = 0 to order K too
        w[1:, unknown] = 0.0
    return w


def _power_of_monomial(t, v, p: float, j: int, size: int):
    """Orders 1..size-1 of (t^j v)^p, for series v (orders 0..size-1-j) with v_0 != 0."""
    q = j * p
    if q >= 0 and q == int(q):
        q = int(q)
        full = t.full((size, v.shape[1]), math.nan, dtype=v.dtype, device=v.device)
        full[: min(q, size)] = 0.0
        if q < size:  # v is known to order size-1-j, so (t^j v)^p to order q + size-1-j
            inner = power_of(t, v, p, t.pow(v[0], p))
            known = min(inner.shape[0], size - q)
            full[q : q + known] = inner[:known]
        return full[1:]
    out = t.empty((size - 1, v.shape[1]), dtype=v.dtype, device=v.device)
    c = v[0]
    odd = j % 2 == 1
    scale = t.pow(t.abs(c), p) if odd else t.pow(c, p)  # even j, c < 0: nowhere real
    side = t.sign(c) if odd else t.ones_like(c)
    falling = 1.0
    for k in range(1, size):
        falling *= (q - k + 1) / k
        zero_power = t.pow(t.zeros_like(c), q - k)
        out[k - 1] = falling * scale * side**k * zero_power
    return out


def integer_power(t, u, p: int):
    """u**p for an integer p by exact products (repeated squaring): no division by u_0, so
    x**2 and x**3 at x = 0 give exact derivatives and then zeros."""
    if p < 0:
        return divide(t, constant_series(t, 1.0, u), integer_power(t, u, -p))  # 1 / u**-p
    if p == 0:
        return constant_series(t, 1.0, u)
    result, square = None, u
    while p:
        if p & 1:
            result = square if result is None else cauchy(t, result, square)
        p >>= 1
        if p:
            square = cauchy(t, square, square)
    return result.clone()


def sin_cos(t, u, sign: float = -1.0, pair=None):
    """The series of sin(u) and cos(u) together: s' = c u', c' = -s u'. With sign +1 and
    pair=(sinh, cosh), the same for sinh and cosh: s' = c u', c' = s u'."""
    first, second = pair or (t.sin, t.cos)
    du = derivative(t, u)
    s, c = t.empty_like(u), t.empty_like(u)
    s_acc, c_acc = t.zeros_like(u), t.zeros_like(u)
    s[0], c[0] = first(u[0]), second(u[0])
    for m in range(u.shape[0] - 1):
        spread(s_acc, du, m, c[m])
        spread(c_acc, du, m, s[m], value=sign)
        t.div(s_acc[m + 1], m + 1, out=s[m + 1])
        t.div(c_acc[m + 1], m + 1, out=c[m + 1])
    return s, c


def sinh_cosh(t, u):
    """The series of sinh(u) and cosh(u) together."""
    return sin_cos(t, u, 1.0, (t.sinh, t.cosh))


def quadratic(t, u, w0, h0, linear: float, square: float):
    """The series of w with w' = h u', h = c + linear * w + square * w^2 (tan: h = 1 + w^2,
    tanh: 1 - w^2, sigmoid: w - w^2). ``h0``, h's value, is given in a stable form; its higher
    coefficients follow from w's, so w and h grow one order at a time."""
    size = u.shape[0]
    du = derivative(t, u)
    w, h = t.empty_like(u), t.empty_like(u)
    w_acc, squares = t.zeros_like(u), t.zeros_like(u)
    w[0], h[0] = w0, h0
    squares[0] = w0 * w0
    for m in range(size - 1):
        spread(w_acc, du, m, h[m])
        k = m + 1
        t.div(w_acc[k], k, out=w[k])
        # Each pair w_i w_j (i < j) of w^2 is added once, when its later member w_j is known.
        spread(squares, w[: k + 1], k, w[k], shift=0, value=2.0)
        if 2 * k < size:
            squares[2 * k] -= w[k] * w[k]
        h[k] = linear * w[k] + square * squares[k]
    return w


def logistic(t, u):
    """The series of sigmoid(u): h = w (1 - w) at order 0 as sigmoid(u_0) sigmoid(-u_0), so
    neither tail loses its digits to 1 - w rounding to 0."""
    w0 = careful_sigmoid(t, u[0])
    return quadratic(t, u, w0, w0 * careful_sigmoid(t, -u[0]), 1.0, -1.0)


def careful_sigmoid(t, x):
    """sigmoid(x) as e/(1 + e), e = exp(x), for x < 0: torch's sigmoid gives 0 in float32
    from x = -88, where the truth (3.7e-44 at -100) is still a float32 subnormal."""
    e = t.exp(-t.abs(x))
    return t.where(x < 0, e / (1 + e), 1 / (1 + e))


def shorter(u):
    """u without its highest order: what h needs in w_k = (h u')_{k-1} / k."""
    return u[:-1]


def integrate(t, u, h, w0):
    """The series of w with w(0) = w0 and w' = h u', for h given one order shorter than u."""
    return antiderivative(t, w0, cauchy(t, h, derivative(t, u)))


def one_minus_square(t, v):
    """The series of 1 - v^2: its value as (1 - v_0)(1 + v_0), which keeps its digits near
    |v_0| = 1, and the rest as -(v^2)_k, which keeps them near v_0 = 0 (as (1 - v)(1 + v),
    order 1 was (1 - v_0) v_1 - v_1 (1 + v_0): asin''(1e-12) was off by 3e-5)."""
    out = -cauchy(t, v, v)
    out[0] = (1 - v[0]) * (1 + v[0])
    return out


def magnitude(t, x0):
    """max(1, |x_0|) where x_0 is finite, else 1: the scale that keeps x^2 from overflowing."""
    size = t.abs(x0)
    return t.where(t.isfinite(size), t.clamp(size, min=1.0), t.ones_like(size))


def shifted(v, c):
    """The series of v + c, for a number or a row of numbers c."""
    out = v.clone()
    out[0] += c
    return out


# ----- Operators -----


def add(t, a, b):
    if is_constant(a):
        return shifted(b, a)
    if is_constant(b):
        return shifted(a, b)
    return a + b


def sub(t, a, b):
    if is_constant(b):
        return shifted(a, -b)
    return add(t, a, -b)


def mul(t, a, b):
    if is_constant(a) or is_constant(b):
        return a * b
    return cauchy(t, a, b)


def div(t, a, b):
    if is_constant(b):
        return a / b
    numerator = constant_series(t, a, b) if is_constant(a) else a
    return divide(t, numerator, b)


def neg(t, a):
    return -a


def pos(t, a):
    return a


def pow(t, a, b):  # noqa: A001 - the name of the operation in the table
    """u**p: integer constant p by exact products, other constants by the power recurrence,
    an exponent that depends on x as exp(b log a)."""
    if is_constant(b):
        p = b.item()
        if math.isfinite(p) and p == int(p) and -MAX_PRODUCT_EXPONENT <= p <= MAX_PRODUCT_EXPONENT:
            return with_value(integer_power(t, a, int(p)), t.pow(a[0], p))
        return power_of(t, a, p, t.pow(a[0], p))
    if is_constant(a) and a.item() == 0:
        # 0**b is 0 around any b_0 > 0 (1 at b_0 = 0, inf below): torch's convention, every
        # derivative 0, where exp(b log 0) would give NaN.
        return constant_series(t, t.pow(a, b[0]), b)
    base = constant_series(t, a, b) if is_constant(a) else a
    exponent = mul(t, b, log(t, base))
    return exp_of(t, exponent, t.pow(base[0], b[0]))


# ----- Functions -----


def sin(t, u):
    return sin_cos(t, u)[0]


def cos(t, u):
    return sin_cos(t, u)[1]


def tan(t, u):
    w0 = t.tan(u[0])
    return quadratic(t, u, w0, 1.0 + w0 * w0, 0.0, 1.0)


def tanh(t, u):
    # h_0 = 1 - tanh^2 = sech^2, computed directly so the tails keep their digits.
    return quadratic(t, u, t.tanh(u[0]), t.cosh(u[0]).reciprocal().square(), 0.0, -1.0)


def sinh(t, u):
    return sinh_cosh(t, u)[0]


def cosh(t, u):
    return sinh_cosh(t, u)[1]


def exp(t, u):
    return exp_of(t, u, t.exp(u[0]))


def expm1(t, u):
    return with_value(exp(t, u), t.expm1(u[0]))


def log(t, u):
    # w' = u' / u
    return antiderivative(t, t.log(u[0]), divide(t, derivative(t, u), shorter(u)))


def log1p(t, u):
    return antiderivative(t, t.log1p(u[0]), divide(t, derivative(t, u), shifted(shorter(u), 1.0)))


def log2(t, u):
    return with_value(log(t, u) / math.log(2.0), t.log2(u[0]))


def log10(t, u):
    return with_value(log(t, u) / math.log(10.0), t.log10(u[0]))


def sqrt(t, u):
    return power_of(t, u, 0.5, t.sqrt(u[0]))


def cbrt(t, u):
    # The real cube root: the power recurrence holds for negative u as well.
    return power_of(t, u, 1.0 / 3.0, t.sign(u[0]) * t.abs(u[0]) ** (1.0 / 3.0))


def asin(t, u):
    v = shorter(u)
    return integrate(t, u, _inverse_sqrt(t, one_minus_square(t, v)), t.asin(u[0]))


def acos(t, u):
    v = shorter(u)
    return integrate(t, u, -_inverse_sqrt(t, one_minus_square(t, v)), t.acos(u[0]))


def atan(t, u):
    v = shorter(u)
    return antiderivative(t, t.atan(u[0]), divide(t, derivative(t, u), shifted(cauchy(t, v, v), 1)))


def asinh(t, u):
    # 1/sqrt(1 + v^2) as (1/c) / sqrt(1/c^2 + (v/c)^2) with c = max(1, |u_0|): v^2 overflows
    # from |u_0| = 1.3e154 (asinh'(1e200) was 0; it is 1e-200).
    c = magnitude(t, u[0])
    v = shorter(u) / c
    inside = cauchy(t, v, v)
    inside[0] += c.reciprocal().square()
    return integrate(t, u, _inverse_sqrt(t, inside) / c, t.asinh(u[0]))


def acosh(t, u):
    # u^2 - 1 as (u - 1)(u + 1), no cancellation near u = 1, scaled by c as in asinh.
    c = magnitude(t, u[0])
    v = shorter(u) / c
    below = cauchy(t, shifted(v, -c.reciprocal()), shifted(v, c.reciprocal()))
    return integrate(t, u, _inverse_sqrt(t, below) / c, t.acosh(u[0]))


def atanh(t, u):
    v = shorter(u)
    return antiderivative(t, t.atanh(u[0]), divide(t, derivative(t, u), one_minus_square(t, v)))


def _inverse_sqrt(t, v):
    return power_of(t, v, -0.5, t.rsqrt(v[0]))


def _gaussian(t, v, scale: float):
    """scale * exp(-v^2), the derivative of erf up to its sign and factor."""
    minus_square = -cauchy(t, v, v)
    return scale * exp_of(t, minus_square, t.exp(minus_square[0]))


def erf(t, u):
    h = _gaussian(t, shorter(u), 2.0 / math.sqrt(math.pi))
    return integrate(t, u, h, t.special.erf(u[0]))


def erfc(t, u):
    h = _gaussian(t, shorter(u), -2.0 / math.sqrt(math.pi))
    return integrate(t, u, h, t.special.erfc(u[0]))


def sigmoid(t, u):
    return logistic(t, u)


def softplus(t, u):
    # w' = sigmoid(u) u'; the value by logaddexp, exact for large u like the torch column.
    value = t.logaddexp(u[0], t.zeros_like(u[0]))
    return integrate(t, u, logistic(t, shorter(u)), value)


def abs(t, u):  # noqa: A001 - the name of the operation in the table
    """sign(u_0) * u: torch's convention at 0 (derivative 0) makes every order 0 there."""
    return with_value(u * t.sign(u[0]), t.abs(u[0]))


def relu(t, u):
    """u where u_0 > 0, else 0: torch's convention at 0 (derivative 0)."""
    return with_value(u * (u[0] > 0).to(u.dtype), t.relu(u[0]))


def sinc(t, u):
    """sin(pi u)/(pi u); near 0 (|pi u_0| < sinc_series_radius(K)) from sinc's own power
    series, where the quotient divides by zero (at 0) or loses its digits."""
    y = math.pi * u
    s = sin_cos(t, y)[0]
    w = with_value(divide(t, s, y), t.sinc(u[0]))
    radius = sinc_series_radius(u.shape[0] - 1)
    near = (t.abs(y[0]) < radius).nonzero().flatten()
    if near.numel():
        w[:, near] = _sinc_power_series(t, y[:, near], radius)
        far_from_zero = t.abs(y[0, near]) >= SINC_SERIES_RADIUS
        w[0, near] = t.where(far_from_zero, t.sinc(u[0, near]), w[0, near])
    return w


def sinc_series_radius(order: int) -> float:
    """The |y| below which sin(y)/y is summed from its power series at this order. The
    quotient's recurrence w_k = (s_k - y_1 w_(k-1)) / y_0 multiplies its rounding by about
    K!/|y_0|^K against the coefficients' size (at |y_0| = 1.1, order 20: d20f was -6.7e10,
    truly 2.1e8); the power series loses about e^|y_0| to cancellation. The radius balances
    the two (6.25 at order 20, 9.25 at 30: both below 1e-12)."""
    radius = SINC_SERIES_RADIUS
    while math.lgamma(order + 1) - order * math.log(radius) > radius:
        radius += 0.25
    return radius


def _sinc_power_series(t, y, radius: float):
    """sin(y)/y = sum_m (-1)^m y^(2m) / (2m+1)!, by Horner's rule in the series of y^2, with
    terms until what they add to order K at |y_0| < radius is below 1e-20 of order K's size."""
    order = y.shape[0] - 1
    terms = _sinc_terms(order, radius)
    square = cauchy(t, y, y)
    total = constant_series(t, (-1) ** terms / math.factorial(2 * terms + 1), y)
    for m in range(terms - 1, -1, -1):
        total = shifted(cauchy(t, total, square), (-1) ** m / math.factorial(2 * m + 1))
    return total


def _sinc_terms(order: int, radius: float) -> int:
    """The count of power-series terms: y^(2m)/(2m+1)! adds binom(2m, K) y_0^(2m-K)/(2m+1)!
    to coefficient K, and sinc's own coefficient K is about 1/(K+1)!."""
    size = -math.lgamma(order + 2) - 46.0  # log of 1e-20 / (K+1)!
    m = order // 2 + 1
    while True:
        k = min(order, 2 * m)
        log_term = (
            math.lgamma(2 * m + 1)
            - math.lgamma(k + 1)
            - math.lgamma(2 * m - k + 1)
            + (2 * m - k) * math.log(radius)
            - math.lgamma(2 * m + 2)
        )
        if 2 * m > order + radius and log_term < size:
            return m
        m += 1


# ----- Piecewise: a condition is a bool tensor shaped like a series, equal at every order -----


def condition(t, decide, *args):
    """``decide`` (t.lt, t.logical_and, ...) on the values at the point: each derivative is
    that of the branch the condition picks there."""
    like = next(u for u in args if not is_constant(u))
    return decide(*(u if is_constant(u) else u[0] for u in args)).expand(like.shape)


def where(t, c, a, b):
    """a's series where c holds, else b's: the other's (NaN, perhaps) never enters."""
    like = next(u for u in (a, b, c) if not is_constant(u))
    zeros = t.zeros(like.shape, dtype=a.dtype, device=a.device)
    a, b = (u if not is_constant(u) else constant_series(t, u, zeros) for u in (a, b))
    return t.where(c if is_constant(c) else c[0], a, b)


def extremum(t, a, b, larger: bool):
    """max (``larger``) or min: the winner's series; at a tie the mean of both at every order
    (torch's backward halves the gradient), where a value is NaN their sum (it gives both all)."""
    like = b if is_constant(a) else a
    a, b = (u if not is_constant(u) else constant_series(t, u, like) for u in (a, b))
    first, second = (a[0] > b[0], a[0] < b[0]) if larger else (a[0] < b[0], a[0] > b[0])
    w = t.where(first, a, t.where(second, b, t.where(a[0] == b[0], 0.5 * a + 0.5 * b, a + b)))
    return with_value(w, (t.maximum if larger else t.minimum)(a[0], b[0]))
