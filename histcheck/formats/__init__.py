"""Reading and writing histories (filled in below as the readers land)."""
from __future__ import annotations

from .ednwrite import format_op
from .jsonwrite import format_op_json

__all__ = ["format_op", "format_op_json"]
