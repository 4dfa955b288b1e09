"""The sum trick in the lesson of f of several variables (see :mod:`autodiffcli.lesson.several`):
out.sum().backward() gives 1^T J, and the verdict on whether that is each output's derivative
by its own input at the point (read off J's numbers, within the lesson's tolerance, and off
which of them are derivatives); then why the trick is exact over many stacked points. Every
claim rests on a comparison or a count.
"""

from __future__ import annotations

import torch

from autodiffcli.lesson.jacobians import (
    BLOCK_POINTS,
    block_points,
    off_diagonal,
    single_entry_columns,
    stacked_blocks,
)
from autodiffcli.lesson.probes import compare, sum_trick_grad
from autodiffcli.lesson.report import Section
from autodiffcli.lesson.several_modes import Setting, agree_text, comparable, listed
from autodiffcli.numfmt import CODE_INDENT, fmt, matrix

ELEMENTWISE = (
    " (This is J at this point only: a map whose every output depends on its own input only "
    "has a diagonal J everywhere, and one point cannot tell whether f is such a map.)"
)


def sum_trick_section(lesson: Setting) -> Section:
    J, free, names = lesson.J, lesson.free, lesson.outputs
    by_sum = sum_trick_grad(lesson.g, lesson.p)
    by_ones = sum_trick_grad(lesson.g, lesson.p, seed_ones=True)
    columns = J.sum(0)
    section = Section("sum", "The sum trick: out.sum().backward() gives 1^T J")
    section.text(
        "out.sum() is a scalar, so its backward works, and it is backward(v) with v = ones: "
        "p.grad = 1^T J, the column sums of J, one number per input."
    )
    rows = [
        lesson.by_input("out.sum().backward()", by_sum),
        lesson.by_input("out.backward(ones)", by_ones),
        lesson.by_input("column sums of J", columns),
    ]
    square = lesson.m == lesson.n and lesson.m > 1
    diagonal = torch.diagonal(J) if square else None
    if square:
        rows.append(lesson.by_input("diagonal of J", diagonal))
    section.table(lesson.inputs_header(), rows)
    ones_same = compare(by_sum, by_ones)
    is_sums, agreement = lesson.compared(
        by_sum, columns, free, "out.sum().backward()", "the column sums of J"
    )
    section.text(
        ("Both calls give the same p.grad. " if ones_same.equal else "The two calls differ. ")
        + agreement
    )
    facts = {
        "off_diagonal_nonfinite": [],
        "off_diagonal_not_derivatives": [],
        "single_entry_columns": None,
        "equals_diagonal": None,
        "cancelling_columns": [],
    }
    missing = lesson.not_derivatives
    if lesson.m == 1:
        verdict = "scalar"
        exact = None if lesson.undefined or missing else True
        section.text(_scalar_text(lesson))
    elif square:
        verdict, exact, facts = _square_verdict(section, lesson, by_sum, diagonal)
    else:
        verdict, exact = "not_square", None
        single = [j for j in single_entry_columns(J) if bool(lesson.exists[:, j].all())]
        facts["single_entry_columns"] = [free[j] for j in single]
        section.text(
            f"J is {lesson.m}x{lesson.n}, not square: an output has no input of its own, so "
            "'each output's derivative by its own input' is not defined here. What the trick "
            f"gives is, for each input, the derivative of the sum {' + '.join(names)}"
            + (" where every entry of its column is one" if missing else "")
            + ". A column sum is the derivative of one output only where the column's entries "
            "are all derivatives and at most one is nonzero: "
            + (f"here the column of {listed(single, free)}." if single else "here no column.")
        )
    _constant_sum(section, lesson, by_sum)
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
        .fact("off_diagonal_not_derivatives", facts["off_diagonal_not_derivatives"])
        .fact("equals_diagonal", facts["equals_diagonal"])
        .fact("cancelling_columns", facts["cancelling_columns"])
        .fact("single_entry_columns", facts["single_entry_columns"])
        .fact("not_derivatives", [lesson.entry_name(e) for e in lesson.not_derivatives])
    )


def _scalar_text(lesson: Setting) -> str:
    text = "f has one output: out.sum() is out itself, and 1^T J is J's one row"
    if lesson.undefined:
        return text + (
            ". For a scalar f the trick is just out.backward(); here it gives torch's numbers "
            "only: f is not finite here (section 1)."
        )
    missing = lesson.not_derivatives
    if missing:
        return text + (
            ". For a scalar f the trick is just out.backward(); here it gives torch's numbers, "
            f"not the gradient of f: {lesson.not_a_derivative(missing)} here (section 2)."
        )
    return text + (
        ", the gradient of f. For a scalar f the trick is just out.backward(): one backward "
        "pass gives the derivative of the one output by every input."
    )


def _constant_sum(section: Section, lesson: Setting, by_sum) -> None:
    """Where every column sum is 0 (to the tolerance) and every entry a derivative, the sum of
    the outputs does not change with any input at this point: say so."""
    if lesson.m == 1 or lesson.not_derivatives:
        return
    zero = compare(by_sum, torch.zeros_like(by_sum), atol=lesson.atol)
    if zero.equal:
        section.text(
            f"Every column sum is 0{'' if bool((by_sum == 0).all()) else ' to rounding'}: at "
            f"this point the sum {' + '.join(lesson.outputs)} does not change with any input "
            "(as wherever the outputs add up to a constant)."
        )


def _square_verdict(section: Section, lesson: Setting, by_sum, diagonal):
    """The verdict on a square J: diagonal, not diagonal, or not decidable here (an entry off
    the diagonal that is not a derivative)."""
    J, free, names, n = lesson.J, lesson.free, lesson.outputs, lesson.n
    off = off_diagonal(J)
    columns = J.sum(0)
    per_column = [
        compare(columns[j], diagonal[j], rtol=lesson.rtol, atol=lesson.atol) for j in range(n)
    ]
    equal = [a.equal for a in per_column]
    Jc = J.detach().to("cpu", torch.float64)
    exists = lesson.exists
    off_entries = [(i, j) for i in range(n) for j in range(n) if i != j]
    unknown = [(i, j) for i, j in off_entries if not bool(exists[i, j])]
    coupled = [(i, j) for i, j in off_entries if bool(exists[i, j]) and float(Jc[i, j]) != 0]
    diagonal_missing = [lesson.entries[j][j] for j in range(n) if not bool(exists[j, j])]
    facts = {
        "off_diagonal_nonfinite": [list(e) for e in off.nonfinite],
        "off_diagonal_not_derivatives": [list(e) for e in unknown],
        "equals_diagonal": equal,
        "single_entry_columns": None,
        "cancelling_columns": [],
    }
    not_derivatives = (
        f" {lesson.not_a_derivative(diagonal_missing)} here (section 2), so there the "
        "trick gives torch's number, not a derivative."
        if diagonal_missing
        else ""
    )
    # Entries off the diagonal that are not derivatives, named in the same sentence.
    also = [lesson.entries[i][j] for i, j in unknown]
    if coupled:
        i, j = max(coupled, key=lambda e: abs(float(Jc[e])))
        wrong = [k for k in range(n) if not per_column[k].where_finite]
        cancel = [
            k
            for k in range(n)
            if per_column[k].where_finite and not per_column[k].undefined and _mixed(Jc, k)
        ]
        facts["cancelling_columns"] = [free[k] for k in cancel]
        text = (
            f"J is not diagonal: d{names[i]}/d{free[j]} = {fmt(float(Jc[i, j]))} off the "
            f"diagonal, so at this point {names[i]} changes with {free[j]} too. Each column sum "
            "adds the derivative of every output by that input"
        )
        if wrong:
            # The example compares with a diagonal entry that is a derivative where one is.
            k = next((k for k in wrong if bool(exists[k, k])), wrong[0])
            entry = f"d{names[k]}/d{free[k]} = {fmt(float(diagonal[k]))}"
            if not bool(exists[k, k]):
                entry = f"torch's {entry}, not a derivative (section 2)"
            text += (
                ", so 1^T J is not diag(J), and the sum trick does not give each output's "
                f"derivative by its own input. Here it is wrong for {listed(wrong, free)}: for "
                f"{free[k]} it gives {fmt(float(by_sum[k]))}, while {entry}."
            )
            if cancel:
                text += (
                    f" The column of {listed(cancel, free)} sums to its diagonal entry only "
                    "because its other entries cancel at this point."
                )
        elif cancel:
            text += (
                ", so in general 1^T J is not diag(J). Yet here every column sums to its "
                f"diagonal entry: in the column of {listed(cancel, free)} the entries off the "
                "diagonal cancel. The numbers agree by coincidence at this point; the trick is "
                "not a reliable way to get each output's derivative for such an f."
            )
        else:
            text += "; here no column sum can be compared with its diagonal entry."
        if also or diagonal_missing:
            missing = lesson.not_a_derivative(also + diagonal_missing)
            text += (
                f" {missing} here (section 2), so the column sums holding "
                f"{'it' if len(also + diagonal_missing) == 1 else 'them'} add torch's numbers, "
                "not derivatives."
            )
        section.text(text)
        agrees = not wrong and bool(cancel) and not diagonal_missing
        return "not_diagonal", agrees, facts
    if not unknown:
        all_shown = all(equal)
        section.text(
            "Every entry off the diagonal is 0 at this point (d f_i/d x_j = 0 for i != j), so "
            "each column sum is its diagonal entry: 1^T J = diag(J)"
            + (
                f", the derivative of each output by its own input{lesson.caveat()}, "
                + ("as the table shows." if all_shown else "yet the table's rows differ.")
                if not diagonal_missing
                else "."
            )
            + not_derivatives
            + ELEMENTWISE
        )
        exact = None if lesson.undefined or diagonal_missing else all_shown
        return "diagonal", exact, facts
    section.text(
        "Every entry off the diagonal that is a derivative is 0, but "
        f"{_named_pairs(lesson, unknown)} here (section 2): at this point J does not say "
        "whether those outputs "
        "change with those inputs. So this point cannot decide whether the trick gives each "
        "output's derivative by its own input. Try another point."
    )
    return "undetermined", None, facts


def _named_pairs(lesson: Setting, pairs) -> str:
    return lesson.not_a_derivative([lesson.entries[i][j] for i, j in pairs])


def _mixed(J, j: int) -> bool:
    """Column j has a nonzero entry off the diagonal."""
    column = J[:, j].clone()
    column[j] = 0
    return bool((column != 0).any())


def blocks_section(lesson: Setting) -> Section:
    points = block_points(lesson.g, lesson.p)
    blocks = stacked_blocks(lesson.g, points, lesson.rtol, lesson.atol)
    k = BLOCK_POINTS
    section = Section("blocks", "Why the trick is exact over many points")
    section.text(
        "The trick is how a table of many points gets its derivatives in one backward pass: "
        "f works point by point, so the outputs of one point depend on that point's inputs "
        f"alone. Stack {k} points near {lesson.at} on a line, P ({k}x{lesson.n}) -> OUT "
        f"({k}x{lesson.m}), and torch's Jacobian of the whole map is "
        f"{k * lesson.m}x{k * lesson.n}, rows and columns grouped point by point:"
    )
    values = blocks.values.detach().to("cpu", torch.float64)
    section.table(
        ["point", *lesson.free, *lesson.outputs],
        [
            [str(i), *(fmt(v) for v in r), *(fmt(v) for v in values[i].tolist())]
            for i, r in enumerate(points.tolist())
        ],
    )
    undefined = [i for i in range(k) if not bool(torch.isfinite(values[i]).all())]
    if undefined:
        section.text(
            f"f is not finite at point {', '.join(map(str, undefined))} (no stack of points "
            "closer to yours, on either side, is finite everywhere): the numbers of "
            f"{'that point' if len(undefined) == 1 else 'those points'} below are torch's, "
            "not derivatives."
        )
    section.code(matrix(blocks.matrix.tolist(), lesson.width - CODE_INDENT), "text")
    _block_text(section, lesson, blocks, k)
    section.table(
        [
            "point",
            *(f"OUT.sum(): d/d{n}" for n in lesson.free),
            *(f"own 1^T J_k: d/d{n}" for n in lesson.free),
        ],
        [
            [str(i), *(fmt(v) for v in blocks.summed[i]), *(fmt(v) for v in blocks.own[i])]
            for i in range(k)
        ],
    )
    cells = [f"point {i} d/d{n}" for i in range(k) for n in lesson.free]
    text = (
        "OUT.sum().backward() hands each point a row of P.grad; beside it, the column sums of "
        "that point's own Jacobian, computed at the point alone. "
        + agree_text(blocks.agreement, cells, "P.grad", "the own sums")
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
        .fact("values", values.tolist())
        .fact("undefined_points", undefined)
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


def _block_text(section: Section, lesson: Setting, blocks, k: int) -> None:
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
