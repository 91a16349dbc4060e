"""``{name}`` templates of system files: str.format's syntax, with every field name checked before anything runs.

A system file's commands, files, probes and client options are written with Python's format syntax
(``--data-dir {data_dir}``, ``{port[client]}``, ``{peer.address}``).  ``check`` walks a template's fields with
``string.Formatter().parse`` and compares each against a ``Schema`` (the names a context will hold, and for a
name with parts, which attributes or keys it has), so ``{nodename}`` or ``{port[clinet]}`` is refused when the
file is read, not when a node starts half-way through a run.  ``render`` then formats with real values; a
template that is exactly one field keeps its value's type (``"{port[client]}"`` gives an int), which is what a
client's keyword options need.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any, Mapping

_FORMATTER = string.Formatter()
_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[([^\]]+)\]")


class TemplateError(ValueError):
    """A template that names a field the context will not have, or is not valid format syntax (``field``: the
    offending field as written, when there is one)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Schema:
    """What a context holds: ``names`` maps a field to None (a plain value) or to a nested Schema / key set."""

    names: Mapping[str, "Schema | frozenset[str] | None"]

    def describe(self) -> str:
        out = []
        for name, inner in self.names.items():
            if isinstance(inner, frozenset):
                out.append(f"{name}[{'|'.join(sorted(inner))}]")
            elif isinstance(inner, Schema):
                out.append(f"{name}.({', '.join(inner.names)})")
            else:
                out.append(name)
        return ", ".join(out)


def fields(template: str) -> list[str]:
    """The field names a template uses (``port[client]``, ``peer.address``), in order."""
    try:
        return [name for _, name, _, _ in _FORMATTER.parse(template) if name is not None]
    except ValueError as exc:
        raise TemplateError(f"{template!r} is not a valid template ({exc}; write {{{{ and }}}} for braces)")


def check(template: str, schema: Schema) -> None:
    """Raise TemplateError naming the first field of ``template`` that ``schema`` does not have."""
    for field in fields(template):
        try:
            _check_field(field, schema)
        except TemplateError as exc:
            exc.field = field
            raise


def _check_field(field: str, schema: Schema) -> None:
    if field == "" or field.isdigit():
        raise TemplateError(f"positional field {{{field}}} in a template: every field needs a name "
                            f"(one of {schema.describe()})")
    root = re.match(r"[^.\[]*", field).group(0)
    if root not in schema.names:
        raise TemplateError(f"unknown template field {{{field}}} (known: {schema.describe()})")
    rest = field[len(root):]
    inner: Any = schema.names[root]
    pos = 0
    while pos < len(rest):
        m = _PART.match(rest, pos)
        if m is None:
            raise TemplateError(f"template field {{{field}}} is malformed")
        attr, key = m.group(1), m.group(2)
        if attr is not None:
            if not isinstance(inner, Schema) or attr not in inner.names:
                known = inner.describe() if isinstance(inner, Schema) else "no attributes"
                raise TemplateError(f"unknown template field {{{field}}}: .{attr} is not one of {known}")
            inner = inner.names[attr]
        else:
            if not isinstance(inner, frozenset) or key not in inner:
                known = ", ".join(sorted(inner)) if isinstance(inner, frozenset) else "no keys"
                raise TemplateError(f"unknown template field {{{field}}}: [{key}] is not one of {known}")
            inner = None
        pos = m.end()
    if isinstance(inner, (Schema, frozenset)):
        raise TemplateError(f"template field {{{field}}} needs a part: {root} has "
                            + (f"keys {', '.join(sorted(inner))}" if isinstance(inner, frozenset)
                               else f"attributes {inner.describe()}"))


def render(template: str, context: Mapping[str, Any]) -> Any:
    """Format ``template``; a template that is one field alone returns that field's value unchanged."""
    parsed = list(_FORMATTER.parse(template))
    if len(parsed) == 1 and parsed[0][0] == "" and parsed[0][1] and not parsed[0][2] and not parsed[0][3]:
        value, _ = _FORMATTER.get_field(parsed[0][1], (), context)
        return value
    return _FORMATTER.vformat(template, (), context)


def render_text(template: str, context: Mapping[str, Any]) -> str:
    """Format ``template`` as text (commands, files, URLs)."""
    return _FORMATTER.vformat(template, (), context)


def render_tree(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string in a nested structure of dicts and lists (client options, JSON bodies)."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, list):
        return [render_tree(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render_tree(v, context) for k, v in value.items()}
    return value


def check_tree(value: Any, schema: Schema) -> list[tuple[str, TemplateError]]:
    """Check every string of a nested structure; returns (dotted path, error) for the bad ones."""
    bad: list[tuple[str, TemplateError]] = []

    def walk(v: Any, path: str) -> None:
        if isinstance(v, str):
            try:
                check(v, schema)
            except TemplateError as exc:
                bad.append((path, exc))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                walk(item, path)
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(item, f"{path}.{k}" if path else k)
    walk(value, "")
    return bad
