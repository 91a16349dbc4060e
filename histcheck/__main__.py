"""The ``histcheck`` command's entry point (also ``python -m histcheck``).

It exists so that Ctrl-C keeps the exit-code contract at every moment: even while the command line and its
libraries are still being imported, an interrupt is ``unknown (interrupted)``, exit 2, and never a traceback.
Only the interpreter's own start-up comes before this module.
"""
from __future__ import annotations

import sys


def main() -> None:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("histcheck: unknown (interrupted)\n")
        sys.exit(2)
    cli_main()


if __name__ == "__main__":
    main()
