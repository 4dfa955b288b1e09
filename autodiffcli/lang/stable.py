"""The numerically careful torch forms: where torch's own rule for an operation loses digits.

Each function here is the torch column of one operation (:mod:`autodiffcli.lang.ops`): the
engines run it, and ``explain`` prints its source in the snippet it calls runnable, so the
snippet gives the engine's numbers. Each comment names the torch rule it replaces and where
that rule fails. Imported on first use only: this module imports torch.
"""

from __future__ import annotations

import math

import torch

# sinc: below this |x| a Taylor polynomial of this many terms (order 10 within 1e-13).
SINC_SERIES_BELOW = 1.5
SINC_TERMS = 32


def with_value(smooth, exact):
    """``smooth``'s derivatives with ``exact``'s value (where both are finite)."""
    correction = (exact - smooth).detach()
    return smooth + torch.where(
        torch.isfinite(correction), correction, torch.zeros_like(correction)
    )


def pow(a, b):
    """a**b. A constant exponent goes to torch as a Python number (torch's backward then
    treats exponent 0 exactly: the 3rd derivative of x**2 at 0 is 0, not 0 * inf). An
    x-dependent exponent is exp(b*log(a)) where a > 0, since torch's rule masks exponent == 0
    and is wrong from order 2 at integer exponents; its value is torch.pow's (2**3 is 8)."""
    if b.dim() == 0 and not b.requires_grad:
        return torch.pow(a, b.item())
    direct = torch.pow(a, b)  # a <= 0: defined only at integer b, where d/db (log a) is NaN
    positive = a > 0
    safe = torch.where(positive, a, torch.ones_like(a))  # double where: no NaN
    smooth = torch.exp(b * torch.log(safe))
    return torch.where(positive, with_value(smooth, direct), direct)


class CubeRoot(torch.autograd.Function):
    """cbrt(m) for m >= 0, with the derivative 1/(3 y**2) of the refined root y."""

    generate_vmap_rule = True  # torch.func (explain's forward mode) needs these forms

    @staticmethod
    def forward(m):
        y = m ** (1.0 / 3.0)
        refined = y + y * ((m / y / y / y) - 1) / 3  # one Newton step
        return torch.where((m == 0) | torch.isinf(m), y, refined)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    # y**-2 / 3 rather than 1 / (3 y y): differentiated again at y = 0, the quotient gives
    # 0/0 = NaN, the power -2 y**-3 = -inf (cbrt'' at 0 from the right).
    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y.pow(-2) / 3

    @staticmethod
    def jvp(ctx, tangent):
        (y,) = ctx.saved_tensors
        return tangent * y.pow(-2) / 3


def cbrt(a):
    # Odd, by where: f'(0) is +inf, not sign(0)*inf = NaN. Our own rule f' = 1/(3 f**2) on the
    # Newton-refined root: m**(1/3) carries the rounded exponent (1e-14 off at 1e300), and its
    # chain g * y * m**(-2/3) underflows at 1e-300 where 1/(3 y**2) does not.
    negative = a < 0
    y = CubeRoot.apply(torch.where(negative, -a, a))
    return torch.where(negative, -y, y)


def tanh(a):
    # Odd; below |a| = 1 sinh/cosh, beyond it (1 - e)/(1 + e), e = exp(-2|a|); value from tanh.
    # torch's rule 1 - tanh**2 cancels for large |a| (tanh'(7) off by 1e-11, tanh'(20) = 0,
    # truly 1.7e-17); the quotient of exponentials cancels in its own derivatives for tiny |a|
    # (tanh''(1e-100) was -0.0, truly -2e-100), where those of sinh/cosh cancel exactly.
    negative = a < 0
    m = torch.where(negative, -a, a)
    small = m < 1
    near = torch.where(small, m, torch.zeros_like(m))
    e = torch.exp(-2 * torch.where(small, torch.ones_like(m), m))
    y = torch.where(small, torch.sinh(near) / torch.cosh(near), (1 - e) / (1 + e))
    y = with_value(y, torch.tanh(m))
    return torch.where(negative, -y, y)


def expm1(a):
    # Derivatives from exp(a) - 1, value from expm1: torch's rule expm1 + 1 loses e^a for
    # a < -37 (expm1'(-40) = 0; the truth is 4.2e-18).
    return with_value(torch.exp(a) - 1, torch.expm1(a))


def atan(a):
    # Beyond |a| = 1, sign(a)*pi/2 - atan(1/a): torch's rule 1/(1 + a**2) overflows in the
    # higher derivatives (atan''(1e100) = 0; the truth is -2e-300).
    big = a.abs() > 1
    inverse = 1 / torch.where(big, a, torch.ones_like(a))
    outer = torch.sign(a) * (math.pi / 2) - torch.atan(inverse)
    inner = torch.atan(torch.where(big, torch.zeros_like(a), a))
    return with_value(torch.where(big, outer, inner), torch.atan(a))


def asinh(a):
    # Odd; beyond |a| = 1, log(m) + log1p(sqrt(1 + (1/m)**2)): torch's rule 1/sqrt(1 + a**2)
    # overflows in the higher derivatives (asinh's 3rd at 1e100 has the wrong sign).
    negative = a < 0
    m = torch.where(negative, -a, a)
    big = m > 1
    safe = torch.where(big, m, torch.ones_like(m))
    outer = torch.log(safe) + torch.log1p(torch.sqrt(1 + (1 / safe) ** 2))
    y = torch.where(big, outer, torch.asinh(torch.where(big, torch.zeros_like(m), m)))
    y = with_value(y, torch.asinh(m))
    return torch.where(negative, -y, y)


def acosh(a):
    # Beyond a = 2, log(a) + log1p(sqrt(1 - (1/a)**2)): torch's rule 1/sqrt(a**2 - 1)
    # overflows in the higher derivatives (acosh's 3rd at 1e100 has the wrong sign).
    big = a > 2
    safe = torch.where(big, a, 2 * torch.ones_like(a))
    outer = torch.log(safe) + torch.log1p(torch.sqrt(1 - (1 / safe) ** 2))
    y = torch.where(big, outer, torch.acosh(torch.where(big, 2 * torch.ones_like(a), a)))
    return with_value(y, torch.acosh(a))


def softplus(a):
    # Split by sign so that both branches stay analytic and derivatives follow e^a on the
    # left (logaddexp's backward gives NaN at a = -800 from order 2).
    negative = a < 0
    left = torch.log1p(torch.exp(torch.where(negative, a, torch.zeros_like(a))))
    right_a = torch.where(negative, torch.zeros_like(a), a)
    right = right_a + torch.log1p(torch.exp(-right_a))
    return torch.where(negative, left, right)


def sigmoid(a):
    # Split by sign: torch's rule y*(1 - y) is 0 once y rounds to 1 (sigmoid'(40) = 4.2e-18).
    negative = a < 0
    left_exp = torch.exp(torch.where(negative, a, torch.zeros_like(a)))
    right_exp = torch.exp(-torch.where(negative, torch.zeros_like(a), a))
    return torch.where(negative, left_exp / (1 + left_exp), 1 / (1 + right_exp))


def sinc(a):
    # Near 0, a Taylor polynomial in (pi a)**2: sin(pi a)/(pi a) cancels catastrophically in
    # its derivatives there (torch's sinc gives f'' = 0 at 1e-12 and NaN at 0).
    small = a.abs() < SINC_SERIES_BELOW
    near = torch.where(small, a, torch.zeros_like(a))
    far = torch.where(small, torch.ones_like(a), a)
    u = (math.pi * near) ** 2
    taylor = torch.zeros_like(u)
    for n in range(SINC_TERMS, -1, -1):
        taylor = taylor * u + (-1) ** n / math.factorial(2 * n + 1)
    return torch.where(small, taylor, torch.sin(math.pi * far) / (math.pi * far))
