"""Argument checks shared by every entry point: one message format everywhere.

Every user-facing check raises `ValueError` naming the argument, listing the valid
choices (with a close match where one exists) and ending with `Received: arg=value`.
"""

import difflib
import math
import numbers


def check_choice(argument, value, choices):
    """Returns `value` if it is one of `choices`, else raises a `ValueError`.

    Args:
        argument: str, the argument's name as the user typed it.
        value: the received value.
        choices: iterable of the valid values (a mapping's keys work too).
    """
    choices = list(choices)
    if value in choices:
        return value
    hint = ""
    if isinstance(value, str):
        names = [str(c) for c in choices]
        close = difflib.get_close_matches(value, names, n=1) or [n for n in names if value in n]
        if close:
            hint = f" Did you mean {close[0]!r}?"
    raise ValueError(
        f"`{argument}` must be one of {choices}.{hint} "
        f"Received: {argument}={value!r}"
    )


def check_bool(argument, value):
    """Returns `value` if it is True or False (not 1, 0 or None), else raises a `ValueError`."""
    if not isinstance(value, bool):
        fail(argument, f"`{argument}` must be True or False.", value)
    return value


def check_int(argument, value, *, minimum, optional=False):
    """Returns `value` as a Python int if it is an integer (not a bool; NumPy's count)
    >= `minimum` (or None when `optional`), else raises a `ValueError`."""
    if value is None and optional:
        return value
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        fail(argument, f"`{argument}` must be an integer >= {minimum}{' or None' if optional else ''}.", value)
    return int(value)


def check_number(argument, value, *, low=None, high=None, low_open=False, high_closed=False, optional=False):
    """Returns `value` as a Python float if it is a finite real number (not a bool) in the interval from
    `low` to `high` (None: unbounded; closed at `low` and open at `high` unless told
    otherwise), or None when `optional`; else raises a `ValueError`."""
    if value is None and optional:
        return value
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high if high_closed else value < high
    if not ok:
        if low is None and high is None:
            interval = "a finite number"
        else:
            left = "(" if low_open or low is None else "["
            right = "]" if high_closed and high is not None else ")"
            interval = f"a number in {left}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{right}"
        fail(argument, f"`{argument}` must be {interval}.", value)
    return float(value)


def fail(argument, requirement, value):
    """Raises the package's standard `ValueError` for a bad argument.

    Args:
        argument: str, the argument's name.
        requirement: str, what the argument must satisfy (a full sentence).
        value: the received value, echoed at the end of the message.
    """
    raise ValueError(f"{requirement} Received: {argument}={value!r}")
