"""Lines in, with their numbers: the one place where files are opened and bytes become text.

Every reader works line by line, so that a history of any size streams through in linear time, and every error
can say on which line it happened.  Files are opened as UTF-8 text split on "\n" only (decoding in C, in big
chunks, is the cheapest way to get lines); if a file turns out not to be UTF-8, ``utf8_error`` rereads it as
bytes to name the first bad line, so the user never sees a ``UnicodeDecodeError`` from deep inside a parser.
Lines given as bytes are decoded one by one, with the same kind of error.
"""
from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import IO, Iterable, Iterator

from ..errors import InputError


class LineSource:
    """Hands out decoded lines with their numbers (1-based), from a text file, strings or bytes.

    ``numbered`` is one shared ``enumerate`` over the lines: a reader's hot loop iterates it directly (C speed),
    and a parser it hands over to calls ``next_line``, which draws from the same stream and records ``lineno``,
    so both always agree on line numbers.  Bytes are decoded per line so that bad UTF-8 names its line; text
    files opened by ``open_lines`` decode in C, and ``utf8_error`` finds the line if decoding fails.
    """

    __slots__ = ("numbered", "path", "lineno")

    def __init__(self, lines: Iterable[bytes | str], path: str | None = None, *, first_line: int = 1) -> None:
        self.path = path
        self.lineno = first_line - 1
        it = iter(lines)
        first = next(it, None)
        chained: Iterator[str]
        if first is None:
            chained = iter(())
        elif isinstance(first, bytes):
            chained = self._decoded(itertools.chain((first,), it), first_line)
        else:
            if first_line == 1 and first.startswith("\ufeff"):
                first = first[1:]
            chained = itertools.chain((first,), it)
        self.numbered = enumerate(chained, first_line)

    def _decoded(self, raw_lines: Iterator[bytes], first_line: int) -> Iterator[str]:
        for lineno, raw in enumerate(raw_lines, first_line):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                                 f"{exc.start + 1})", path=self.path, line=lineno,
                                 expected="a UTF-8 text file") from None
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield line

    def next_line(self) -> str | None:
        """The next line (with its newline, if any), or None at the end; sets ``lineno``."""
        item = next(self.numbered, None)
        if item is None:
            return None
        self.lineno, line = item
        return line

    def __iter__(self) -> Iterator[str]:
        for self.lineno, line in self.numbered:
            yield line


def open_lines(path: str | Path) -> IO[str]:
    """Open a history file as UTF-8 text split on "\\n" only, turning a missing or unreadable file into an
    InputError.  Iterating may raise ``UnicodeDecodeError``: catch it and call ``utf8_error``."""
    try:
        return open(path, encoding="utf-8-sig", newline="\n")
    except FileNotFoundError:
        raise InputError("no such file", path=str(path), expected="an existing history file") from None
    except IsADirectoryError:
        raise InputError("this is a directory, not a file", path=str(path),
                         expected="a history file") from None
    except OSError as exc:
        raise InputError(f"cannot open the file: {exc.strerror}", path=str(path),
                         expected="a readable history file") from None


def utf8_error(path: str | Path) -> InputError:
    """The InputError for a file that failed to decode, naming its first line that is not UTF-8."""
    with open(path, "rb") as stream:
        for lineno, raw in enumerate(stream, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return InputError(f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                                  f"{exc.start + 1})", path=str(path), line=lineno,
                                  expected="a UTF-8 text file")
    return InputError("the file is not UTF-8 text", path=str(path), expected="a UTF-8 text file")


def text_lines(text: str) -> Iterator[str]:
    """Split text on newlines only (never on the other separators ``str.splitlines`` knows)."""
    return iter(io.StringIO(text, newline="\n"))
