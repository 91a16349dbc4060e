"""Errors that reach a person.

histcheck promises never to show a traceback for bad input.  Every problem a user can cause (a malformed file,
an operation the model cannot read, a bad option) is raised as an ``InputError`` that names the file, the line
and what was expected; the CLI prints it and exits with 254.  Anything else is our bug and exits with 255.
"""
from __future__ import annotations

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
