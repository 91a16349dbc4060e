"""Lines in, with their numbers: the one place where files are opened and bytes become text.

Every reader works line by line, so that a history of any size streams through in linear time, and every error
can say on which line it happened.  Decoding happens here, per line, so that a file that is not UTF-8 is reported
at the first bad line instead of as a ``UnicodeDecodeError`` from deep inside a parser.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import IO, Iterable, Iterator

from ..errors import InputError


class LineSource:
    """Hands out decoded lines one at a time and remembers the number (1-based) of the last one.

    Iterating and ``next_line`` draw from the same stream, so a fast loop and a parser it hands over to can
    share one source and agree on line numbers.
    """

    __slots__ = ("_raw", "_iter", "path", "lineno")

    def __init__(self, lines: Iterable[bytes | str], path: str | None = None, *, first_line: int = 1) -> None:
        self._raw = iter(lines)
        self.path = path
        self.lineno = first_line - 1
        self._iter = self._lines()

    def _lines(self) -> Iterator[str]:
        for raw in self._raw:
            self.lineno += 1
            if isinstance(raw, bytes):
                try:
                    raw = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise self._not_utf8(raw, exc) from None
            if self.lineno == 1 and raw.startswith("\ufeff"):
                raw = raw[1:]
            yield raw

    def _not_utf8(self, raw: bytes, exc: UnicodeDecodeError) -> InputError:
        return InputError(f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
                          path=self.path, line=self.lineno, expected="a UTF-8 text file")

    def next_line(self) -> str | None:
        """The next line (with its newline, if any), or None at the end."""
        return next(self._iter, None)

    def __iter__(self) -> Iterator[str]:
        return self._iter


def open_lines(path: str | Path) -> IO[bytes]:
    """Open a history file for reading as bytes, turning a missing or unreadable file into an InputError."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError("no such file", path=str(path), expected="an existing history file") from None
    except IsADirectoryError:
        raise InputError("this is a directory, not a file", path=str(path),
                         expected="a history file") from None
    except OSError as exc:
        raise InputError(f"cannot open the file: {exc.strerror}", path=str(path),
                         expected="a readable history file") from None


def text_lines(text: str) -> Iterator[str]:
    """Split text on newlines only (never on the other separators ``str.splitlines`` knows)."""
    return iter(io.StringIO(text, newline="\n"))
