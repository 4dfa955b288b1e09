"""`autodiff explain` for f of several variables or several components (``'[x*y, x + y^2]'
--at x=1,y=2``): the prose around the live numbers of :mod:`autodiffcli.lesson.jacobians`.
Nothing shown is typed in: every Jacobian, gradient, count and byte comes from torch at run time
on the user's own f at the user's point, and every claim from a comparison or a count. Where f
is undefined the lesson says so and why, and claims nothing about the numbers there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from autodiffcli.lang import Expression
from autodiffcli.lesson.jacobians import (
    VectorFunction,
    backward_with,
    depends_on_inputs,
    point_tensor,
    seed_vector,
    trace_several,
)
from autodiffcli.lesson.probes import compare, jacobian, naive_backward_error
from autodiffcli.lesson.report import Report, Section
from autodiffcli.lesson.several_hessians import hessians_section, try_it_section
from autodiffcli.lesson.several_modes import (
    Setting,
    modes_section,
    not_finite_reasons,
    trace_section,
)
from autodiffcli.lesson.several_sum import blocks_section, sum_trick_section
from autodiffcli.lesson.sides import sides_text
from autodiffcli.numfmt import WIDTH, fmt, vector


def explain_several(
    expression: Expression,
    free: Sequence[str],
    point: dict[str, float],
    *,
    trace_at: dict[str, float] | None = None,
    notes: Sequence[str] = (),
    width: int = WIDTH,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    order: int = 1,
) -> Report:
    """The lesson of f: R^n -> R^m at one point.

    Args:
        expression: the parsed expression (scalar or vector-valued).
        free: the inputs, in order; the expression's other variables are parameters.
        point: the value of every variable of the expression, parameters included.
        trace_at: a point (every variable of the expression) for the chain rule node by node.
        notes: sentences about the point (how it was chosen), shown with the goal.
        width: the text width; wider matrices have their middle columns elided.
        dtype, device: where torch computes every number shown (the look from both sides of
            :mod:`autodiffcli.lesson.sides` runs in float64 on the CPU).
        order: 2 adds the Hessians; 1 stops at first derivatives.
    """
    free = tuple(free)
    constants = {n: float(v) for n, v in point.items() if n not in free}
    g = VectorFunction(expression, free, constants)
    p = point_tensor([point[n] for n in free], dtype, device)
    lesson = Setting(expression, g, p, width, order)
    reasons = not_finite_reasons(expression, free, point, lesson.J, lesson.outputs, lesson.at)
    sections = [
        _goal(lesson, constants, notes, reasons),
        _jacobian(lesson, reasons),
        _naive(lesson),
    ]
    if not depends_on_inputs(g, p):
        sections.append(_constant(lesson))
    else:
        sections += [
            _seeded(lesson),
            sum_trick_section(lesson),
            blocks_section(lesson),
            modes_section(lesson),
        ]
        if trace_at is not None:
            sections.append(trace_section(lesson, trace_at))
        if order >= 2:
            sections.append(hessians_section(lesson))
        sections.append(try_it_section(lesson, constants))
    for number, section in enumerate(sections, 1):
        section.title = f"{number}. {section.title}"
    return Report(expression.text, sections, free)


def trace_rows(
    expression: Expression,
    free: Sequence[str],
    point: dict[str, float],
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> list[dict]:
    """The trace at ``point`` that the lesson shows and the picture draws: reverse mode from f
    itself for a scalar f, from v^T f (v of the backward(v) section) for a vector f."""
    m = len(expression.outputs)
    seed = [1.0] if m == 1 else seed_vector(m).tolist()
    return trace_several(expression, point, tuple(free), seed, dtype, device)


def _goal(lesson: Setting, constants: dict, notes, reasons: dict[str, str]) -> Section:
    values = lesson.g(lesson.p).tolist()
    section = Section("goal", "The goal")
    inputs = "1 input" if lesson.n == 1 else f"{lesson.n} inputs"
    outputs = "1 output" if lesson.m == 1 else f"{lesson.m} outputs"
    section.text(
        f"f({', '.join(lesson.free)}) = {lesson.expression.text} maps R^{lesson.n} to "
        f"R^{lesson.m}: {inputs}, {outputs}. We want its derivatives at {lesson.at} from "
        "autograd, without writing any of them by hand."
    )
    if constants:
        listed = ", ".join(f"{n} = {fmt(v)}" for n, v in constants.items())
        section.text(f"{listed}: a parameter (--param), a constant here, not an input.")
    section.table(
        ["output", "value"], [[n, fmt(v)] for n, v in zip(lesson.outputs, values, strict=True)]
    )
    for note in notes:
        section.text(note)
    for name, reason in reasons.items():
        opening = reason[0].upper() + reason[1:] if reason.startswith("the ") else reason
        section.text(f"{opening}{_rule_outside(lesson, name)}.")
    return (
        section.fact("variables", list(lesson.free))
        .fact("parameters", constants)
        .fact("point", lesson.p.tolist())
        .fact("values", values)
        .fact("inputs", lesson.n)
        .fact("outputs", lesson.m)
        .fact("notes", list(notes))
        .fact("undefined", reasons)
    )


def _rule_outside(lesson: Setting, name: str) -> str:
    """Where an output is not finite but torch's row of J has finite numbers, say that they
    are not derivatives."""
    k = lesson.outputs.index(name)
    if name not in lesson.undefined or not bool(torch.isfinite(lesson.J[k]).any()):
        return ""
    return (
        f"; so {name} has no derivative there either, though torch's rules still give finite "
        "numbers in its row of J"
    )


def _jacobian(lesson: Setting, reasons: dict[str, str]) -> Section:
    J = lesson.J
    section = Section("jacobian", "The Jacobian: one row per output, one column per input")
    judged = [
        e
        for e in lesson.not_derivatives
        if e.kind != "value_not_finite" and lesson.outputs[e.output] not in lesson.undefined
    ]
    section.text(
        f"J[i, j] = d f_i / d x_j, the {lesson.m}x{lesson.n} matrix of every first derivative"
        f"{lesson.caveat()}{' (where one exists: see below)' if judged else ''}, computed "
        "by torch.autograd.functional.jacobian on f as a map of "
        f"the point p = ({', '.join(lesson.free)})"
        + (", row by row, each output on its own graph:" if lesson.m > 1 else ":")
    )
    section.table(
        lesson.inputs_header("J"),
        [lesson.by_input(name, row) for name, row in zip(lesson.outputs, J.tolist(), strict=True)],
    )
    bad = [(i, j) for i, j in torch.nonzero(~torch.isfinite(J)).tolist()]
    if bad:
        listed = ", ".join(f"d{lesson.outputs[i]}/d{lesson.free[j]}" for i, j in bad)
        why = " (the goal says why)" if reasons else ""
        section.text(f"Not finite here: {listed}{why}.")
    for entry in judged:
        name = lesson.entry_name(entry)
        text = sides_text(
            entry, name, lesson.outputs[entry.output], lesson.free[entry.input], lesson.at
        )
        if text is not None:
            section.text(text + ".")
    if judged:
        section.text(
            "Each entry was looked at from both sides along its input, with torch's derivatives "
            "just left and right of the point. Where an entry is not a derivative, J holds "
            "torch's number there, and the sections below do not call it one."
        )
    whole = jacobian(lesson.g, lesson.p).reshape(lesson.m, lesson.n)
    same = compare(whole, J)
    if not same.equal:
        section.text(
            "On the whole map at once, torch.autograd.functional.jacobian gives other numbers "
            f"here: {vector(whole.flatten().tolist())}, row after row. Row i is a backward pass "
            "seeded with 1 on f_i and 0 on every other output, and where another output's "
            "local derivative is not finite, 0 * inf = nan leaks into row i. Each output's own "
            "graph keeps its row clean."
        )
    return (
        section.fact("jacobian", J.tolist())
        .fact("whole_map_jacobian", whole.tolist())
        .fact("whole_map_same", same.equal)
        .fact("shape", [lesson.m, lesson.n])
        .fact("nonfinite_entries", [list(e) for e in bad])
        .fact("partials_exist", lesson.exists.tolist())
        .fact("not_derivatives", [e.fact(lesson.entry_name(e)) for e in lesson.not_derivatives])
    )


def _naive(lesson: Setting) -> Section:
    section = Section("naive", "The naive call: out.backward()")
    coordinates = ", ".join(repr(v) for v in lesson.p.tolist())
    section.code(
        f"p = torch.tensor([{coordinates}], requires_grad=True)  # ({', '.join(lesson.free)})\n"
        "out = f(p)  # the outputs of f\nout.backward()"
    )
    message = naive_backward_error(lesson.g, lesson.p)
    gradient, is_row, is_gradient = None, None, None
    if message is not None:
        section.text("torch raises:").code(f"RuntimeError: {message}", "text")
        if not depends_on_inputs(lesson.g, lesson.p):
            section.text(
                "f does not depend on its inputs: torch recorded no graph from p to out, so "
                "backward has nothing to run on."
            )
        elif lesson.m > 1:
            section.text(
                f"out has {lesson.m} elements, and d out/dp is the {lesson.m}x{lesson.n} "
                "matrix J: backward() pulls back one scalar, and for a vector out it does not "
                "know how to weigh the outputs into one. Only for a scalar output is the "
                "weight 1 implied."
            )
    else:
        gradient = backward_with(lesson.g, lesson.p, None)
        same, agreement = lesson.compared(
            gradient, lesson.J[0], lesson.free, "It", "the one row of J"
        )
        is_row = same.where_finite
        is_gradient = not lesson.not_derivatives
        section.text(
            "f has one output, so out is a single number and out.backward() works: p.grad = "
            f"{vector(gradient.tolist())}, {_gradient_words(lesson)}. {agreement}"
        )
    return (
        section.fact("error", message)
        .fact("gradient", None if gradient is None else gradient.tolist())
        .fact("gradient_is_jacobian_row", is_row)
        .fact("is_gradient", is_gradient)
    )


def _gradient_words(lesson: Setting) -> str:
    """What p.grad of a scalar f is: the gradient, or torch's numbers and why not more."""
    if lesson.undefined:
        return "torch's gradient, not the gradient of f: f is not finite here (section 1)"
    missing = lesson.not_derivatives
    if missing:
        return (
            "torch's gradient, not the gradient of f: "
            f"{lesson.not_a_derivative(missing)} here (section 2)"
        )
    return "the gradient of f"


def _constant(lesson: Setting) -> Section:
    section = Section("constant", "f does not depend on its inputs")
    section.text(
        "torch recorded no graph from p to out: there is nothing to run backward on, every "
        "derivative is 0 (J above), and the rest of the lesson needs an f of its inputs."
    )
    return section.fact("depends", False)


def _seeded(lesson: Setting) -> Section:
    v, J = lesson.v, lesson.J
    section = Section("vjp", "backward(v): the vector-Jacobian product v^T J")
    section.code(f"out = f(p)\nout.backward(torch.tensor({list(map(float, v.tolist()))}))")
    vjp = backward_with(lesson.g, lesson.p, v)
    by_matrix = v @ J
    if lesson.m == 1:
        section.text(
            f"For one output, v is one number: with v = {fmt(float(v[0]))}, backward gives "
            f"{fmt(float(v[0]))} times what out.backward() gives, v^T J."
        )
    else:
        section.text(
            "backward(v) pulls back the scalar v^T out = "
            f"{_weighted(v.tolist(), lesson.outputs)}: p.grad becomes v^T J, the rows of J "
            "weighted by v and added, without J ever being formed."
        )
    section.table(
        lesson.inputs_header(),
        [
            lesson.by_input("p.grad after out.backward(v)", vjp),
            lesson.by_input("v @ J", by_matrix),
        ],
    )
    same, text = lesson.compared(vjp, by_matrix, lesson.free, "p.grad", "v @ J")
    section.text(text.replace("v @ J", "v @ J (J of section 2)", 1))
    return (
        section.fact("v", v.tolist())
        .fact("vjp", vjp.tolist())
        .fact("v_at_J", by_matrix.tolist())
        .fact("vjp_is_vJ", same.where_finite)
        .fact("undefined", [lesson.free[i] for i in same.undefined])
    )


def _weighted(weights: list[float], names: list[str]) -> str:
    """1*f1 - 2*f2 + 3*f3."""
    terms = [f"{fmt(abs(c))}*{name}" for c, name in zip(weights, names, strict=True)]
    text = ("-" if weights[0] < 0 else "") + terms[0]
    for c, term in zip(weights[1:], terms[1:], strict=True):
        text += f" {'-' if c < 0 else '+'} {term}"
    return text
