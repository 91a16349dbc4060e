"""Reading Jepsen histories written as EDN.

EDN is what Jepsen and Knossos write: Jepsen 0.2 and later stream ``history.edn`` as one op map per line
(``{:index 0, :time 123, :type :invoke, :process 0, :f :read, :value nil}``), while Knossos test data is one
vector (or list) of maps, often spread over lines and sprinkled with ``;`` comments.  Either way a history can
hold millions of ops, so this reader has three gears, and every line starts in the first:

* the *hot loop* (``_Reader.ops``) takes a line holding one map written the way Jepsen writes it -- ``:k v``
  pairs joined by ``", "``, values that are atoms, plain strings or vectors.  ``:index`` and ``:time`` are
  peeled off, and the rest of the line (``:type :ok, :process 3, :f :read, :value 2``, which repeats endlessly in
  a real history) is looked up whole in a cache of converted field maps.  Splitting and converting happen in C
  (``str.split``, ``dict``, ``map``); on this project's machine this reads well over 100k ops/s, against a few
  thousand for ``edn_format`` (ply-based, the yardstick in ``benchmarks/parse_speed.py`` and the tests' oracle);
* the *fast path* (``_split_line``, ``_fast_op``) takes other one-map lines -- no commas, strings holding
  ``", "``, the lines that open and close the outer vector -- with ``str`` methods and the same value cache;
* the *complete parser* (``_Parser``), iterative and line-aware, takes everything else -- a map spread over
  lines, sets, lists, maps inside values, escapes, chars, ``#_`` discards, tagged literals and
  ``#jepsen.history.Op{...}`` records -- and hands control back at the next line boundary.

A value text that is not exactly one value fails to convert, and the line drops to the next gear, so the gears
agree (the tests read random histories through both).  All consume the file one line at a time: memory is the
ops themselves, time is linear.

Values: vectors become tuples, lists ``EdnList``, sets frozensets, keywords ``Keyword``, symbols ``Symbol``, maps
dicts and tags ``Tagged`` (a record tag such as ``#jepsen.history.Op`` on a map gives the plain map).  The keys of
an op map become plain strings (``"type"``), and every op goes through ``history.make_op``, so each format
reports a missing ``:type`` the same way.  Every problem is an ``InputError`` naming the file and the line.
"""
from __future__ import annotations

import itertools
import re
from typing import Any, Iterable, Iterator

from ..errors import HistoryError, InputError, ReadingTimedOut
from ..history import Op, make_op
from ..values import EdnList, Keyword, Symbol, Tagged
from .ednwrite import edn, format_op
from .lines import MAX_DEPTH, LineSource, text_lines
from .notes import ReadNotes
from .ops import op_without_process

# ---------------------------------------------------------------------------------------------------------------
# Fast path: one flat op map per line, split with str methods (much cheaper per line than any regex).

_VECTOR_TOKENS = re.compile(r"\[|\]|[^\s,\[\]]+")
_INT = re.compile(r"[+-]?\d+N?\Z")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?M?\Z")
_SYMBOL_NAME = re.compile(r"[A-Za-z_*!?$%&=<>.+\-][\w*!?$%&=<>.+\-:#'/]*\Z")
_KEYWORD_NAME = re.compile(r"[\w*!?$%&=<>.+\-][\w*!?$%&=<>.+\-:#'/]*\Z")
_RECORD_TAG = re.compile(r"#[A-Za-z][\w\-]*(?:\.[\w\-]+)+\Z")
_SKIP_LINE = re.compile(r"[\s,]*(?:;.*)?\Z", re.S)
_CACHE_LIMIT = 100_000
MAX_DIGITS = 4300   # Python's own limit for int(text); longer integers are refused with a message
_DEADLINE_EVERY = 4096  # parser steps between looks at the clock


class _NotFast(Exception):
    """The fast path met something it does not handle; the full parser takes the line."""


class _ValueCache(dict):
    """Parsed values by their text.  Values are immutable (tuples, keywords, numbers), so sharing is safe;
    long integers (``:index``, ``:time``) are unique and cheap to convert, so they are not kept."""

    def __missing__(self, text: str, _max_digits: int = MAX_DIGITS) -> Any:
        if text.isdigit() and text.isascii() and len(text) <= _max_digits:
            number = int(text)
            if len(text) <= 3:
                self[text] = number
            return number
        value = _fast_value(text)
        if len(self) > _CACHE_LIMIT:
            self.clear()
        if len(text) <= 64:
            self[text] = value
        return value


class _KeyCache(dict):
    """Op map keys: ``:type`` becomes ``"type"``; anything but a keyword goes to the full parser."""

    def __missing__(self, text: str) -> str:
        if text[:1] != ":" or not _KEYWORD_NAME.match(text, 1):
            raise _NotFast(text)
        if len(self) > _CACHE_LIMIT:
            self.clear()
        name = self[text] = text[1:]
        return name


def _fast_value(text: str) -> Any:
    if not text:
        raise _NotFast(text)
    first = text[0]
    if first == '"':
        if len(text) < 2 or text[-1] != '"' or text.count('"') != 2 or "\\" in text:
            raise _NotFast(text)  # not one plain string: escapes are the parser's job
        return text[1:-1]
    if first == "[":
        return _fast_vector(text)
    return _atom(text)


def _fast_vector(text: str) -> tuple:
    stack: list[list] = []
    current: list = []
    try:
        for token in _VECTOR_TOKENS.findall(text):
            if token == "[":
                if len(stack) >= MAX_DEPTH:
                    raise _NotFast(text)   # the parser reports it, with its line
                stack.append(current)
                current = []
            elif token == "]":
                done = tuple(current)
                current = stack.pop()
                current.append(done)
            else:
                current.append(_atom(token))
        if stack:
            raise _NotFast(text)
        (value,) = current
    except (IndexError, ValueError):
        raise _NotFast(text) from None
    return value


def _atom(text: str) -> Any:
    """nil, true, false, a number, a keyword or a symbol; raises _NotFast for anything else."""
    if text == "nil":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    first = text[0]
    if first == ":":
        if not _KEYWORD_NAME.match(text, 1):
            raise _NotFast(text)
        return Keyword(text[1:])
    if first.isdigit() or (first in "+-" and len(text) > 1 and text[1].isdigit()):
        if _INT.match(text):
            if len(text) > MAX_DIGITS:
                raise _NotFast(text)
            return int(text.rstrip("N"))
        if _FLOAT.match(text):
            return float(text.rstrip("M"))
        raise _NotFast(text)
    if not _SYMBOL_NAME.match(text):
        raise _NotFast(text)
    return Symbol(text)


def _fast_tokens(body: str) -> list[str]:
    """The forms of a map body as texts: atoms, ``"strings"`` and whole (flat or nested) vectors."""
    if '"' in body:
        if "[" in body or "]" in body:
            raise _NotFast(body)
        parts = body.split('"')
        if not len(parts) & 1:
            raise _NotFast(body)
        tokens: list[str] = []
        for i, part in enumerate(parts):
            if i & 1:
                tokens.append('"' + part + '"')
            else:
                tokens += part.replace(",", " ").split()
        return tokens
    tokens = body.replace(",", " ").split()
    if "[" in body or "]" in body:
        return _group_vectors(tokens)
    return tokens


def _group_vectors(tokens: list[str]) -> list[str]:
    """Join the pieces of each vector (``[0``, ``1]``) back into one text."""
    out: list[str] = []
    buf: list[str] = []
    depth = 0
    for token in tokens:
        if depth == 0 and "[" not in token and "]" not in token:
            out.append(token)
            continue
        core = token.lstrip("[")
        opens = len(token) - len(core)
        inner = core.rstrip("]")
        if "[" in inner or "]" in inner:
            raise _NotFast(token)
        depth += opens - (len(core) - len(inner))
        if depth < 0:
            raise _NotFast(token)
        buf.append(token)
        if depth == 0:
            out.append(" ".join(buf))
            buf = []
    if depth:
        raise _NotFast(" ".join(buf))
    return out


_BLANKS = " \t\r\n,"
_SPACE = itertools.repeat(" ")
_ONE = itertools.repeat(1)


def _hot_unsafe(body: str) -> bool:
    """Whether a map body holds anything that splitting with ``str`` methods cannot take (maps, sets, tags,
    comments, escapes, lists): then the complete parser reads the line."""
    return ("{" in body or "}" in body or "#" in body or ";" in body or "\\" in body or "(" in body
            or ")" in body)


def _split_line(line: str) -> tuple[str | None, str, str | None] | None:
    """``(opener, body, closer)`` for a line holding one op map, perhaps opening or closing the outer vector;
    None when the line needs the full parser."""
    s = line.strip(_BLANKS)
    if not s:
        return None
    opened = closed = None
    if s[0] in "[(":
        opened = s[0]
        s = s[1:].lstrip(_BLANKS)
    if s[-1:] in ("]", ")"):
        closed = s[-1]
        s = s[:-1].rstrip(_BLANKS)
    if s[:1] == "#":
        brace = s.find("{")
        if brace < 0 or not _RECORD_TAG.match(s, 0, brace):
            return None
        s = s[brace:]
    if s[:1] != "{" or s[-1:] != "}":
        return None
    body = s[1:-1]
    if _hot_unsafe(body):
        return None
    return opened, body, closed


# ---------------------------------------------------------------------------------------------------------------
# The complete parser.

_TOKEN = re.compile(r"""
      [\s,]+ | ;[^\n]*
    | (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<strstart>")
    | (?P<open>[\[({]|\#\{)
    | (?P<close>[\])}])
    | (?P<disc>\#_)
    | (?P<special>\#\#[A-Za-z\-]+)
    | (?P<tag>\#[A-Za-z][^\s,()\[\]{}"\\;]*)
    | (?P<char>\\(?:u[0-9A-Fa-f]{4}|newline|space|tab|return|formfeed|backspace|[^\s]))
    | (?P<atom>[^\s,()\[\]{}"\\;\#][^\s,()\[\]{}"\\;]*)
""", re.X)
_STRING_END = re.compile(r'(?:[^"\\]|\\.)*"', re.S)
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.S)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/"}
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r", "formfeed": "\f", "backspace": "\b"}
_SPECIALS = {"##Inf": float("inf"), "##-Inf": float("-inf"), "##NaN": float("nan")}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_NAMES = {"[": "vector", "(": "list", "{": "map", "#{": "set"}
_OPENERS = {"]": "[", ")": "("}
_DISCARD = object()
NOTHING = object()


class _Frame:
    """An open collection: what opened it, where, what it holds so far, and the modifiers pending outside it."""

    __slots__ = ("opener", "line", "items", "outer_pending")

    def __init__(self, opener: str, line: int, outer_pending: list) -> None:
        self.opener = opener
        self.line = line
        self.items: list = []
        self.outer_pending = outer_pending


class _Parser:
    """A complete EDN reader over a ``LineSource``: iterative (no recursion limit), line-aware, streaming."""

    def __init__(self, source: LineSource, path: str | None) -> None:
        self.source = source
        self.path = path
        self.text = ""
        self.pos = 0
        self.lineno = 0
        self.start_line = 0

    def load(self, text: str, lineno: int) -> None:
        """Continue from a line the fast path could not take."""
        self.text, self.pos, self.lineno = text, 0, lineno

    def error(self, message: str, line: int | None = None, expected: str | None = None) -> InputError:
        return InputError(message, path=self.path, line=line if line is not None else self.lineno,
                          expected=expected)

    def at_line_end(self) -> bool:
        """True when nothing but blanks and a comment is left on the current line."""
        return _SKIP_LINE.match(self.text, self.pos) is not None

    # -- tokens ------------------------------------------------------------------------------------------------
    def token(self) -> tuple[str, str, int] | None:
        """The next token as (kind, text, line), reading further lines as needed; None at end of input."""
        while True:
            if self.pos >= len(self.text):
                line = self.source.next_line()
                if line is None:
                    return None
                self.load(line, self.source.lineno)
                continue
            m = _TOKEN.match(self.text, self.pos)
            if m is None:
                raise self.error(f"cannot read {self.text[self.pos:self.pos + 20].strip()!r} "
                                 f"(column {self.pos + 1})", expected="an EDN value")
            self.pos = m.end()
            kind = m.lastgroup
            if kind is None:
                continue
            if kind == "strstart":
                start_line = self.lineno
                return "str", self._long_string(), start_line
            return kind, m.group(), self.lineno

    def _long_string(self) -> str:
        """A string that goes on past the end of its line: gather lines until its closing quote.

        Every line but the last ends with its newline, so a backslash never escapes across lines and each new
        line can be searched for the closing quote on its own: linear in the string's length.
        """
        start_line = self.lineno
        chunks = [self.text[self.pos - 1:]]
        while True:
            line = self.source.next_line()
            if line is None:
                raise self.error("unterminated string", line=start_line, expected='a closing "')
            m = _STRING_END.match(line)
            if m is None:
                chunks.append(line)
                continue
            chunks.append(line[:m.end()])
            self.load(line, self.source.lineno)
            self.pos = m.end()
            return "".join(chunks)

    # -- values ------------------------------------------------------------------------------------------------
    def read(self, token: tuple[str, str, int], *, top: bool = False) -> Any:
        """The value that starts with ``token`` (after any ``#_`` discards); ``NOTHING`` if the input ends
        after discards at top level."""
        stack: list[_Frame] = []
        pending: list = []
        steps = 0
        while True:
            kind, text, line = token
            steps += 1
            if not steps % _DEADLINE_EVERY and self.source.past_deadline():
                raise ReadingTimedOut(self.path, line)
            if not stack and not pending:
                self.start_line = line  # where the value we return begins (after any discarded ones)
            value: Any = NOTHING
            if kind == "atom":
                value = self._atom(text, line)
            elif kind == "str":
                value = self._string(text, line)
            elif kind == "open":
                if len(stack) >= MAX_DEPTH:
                    raise self.error(f"values nested more than {MAX_DEPTH} deep (opened at line {stack[0].line})",
                                     line=line, expected=f"collections nested at most {MAX_DEPTH} levels")
                stack.append(_Frame(text, line, pending))
                pending = []
            elif kind == "close":
                value, pending = self._close(stack, pending, text, line)
            elif kind == "disc" or kind == "tag":
                if len(pending) >= MAX_DEPTH:
                    raise self.error(f"more than {MAX_DEPTH} #_ discards or tags in a row", line=line,
                                     expected="a value after a few #_ or tags")
                pending.append((_DISCARD, line) if kind == "disc" else (text[1:], line))
            elif kind == "char":
                value = self._char(text)
            else:
                value = self._special(text, line)
            if value is not NOTHING:
                value = self._apply(pending, value)
                if value is not NOTHING:
                    if not stack:
                        return value
                    stack[-1].items.append(value)
            next_token = self.token()
            if next_token is None:
                if stack:
                    raise self._unclosed(stack)
                if top and all(p[0] is _DISCARD for p in pending):
                    return NOTHING
                if not pending:   # everything was discarded (#_ v) where one value was needed
                    raise self.error("only a discarded value (#_) where a value should be", line=line,
                                     expected="a value")
                what, where = pending[-1]
                raise self.error(f"the file ends after {'#_' if what is _DISCARD else '#' + what}", line=where,
                                 expected="a value after it")
            token = next_token

    def _unclosed(self, stack: list[_Frame]) -> InputError:
        """The file ended inside a value: name the line where the outermost open form (the op) started."""
        outer, inner = stack[0], stack[-1]
        closer = _CLOSERS[outer.opener]
        detail = "" if inner is outer else f" (and the {_NAMES[inner.opener]} opened at line {inner.line})"
        return self.error(f"the file ends inside the {_NAMES[outer.opener]} {outer.opener} opened here{detail}; "
                          f"is the file truncated?", line=outer.line, expected=f"a closing {closer}")

    def _close(self, stack: list[_Frame], pending: list, closer: str, line: int) -> tuple[Any, list]:
        if not stack:
            raise self.error(f"unexpected {closer}", line=line, expected="a value")
        frame = stack[-1]
        want = _CLOSERS[frame.opener]
        if closer != want:
            raise self.error(f"{closer} closes the {_NAMES[frame.opener]} opened at line {frame.line}",
                             line=line, expected=want)
        if pending:
            raise self.error(f"{closer} right after a #_ or a tag", line=line, expected="a value before it")
        stack.pop()
        return self._collection(frame), frame.outer_pending

    def _collection(self, frame: _Frame) -> Any:
        items = frame.items
        opener = frame.opener
        if opener == "[":
            return tuple(items)
        if opener == "(":
            return EdnList(items)
        if opener == "#{":
            return frozenset(_hashable(v) for v in items)
        if len(items) % 2:
            raise self.error("a map with a key but no value", line=frame.line,
                             expected="an even number of forms in {...}")
        it = iter(items)
        result = {_hashable(k): v for k, v in zip(it, it)}
        if len(result) * 2 != len(items):
            keys = [_hashable(k) for k in items[0::2]]
            repeated = next(k for i, k in enumerate(keys) if k in keys[:i])
            raise self.error(f"the key {edn(repeated)} appears twice in the map opened here", line=frame.line,
                             expected="each key once")
        return result

    def _apply(self, pending: list, value: Any) -> Any:
        """Apply tags (innermost first) and discards waiting for this value."""
        while pending:
            what, line = pending.pop()
            if what is _DISCARD:
                return NOTHING
            value = _tag(what, value)
        return value

    def _atom(self, text: str, line: int) -> Any:
        try:
            return _atom(text)
        except _NotFast:
            if _INT.match(text):
                raise self.error(f"an integer of {len(text):,} digits is too long to read", line=line,
                                 expected=f"integers of at most {MAX_DIGITS:,} digits") from None
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise self.error(f"cannot read {shown!r}", line=line,
                             expected="a number, keyword, symbol, nil, true or false") from None

    def _string(self, text: str, line: int) -> str:
        body = text[1:-1]
        if "\\" not in body:
            return body
        try:
            return _ESCAPE.sub(_unescape, body)
        except ValueError:
            raise self.error("a \\u escape in a string names half of a surrogate pair", line=line,
                             expected="\\u escapes of whole characters (not D800-DFFF)") from None
        except KeyError as exc:
            char = exc.args[0]
            what = f"\\{char}" if char.isprintable() else f"a backslash before {char!r}"
            raise self.error(f"{what} in a string is not an escape EDN knows", line=line,
                             expected='one of \\" \\\\ \\n \\t \\r \\b \\f \\uXXXX') from None

    def _char(self, text: str) -> str:
        name = text[1:]
        if len(name) == 1:
            return name
        if name in _CHARS:
            return _CHARS[name]
        code = int(name[1:], 16)
        if 0xD800 <= code <= 0xDFFF:
            raise self.error(f"the character {text} is half of a surrogate pair", line=self.lineno,
                             expected="a whole character (not D800-DFFF)")
        return chr(code)

    def _special(self, text: str, line: int) -> float:
        if text not in _SPECIALS:
            raise self.error(f"unknown symbolic value {text}", line=line, expected="##Inf, ##-Inf or ##NaN")
        return _SPECIALS[text]


def _unescape(match: re.Match) -> str:
    code = match.group(1)
    if len(code) == 5:
        number = int(code[1:], 16)
        if 0xD800 <= number <= 0xDFFF:
            raise ValueError("surrogate")  # cannot be written out as UTF-8 again
        return chr(number)
    return _ESCAPES[code]


def _hashable(value: Any) -> Any:
    """Map keys and set members must hash: a map (or anything holding one) as a key is frozen."""
    try:
        hash(value)
        return value
    except TypeError:
        return _deep_freeze(value)


def _deep_freeze(value: Any) -> Any:
    """Like ``values.freeze``, but also through lists ``(...)`` and tagged values, which it leaves as they are."""
    if isinstance(value, dict):
        return tuple(sorted(((_deep_freeze(k), _deep_freeze(v)) for k, v in value.items()), key=repr))
    if isinstance(value, EdnList):
        return EdnList(_deep_freeze(v) for v in value)
    if isinstance(value, (tuple, list)):
        return tuple(_deep_freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(_deep_freeze(v) for v in value)
    if isinstance(value, Tagged):
        return Tagged(value.tag, _deep_freeze(value.value))
    return value


def _tag(tag: str, value: Any) -> Any:
    """``#ns.Record{...}`` (Jepsen's ``#jepsen.history.Op``) is just a map; other tags are kept as written."""
    if isinstance(value, dict) and "." in tag:
        return value
    return Tagged(tag, value)


# ---------------------------------------------------------------------------------------------------------------
# Ops.

def _op_fields(value: Any, parser: _Parser, line: int) -> dict:
    if not isinstance(value, dict):
        raise parser.error(f"found {_brief(value)} where an operation should be", line=line,
                           expected="an op map {:type ..., :process ..., :f ..., :value ...}")
    return {(str.__str__(k) if type(k) is Keyword else k): v for k, v in value.items()}


def _brief(value: Any) -> str:
    """A value, shortened for a message (and safe for values nested too deep to print)."""
    try:
        text = edn(value)
    except RecursionError:
        return f"a deeply nested {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


class _Reader:
    """Turns lines into ops: the fast path line by line, the parser for whatever it cannot take."""

    def __init__(self, source: LineSource, path: str | None, fast: bool = True,
                 notes: ReadNotes | None = None) -> None:
        self.source = source
        self.notes = notes if notes is not None else ReadNotes()
        self.path = path
        self.fast = fast
        self.parser = _Parser(source, path)
        self.vector_line: int | None = None   # line of the open outer [ ... ] (or ( ... )), if any
        self.vector_closer = "]"
        self.position = 0
        self.values = _ValueCache()
        self.keys = _KeyCache()
        self.shapes: dict[str, dict] = {}   # whole map bodies (minus :index and :time) -> fields
        self.heads: dict[str, dict] = {}    # the same, minus a last :value

    def ops(self) -> Iterator[Op]:
        """Every op, in file order.

        The loop below is the hot path for files with one flat map per line.  Jepsen writes ``:index`` and
        ``:time`` first and ``:value`` last; what lies between (``:type :ok, :process 3, :f :read``) repeats
        endlessly, so it is looked up whole in a cache of already-converted field maps (``_fields``), and only
        the two integers and the value are converted per op (values through their own cache).  Other key orders
        go through ``_peeled``, anything unusual through ``_line_ops``.
        """
        if not self.fast:
            yield from self._parser_ops()
            return
        source = self.source
        fields_of = self._fields
        path = self.path
        max_digits = MAX_DIGITS
        for lineno, line in source.numbered:
            s = line.strip(_BLANKS)
            if s[-1:] == "}":
                fields = None
                if s[:8] == "{:index ":
                    index_text, _, rest = s[8:].partition(", ")
                    if rest[:6] == ":time ":
                        time_text, _, rest = rest[6:].partition(", ")
                        digits = index_text + time_text
                        if (digits.isdigit() and digits.isascii() and index_text and time_text
                                and len(digits) <= max_digits):
                            fields = fields_of(rest[:-1])
                            if fields is not None:
                                fields["index"] = int(index_text)
                                fields["time"] = int(time_text)
                    elif index_text.isdigit() and index_text.isascii() and len(index_text) <= max_digits:
                        fields = fields_of(rest[:-1])
                        if fields is not None:
                            fields["index"] = int(index_text)
                elif s[:1] == "{":
                    if ":index " in s or ":time " in s:
                        fields = self._peeled(s)
                    else:
                        fields = fields_of(s[1:-1])
                if fields is not None:
                    try:
                        op = make_op(fields, position=self.position, line=lineno, path=path)
                    except HistoryError:
                        op = op_without_process(fields, self.position, lineno, path, self.notes)
                    self.position += 1
                    yield op
                    continue
            yield from self._line_ops(line, lineno)
        self._check_closed()

    def _parser_ops(self) -> Iterator[Op]:
        """Every op through the complete parser alone (``read_edn(..., fast=False)``)."""
        for lineno, line in self.source.numbered:
            if not _SKIP_LINE.match(line):
                self.parser.load(line, lineno)
                yield from self._slow_ops()
        self._check_closed()

    def _check_closed(self) -> None:
        if self.vector_line is not None:
            closer = self.vector_closer
            raise InputError(f"the file ends inside the {_NAMES[_OPENERS[closer]]} {_OPENERS[closer]} opened here; "
                             f"is the file truncated?", path=self.path, line=self.vector_line,
                             expected=f"a closing {closer}")

    def _fields(self, body: str) -> dict | None:
        """A fresh fields dict for a map body without ``:index``/``:time``, or None for the slower gears.

        When ``:value`` comes last, the rest is the cache key and the value is converted on its own: values
        differ from op to op (a set workload adds a new element each time) while the rest repeats.
        """
        head, sep, value_text = body.rpartition(", :value ")
        if sep and ", " not in value_text:
            shape = self.heads.get(head) or self._shape(head, self.heads, True)
            if shape is None:
                return None
            try:
                value = self.values[value_text]
            except _NotFast:
                return None
            fields = shape.copy()
            fields["value"] = value
            return fields
        shape = self.shapes.get(body) or self._shape(body, self.shapes, False)
        return None if shape is None else shape.copy()

    def _peeled(self, s: str) -> dict | None:
        """Fields of a one-line map with ``:index``/``:time`` somewhere other than first (older Jepsen wrote
        ``{:type .., :f .., :value .., :process .., :time .., :index ..}``): the rest is still a cacheable shape."""
        index = time = None
        rest = []
        for entry in s[1:-1].split(", "):
            if entry[:7] == ":index ":
                if index is not None:
                    return None
                index = entry[7:]
            elif entry[:6] == ":time ":
                if time is not None:
                    return None
                time = entry[6:]
            else:
                rest.append(entry)
        for text in (index, time):
            if text is not None and not (text.isdigit() and text.isascii() and len(text) <= MAX_DIGITS):
                return None
        body = ", ".join(rest)
        shape = self.shapes.get(body) or self._shape(body, self.shapes, False)
        if shape is None:
            return None
        fields = shape.copy()
        if index is not None:
            fields["index"] = int(index)
        if time is not None:
            fields["time"] = int(time)
        return fields

    def _shape(self, body: str, cache: dict[str, dict], without_value: bool) -> dict | None:
        """The fields of a map body written the way Jepsen writes them (``:k v`` joined by ``", "``, atoms,
        plain strings and vectors as values), converted and cached; None if the body needs a real parser, or
        holds a key that was peeled off before (``:index``, ``:time``, and ``:value`` when ``without_value``):
        seeing one again means a repeated key, which the parser reports.

        Splitting on ", " and " " is done in C; a value text that is not exactly one value (a string with
        ", " inside, two values without a comma between them) fails to convert, and the line goes elsewhere.
        """
        if _hot_unsafe(body):
            return None
        entries = body.split(", ")
        try:
            texts = dict(map(str.split, entries, _SPACE, _ONE))
            fields = dict(zip(map(self.keys.__getitem__, texts), map(self.values.__getitem__, texts.values())))
        except (_NotFast, ValueError):
            return None
        if (len(fields) != len(entries) or "index" in fields or "time" in fields
                or (without_value and "value" in fields)):
            return None
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        if len(body) <= 256:
            cache[body] = fields
        return fields

    def _line_ops(self, line: str, lineno: int) -> Iterator[Op]:
        """A line the hot loop did not take: strings, vectors, the outer [ or ], comments, or the parser."""
        parts = _split_line(line)
        if parts is not None:
            op = self._fast_op(parts, lineno)
            if op is not None:
                yield op
                return
        elif _SKIP_LINE.match(line):
            return
        self.parser.load(line, lineno)
        yield from self._slow_ops()

    def _fast_op(self, parts: tuple[str | None, str, str | None], lineno: int) -> Op | None:
        """The op on a line the fast path can take, or None to hand the line to the parser."""
        opened, body, closed = parts
        if opened:
            if self.vector_line is not None or (closed and closed != _CLOSERS[opened]):
                return None
        elif closed and (self.vector_line is None or closed != self.vector_closer):
            return None
        try:
            tokens = _fast_tokens(body)
            if len(tokens) & 1:
                return None
            fields = dict(zip(map(self.keys.__getitem__, tokens[0::2]),
                              map(self.values.__getitem__, tokens[1::2])))
        except _NotFast:
            return None
        if len(fields) * 2 != len(tokens):
            return None  # a repeated key: the parser reports it
        if opened:
            self.vector_line = lineno
            self.vector_closer = _CLOSERS[opened]
        if closed:
            self.vector_line = None
        return self._make(fields, lineno)

    def _make(self, fields: dict, lineno: int) -> Op:
        try:
            op = make_op(fields, position=self.position, line=lineno, path=self.path)
        except HistoryError:
            op = op_without_process(fields, self.position, lineno, self.path, self.notes)
        self.position += 1
        return op

    def _slow_ops(self) -> Iterator[Op]:
        """Parse from the current line until a line ends with no map open."""
        parser = self.parser
        while not parser.at_line_end():
            token = parser.token()
            if token is None:
                return
            kind, text, line = token
            if kind == "open" and text in "[(" and self.vector_line is None:
                self.vector_line = line
                self.vector_closer = _CLOSERS[text]
                continue
            if kind == "close" and text == self.vector_closer and self.vector_line is not None:
                self.vector_line = None
                continue
            value = parser.read(token, top=True)
            if value is NOTHING:
                return
            line = parser.start_line
            yield self._make(_op_fields(value, parser, line), line)


def read_edn(lines: Iterable[bytes | str], path: str | None = None, *, fast: bool = True,
             notes: ReadNotes | None = None) -> Iterator[Op]:
    """Ops from EDN lines (a stream of maps, or one vector of maps), lazily and in order.

    ``fast=False`` reads with the complete parser alone: slower, and exactly the same result (the tests check
    that); useful to rule the fast paths out when something looks wrong.  Ops without ``:process`` are kept
    (process None) and counted in ``notes``.
    """
    return _Reader(LineSource.of(lines, path), path, fast, notes).ops()


def parse_value(text: str, path: str | None = None, line: int | None = None) -> Any:
    """One EDN value from a string (a log line's value column, an ``--init`` literal, a result map); the
    string may span lines and hold comments, but must hold exactly one value."""
    try:
        return _SMALL_VALUES[text]
    except KeyError:
        pass
    source = LineSource(text_lines(text), path, first_line=line or 1)
    parser = _Parser(source, path)
    token = parser.token()
    if token is None:
        raise InputError("no value", path=path, line=line, expected="an EDN value")
    value = parser.read(token)
    extra = parser.token()
    if extra is not None:
        raise parser.error(f"more than one value in {text.strip()[:60]!r}", line=extra[2],
                           expected="a single EDN value")
    if len(text) <= 32 and "{" not in text and "#" not in text and len(_SMALL_VALUES) < _CACHE_LIMIT:
        _SMALL_VALUES[text] = value  # no maps (mutable) inside: safe to hand out again
    return value


_SMALL_VALUES: dict[str, Any] = {}


def parse_prefix(text: str, path: str | None = None, line: int | None = None) -> tuple[Any, str]:
    """The EDN value at the start of a one-line string, and the text after it (a log line's error column)."""
    value = _SMALL_VALUES.get(text, NOTHING)
    if value is not NOTHING:
        return value, ""
    source = LineSource([text], path, first_line=line or 1)
    parser = _Parser(source, path)
    token = parser.token()
    if token is None:
        raise InputError("no value", path=path, line=line, expected="an EDN value")
    value = parser.read(token)
    return value, parser.text[parser.pos:]


def write_edn(ops: Iterable[Op], stream) -> None:
    """Write ops one per line, as Jepsen writes ``history.edn``."""
    write = stream.write
    for op in ops:
        write(format_op(op))
        write("\n")


__all__ = ["read_edn", "parse_value", "parse_prefix", "write_edn", "format_op", "edn"]
