"""The last sections of the lesson of f of several variables (see
:mod:`autodiffcli.lesson.several`): the Hessian of each output as the Jacobian of its gradient,
which of its numbers are second derivatives, what a Hessian costs in memory, and a program to
try. Every claim rests on a comparison or a count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from autodiffcli.lang import Expression, careful_definitions, python_source
from autodiffcli.lesson.jacobians import (
    component_hessian,
    components,
    forward_over_reverse,
    hessian_memory,
    jacobian_by_rows,
    seed_vector,
)
from autodiffcli.lesson.probes import compare
from autodiffcli.lesson.report import Section
from autodiffcli.lesson.several_modes import Setting, agree_text, comparable
from autodiffcli.lesson.sides import judge, sides_text
from autodiffcli.numfmt import fmt


def hessians_section(lesson: Setting) -> Section:
    section = Section("hessian", "Second derivatives: the Hessian is the Jacobian of the gradient")
    section.text(
        "The gradient of an output f_k is itself a map R^n -> R^n, and its Jacobian is the "
        "Hessian H[i, j] = d^2 f_k / dx_i dx_j. Forward-over-reverse, "
        "torch.func.jacfwd(torch.func.grad(f_k)), pushes one tangent per input through the "
        "reverse pass; nested reverse, torch.autograd.functional.hessian, runs one backward "
        "per input through a gradient recorded with create_graph=True."
        + (
            f" f has {lesson.m} outputs, so each has its own {lesson.n}x{lesson.n} Hessian "
            f"({lesson.m}x{lesson.n}x{lesson.n} numbers in all): all of them, one by one."
            if lesson.m > 1
            else ""
        )
    )
    facts = []
    if lesson.undefined:
        section.text(
            f"{', '.join(lesson.undefined)} {'is' if len(lesson.undefined) == 1 else 'are'} "
            "not finite here (section 1 says why): the numbers torch gives for "
            f"{'its' if len(lesson.undefined) == 1 else 'their'} Hessian are its rules' "
            "numbers, not second derivatives."
        )
    cells = [f"d2/d{a}d{b}" for a in lesson.free for b in lesson.free]
    for k, (name, component) in enumerate(zip(lesson.outputs, components(lesson.g), strict=True)):
        h = component_hessian(component, lesson.p, lesson.rtol, lesson.atol)
        section.table(
            lesson.inputs_header(f"H of {name}"),
            [
                lesson.by_input(f"d/d{n}", row)
                for n, row in zip(lesson.free, h.forward_over_reverse.tolist(), strict=True)
            ],
        )
        exists, why = second_derivatives(lesson, k, component, h.forward_over_reverse)
        both = agree_text(h.agreement, cells, "forward-over-reverse", "nested reverse")
        text = f"For {name}: {both[0].lower()}{both[1:-1]}; " + _symmetry(
            h.forward_over_reverse, exists, lesson
        )
        section.text(" ".join([text, *(f"{reason}." for reason in why)]))
        facts.append(
            {
                "output": name,
                "forward_over_reverse": h.forward_over_reverse.tolist(),
                "reverse_over_reverse": h.reverse_over_reverse.tolist(),
                "agree": h.agreement.where_finite,
                "symmetric": h.symmetric.where_finite,
                "second_derivatives_exist": exists.tolist(),
                "symmetric_where_they_exist": _symmetric(h.forward_over_reverse, exists, lesson),
            }
        )
    memory = hessian_memory(lesson.g, lesson.p, lesson.rtol, lesson.atol)
    smaller = memory.graphed_tape.nbytes < memory.dense_bytes
    section.text(
        f"Memory, on the sum of f over points from the count of passes ({memory.inputs:,} "
        f"inputs): its whole Hessian would be {memory.inputs:,}x{memory.inputs:,} numbers, "
        f"{_bytes(memory.dense_bytes)}. A Hessian-vector product needs none of it: computing "
        f"f, autograd saved {_bytes(memory.tape.nbytes)} for backward, and computing f and "
        f"its gradient with create_graph=True (the graph the product differentiates again) "
        f"{_bytes(memory.graphed_tape.nbytes)}, measured with saved_tensors_hooks: "
        + (
            f"{memory.dense_bytes / max(memory.graphed_tape.nbytes, 1):,.0f} times less than "
            "the whole Hessian. "
            if smaller
            else "not less than the whole Hessian here. "
        )
        + _hvp_text(memory.hvp_agreement, memory.inputs)
    )
    return section.fact("hessians", facts).fact(
        "memory",
        {
            "inputs": memory.inputs,
            "dense_bytes": memory.dense_bytes,
            "tape_bytes": memory.tape.nbytes,
            "graphed_tape_bytes": memory.graphed_tape.nbytes,
            "tape_smaller_than_hessian": smaller,
            "hvp_agree": memory.hvp_agreement.where_finite,
        },
    )


def second_derivatives(lesson: Setting, k: int, component, H) -> tuple[torch.Tensor, list[str]]:
    """Which entries of output k's Hessian are second derivatives (n x n, bool), with a
    sentence for each row or entry that is not: row i needs df_k/dx_i to exist at the point
    (section 2's look), and entry (i, j) torch's gradient entry i to have a derivative along
    x_j, by the same look from both sides."""
    n, name, at = lesson.n, lesson.outputs[k], lesson.at
    if name in lesson.undefined:
        return torch.zeros(n, n, dtype=torch.bool), []
    entries = judge(
        lambda q: jacobian_by_rows(component, q)[0],
        lambda q: forward_over_reverse(component, q),
        lesson.p,
        H,
        lesson.dtype_name,
    )
    exists = torch.tensor([[e.exists for e in row] for row in entries], dtype=torch.bool)
    first = lesson.exists[k]
    why = []
    for i, a in enumerate(lesson.free):
        if not bool(first[i]):
            why.append(
                f"d{name}/d{a} is not a derivative here (section 2), so no derivative of it is "
                f"either: row d/d{a} of H is torch's numbers"
            )
            continue
        for entry in entries[i]:
            if entry.exists:
                continue
            b = lesson.free[entry.input]
            text = sides_text(entry, f"d2{name}/d{a}d{b}", f"d{name}/d{a}", b, at)
            why.append(text or f"d2{name}/d{a}d{b} is {fmt(entry.torch)}, not finite")
    return exists & first.unsqueeze(1), why


def _symmetric(H, exists: torch.Tensor, lesson: Setting) -> bool | None:
    """H equals its transpose over the pairs of second derivatives that exist and are finite
    (None where no pair off the diagonal does)."""
    pairs = exists & exists.T & ~torch.eye(lesson.n, dtype=torch.bool)
    if not bool(pairs.any()):
        return None
    H = H.detach().to("cpu", torch.float64)
    same = compare(H[pairs], H.T[pairs], rtol=lesson.rtol, atol=lesson.atol)
    if not comparable(same, int(pairs.sum())):
        return None
    return same.where_finite


def _symmetry(H, exists: torch.Tensor, lesson: Setting) -> str:
    if lesson.n == 1:
        return "a 1x1 H is symmetric."
    symmetric = _symmetric(H, exists, lesson)
    if symmetric is None:
        return (
            "no pair H[i, j], H[j, i] (i != j) of finite second derivatives exists here to "
            "check H's symmetry by."
        )
    whole = bool(exists.all())
    return (
        ("H " if whole else "Where both exist, H[i, j] and H[j, i] ")
        + ("is symmetric" if whole and symmetric else "are equal" if symmetric else "")
        + ("is not symmetric" if whole and not symmetric else "")
        + ("differ" if not whole and not symmetric else "")
        + "."
    )


def _hvp_text(same, count: int) -> str:
    text = "The product with u = ones by forward-over-reverse (torch.func.jvp of torch.func.grad)"
    if not comparable(same, count):
        return text + (
            " and by nested reverse (torch.autograd.functional.hvp) have no entry finite in "
            "both, so there is nothing to compare."
        )
    return (
        text
        + (" agrees with" if same.where_finite else " differs from")
        + " nested reverse (torch.autograd.functional.hvp)"
        + (" wherever both are finite." if same.undefined else ".")
    )


def _bytes(count: int) -> str:
    return f"{count:,} bytes" if count < 1e6 else f"{count / 1e6:.3g} MB"


def snippet(
    expression: Expression, free: Sequence[str], point: dict[str, float], dtype: str = "float64"
) -> str:
    """A runnable program printing J (row by row, each output on its own graph, as the lesson
    computes it) and the backward call of the lesson, in ``dtype``, from the parsed expression
    by the formulation the engines run (careful forms included)."""
    m = len(expression.outputs)
    names = ["f"] if m == 1 else [f"f{k + 1}" for k in range(m)]
    arguments = ", ".join(free)
    params = "".join(
        f"    {n} = torch.tensor({float(v)!r}, dtype=torch.{dtype})  # --param\n"
        for n, v in point.items()
        if n not in free
    )
    functions = []
    for k, name in enumerate(names):
        component = expression.component(k)
        body = python_source(component)
        if not component.depends[-1]:  # a constant output: still a tensor of the dtype
            body = f"torch.as_tensor({body}, dtype=torch.{dtype})"
        functions.append(f"def {name}({arguments}):\n{params}    return {body}\n")
    if m > 1:
        calls = ", ".join(f"{n}({arguments})" for n in names)
        functions.append(f"def f({arguments}):\n    return torch.stack([{calls}])\n")
    source = "\n\n".join(functions)
    definitions = careful_definitions(expression)
    uses_math = "math." in source or "math." in definitions
    imports = "import math\n\nimport torch\n\n\n" if uses_math else "import torch\n\n\n"
    if definitions:
        imports += f"{definitions}\n\n\n"
    coordinates = ", ".join(repr(float(point[n])) for n in free)
    weights = list(map(float, seed_vector(m).tolist()))
    seed = "" if m == 1 else f"torch.tensor({weights}, dtype=torch.{dtype})"
    jacobian_line = (
        "J = torch.autograd.functional.jacobian(lambda q: f(*q), p)\n"
        if m == 1
        else "J = torch.stack(  # row by row: each output on its own graph\n"
        "    [torch.autograd.functional.jacobian(lambda q, g=g: g(*q), p) for g in "
        f"({', '.join(names)})]\n"
        ")\n"
    )
    return (
        imports + source + "\n\n"
        f"p = torch.tensor([{coordinates}], dtype=torch.{dtype}, requires_grad=True)\n"
        + jacobian_line
        + 'print("J =", J.tolist())\n'
        "out = f(*p)  # the outputs (not named y: y may be an input of f)\n"
        f"out.backward({seed})\n"
        f'print("p.grad ({"out.backward()" if m == 1 else "v^T J"}) =", p.grad.tolist())\n'
    )


def try_it_section(lesson: Setting, constants: dict) -> Section:
    point = dict(zip(lesson.free, lesson.p.tolist(), strict=True)) | constants
    section = Section("try", "Try it yourself")
    section.text(
        "This program, generated from your parsed expression by the formulation the engine "
        "runs, prints J and the backward call above:"
    )
    return section.code(snippet(lesson.expression, lesson.free, point, lesson.dtype_name))
