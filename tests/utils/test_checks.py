"""The shared argument checks: what they accept, and the message of what they refuse."""

import re

import numpy as np
import pytest

from keras_resnetv2.utils.checks import check_int, check_number


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_check_int_returns_integers_at_or_above_the_minimum(value):
    assert check_int("n", value, minimum=1) == value


@pytest.mark.parametrize("value", [0, -2, 1.0, True, "3", None])
def test_check_int_refuses_the_rest_naming_the_argument(value):
    with pytest.raises(ValueError, match=re.escape(f"`n` must be an integer >= 1. Received: n={value!r}")):
        check_int("n", value, minimum=1)


def test_check_int_optional_accepts_none_and_says_so_in_its_message():
    assert check_int("n", None, minimum=0, optional=True) is None
    with pytest.raises(ValueError, match=re.escape("`n` must be an integer >= 0 or None. Received: n=-1")):
        check_int("n", -1, minimum=0, optional=True)


@pytest.mark.parametrize(
    "value, bounds, ok",
    [
        (0.0, dict(low=0.0), True),
        (0.0, dict(low=0.0, low_open=True), False),
        (1.0, dict(low=0.0, high=1.0), False),
        (1.0, dict(low=0.0, high=1.0, high_closed=True), True),
        (-5, dict(), True),
        (float("inf"), dict(), False),
        (float("nan"), dict(low=0.0), False),
        (True, dict(), False),
        ("0.5", dict(low=0.0, high=1.0), False),
    ],
)
def test_check_number_bounds(value, bounds, ok):
    if ok:
        assert check_number("x", value, **bounds) == value
    else:
        with pytest.raises(ValueError, match=r"`x` must be a (finite number|number in [\[(].*[\])])\. Received: x="):
            check_number("x", value, **bounds)


def test_check_number_message_shows_the_interval():
    with pytest.raises(ValueError, match=re.escape("`x` must be a number in (0, 1]. Received: x=2")):
        check_number("x", 2, low=0.0, high=1.0, low_open=True, high_closed=True)
    with pytest.raises(ValueError, match=re.escape("`x` must be a number in (-inf, 3). Received: x=3")):
        check_number("x", 3, high=3)
    assert check_number("x", None, low=0.0, optional=True) is None
