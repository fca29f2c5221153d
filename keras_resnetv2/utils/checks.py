"""Argument checks shared by every entry point: one message format everywhere.

Every user-facing check raises `ValueError` naming the argument, listing the valid
choices (with a close match where one exists) and ending with `Received: arg=value`.
"""

import difflib


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


def fail(argument, requirement, value):
    """Raises the package's standard `ValueError` for a bad argument.

    Args:
        argument: str, the argument's name.
        requirement: str, what the argument must satisfy (a full sentence).
        value: the received value, echoed at the end of the message.
    """
    raise ValueError(f"{requirement} Received: {argument}={value!r}")
