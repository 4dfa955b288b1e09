"""Which point explain teaches f of several variables at, and the one-line refusals of
anything but one point or of an order it does not teach (issue 18)."""

from __future__ import annotations

from support import invoke


def refused(*args: str) -> str:
    result = invoke("explain", *args)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    return result.stderr


def test_an_at_naming_some_inputs_names_the_ones_left_running():
    error = refused("x*y", "--at", "x=1")
    assert "y runs over 200 points" in error and "--at x=1,y=2" in error


def test_two_points_are_refused():
    assert "one point" in refused("x*y", "--at", "x=1,y=2", "--at", "x=2,y=3")


def test_order_0_is_refused_for_several_variables():
    assert "--order is 0" in refused("x*y", "--at", "x=1,y=2", "-k", "0")


def test_the_default_point_is_one_two_three_and_the_lesson_says_so():
    result = invoke("explain", "x*y*z")
    assert result.exit_code == 0, result.stderr
    assert "default point x = 1, y = 2, z = 3" in result.stdout
