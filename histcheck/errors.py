"""Errors that reach a person.

histcheck promises never to show a traceback for bad input.  Every problem a user can cause (a malformed file,
an operation the model cannot read, a bad option) is raised as an ``InputError`` that names the file, the line
and what was expected; the CLI prints it and exits with 254.  Anything else is our bug and exits with 255.
"""
from __future__ import annotations

import math

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNKNOWN = 2
EXIT_BAD_INPUT = 254
EXIT_INTERNAL = 255


class HistcheckError(Exception):
    """Base class for errors histcheck raises on purpose."""


class InputError(HistcheckError):
    """Bad input: a file, an operation or an option that histcheck cannot use.

    ``path`` and ``line`` locate the problem (either may be unknown), ``expected`` says what would have been
    accepted, so that the message can be acted on without reading our source.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 expected: str | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.expected = expected
        super().__init__(self.render())

    def located(self, path: str | None = None, line: int | None = None) -> "InputError":
        """Return this error with a file and line filled in where they were unknown."""
        if self.path is None and path is not None:
            self.path = path
        if self.line is None and line is not None:
            self.line = line
        self.args = (self.render(),)
        return self

    def render(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if self.line is not None:
                where += f", line {self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        text = f"{where}{self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        return text

    def __str__(self) -> str:  # keep str() in step with late located() calls
        return self.render()


class HistoryError(InputError):
    """A history that is well-formed text but not a valid history (pairing, types, values)."""


class ReadingTimedOut(HistcheckError):
    """The time limit ran out while a history was still being read.

    Not an ``InputError``: the input may be a perfectly good history that is merely large.  The CLI turns it into
    an unknown result with cause ``time`` -- a history that was not read whole is never valid.
    """

    def __init__(self, path: str | None, line: int | None) -> None:
        self.path = path
        self.line = line
        where = f" at line {line}" if line is not None else ""
        super().__init__(f"{path or 'the input'}: the time limit ran out while reading{where}")


def check_time_limit(value: object, name: str = "time_limit") -> float | None:
    """``value`` as a time limit in seconds (None: no limit); NaN, infinities, negatives and non-numbers are an
    InputError naming ``name``, because each would silently disable or break the budget."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name}: {value!r} is not a number of seconds", expected="a finite number >= 0")
    number = float(value) if not isinstance(value, int) or abs(value) < 1 << 53 else math.inf
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise InputError(f"{name}: {_shown(value)} is not a usable number of seconds",
                         expected="a finite number >= 0")
    return number


def check_memory_limit(value: object, name: str = "memory_limit") -> int | None:
    """``value`` as a memory limit in bytes (None: no limit); anything but a positive integer is an InputError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f"{name}: {_shown(value)} is not a usable number of bytes", expected="an integer > 0")
    return value


def _shown(value: object) -> str:
    """``repr`` for a message, safe for integers too long to print (Python refuses past 4,300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** 30:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return repr(value)
