"""The Model protocol: what a data type promises, so that a checker can test a history against it.

A model is a sequential specification.  It says, for a state and one operation, either what the next state is or
why the operation cannot happen there ("can't read 3 from register 0").  The checker never looks inside states: it
only asks the model to *step*, and it remembers which (set of linearized operations, state) pairs it has seen.

Why the protocol is shaped this way:

* ``prepare`` turns a recorded operation into an *input*: a small hashable value such as ``("write", 3)``.  Two
  operations with the same input behave the same in every state, so the checker tabulates ``step`` once per
  (state, input) pair and runs the search over integers (the numba kernel), the way Knossos memoises state spaces.
  ``prepare`` is also where a value the model cannot read is rejected, with the line it came from.  It returns
  ``None`` for an operation that can never matter (a crashed read: it observed nothing and changed nothing).
* ``step`` must be a pure function of (state, input), and states must be hashable and compare by value, so that
  equal states reached by different orders are recognised as one.  ``prepare`` too must depend on nothing but the
  call and the model's configuration: the checker remembers both answers (see ``signature``).
* ``describe`` renders a state for people, in the model's own words.

Writing your own model: subclass ``Model``, set ``name`` and ``operations``, implement ``init_state``, ``prepare``
and ``step``; pass an instance to ``histcheck.check(history, model=MyModel())``.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable

from ..errors import HistoryError
from ..history import Call
from ..values import freeze, show


class Inconsistent:
    """The answer of ``step`` when an operation cannot be applied: carries the reason, for people.

    The reason is a template and its values, rendered only when someone reads it: the checker builds millions of
    these while tabulating a model and reads almost none.
    """

    __slots__ = ("template", "values")

    def __init__(self, template: str, *values: Any) -> None:
        self.template = template
        self.values = values

    @property
    def reason(self) -> str:
        if not self.values:
            return self.template
        return self.template.format(*(show(v) for v in self.values))

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"Inconsistent({self.reason!r})"


class Sentinel:
    """A unique marker value (one per name) that stays itself through pickling, for states and inputs such as
    "a value nobody knows"."""

    _named: dict[str, "Sentinel"] = {}
    __slots__ = ("name",)

    def __new__(cls, name: str) -> "Sentinel":
        existing = cls._named.get(name)
        if existing is None:
            existing = super().__new__(cls)
            existing.name = name
            cls._named[name] = existing
        return existing

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self):
        return (Sentinel, (self.name,))


#: A read whose value is unknown matches every state (Knossos's reading of ``nil``).
ANYTHING = Sentinel("?")


class Model:
    """Base class for sequential specifications.  See the module docstring for the contract."""

    name: str = "model"
    #: operation name -> one line on what it does and what its value means
    operations: dict[str, str] = {}
    #: the initial value used when none is given
    default_init: Any = None
    #: how to read a nil read value: "absent" (the key has no value) or "unknown" (the read's value was lost)
    nil_read: str = "unknown"

    def init_state(self, init: Any) -> Hashable:
        """The state before any operation, from the user's initial value (an EDN literal already parsed)."""
        return freeze(init)

    def prepare(self, call: Call) -> Hashable | None:
        """Turn a call into a hashable input for ``step``, or None when it cannot affect the verdict."""
        raise NotImplementedError

    def prepare_calls(self, calls: list[Call]) -> list[Hashable | None]:
        """``prepare`` of each call, in order.  A model whose inputs depend only on a call's operation, status and
        value may answer each distinct one once (``Register`` does: a history repeats ``write 3`` hundreds of
        times), which also makes equal inputs one object."""
        return list(map(self.prepare, calls))

    def step(self, state: Hashable, op: Hashable) -> Hashable | Inconsistent:
        """Apply input ``op`` to ``state``: the next state, or ``Inconsistent(reason)``."""
        raise NotImplementedError

    def describe(self, state: Hashable) -> str:
        """A short rendering of a state for explanations."""
        return show(state)

    def describe_op(self, op: Hashable) -> str:
        """A short rendering of an input (``write 3``)."""
        if isinstance(op, tuple) and op and isinstance(op[0], str):
            return " ".join([op[0]] + [("?" if v is ANYTHING else show(v)) for v in op[1:]])
        return show(op)

    def abstraction(self, inputs: list[Hashable]) -> Callable[[Hashable], Hashable] | None:
        """Optionally, a map that merges states no input in ``inputs`` can tell apart.

        The search remembers (linearized set, state); merging states that behave identically under every
        remaining input shrinks that memo without changing any answer.  The string register is the case that
        needs it: a string that is not a prefix of anything a ``get`` returns can never be read again, so all such
        strings are one state.  Return None (the default) to keep states as they are.
        """
        return None

    def useless_if_crashed(self, inputs: list[Hashable]) -> Callable[[Hashable], bool] | None:
        """Optionally, a test for crashed inputs that can never help a linearization, so the search may drop them.

        A crashed operation may take effect or not; when taking effect can only lead to states in which nothing
        more is possible than without it, "not at all" is always at least as good.  For a register, a crashed
        write of a value nobody ever reads is such an operation: thirty of them crashed at once would otherwise
        cost the search 2^30 subsets.
        """
        return None

    def blind(self, op: Hashable) -> bool:
        """True when ``op`` always succeeds and its result does not depend on the state (a plain write).

        Crashed calls applied just before a blind call are overwritten before anything could observe them, so
        the search never needs to apply them there; with thirty writes crashed at once this is the difference
        between a few thousand configurations and 2^30.
        """
        return False

    def footprint(self, op: Hashable) -> Hashable | None:
        """The part of the state ``op`` touches, or None for all of it.

        Operations with different footprints commute, and neither can make the other fail; and an operation's
        outcome depends only on its footprint's part of the state.  When every input has a footprint, the search
        keeps a state per footprint (each reached by that footprint's operations alone), tries only the
        operations on the footprint of the next one that must complete, and remembers each dead end by one
        footprint's part alone (Herlihy and Wing's locality): a kv history checked as one object then costs about
        the sum of its keys checked one by one, not their product.  Models with a single object keep the
        default; one input without a footprint (None) turns all of this off for its history.
        """
        return None

    def is_pure(self, op: Hashable) -> bool:
        """True when ``op`` never changes the state (used to drop crashed reads)."""
        return False

    def signature(self) -> Hashable | None:
        """A value equal for models that behave alike (the same class, configured alike), or None when the
        configuration cannot be compared (an attribute that is not hashable).  The checker remembers per signature
        what a model worked out (its steps, a history's prepared inputs, a tabulated state space); that is sound
        because ``prepare`` and ``step`` are pure functions of their arguments and the configuration."""
        try:
            return (type(self), frozenset(vars(self).items()))
        except TypeError:
            return None

    def configure(self, *, nil_read: str | None = None, init: Any = None) -> "Model":
        """Return a model configured for one check (nil-read semantics resolved against the initial value)."""
        if nil_read not in (None, "auto", "absent", "unknown"):
            raise HistoryError(f"unknown nil-read mode {nil_read!r}", expected="auto, absent or unknown")
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        if nil_read in (None, "auto"):
            clone.nil_read = "absent" if init is None and self.default_init is None else "unknown"
        else:
            clone.nil_read = nil_read
        return clone

    # helpers for subclasses ------------------------------------------------------------------------------
    def reject(self, call: Call, what: str, expected: str) -> HistoryError:
        """An error for a value this model cannot read, pointing at the line it came from."""
        op = call.complete if call.complete is not None else call.invoke
        return HistoryError(f"{self.name} cannot read {what} of process {call.process}'s {call.f} "
                            f"(index {op.index})", line=op.line, expected=expected)

    def read_value(self, value: Any) -> Any:
        """A read's observed value: nil means 'unknown' or 'absent' depending on ``nil_read``."""
        if value is None and self.nil_read == "unknown":
            return ANYTHING
        return value

    def __repr__(self) -> str:
        return f"<model {self.name}>"
