"""``--nemesis membership``: remove a member and add it back as a new one (see ``nemesis.process``)."""
from .process import Membership as NEMESIS  # noqa: F401
