"""``bank``: transfers between accounts in one transaction, reads of every account; the total must not change.

Accounts ``0..n-1`` start with ``total / n`` each.  A ``transfer`` (``{:from 1, :to 3, :amount 4}``) reads both
accounts and writes both in one compare-and-set transaction (``:fail`` when it raced or funds were short); a
``read`` returns every balance from one snapshot.  Jepsen's bank checker: every ok read shows only the accounts, no
nil or negative balance, and the configured total (``histcheck.checkers.bank``).
"""
from __future__ import annotations

import random
from typing import Any

from histcheck.values import Keyword

from .base import Completion, Workload

FROM, TO, AMOUNT = Keyword("from"), Keyword("to"), Keyword("amount")


class Bank(Workload):
    name = "bank"
    checker_name = "bank"
    checker = "bank (Jepsen's bank checker: totals preserved, no negative balances)"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.accounts = int(self.options.get("accounts", 5))
        self.total = int(self.options.get("total", 100))

    def key(self, account: int) -> str:
        return f"{self.prefix}/bank/{account}"

    def setup(self, client: Any) -> None:
        share = self.total // self.accounts
        balances = [share] * self.accounts
        balances[0] += self.total - share * self.accounts
        keys = [self.key(a) for a in range(self.accounts)]
        client.multi_cas({k: None for k in keys}, {k: str(b) for k, b in zip(keys, balances)})

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        if rng.random() < 0.4:
            return "read", None
        src, dst = rng.sample(range(self.accounts), 2)
        return "transfer", {FROM: src, TO: dst, AMOUNT: rng.randint(1, 5)}

    def invoke(self, client: Any, f: str, value: Any) -> Completion:
        if f == "read":
            raw = client.read_many([self.key(a) for a in range(self.accounts)])
            return "ok", {a: (int(raw[self.key(a)]) if raw[self.key(a)] is not None else None)
                          for a in range(self.accounts)}
        src, dst, amount = self.key(value[FROM]), self.key(value[TO]), value[AMOUNT]
        now = client.read_many([src, dst])
        if now[src] is None or now[dst] is None or int(now[src]) < amount:
            return "fail", value
        puts = {src: str(int(now[src]) - amount), dst: str(int(now[dst]) + amount)}
        return ("ok" if client.multi_cas(now, puts) else "fail"), value

    def final_ops(self) -> list[tuple[str, Any]]:
        return [("read", None)]

    def checker_options(self) -> dict[str, Any]:
        return {"accounts": list(range(self.accounts)), "total": self.total}

