"""Forward mode (torch.autograd.forward_ad): one pass per input variable, each giving that
variable's column of the Jacobian for every component of f. Tensors in, tensors out.

For F: R^n -> R^m the full Jacobian costs n forward passes against m reverse passes, so
forward mode wins when f has fewer inputs than outputs. Points stay independent, so a tangent
of ones seeds every point at once, as the sum trick does in reverse mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.autograd.forward_ad as fwad


def partials(f: Callable, inputs: Sequence[torch.Tensor], wanted: Sequence) -> dict:
    """{partial: tensor} for each partials.Partial of order 0 or 1 in ``wanted``; ``f`` maps
    one tensor per variable to the list of f's components."""
    if any(p.order > 1 for p in wanted):
        raise ValueError("forward mode computes partials of order 0 and 1 only")
    inputs = [tensor.detach() for tensor in inputs]
    by = sorted({p.sequence[0] for p in wanted if p.order == 1})
    out: dict = {}
    values = None
    for i in by:
        with fwad.dual_level():
            seeded = list(inputs)
            seeded[i] = fwad.make_dual(inputs[i], torch.ones_like(inputs[i]))
            components = f(*seeded)
            unpacked = [fwad.unpack_dual(y) for y in components]
        if values is None:
            values = [u.primal.detach() for u in unpacked]
        for output, u in enumerate(unpacked):
            tangent = u.tangent
            tangent = torch.zeros_like(inputs[i]) if tangent is None else tangent.detach()
            out[(output, i)] = tangent
    if values is None:
        with torch.no_grad():
            values = list(f(*inputs))
    result = {}
    for partial in wanted:
        if partial.order == 0:
            result[partial] = values[partial.output]
        else:
            result[partial] = out[(partial.output, partial.sequence[0])]
    return result
