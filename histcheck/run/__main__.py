"""``python -m histcheck.run``: the ``histcheck run`` command, callable without the top-level CLI."""
from __future__ import annotations

from .command import run

if __name__ == "__main__":
    run(prog_name="histcheck run")
