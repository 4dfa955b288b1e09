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
    BLOCK_POINTS,
    VectorFunction,
    backward_with,
    block_points,
    depends_on_inputs,
    off_diagonal,
    point_tensor,
    seed_vector,
    single_entry_columns,
    stacked_blocks,
    trace_several,
)
from autodiffcli.lesson.probes import (
    CLAIM_ATOL,
    CLAIM_RTOL,
    compare,
    jacobian,
    naive_backward_error,
    sum_trick_grad,
)
from autodiffcli.lesson.reasons import why_not_finite_at
from autodiffcli.lesson.report import Report, Section
from autodiffcli.lesson.several_modes import (
    Setting,
    agree_text,
    comparable,
    hessians_section,
    listed,
    modes_section,
    trace_section,
    try_it_section,
)
from autodiffcli.numfmt import CODE_INDENT, WIDTH, fmt, matrix, vector


def explain_several(
    expression: Expression,
    free: Sequence[str],
    point: dict[str, float],
    *,
    trace_at: dict[str, float] | None = None,
    notes: Sequence[str] = (),
    width: int = WIDTH,
) -> Report:
    """The lesson of f: R^n -> R^m at one point.

    Args:
        expression: the parsed expression (scalar or vector-valued).
        free: the inputs, in order; the expression's other variables are parameters.
        point: the value of every variable of the expression, parameters included.
        trace_at: a point (every variable of the expression) for the chain rule node by node.
        notes: sentences about the point (how it was chosen), shown with the goal.
        width: the text width; wider matrices have their middle columns elided.
    """
    free = tuple(free)
    constants = {n: float(v) for n, v in point.items() if n not in free}
    g = VectorFunction(expression, free, constants)
    p = point_tensor([point[n] for n in free])
    lesson = Setting(expression, g, p, width)
    reasons = _reasons(lesson, point)
    sections = [
        _goal(lesson, constants, notes, reasons),
        _jacobian(lesson, reasons),
        _naive(lesson),
    ]
    if not depends_on_inputs(g, p):
        sections.append(_constant(lesson))
    else:
        sections += [_seeded(lesson), _sum_trick(lesson), _blocks(lesson), modes_section(lesson)]
        if trace_at is not None:
            sections.append(trace_section(lesson, trace_at))
        sections += [hessians_section(lesson), try_it_section(lesson, constants)]
    for number, section in enumerate(sections, 1):
        section.title = f"{number}. {section.title}"
    return Report(expression.text, sections, free)


def trace_rows(expression: Expression, free: Sequence[str], point: dict[str, float]) -> list[dict]:
    """The trace at ``point`` that the lesson shows and the picture draws: reverse mode from f
    itself for a scalar f, from v^T f (v of the backward(v) section) for a vector f."""
    m = len(expression.outputs)
    seed = [1.0] if m == 1 else seed_vector(m).tolist()
    return trace_several(expression, point, tuple(free), seed)


def _reasons(lesson: Setting, point: dict[str, float]) -> dict[str, str]:
    """Why each component whose value or gradient is not finite is so, from its own tape."""
    out = {}
    for k, name in enumerate(lesson.outputs):
        component = lesson.expression.component(k)
        rows = trace_several(component, point, lesson.free, [1.0])
        row_finite = all(torch.isfinite(lesson.J[k]).tolist())
        reason = why_not_finite_at(
            rows, lesson.at, row_finite, name=name, derivative=f"the gradient of {name}"
        )
        if reason is not None:
            out[name] = reason
    return out


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
    section.text(
        f"J[i, j] = d f_i / d x_j, the {lesson.m}x{lesson.n} matrix of every first derivative"
        f"{lesson.caveat()}, computed by torch.autograd.functional.jacobian on f as a map of "
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
    )


def _naive(lesson: Setting) -> Section:
    section = Section("naive", "The naive call: y.backward()")
    coordinates = ", ".join(repr(v) for v in lesson.p.tolist())
    section.code(
        f"p = torch.tensor([{coordinates}], requires_grad=True)  # ({', '.join(lesson.free)})\n"
        "y = f(p)\ny.backward()"
    )
    message = naive_backward_error(lesson.g, lesson.p)
    gradient, is_row = None, None
    if message is not None:
        section.text("torch raises:").code(f"RuntimeError: {message}", "text")
        if not depends_on_inputs(lesson.g, lesson.p):
            section.text(
                "f does not depend on its inputs: torch recorded no graph from p to y, so "
                "backward has nothing to run on."
            )
        elif lesson.m > 1:
            section.text(
                f"y has {lesson.m} elements, and dy/dp is the {lesson.m}x{lesson.n} matrix J: "
                "backward() pulls back one scalar, and for a vector y it does not know how to "
                "weigh the outputs into one. Only for a scalar output is the weight 1 implied."
            )
    else:
        gradient = backward_with(lesson.g, lesson.p, None)
        same = compare(gradient, lesson.J[0], rtol=CLAIM_RTOL, atol=CLAIM_ATOL)
        is_row = same.where_finite
        section.text(
            "f has one output, so y is a single number and y.backward() works: p.grad = "
            f"{vector(gradient.tolist())}, "
            + ("the gradient of f" if not lesson.undefined else "torch's gradient")
            + ". "
            + agree_text(same, lesson.free, "It", "the one row of J")
        )
    return (
        section.fact("error", message)
        .fact("gradient", None if gradient is None else gradient.tolist())
        .fact("gradient_is_jacobian_row", is_row)
    )


def _constant(lesson: Setting) -> Section:
    section = Section("constant", "f does not depend on its inputs")
    section.text(
        "torch recorded no graph from p to y: there is nothing to run backward on, every "
        "derivative is 0 (J above), and the rest of the lesson needs an f of its inputs."
    )
    return section.fact("depends", False)


def _seeded(lesson: Setting) -> Section:
    v, J = lesson.v, lesson.J
    section = Section("vjp", "backward(v): the vector-Jacobian product v^T J")
    section.code(f"y = f(p)\ny.backward(torch.tensor({list(map(float, v.tolist()))}))")
    vjp = backward_with(lesson.g, lesson.p, v)
    by_matrix = v @ J
    same = compare(vjp, by_matrix, rtol=CLAIM_RTOL, atol=CLAIM_ATOL)
    if lesson.m == 1:
        section.text(
            f"For one output, v is one number: with v = {fmt(float(v[0]))}, backward gives "
            f"{fmt(float(v[0]))} times what y.backward() gives, v^T J."
        )
    else:
        section.text(
            f"backward(v) pulls back the scalar v^T y = {_weighted(v.tolist(), lesson.outputs)}"
            + ": p.grad becomes v^T J, the rows of J weighted by v and added, without J ever "
            "being formed."
        )
    section.table(
        lesson.inputs_header(),
        [lesson.by_input("p.grad after y.backward(v)", vjp), lesson.by_input("v @ J", by_matrix)],
    )
    section.text(agree_text(same, lesson.free, "p.grad", "v @ J (J of section 2)"))
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


def _sum_trick(lesson: Setting) -> Section:
    J, free, names = lesson.J, lesson.free, lesson.outputs
    by_sum = sum_trick_grad(lesson.g, lesson.p)
    by_ones = sum_trick_grad(lesson.g, lesson.p, seed_ones=True)
    columns = J.sum(0)
    section = Section("sum", "The sum trick: y.sum().backward() gives 1^T J")
    section.text(
        "y.sum() is a scalar, so its backward works, and it is backward(v) with v = ones: "
        "p.grad = 1^T J, the column sums of J, one number per input."
    )
    rows = [
        lesson.by_input("y.sum().backward()", by_sum),
        lesson.by_input("y.backward(ones)", by_ones),
        lesson.by_input("column sums of J", columns),
    ]
    square = lesson.m == lesson.n and lesson.m > 1
    diagonal = torch.diagonal(J) if square else None
    if square:
        rows.append(lesson.by_input("diagonal of J", diagonal))
    section.table(lesson.inputs_header(), rows)
    ones_same = compare(by_sum, by_ones)
    is_sums = compare(by_sum, columns, rtol=CLAIM_RTOL, atol=CLAIM_ATOL)
    section.text(
        ("Both calls give the same p.grad. " if ones_same.equal else "The two calls differ. ")
        + agree_text(is_sums, free, "y.sum().backward()", "the column sums of J")
    )
    facts = {"off_diagonal_nonfinite": [], "single_entry_columns": None, "equals_diagonal": None}
    if lesson.m == 1:
        verdict, exact = "scalar", None if lesson.undefined else True
        section.text(
            "f has one output: y.sum() is y itself, and 1^T J is J's one row"
            + (", the gradient of f" if not lesson.undefined else "")
            + ". For a scalar f the trick is just y.backward(): one backward pass gives the "
            "derivative of the one output by every input"
            + (" (here torch's numbers only: f is undefined)." if lesson.undefined else ".")
        )
    elif square:
        verdict, exact, facts = _square_verdict(section, lesson, columns, diagonal)
    else:
        verdict, exact = "not_square", None
        single = single_entry_columns(J)
        facts["single_entry_columns"] = [free[j] for j in single]
        section.text(
            f"J is {lesson.m}x{lesson.n}, not square: an output has no input of its own, so "
            "'each output's derivative by its own input' is not defined here. What the trick "
            f"gives is, for each input, the derivative of the sum {' + '.join(names)}. A "
            "column sum is the derivative of one output only where the column's entries are "
            "all finite and at most one is nonzero: "
            + (f"here the column of {listed(single, free)}." if single else "here no column.")
        )
    return (
        section.fact("grad_sum", by_sum.tolist())
        .fact("grad_ones", by_ones.tolist())
        .fact("column_sums", columns.tolist())
        .fact("diagonal", None if diagonal is None else diagonal.tolist())
        .fact("same_both_ways", ones_same.equal)
        .fact("is_column_sums", is_sums.where_finite)
        .fact("square", square)
        .fact("verdict", verdict)
        .fact("gives_each_output_derivative", exact)
        .fact("off_diagonal_zero", None if not square else verdict == "diagonal")
        .fact("off_diagonal_nonfinite", facts["off_diagonal_nonfinite"])
        .fact("equals_diagonal", facts["equals_diagonal"])
        .fact("single_entry_columns", facts["single_entry_columns"])
    )


def _square_verdict(section: Section, lesson: Setting, columns, diagonal):
    """The verdict on a square J: diagonal, not diagonal, or not decidable here (NaN/inf)."""
    J, free, names = lesson.J, lesson.free, lesson.outputs
    off = off_diagonal(J)
    per_column = [compare(columns[j], diagonal[j]) for j in range(lesson.n)]
    equal = [a.equal for a in per_column]
    nonfinite = [list(e) for e in off.nonfinite]
    facts = {
        "off_diagonal_nonfinite": nonfinite,
        "equals_diagonal": equal,
        "single_entry_columns": None,
    }
    entries = ", ".join(f"d{names[i]}/d{free[j]}" for i, j in off.nonfinite)
    if off.zero:
        section.text(
            "Every entry off the diagonal is exactly 0: at this point f_i changes with x_i "
            "alone, so each column holds one entry and its sum is that entry. 1^T J is "
            f"diag(J), the derivative of each output by its own input{lesson.caveat()}, "
            + ("as the table shows." if all(equal) else "yet the table's rows differ.")
            + " (A map that is elementwise everywhere, like [sin(x), y^2], has a diagonal J "
            "at every point; one point cannot tell that.)"
        )
        return "diagonal", None if lesson.undefined else True, facts
    if off.largest > 0:
        wrong = [j for j in range(lesson.n) if not per_column[j].where_finite]
        i, j = _largest_off_diagonal(J)
        text = (
            f"J is not diagonal: d{names[i]}/d{free[j]} = {fmt(float(J[i, j]))} off the "
            f"diagonal, so {names[i]} changes with {free[j]} too. Each column sum adds the "
            "derivative of every output by that input, so 1^T J is not diag(J), and the sum "
            "trick does not give each output's derivative by its own input."
        )
        if wrong:
            j = wrong[0]
            text += (
                f" Here it is wrong for {listed(wrong, free)}: for {free[j]} it gives "
                f"{fmt(float(columns[j]))}, while d{names[j]}/d{free[j]} = "
                f"{fmt(float(diagonal[j]))}."
            )
        lucky = [
            j
            for j in range(lesson.n)
            if per_column[j].where_finite and not per_column[j].undefined and _mixed(J, j)
        ]
        if lucky:
            text += (
                f" The column of {listed(lucky, free)} sums to its diagonal entry only because "
                "its other entries cancel at this point."
            )
        if entries:
            text += f" {entries} {'is' if len(off.nonfinite) == 1 else 'are'} not finite."
        section.text(text)
        return "not_diagonal", False, facts
    section.text(
        f"Every finite entry off the diagonal is 0, but {entries} "
        f"{'is' if len(off.nonfinite) == 1 else 'are'} not finite: at this point J does not "
        "say whether those outputs change with those inputs, and the sums of those columns "
        "are not finite. So this point cannot decide whether the trick gives each output's "
        "derivative; the goal says why f is not finite here. Try another point."
    )
    return "undetermined", None, facts


def _largest_off_diagonal(J) -> tuple[int, int]:
    masked = J.abs().masked_fill(torch.eye(J.shape[0], dtype=torch.bool), -1.0)
    masked = torch.where(torch.isfinite(masked), masked, torch.full_like(masked, -1.0))
    flat = int(torch.argmax(masked))
    return flat // J.shape[1], flat % J.shape[1]


def _mixed(J, j: int) -> bool:
    """Column j has a nonzero entry off the diagonal."""
    column = J[:, j].clone()
    column[j] = 0
    return bool((column != 0).any())


def _blocks(lesson: Setting) -> Section:
    points = block_points(lesson.p)
    blocks = stacked_blocks(lesson.g, points)
    k = BLOCK_POINTS
    section = Section("blocks", "Why the trick is exact over a grid of points")
    section.text(
        "The trick is how a table of many points gets its derivatives in one backward pass: "
        "f works point by point, so the outputs of one point depend on that point's inputs "
        f"alone. Stack {k} points near "
        f"{lesson.at}, X ({k}x{lesson.n}) -> Y ({k}x{lesson.m}), and torch's Jacobian of the "
        f"whole map is {k * lesson.m}x{k * lesson.n}, rows and columns grouped point by point:"
    )
    section.table(
        ["point", *lesson.free], [[str(i), *(fmt(v) for v in r)] for i, r in enumerate(points)]
    )
    section.code(matrix(blocks.matrix.tolist(), lesson.width - CODE_INDENT), "text")
    if blocks.off_block_largest > 0:
        section.text(
            f"Entries outside the {k} diagonal blocks reach {fmt(blocks.off_block_largest)}: "
            "these points are not independent, and the trick mixes them."
        )
    elif not blocks.off_block_nonfinite:
        section.text(
            f"Every entry outside the {k} diagonal {lesson.m}x{lesson.n} blocks is exactly 0: "
            "the Jacobian over points is block-diagonal, one block per point."
        )
    else:
        columns = ", ".join(str(i) for i in blocks.off_block_nonfinite)
        section.text(
            (
                f"The finite entries outside the {k} diagonal blocks ({blocks.off_block_finite} "
                f"of {blocks.off_block_total}) are all exactly 0. "
                if blocks.off_block_finite
                else "No entry outside the blocks is finite here, so this stack does not show "
                "the blocks. "
            )
            + f"The non-finite ones, in the columns of point {columns}, are not dependence: "
            "each row of J is a backward pass seeded with 0 for the other points' outputs, and "
            "where a local derivative is not finite, 0 * inf = nan in floating point."
        )
    section.table(
        [
            "point",
            *(f"Y.sum(): d/d{n}" for n in lesson.free),
            *(f"own 1^T J_k: d/d{n}" for n in lesson.free),
        ],
        [
            [str(i), *(fmt(v) for v in blocks.summed[i]), *(fmt(v) for v in blocks.own[i])]
            for i in range(k)
        ],
    )
    cells = [f"point {i} d/d{n}" for i in range(k) for n in lesson.free]
    text = (
        "Y.sum().backward() hands each point a row of X.grad; beside it, the column sums of "
        "that point's own Jacobian, computed at the point alone. "
        + agree_text(blocks.agreement, cells, "X.grad", "the own sums")
    )
    exact = (
        blocks.off_block_zero
        and blocks.agreement.equal
        and comparable(blocks.agreement, len(cells))
    )
    if exact:
        text += " Summing over points mixes nothing across points: " + (
            "with one output per point, each point gets its own row J_k."
            if lesson.m == 1
            else "within one point it still sums that point's outputs, as section 5 says."
        )
    section.text(text)
    return (
        section.fact("points", points.tolist())
        .fact("jacobian", blocks.matrix.tolist())
        .fact("off_block_zero", blocks.off_block_zero)
        .fact("off_block_largest", blocks.off_block_largest)
        .fact("off_block_nonfinite_points", list(blocks.off_block_nonfinite))
        .fact("summed", blocks.summed.tolist())
        .fact("own", blocks.own.tolist())
        .fact("off_block_finite", blocks.off_block_finite)
        .fact("summed_is_own", blocks.agreement.where_finite)
        .fact("exact_across_points", exact)
    )
