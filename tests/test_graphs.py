"""The one autograd walker, the tape's DOT, and the dependency-graph picture (d2l exercise 5)."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest
import torch

from autodiffcli import lang, numfmt
from autodiffcli.engines import graph
from autodiffcli.errors import OutputError
from autodiffcli.lesson import picture, probes, sections

D2L = "log(x^2)*sin(x) + 1/x"
# A picture of the d2l graph should be legible and not absurd: pixels per side.
MIN_PIXELS, MAX_PIXELS = 600, 6000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def graph_of(text: str, x0: float = 1.0) -> torch.Tensor:
    x = torch.tensor([x0], dtype=torch.float64, requires_grad=True)
    return lang.evaluate(lang.parse(text), [x])


def distinct_nodes(y: torch.Tensor) -> int:
    """Reachable autograd nodes, by a plain set walk written here independently."""
    seen, stack = {}, [y.grad_fn]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen[id(node)] = node
            stack.extend(c for c, _ in node.next_functions if c is not None)
    return len(seen)


# ----- The walker -----


@pytest.mark.parametrize("text", ["sin(x)", D2L, "exp(sin(x))*x + x^3", "x*x*x"])
def test_count_nodes_counts_each_reachable_node_once(text):
    y = graph_of(text)
    assert graph.count_nodes(y) == distinct_nodes(y) == graph.count_nodes(y)


def test_count_nodes_of_a_constant_is_zero():
    assert graph.count_nodes(torch.tensor(3.0)) == 0


def test_walk_visits_every_edge_once_and_expands_each_node_once():
    y = graph_of(D2L)
    visits = list(graph.walk(y))
    edges = sum(1 for v in visits if v.first for c, _ in v.node.next_functions if c is not None)
    assert len(visits) == edges + 1  # every edge leads to one visit, plus the root
    assert sum(v.first for v in visits) == distinct_nodes(y)


def test_graph_lines_mark_a_shared_node_instead_of_repeating_it():
    lines = graph.graph_lines(graph_of("sin(x)*x"))
    assert lines == [
        (0, "MulBackward0"),
        (1, "SinBackward0"),
        (2, "AccumulateGrad"),
        (1, "AccumulateGrad (shown above)"),
    ]


def test_walk_of_a_deep_graph_does_not_recurse():
    x = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(5000):
        y = torch.sin(y)
    assert graph.count_nodes(y) == 5001


def test_walking_and_freeing_an_order_10_graph_does_not_crash():
    # Regression: explain -k 10 segfaulted when the 656,902-node graph it had walked was freed
    # on the 8 MB main stack. A subprocess, so that a crash fails this test, not the run.
    code = (
        "import torch\n"
        "from autodiffcli import lang\n"
        "from autodiffcli.engines import environment, graph, reverse\n"
        "def work():\n"
        "    p = lang.parse('1/(x-x)')\n"
        "    x = torch.ones(1, dtype=torch.float64, requires_grad=True)\n"
        "    ds = [lang.evaluate(p, [x])]\n"
        "    for _ in range(10):\n"
        "        ds.append(reverse.next_derivative(ds[-1], x, create_graph=True))\n"
        "    return graph.count_nodes(ds[-1])\n"
        "print(environment.on_deep_stack(work))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) == 656_902


# ----- The tape as a graph -----


def test_layers_put_x_first_and_each_operation_right_of_its_inputs():
    parsed = lang.parse(D2L)
    column = picture.layers(parsed)
    assert column[0] == 0
    for index, node in enumerate(parsed.nodes):
        assert all(column[arg] < column[index] for arg in node.args)


def test_layout_gives_every_node_its_own_place_and_routes_edges_left_to_right():
    parsed = lang.parse("exp(-x^2/2)*cos(3*x) + x*x + sin(sin(sin(x)))")
    plan = picture.layout(parsed)
    assert len(set(plan.where)) == len(plan.where)
    for tail, head, _, route in plan.routes:
        assert route[0] == plan.where[tail] and route[-1] == plan.where[head]
        assert [c for c, _ in route] == list(range(int(route[0][0]), int(route[-1][0]) + 1))
        assert not set(route[1:-1]) & set(plan.where)  # waypoints pass no node


def test_tape_dot_labels_nodes_with_their_operation_and_edges_with_partials():
    parsed = lang.parse(D2L)
    dot = sections.tape_dot(parsed, 1.0)
    assert 'v0 [label="v0 = x\\nvalue 1\\ntangent 1\\nadjoint 0.682942"];' in dot
    assert 'v1 [label="v1 = 2' in dot and 'v3 [label="v3 = log(v2)' in dot
    assert 'v0 -> v2 [label="dv2/dv0 = 2"];' in dot
    assert "v1 -> v2;" in dot  # a constant's edge carries no derivative
    assert dot.count("->") == sum(len(node.args) for node in parsed.nodes)


def test_tape_dot_without_a_trace_has_no_numbers():
    dot = sections.tape_dot(lang.parse(D2L))
    assert "value" not in dot and "dv" not in dot and 'v4 [label="v4 = sin(v0)"];' in dot


# ----- The picture -----


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_d2l_graph_picture_is_a_real_png_of_sensible_size(tmp_path):
    path = tmp_path / "graph.png"
    sections.save_graph_picture(lang.parse(D2L), str(path), 1.0)
    width, height = png_size(path.read_bytes())
    assert MIN_PIXELS <= width <= MAX_PIXELS and MIN_PIXELS // 2 <= height <= MAX_PIXELS
    assert width > height  # drawn left to right


def test_drawn_labels_include_every_node_and_every_partial():
    parsed = lang.parse(D2L)
    rows = probes.trace(parsed, 1.0)
    drawn = picture.drawn_labels(picture.tape_figure(parsed, rows))
    for index, row in enumerate(rows):
        label = next(text for text in drawn if text.startswith(f"v{index} = "))
        assert f"value {numfmt.fmt(row['value'])}" in label
        assert f"tangent {numfmt.fmt(row['tangent'])}" in label
        assert f"adjoint {numfmt.fmt_optional(row['adjoint'])}" in label
        for name, partial in zip(row["inputs"], row["partials"], strict=True):
            if partial is not None:
                assert f"dv{index}/d{name} = {numfmt.fmt(partial)}" in drawn
    formulas = {text.splitlines()[0] for text in drawn}
    assert {"v0 = x", "v1 = 2", "v2 = pow(v0, v1)", "v3 = log(v2)", "v8 = add(v5, v7)"} <= formulas


@pytest.mark.parametrize(("suffix", "magic"), [("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_graph_picture_writes_svg_and_pdf(tmp_path, suffix, magic):
    path = tmp_path / f"graph.{suffix}"
    sections.save_graph_picture(lang.parse("sin(x)*x"), str(path))
    assert path.read_bytes().startswith(magic)


def test_graph_picture_refuses_other_formats_before_drawing():
    with pytest.raises(OutputError, match=r"\.png, \.svg, \.pdf") as caught:
        picture.check_picture_path("graph.jpg")
    assert caught.value.parameter == "graph"


def test_graph_picture_of_a_huge_expression_is_a_clear_error():
    text = "+".join(["sin(x)"] * (picture.MAX_PICTURE_NODES // 2 + 1))
    with pytest.raises(OutputError, match="at most"):
        picture.tape_figure(lang.parse(text))
