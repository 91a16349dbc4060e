"""The workloads' own checkers and the generator, on small histories written by hand (no cluster needed)."""
from __future__ import annotations

import os

from histcheck.checkers import check
from histcheck.history import history_from_dicts
from histcheck.run.generator import Generator
from histcheck.run.net import cut_pairs
from histcheck.run.store import Journal, Store
from histcheck.workloads.append import check_append
from histcheck.workloads.register import Register


def check_set(history):
    return check(history, "set")


def check_counter(history):
    return check(history, "counter")


def check_bank(history, accounts: int, total: int):
    return check(history, "bank", accounts=list(range(accounts)), total=total)


def h(*ops: tuple) -> object:
    return history_from_dicts([{"type": t, "process": p, "f": f, "value": v} for t, p, f, v in ops])


def test_set_checker_finds_a_lost_add_and_accepts_a_recovered_one() -> None:
    ok = h(("invoke", 0, "add", 1), ("ok", 0, "add", 1), ("invoke", 1, "add", 2), ("info", 1, "add", 2),
           ("invoke", 2, "read", None), ("ok", 2, "read", [1, 2]))
    assert check_set(ok).valid is True
    lost = h(("invoke", 0, "add", 1), ("ok", 0, "add", 1), ("invoke", 2, "read", None), ("ok", 2, "read", []))
    assert check_set(lost).valid is False
    assert "lost 1" in check_set(lost).notes[0]


def test_counter_checker_bounds_reads() -> None:
    fine = h(("invoke", 0, "add", 2), ("ok", 0, "add", 2), ("invoke", 1, "read", None), ("ok", 1, "read", 2))
    assert check_counter(fine).valid is True
    too_high = h(("invoke", 0, "add", 2), ("ok", 0, "add", 2), ("invoke", 1, "read", None), ("ok", 1, "read", 5))
    assert check_counter(too_high).valid is False
    too_low = h(("invoke", 0, "add", 2), ("ok", 0, "add", 2), ("invoke", 1, "read", None), ("ok", 1, "read", 0))
    assert check_counter(too_low).valid is False


def test_bank_checker_wants_the_total() -> None:
    good = h(("invoke", 0, "read", None), ("ok", 0, "read", {0: 60, 1: 40}))
    assert check_bank(good, 2, 100).valid is True
    bad = h(("invoke", 0, "read", None), ("ok", 0, "read", {0: 60, 1: 41}))
    assert check_bank(bad, 2, 100).valid is False


def test_append_checker_wants_one_order_and_no_lost_append() -> None:
    good = h(("invoke", 0, "append", (0, 1)), ("ok", 0, "append", (0, 1)), ("invoke", 1, "read", (0, None)),
             ("ok", 1, "read", (0, [1])))
    assert check_append(good).valid is True
    lost = h(("invoke", 0, "append", (0, 1)), ("ok", 0, "append", (0, 1)), ("invoke", 1, "read", (0, None)),
             ("ok", 1, "read", (0, [])))
    assert check_append(lost).valid is False
    forked = h(("invoke", 0, "append", (0, 1)), ("ok", 0, "append", (0, 1)), ("invoke", 1, "append", (0, 2)),
               ("ok", 1, "append", (0, 2)), ("invoke", 2, "read", (0, None)), ("ok", 2, "read", (0, [1, 2])),
               ("invoke", 3, "read", (0, None)), ("ok", 3, "read", (0, [2, 1])))
    assert check_append(forked).valid is False


def test_generator_is_reproducible_from_its_seed() -> None:
    def ops(seed: int) -> list:
        gen = Generator(Register(), concurrency=3, rate=0, time_limit=5, seed=seed)
        gen.start()
        return [gen.next(w) for w in (0, 1, 2) for _ in range(20)]
    assert ops(5) == ops(5)
    assert ops(5) != ops(6)


def test_rate_limit_spaces_invocations() -> None:
    import time
    gen = Generator(Register(), concurrency=1, rate=200, time_limit=5, seed=1)
    gen.start()
    start = time.monotonic()
    for _ in range(41):
        gen.next(0)
    assert 0.18 < time.monotonic() - start < 1.0


def test_partition_cuts_only_links_between_groups() -> None:
    pairs = cut_pairs([["n1"], ["n2", "n3", "clients"]], ["n1", "n2", "n3", "clients"])
    assert pairs == {frozenset(p) for p in (("n1", "n2"), ("n1", "n3"), ("n1", "clients"))}
    assert cut_pairs([["n1"], ["n2"]], ["n1", "n2", "n3", "clients"]) == {frozenset(("n1", "n2"))}


def test_journal_writes_every_op_as_it_happens(tmp_path) -> None:
    store = Store(str(tmp_path), "t")
    journal = Journal(store)
    journal.record("invoke", 0, "write", 3)
    text = open(store.file("history.edn")).read()  # visible before close: flushed per op
    assert text.startswith("{:index 0, :time ") and ":type :invoke, :process 0, :f :write, :value 3}" in text
    journal.record("ok", 0, "write", 3)
    journal.record("info", "nemesis", "start", None, error="boom")
    journal.close()
    lines = open(store.file("history.jsonl")).read().splitlines()
    assert len(lines) == 3 and '"error": "boom"' in lines[2]
    assert os.path.realpath(tmp_path / "latest") == store.path
