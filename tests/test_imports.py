"""What a command imports: a small check, ``--help`` and ``models`` must not wait for numpy, numba, pandas or
matplotlib.  Each test runs the real command in a fresh interpreter and reads its ``sys.modules`` at exit, so it
fails as soon as any module on the path imports one of them at module level."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "stale-read.edn"
HEAVY = ("numpy", "numba", "llvmlite", "pandas", "matplotlib")

# Runs the click command in-process, then prints which heavy modules were loaded (at exit, whatever the exit code).
PROBE = """
import atexit, json, sys
heavy = {heavy!r}
atexit.register(lambda: print("MODULES=" + json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy))))
sys.argv = ["histcheck"] + {args!r}
from histcheck.cli import main
main()
"""


def loaded(*args: str) -> tuple[list[str], subprocess.CompletedProcess]:
    code = PROBE.format(heavy=HEAVY, args=list(args))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    line = [x for x in proc.stdout.splitlines() if x.startswith("MODULES=")]
    assert line, proc.stdout + proc.stderr
    return json.loads(line[-1].removeprefix("MODULES=")), proc


@pytest.mark.parametrize("args", [["--help"], ["models"], ["analyze", "--help"]])
def test_help_and_models_import_nothing_heavy(args: list[str]) -> None:
    modules, proc = loaded(*args)
    assert proc.returncode == 0, proc.stderr
    assert modules == []


def test_small_analyze_imports_no_numpy_numba_pandas_or_matplotlib() -> None:
    modules, proc = loaded("analyze", str(EXAMPLE))
    assert proc.returncode == 1, proc.stdout + proc.stderr          # the example is invalid: it was checked
    assert "first operation that cannot be linearized" in proc.stdout
    assert modules == []


def test_small_analyze_json_and_batch_import_nothing_heavy(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"h{i}.edn").write_text(EXAMPLE.read_text())
    modules, proc = loaded("analyze", str(tmp_path), "--json")
    assert proc.returncode == 1, proc.stderr
    assert len([x for x in proc.stdout.splitlines() if x.startswith("{")]) == 3
    assert modules == []


def test_a_compositional_failure_is_located_without_numba(corpus: Path) -> None:
    """kv checked as one object: the reference's compositional search fails, and its failure is narrowed to one
    key by the footprints' own searches, all in plain Python."""
    modules, proc = loaded("analyze", str(corpus / "porcupine" / "kv" / "c01-bad.txt"), "--model", "kv",
                           "--init", '""', "--no-partition")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "first operation that cannot be linearized on key" in proc.stdout
    assert modules == []


def test_the_kernel_engine_still_loads_numba() -> None:
    """The probe can see numba when it is there: an explicit ``--engine kernel`` must load it."""
    modules, proc = loaded("analyze", str(EXAMPLE), "--engine", "kernel")
    assert proc.returncode == 1, proc.stderr
    assert "numba" in modules and "numpy" in modules


def test_import_histcheck_is_light() -> None:
    """``import histcheck`` and ``histcheck.History`` load neither the checker nor the formats."""
    code = ("import json, sys, histcheck; histcheck.History; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('histcheck') "
            f"or m.split('.')[0] in {HEAVY!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    modules = json.loads(proc.stdout)
    assert "histcheck.history" in modules
    assert not [m for m in modules if m.split(".")[0] in HEAVY]
    assert "histcheck.checker" not in modules and "histcheck.formats" not in modules


# One fresh process: the order of checks matters, since ``auto`` remembers what the reference has spent.
ENGINE_CHOICE = """
import json, sys, time
import histcheck
from histcheck import checker
from histcheck.history import History, Op

def crashed_writes(n):
    ev = [(p, "invoke", "write", p + 1) for p in range(n)] + [(p, "ok", "write", p + 1) for p in range(n)]
    ev += [(100, "invoke", "read", None), (100, "ok", "read", 999)]
    return History([Op(t, p, f, v, index=i) for i, (p, t, f, v) in enumerate(ev)])

out = {}
small = histcheck.load("examples/stale-read.edn")
out["small"] = [histcheck.check(small).analyzer, "numba" in sys.modules]
t = time.monotonic()
limited = histcheck.check(crashed_writes(22), model="register", init=0, time_limit=0.2)
out["limited"] = [limited.valid, limited.cause, time.monotonic() - t, "numba" in sys.modules]
hard = histcheck.check(crashed_writes(14), model="register", init=0)
out["hard"] = [hard.valid, hard.analyzer, checker._reference_spent]
out["after"] = [histcheck.check(small).analyzer, histcheck.check(small).failure.op["index"]]
print(json.dumps(out))
"""


def test_auto_rents_the_reference_then_buys_the_kernel() -> None:
    proc = subprocess.run([sys.executable, "-c", ENGINE_CHOICE], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    from histcheck.checker import KERNEL_START
    assert out["small"] == ["wgl-reference", False]          # a small history: the reference, no numba
    valid, cause, seconds, numba = out["limited"]
    assert (valid, cause, numba) == ("unknown", "time", False)  # the user's limit ends it, not a kernel start
    assert seconds < 2.0
    valid, analyzer, spent = out["hard"]
    assert valid is False and analyzer == "wgl-kernel"        # too slow for the reference: the kernel decided it
    assert spent >= KERNEL_START * 0.9
    assert out["after"] == ["wgl-kernel", 17]                 # once the kernel runs, it takes every key


def _partitions_of(history, model: str, init, partition: bool = True):
    from histcheck.checker import _partitions
    from histcheck.models import get
    m = get(model).configure(nil_read="auto", init=init)
    return _partitions(history, history.calls(), history.key_style() if partition else None, m)


def test_the_reference_gets_the_kernels_entries(corpus: Path) -> None:
    """``plain_entries`` (no numpy, for the reference) builds exactly ``make_entries``' arrays: same entry order,
    returns, positions, footprints, blind flags and crashed twins, on histories with crashes, ties and keys."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from synthetic import crashed_at_once, generate

    import histcheck
    from histcheck.checker.encode import make_entries, plain_entries
    cases = [(generate(ops=600, keys=3, clients=8, crash_rate=0.05, anomaly=True, seed=s).history, "cas-register", 0,
              True) for s in range(3)]
    cases.append((crashed_at_once(12).history, "cas-register", 0, True))
    cases.append((generate(ops=400, keys=4, clients=6, crash_rate=0.05, workload="register", seed=9).history,
                  "register", 0, True))
    cases.append((histcheck.load(corpus / "porcupine" / "kv" / "c10-bad.txt"), "kv", "", False))
    cases.append((histcheck.load(corpus / "knossos" / "cas-register" / "bad" / "cas-failure.edn"), "cas-register", 0,
                  True))
    fields = ("ent_call", "ent_ret", "ent_pos", "ret_entry", "is_ok", "kind", "foot", "blind", "twin")
    compared = 0
    seen = {"twin": False, "blind": False, "foot": False, "crashed": False}
    for history, model, init, partition in cases:
        for part in _partitions_of(history, model, init, partition):
            kinds_np: dict = {}
            kinds_py: dict = {}
            arrays, plain = make_entries(part, kinds_np), plain_entries(part, kinds_py)
            assert kinds_np == kinds_py and arrays.n_ok == plain.n_ok
            for name in fields:
                assert getattr(arrays, name).tolist() == getattr(plain, name).tolist(), name
            compared += 1
            seen["twin"] |= any(t != -1 for t in plain.twin)
            seen["blind"] |= any(plain.blind)
            seen["foot"] |= any(f != -1 for f in plain.foot)
            seen["crashed"] |= plain.n_ok < len(part.calls)
    assert compared > 10 and all(seen.values()), seen
