"""``--nemesis stop-all``: the whole cluster stopped and restarted on its data (see ``nemesis.process``)."""
from .process import StopAll as NEMESIS  # noqa: F401
