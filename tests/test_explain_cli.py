"""`autodiff explain` through the CLI: --graph, --dot, --trace and the default points."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import expressions, noise
from support import invoke

D2L = "log(x^2)*sin(x) + 1/x"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def goal_facts(stdout: str) -> dict:
    goal = json.loads(stdout)["sections"][0]
    return {b["name"]: b["value"] for b in goal["blocks"] if b["kind"] == "fact"}


def test_graph_option_draws_the_d2l_graph_as_png(tmp_path):
    path = tmp_path / "graph.png"
    result = invoke("explain", D2L, "--trace", "1", "--graph", str(path))
    assert result.exit_code == 0, result.stderr
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_graph_option_refuses_an_unknown_picture_format(tmp_path):
    result = invoke("explain", "--graph", str(tmp_path / "graph.jpg"))
    assert result.exit_code == 2 and ".png, .svg, .pdf" in result.stderr
    assert "Traceback" not in result.stderr


def test_dot_option_labels_nodes_and_edges_like_the_picture(tmp_path):
    path = tmp_path / "graph.dot"
    assert invoke("explain", D2L, "--trace", "1", "--dot", str(path)).exit_code == 0
    dot = path.read_text()
    assert 'v0 [label="v0 = x\\nvalue 1\\ntangent 1\\nadjoint 0.682942"];' in dot
    assert 'v0 -> v2 [label="dv2/dv0 = 2"];' in dot


def test_trace_is_a_numbered_section_right_after_the_graph():
    text = invoke("explain", D2L, "--trace", "1").stdout
    assert "6. The graph autograd recorded" in text
    assert "7. The chain rule on the graph at x = 1" in text
    assert text.index("6. The graph") < text.index("7. The chain rule") < text.index("8. Backward")


def test_default_points_avoid_where_f_is_undefined_and_say_so():
    facts = goal_facts(invoke("explain", D2L, "--format", "json").stdout)
    assert 0.0 not in facts["x"] and facts["undefined"] == {}
    assert facts["notes"] == [
        "The default point x = 0 was moved to 0.25, since f is undefined at x = 0: log(0) is "
        "a singularity, where torch gives -inf, and then f = nan."
    ]


def test_points_the_user_asks_for_are_kept_and_explained():
    result = invoke("explain", D2L, "--points", "5", "--format", "json")
    facts = goal_facts(result.stdout)
    assert facts["x"] == [-5.0, -2.5, 0.0, 2.5, 5.0] and facts["notes"] == []
    assert facts["undefined"] == {
        "2": "f is undefined at x = 0: log(0) is a singularity, where torch gives -inf, and "
        "then f = nan"
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(expressions, noise), order=st.integers(1, 3))
def test_explain_never_shows_a_traceback(text, order):
    result = invoke("explain", "--points", "3", "-k", str(order), "--format", "json", "--", text)
    assert result.exit_code in (0, 2), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if result.exit_code == 0:
        assert json.loads(result.stdout)["sections"]
