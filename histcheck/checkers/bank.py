"""Jepsen's bank checker: transfers between accounts, reads of every balance; totals must be preserved.

Every ``:ok`` read (``{:f :read, :value {0 10, 1 90}}``) is checked on its own, and the first rule it breaks is
its error (Jepsen's order and names):

* ``unexpected-key``: it shows an account that is not one of the accounts;
* ``nil-balance``: an account's balance is nil;
* ``wrong-total``: the balances do not sum to the total;
* ``negative-value``: a balance is below zero (unless option ``negative-balances=allowed``).

The accounts and the total are options (``accounts=0,1,2``, ``total=100``, elle-cli's ``total-amount``); when not
given they are inferred, as Jepsen does, from the first ``:ok`` read: its accounts, and the sum of its balances.
Results keep Jepsen's keys: ``read-count``, ``error-count``, ``first-error`` and ``errors`` by type with ``count``,
``first``, ``worst``, ``last`` (and ``lowest``/``highest`` for wrong totals).  A history without a completed read
checks nothing: unknown, cause ``no-read``.
"""
from __future__ import annotations

from typing import Any

from ..checker.result import UNKNOWN, Anomaly, Result, op_summary
from ..errors import InputError
from ..history import History, Op
from ..values import show
from .base import BOOLEAN, choice_option, client_invocations, int_option, take_options

LIMIT = 50
NEGATIVE = {"allowed": True, "allow": True, "forbidden": False, "forbid": False, **BOOLEAN}
OPTIONS = ("accounts", "total", "total-amount", "negative-balances", "negative-balances?")


def account(key: Any) -> Any:
    """An account id as the checker compares it: JSON spells ``{"0": 10}`` where EDN has ``{0 10}``."""
    if isinstance(key, str):
        text = str.__str__(key)
        if text.lstrip("-").isdigit():
            return int(text)
        return text
    return key


def balances(op: Op) -> dict[Any, Any]:
    if not isinstance(op.value, dict):
        raise InputError(f"the bank checker needs reads of a map of balances, not {show(op.value)}",
                         line=op.line, expected="a read like {:f :read, :value {0 10, 1 90}}")
    out = {account(k): v for k, v in op.value.items()}
    for k, v in out.items():
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)):
            raise InputError(f"the balance of account {show(k)} in this read is {show(v)}, not a number",
                             line=op.line, expected="balances that are numbers (or nil)")
    return out


class Bank:
    """Jepsen's bank checker, as elle-cli runs it."""

    name = "bank"
    needs_process = False        # reads are judged one by one: no pairing needed

    def check(self, history: History, **options: Any) -> Result:
        take_options(self.name, options, OPTIONS)
        reads = [op for op in history.ops if op.type == "ok" and op.f == "read"
                 and (op.is_client or op.process is None)]
        ops = client_invocations(history)
        if not reads:
            return Result(UNKNOWN, self.name, ops=ops, analyzer=self.name, checker=self.name, cause="no-read",
                          cause_message="no read completed ok, so no balance was seen; run reads of the accounts")
        try:
            first = balances(reads[0])
            accounts, total, notes = self._settings(options, reads[0], first)
            negative_ok = choice_option(self.name, options, "negative-balances", NEGATIVE,
                                        choice_option(self.name, options, "negative-balances?", NEGATIVE, False))
            errors = [e for op in reads if (e := self._error(op, balances(op), accounts, total, negative_ok))]
        except InputError as exc:
            raise exc.located(history.source) from None
        by_type: dict[str, list[dict]] = {}
        for e in errors:
            by_type.setdefault(e["type"], []).append(e)
        details = {"read-count": len(reads), "error-count": len(errors),
                   "first-error": min(errors, key=lambda e: e["op"]["index"]) if errors else None,
                   "errors": {kind: self._summary(errs, total) for kind, errs in by_type.items()},
                   "total": total, "accounts": sorted(accounts, key=repr)}
        anomalies = [Anomaly(e["type"], [e["op"]], {k: v for k, v in e.items() if k != "op"} | {"expected": total})
                     for e in errors[:LIMIT]]
        notes.append(f"{len(reads)} reads checked against total {total} over {len(accounts)} accounts: "
                     f"{len(errors)} errors")
        return Result(not errors, self.name, ops=ops, analyzer=self.name, checker=self.name, notes=notes,
                      anomalies=anomalies, details=details)

    def _settings(self, options: dict, first_op: Op, first: dict) -> tuple[set, Any, list[str]]:
        notes = []
        raw = options.get("accounts")
        if raw is None:
            accounts = set(first)
            notes.append(f"accounts {show(sorted(accounts, key=repr))} inferred from the first read, at index "
                         f"{first_op.index}")
        elif isinstance(raw, str):
            accounts = {account(part.strip()) for part in raw.split(",") if part.strip()}
        else:
            accounts = {account(a) for a in raw}
        total = int_option(self.name, options, "total", int_option(self.name, options, "total-amount"))
        if total is None:
            total = sum(v for v in first.values() if isinstance(v, (int, float)))
            notes.append(f"total {total} inferred from the first read, at index {first_op.index}")
        return accounts, total, notes

    @staticmethod
    def _error(op: Op, values: dict, accounts: set, total: Any, negative_ok: bool) -> dict | None:
        """The first rule the read breaks, as Jepsen words it, or None."""
        summary = op_summary(op)
        unexpected = [k for k in values if k not in accounts]
        if unexpected:
            return {"type": "unexpected-key", "unexpected": unexpected, "op": summary}
        nils = [k for k, v in values.items() if v is None]
        if nils:
            return {"type": "nil-balance", "nils": {k: None for k in nils}, "op": summary}
        read_total = sum(values.values())
        if read_total != total:
            return {"type": "wrong-total", "total": read_total, "op": summary}
        negative = [v for v in values.values() if v < 0]
        if negative and not negative_ok:
            return {"type": "negative-value", "negative": negative,
                    "accounts": [k for k, v in values.items() if v < 0], "op": summary}
        return None

    @staticmethod
    def _summary(errs: list[dict], total: Any) -> dict:
        def badness(e: dict) -> float:
            if e["type"] == "unexpected-key":
                return len(e["unexpected"])
            if e["type"] == "nil-balance":
                return len(e["nils"])
            if e["type"] == "wrong-total":
                return abs((e["total"] - total) / total) if total else 0
            return -sum(e["negative"])
        out = {"count": len(errs), "first": errs[0], "worst": max(errs, key=badness), "last": errs[-1]}
        if errs[0]["type"] == "wrong-total":
            out["lowest"] = min(errs, key=lambda e: e["total"])
            out["highest"] = max(errs, key=lambda e: e["total"])
        return out
