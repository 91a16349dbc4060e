"""``--nemesis pause[:TARGET]``: SIGSTOP and SIGCONT (see ``nemesis.process``)."""
from .process import Pause as NEMESIS  # noqa: F401
