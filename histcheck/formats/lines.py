"""Lines in, with their numbers: the one place where inputs are opened and bytes become text.

Every reader works line by line, so that a history of any size streams through in linear time, and every error
can say on which line it happened.  An input is read exactly once, whatever it is -- a file, ``-`` (standard
input), a pipe, a FIFO, ``/dev/stdin``, ``<(zcat h.edn.gz)`` -- because a pipe cannot be read twice: detection
looks at lines that ``Input`` keeps (``Input.head``), and the reader is handed those same lines followed by the
rest of the stream.  gzip is recognised by its magic bytes and decompressed as it streams.

Bytes become text in C, in big chunks (``io.TextIOWrapper``, UTF-8, a BOM dropped), split on any line end --
LF, CRLF or a lone CR (old Mac tools, some log shippers) -- with the line end kept on each line.  Underneath,
``_Guard`` watches the raw bytes once per chunk: a line longer than ``MAX_LINE_BYTES`` (``/dev/zero``, a runaway
generator, a gzip bomb) is refused instead of filling memory, the reading deadline is enforced, and read errors
(``/proc/self/mem``, a vanished disk) become ``InputError`` with the line reached.  A UTF-8 error names the line
it is on, computed from the lines already handed out and the undecoded bytes, so nothing has to be read again.
"""
from __future__ import annotations

import gzip
import io
import itertools
import os
import stat
import sys
import time
import zlib
from pathlib import Path
from typing import IO, Iterable, Iterator

from ..errors import InputError, ReadingTimedOut

MAX_LINE_BYTES = 256 << 20
"""No history line is this long; one that is means an unbounded or broken input (a JSON array on one line
is the longest legitimate line: about two million ops)."""
MAX_DEPTH = 200
"""Values nested deeper than this are refused by every reader: real histories nest a few levels (a transaction
of micro-ops holding a list), and the checker's own code walks values recursively."""
STDIN = "-"
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16


class LineSource:
    """Hands out decoded lines with their numbers (1-based), from a text file, strings or bytes.

    ``numbered`` is one shared ``enumerate`` over the lines: a reader's hot loop iterates it directly (C speed),
    and a parser it hands over to calls ``next_line``, which draws from the same stream and records ``lineno``,
    so both always agree on line numbers.  Bytes are decoded per line so that bad UTF-8 names its line.  A
    reader given a ``LineSource`` uses it as it is, so that ``load`` can ask it how far reading got.
    """

    __slots__ = ("numbered", "path", "lineno", "deadline")

    def __init__(self, lines: Iterable[bytes | str], path: str | None = None, *, first_line: int = 1,
                 deadline: float | None = None) -> None:
        self.path = path
        self.lineno = first_line - 1
        self.deadline = deadline
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

    @classmethod
    def of(cls, lines: "Iterable[bytes | str] | LineSource", path: str | None = None) -> "LineSource":
        """``lines`` itself when it already is a LineSource, else a new one over it."""
        return lines if isinstance(lines, LineSource) else cls(lines, path)

    def _decoded(self, raw_lines: Iterator[bytes], first_line: int) -> Iterator[str]:
        for lineno, raw in enumerate(raw_lines, first_line):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _utf8_error(raw[exc.start], exc.start + 1, self.path, lineno) from None
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

    def lines_handed_out(self) -> int:
        """How many lines have been taken so far, by anyone.  The hot loops iterate ``numbered`` directly and do
        not update ``lineno``; ``enumerate`` knows its next number (its ``__reduce__`` is documented pickling
        support), which is what an error raised from under the loop needs."""
        return self.numbered.__reduce__()[1][1] - 1

    def past_deadline(self) -> bool:
        """Whether reading has run out of time (the parser asks now and then, on long lines)."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def __iter__(self) -> Iterator[str]:
        for self.lineno, line in self.numbered:
            yield line


def _utf8_error(byte: int, column: int | None, path: str | None, line: int) -> InputError:
    where = f" at column {column}" if column is not None else ""
    return InputError(f"the file is not UTF-8 text (byte 0x{byte:02x}{where})", path=path, line=line,
                      expected="a UTF-8 text file")


def _line_ends(data: bytes) -> int:
    """Lines ended in ``data``: LF, CRLF and lone CR each end one."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


class _Guard(io.BufferedIOBase):
    """The bytes of an input as the text layer asks for them (``read1``), checked once per 64 KiB chunk (see the
    module docstring): cheap, because each check is a C call that looks at the end of the chunk only.  Its errors
    carry no line: the reader's ``LineSource`` knows which line was being read, and ``located`` fills it in."""

    def __init__(self, inner: IO[bytes], path: str, deadline: float | None, max_line: int,
                 owned: list[IO[bytes]]) -> None:
        super().__init__()
        self.inner = inner
        self.read_some = getattr(inner, "read1", inner.read)   # never wait to fill a chunk from a pipe
        self.owned = owned  # what closing the input closes (never standard input)
        self.path = path
        self.deadline = deadline
        self.max_line = max_line
        self.run = 0        # bytes since the last line end

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ReadingTimedOut(self.path, None)
        try:
            data = self.read_some(size if size is not None and size > 0 else _CHUNK)
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            raise InputError(f"the gzip data is damaged ({exc or 'it ends too soon'})", path=self.path,
                             expected="a complete gzip file") from None
        except OSError as exc:
            raise InputError(f"cannot read the file: {exc.strerror or exc}", path=self.path,
                             expected="a readable history file") from None
        last = data.rfind(b"\n")
        if last < 0:
            last = data.rfind(b"\r")
        if last < 0:
            self.run += len(data)
            if self.run > self.max_line:
                raise InputError(f"this line is longer than {self.max_line >> 20} MiB; the input looks unbounded "
                                 "or is not a history", path=self.path,
                                 expected="lines of a history (ops separated by line ends)")
        else:
            self.run = len(data) - last - 1
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            return self.read1(size)
        chunks = []
        while chunk := self.read1(_CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        super().close()
        for stream in self.owned:
            stream.close()


class Input:
    """One input, opened once: its name for messages, its text stream and the lines read ahead (``head``).

    ``head_lines`` reads lines ahead for detection and keeps them; ``lines`` then gives the kept lines followed
    by the rest of the stream, so that nothing is read twice and nothing is skipped.
    """

    def __init__(self, name: str, text: IO[str]) -> None:
        self.name = name
        self.text = text
        self.head: list[str] = []
        self.compressed = False

    def head_lines(self) -> Iterator[str]:
        """The kept lines, then more from the stream (kept too)."""
        yield from self.head
        while True:
            try:
                line = self.text.readline()
            except UnicodeDecodeError as exc:
                raise self.decode_error(exc, len(self.head)) from None
            except (InputError, ReadingTimedOut) as exc:
                raise located(exc, len(self.head) + 1) from None
            if not line:
                return
            self.head.append(line)
            yield line

    def lines(self) -> Iterator[str]:
        return itertools.chain(self.head, self.text) if self.head else iter(self.text)

    def read_all(self) -> str:
        """The whole text (for the one reader that needs it: a JSON array)."""
        chunks = ["".join(self.head)]
        self.head = []
        try:
            while chunk := self.text.read(1 << 20):
                chunks.append(chunk)
        except UnicodeDecodeError as exc:
            raise self.decode_error(exc, sum(map(_text_line_ends, chunks))) from None
        except (InputError, ReadingTimedOut) as exc:
            raise located(exc, sum(map(_text_line_ends, chunks)) + 1) from None
        return "".join(chunks)

    def decode_error(self, exc: UnicodeDecodeError, lines_before: int) -> InputError:
        """The InputError for bad UTF-8, from the lines handed out before the failing chunk and the chunk's
        own bytes: ``exc.object`` starts right after the last byte decoded, which ended inside the line that
        comes after the ones handed out."""
        if not isinstance(exc.object, bytes):
            return InputError("the file is not UTF-8 text", path=self.name, expected="a UTF-8 text file")
        data = exc.object[:exc.start]
        ends = _line_ends(data)
        column = exc.start - max(data.rfind(b"\n"), data.rfind(b"\r")) if ends else None
        return _utf8_error(exc.object[exc.start], column, self.name, lines_before + 1 + ends)

    def close(self) -> None:
        try:
            self.text.close()
        except (OSError, InputError):
            pass

    def __enter__(self) -> "Input":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def located(exc: InputError | ReadingTimedOut, line: int) -> InputError | ReadingTimedOut:
    """``exc`` with ``line`` filled in when it had none (errors from under the line iterator)."""
    if exc.line is None:
        if isinstance(exc, InputError):
            exc.located(line=line)
        else:
            exc = ReadingTimedOut(exc.path, line)
    return exc


def _text_line_ends(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def display_name(path: str | Path) -> str:
    """How messages name an input: ``-`` is standard input."""
    return "<stdin>" if str(path) == STDIN else str(path)


def open_input(path: str | Path, *, deadline: float | None = None, max_line: int | None = None) -> Input:
    """Open a history input for one reading: a path (a file, a FIFO, ``/dev/stdin``...) or ``-`` for standard
    input, gzip or not.  Problems opening it are an InputError naming it."""
    name = display_name(path)
    raw = _open_raw(path, name)
    try:
        buffered = _magic_readable(raw, name)
        compressed = _peek(buffered, name)[:2] == GZIP_MAGIC
        inner: IO[bytes] = gzip.GzipFile(fileobj=buffered, mode="rb") if compressed else buffered
        owned = [] if raw is sys.stdin.buffer else [inner, buffered]
        guard = _Guard(inner, name, deadline, MAX_LINE_BYTES if max_line is None else max_line, owned)
        text = io.TextIOWrapper(guard, encoding="utf-8-sig", newline="")
    except BaseException:
        if raw is not sys.stdin.buffer:
            raw.close()
        raise
    text._CHUNK_SIZE = _CHUNK  # fewer, larger decode calls
    opened = Input(name, text)
    opened.compressed = compressed
    return opened


def _open_raw(path: str | Path, name: str) -> IO[bytes]:
    if str(path) == STDIN:
        return sys.stdin.buffer
    try:
        return open(path, "rb", buffering=0)
    except FileNotFoundError:
        raise InputError("no such file", path=name, expected="an existing history file") from None
    except IsADirectoryError:
        raise InputError("this is a directory, not a file", path=name, expected="a history file") from None
    except OSError as exc:
        raise InputError(f"cannot open the file: {exc.strerror or exc}", path=name,
                         expected="a readable history file") from None
    except ValueError as exc:   # a NUL byte in the path
        raise InputError(f"cannot open the file: {exc}", path=name, expected="a file path") from None


def _magic_readable(raw: IO[bytes], name: str) -> IO[bytes]:
    """Something whose first bytes can be looked at without losing them: a regular file as it is (one buffer
    less on the hot path; ``pread`` looks), anything else (pipes, FIFOs, devices) behind a ``BufferedReader``."""
    if isinstance(raw, io.FileIO):
        try:
            if stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
                return raw
        except OSError:
            pass
    return raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw, _CHUNK)


def _peek(buffered: IO[bytes], name: str) -> bytes:
    try:
        if isinstance(buffered, io.FileIO):
            return os.pread(buffered.fileno(), 2, 0)
        return buffered.peek(2)
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", path=name, line=1,
                         expected="a readable history file") from None


def text_lines(text: str) -> Iterator[str]:
    """Split text into lines the way inputs are split: on LF, CRLF or a lone CR, keeping the line ends."""
    return iter(io.StringIO(text, newline=""))
