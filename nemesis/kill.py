"""``--nemesis kill[:TARGET]``: kill -9 and restart (see ``nemesis.process``)."""
from .process import Kill as NEMESIS  # noqa: F401
