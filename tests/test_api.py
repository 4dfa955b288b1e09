"""The Python API returns what the CLI writes."""

from __future__ import annotations

import numpy as np
import pytest
from support import invoke

import autodiffcli
from autodiffcli.errors import ExpressionError, GridError


def test_derive_at_given_points():
    table = autodiffcli.derive("x**2", [1.0, 2.0])
    assert table["df"].tolist() == [2.0, 4.0]


def test_derive_matches_the_cli_table():
    table = autodiffcli.derive("tanh(x)", start=-3, stop=3, num=7, order=2)
    rows = np.loadtxt(
        invoke(
            "derive", "tanh(x)", "--start", "-3", "--stop", "3", "--num", "7", "-k", "2"
        ).stdout.splitlines()[1:],
        delimiter=",",
    )
    for i, name in enumerate(["x", "f", "df", "d2f"]):
        assert table[name].tolist() == rows[:, i].tolist()


def test_derive_raises_the_library_errors():
    with pytest.raises(ExpressionError):
        autodiffcli.derive("sn(x)")
    with pytest.raises(GridError):
        autodiffcli.derive(step=0)
