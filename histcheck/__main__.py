"""The ``histcheck`` command's entry point (also ``python -m histcheck``).

It exists so that Ctrl-C keeps the exit-code contract at every moment: while the command line and its libraries
are still being imported, an interrupt is answered here -- ``unknown (interrupted)``, exit 2, never a traceback --
once the command runs, ``cli`` turns interrupts back into ``KeyboardInterrupt`` and answers them itself (an
interrupted check is unknown too); and once the answer is out, interrupts are ignored while the process exits.
Only the interpreter's own start-up comes before this module.
"""
from __future__ import annotations

import os
import signal
import threading


def _interrupted_early(signum, frame) -> None:
    """Nothing has been decided or written yet: say so and leave at once."""
    os.write(2, b"histcheck: unknown (interrupted)\n")
    os._exit(2)


_IN_MAIN = threading.current_thread() is threading.main_thread()
if _IN_MAIN and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_early)


def main() -> None:
    from .cli import main as cli_main
    try:
        cli_main()
    finally:
        # The answer is out.  A Ctrl-C now, while the interpreter waits for threads and shuts down, would print
        # a traceback or kill the process by the signal: nothing is left to interrupt, so it is ignored.
        if _IN_MAIN:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
