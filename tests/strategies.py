"""Hypothesis strategies: expressions from the grammar, text outside it, and ranges."""

from __future__ import annotations

from hypothesis import strategies as st

from autodiffcli import lang

UNARY = sorted(name for name, op in lang.FUNCTIONS.items() if op.arity == 1)
leaves = st.sampled_from(["x", "x", "2", "0.5", "pi", "e", "3"])


def _compose(children):
    return st.one_of(
        st.builds(lambda f, a: f"{f}({a})", st.sampled_from(UNARY), children),
        st.builds(
            lambda a, op, b: f"({a} {op} {b})",
            children,
            st.sampled_from(["+", "-", "*", "/", "**", "^"]),
            children,
        ),
        st.builds(lambda a: f"-{a}", children),
        st.builds(lambda a, b: f"pow({a}, {b})", children, children),
    )


expressions = st.recursive(leaves, _compose, max_leaves=6)
ranges = st.tuples(st.floats(-10, 10, allow_nan=False), st.floats(0.001, 5), st.integers(1, 40))
# Text the grammar does not produce: the CLI must still answer cleanly.
noise = st.text(alphabet="x()+-*/^.,0123456789 sinpe_[]:'\"lambda", max_size=30)
