"""A seeded fuzzer over the corpus: whatever the input, ``histcheck analyze`` keeps its exit-code contract.

Each case mutates a real history (from ../shared/corpus, or one simulated in input_histories) or an option value,
runs the whole CLI in-process (click's CliRunner) and asserts:

* the exit code is 0, 1 or 2 only for inputs that are still histories -- and, where the mutation keeps the
  meaning (line ends, gzip, a byte order mark, blank lines, standard input), the original's code;
* otherwise 254, with a message naming the file (or the option) and a line;
* never 255, never a traceback, never longer than --time-limit plus a few seconds.

Pipes, FIFOs, /dev/stdin, process substitution and SIGINT need a real process: a few subprocess cases at the end.
``HISTCHECK_FUZZ_SEED`` and ``HISTCHECK_FUZZ_FILES`` widen a run by hand; the suite's run takes seconds.
"""
from __future__ import annotations

import gzip
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CORPUS, corpus_rows
from histcheck.cli import main
from input_histories import register_history, variant_bytes

SEED = int(os.environ.get("HISTCHECK_FUZZ_SEED", "20261203"))
FILES = int(os.environ.get("HISTCHECK_FUZZ_FILES", "4"))
TIME_LIMIT = 3.0
SLACK = 5.0
FORMATS = ["edn", "json", "jsonl", "jepsen-log", "jepsen-txt", "porcupine-kv"]
CLI = [sys.executable, "-m", "histcheck"]


# -- the cases -------------------------------------------------------------------------------------------------

def _bases() -> list[tuple[str, bytes, list[str]]]:
    """(name, bytes, model options): a seeded sample of small corpus files, plus simulated ones."""
    rng = random.Random(SEED)
    rows = [r for r in corpus_rows() if (CORPUS / r["path"]).stat().st_size < 20_000]
    rng.shuffle(rows)
    picked = []
    for row in rows:
        if row["format"] in {r["format"] for r in picked} and len(picked) < 3:
            continue
        picked.append(row)
        if len(picked) >= FILES:
            break
    bases = []
    for row in picked:
        options = ["--model", row["model"]] + (["--init", row["init"]] if row["init"] else [])
        bases.append((row["path"], (CORPUS / row["path"]).read_bytes(), options))
    ops = register_history(400, seed=SEED % 1000)
    for variant in ("history.txt", "log-nanos-stamp", "json", "jsonl-string-processes"):
        bases.append((f"simulated.{variant}", variant_bytes(ops, variant), ["--model", "cas-register", "--init", "0"]))
    return bases


def _same_meaning(rng: random.Random, data: bytes) -> dict[str, bytes]:
    """Mutations that leave the history as it was."""
    return {"crlf": data.replace(b"\n", b"\r\n"), "cr": data.replace(b"\n", b"\r"),
            "gzip": gzip.compress(data, mtime=0), "bom": b"\xef\xbb\xbf" + data,
            "blank lines": data + b"\n\n  \n"}


def _damaging(rng: random.Random, data: bytes) -> dict[str, bytes]:
    """Mutations after which the input may or may not still be a history."""
    n = len(data)
    at = rng.randrange(max(1, n))
    cut = rng.randrange(max(1, n))
    span = rng.randrange(1, 200)
    numbers = [m.span() for m in re.finditer(rb"\b\d+\b", data)]
    values = [m.span() for m in re.finditer(rb"\bnil\b|\b\d+\b", data)]
    lines = data.splitlines(keepends=True)
    out = {
        "truncated": data[:cut],
        "byte flip": data[:at] + bytes([rng.randrange(256)]) + data[at + 1:],
        "deletion": data[:at] + data[at + span:],
        "insertion": data[:at] + bytes(rng.randrange(256) for _ in range(span)) + data[at:],
        "utf-16": data.decode("utf-8", "replace").encode("utf-16"),
        "cp1252": ("\u00e9" + data.decode("utf-8", "replace")).encode("cp1252", "replace"),
        "doubled line": b"".join(lines[:1] + lines) if lines else data,
    }
    for k in range(3):
        out[f"edits {k}"] = _edits(rng, data)
    if values:
        start, end = values[rng.randrange(len(values))]
        out["nesting"] = data[:start] + b"[" * 100_000 + b"]" * 100_000 + data[end:]
    if numbers:
        start, end = numbers[rng.randrange(len(numbers))]
        out["huge number"] = data[:start] + b"7" * 5_000 + data[end:]
    return out


FRAGMENTS = [b"{", b"}", b"[", b"]", b"#_", b"#{", b'"', b"\\", b":", b"\n", b"\r", b"nil", b"-1", b"1e999", b"##NaN",
             b":process", b"\t", b"jepsen.util - 1\t:ok\t:read\t", b"\\u0000", b"\\ud800", b"#inst", b"(", b")",
             b"9" * 50, b'{"type": "ok"', b"[ 12 ] 3\t"]


def _edits(rng: random.Random, data: bytes) -> bytes:
    """A few random edits: byte changes, cuts, syntax fragments, copies of other parts of the file."""
    d = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        if not d:
            break
        at = rng.randrange(len(d))
        kind = rng.randrange(4)
        if kind == 0:
            d[at] = rng.randrange(256)
        elif kind == 1:
            del d[at:at + rng.randrange(1, 30)]
        elif kind == 2:
            d[at:at] = rng.choice(FRAGMENTS)
        else:
            d[at:at] = d[rng.randrange(len(d)):][:rng.randrange(1, 80)]
    return bytes(d)


BAD_OPTIONS = [
    (["--init", "{:x"], "--init"), (["--init", "1" * 5000], "--init"), (["--init", "[" * 100_000], "--init"),
    (["--init", '"open'], "--init"), (["--init", "#{"], "--init"), (["--init", '"\\ud800"'], "--init"),
    (["--init", ""], "--init"), (["--init", "1 2"], "--init"),
    (["--time-limit", "nan"], "--time-limit"), (["--time-limit", "inf"], "--time-limit"),
    (["--time-limit", "-1"], "--time-limit"), (["--time-limit", "soon"], "--time-limit"),
    (["--memory-limit", "0"], "--memory-limit"), (["--memory-limit", "lots"], "--memory-limit"),
    (["--format", "yaml"], "--format"), (["--out", "/dev/null/sub"], "--out"), (["--model", "nope"], "--model"),
]


# -- running and the contract ----------------------------------------------------------------------------------

def analyze(target: str, options: list[str], data: bytes | None = None) -> tuple[int, str, float]:
    started = time.monotonic()
    out = CliRunner().invoke(main, ["analyze", target, "--time-limit", str(TIME_LIMIT), *options], input=data)
    return out.exit_code, out.output, time.monotonic() - started


def oracle_count(fmt: str, data: bytes) -> int | None:
    """How many op maps an independent parser finds (edn_format for EDN, the json module for JSON), or None
    when it refuses the text; formats it cannot judge give -1.  Clojure's reader (Java's isWhitespace) takes
    the control characters 0x0b, 0x0c and 0x1c-0x1f outside strings as whitespace, as histcheck does, while
    edn_format refuses them: they are turned into spaces for it (outside strings is all a flip can reach
    without also breaking a string, which both then refuse)."""
    from collections.abc import Mapping
    import json
    import edn_format
    try:
        text = data.decode("utf-8-sig")
        if fmt in ("edn", "porcupine-kv"):
            text = text.translate(_CLOJURE_WHITESPACE)
            return sum(1 if isinstance(v, Mapping) else len(list(v)) for v in edn_format.loads_all(text))
        if fmt == "jsonl":
            return len([json.loads(line) for line in text.splitlines() if line.strip()])
        if fmt == "json":
            return len(json.loads(text))
    except Exception:  # noqa: BLE001 - any refusal by the oracle
        return None
    return -1


_CLOJURE_WHITESPACE = {c: " " for c in (0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x1F)}


def assert_still_a_history(path: Path, data: bytes, code: int, what: str) -> None:
    """An accepted mutation must be text an independent parser reads as the same number of ops."""
    if code == 254:
        return
    from histcheck import formats
    history = formats.load(path)
    expected = oracle_count(history.format, data)
    if expected != -1:
        assert expected == len(history), f"{what}: accepted as {len(history)} ops, the oracle reads {expected}"


def assert_contract(code: int, output: str, seconds: float, name: str, what: str) -> None:
    assert code in (0, 1, 2, 254), f"{what}: exit {code}\n{output}"
    assert "Traceback" not in output and "internal error" not in output, f"{what}\n{output}"
    assert seconds < TIME_LIMIT + SLACK, f"{what}: {seconds:.1f} s"
    if code == 254:
        assert name in output, f"{what}: the message does not name {name}\n{output}"
        assert re.search(r"line \d+", output), f"{what}: the message names no line\n{output}"


BASES = _bases()


@pytest.mark.parametrize("base", BASES, ids=[b[0] for b in BASES])
def test_mutated_corpus_files_keep_the_contract(tmp_path: Path, base: tuple[str, bytes, list[str]]) -> None:
    name, data, options = base
    rng = random.Random(f"{SEED}:{name}")
    original = tmp_path / Path(name).name
    original.write_bytes(data)
    code, output, seconds = analyze(str(original), options)
    assert code in (0, 1, 2), output
    for label, mutated in _same_meaning(rng, data).items():
        path = tmp_path / f"same-{label.replace(' ', '-')}"
        path.write_bytes(mutated)
        result = analyze(str(path), options)
        assert_contract(*result, str(path), f"{name} {label}")
        if code != 2 and result[0] != 2:
            assert result[0] == code, f"{name} {label}: exit {result[0]}, the original gave {code}\n{result[1]}"
    result = analyze("-", options, data)
    assert_contract(*result, "<stdin>", f"{name} on standard input")
    if code != 2 and result[0] != 2:
        assert result[0] == code
    for label, mutated in _damaging(rng, data).items():
        path = tmp_path / f"bad-{label.replace(' ', '-')}"
        path.write_bytes(mutated)
        result = analyze(str(path), options)
        assert_contract(*result, str(path), f"{name} {label}")
        assert_still_a_history(path, mutated, result[0], f"{name} {label}")
    compressed = gzip.compress(data, mtime=0)
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[: rng.randrange(1, len(compressed) - 8)])   # short of gzip's 8-byte trailer
    result = analyze(str(path), options)
    assert_contract(*result, str(path), f"{name} truncated gzip")
    assert result[0] == 254, f"{name}: a truncated gzip is not a whole history\n{result[1]}"
    for fmt in FORMATS:
        assert_contract(*analyze(str(original), options + ["--format", fmt]), str(original),
                        f"{name} --format {fmt}")


@pytest.mark.parametrize("option, named", BAD_OPTIONS, ids=[" ".join(o)[:30] for o, _ in BAD_OPTIONS])
def test_bad_option_values_name_the_option(tmp_path: Path, option: list[str], named: str) -> None:
    path = tmp_path / "h.txt"
    path.write_bytes(variant_bytes(register_history(60), "history.txt"))
    out = CliRunner().invoke(main, ["analyze", str(path), "--model", "cas-register", *option])
    assert out.exit_code == 254, out.output
    assert named in out.output and "Traceback" not in out.output


@pytest.mark.parametrize("text", ["", "\n\n", "   \n"])
def test_empty_input_is_an_empty_history(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.edn"
    path.write_text(text)
    assert CliRunner().invoke(main, ["analyze", str(path), "--model", "cas-register"]).exit_code == 0


def test_input_with_no_operation_is_refused(tmp_path: Path) -> None:
    cases = {"notes.txt": ("hello\nworld\n", []), "h.edn": ("{:type :invoke, :process 0, :f :read, :value nil}\n",
                                                                ["--format", "jepsen-log"]),
             "n.jsonl": ('{"type": "info", "process": "worker-1", "f": "start", "value": null}\n', [])}
    for name, (text, extra) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        out = CliRunner().invoke(main, ["analyze", str(path), "--model", "cas-register", *extra])
        assert out.exit_code == 254, out.output
        assert f"{path}, line 1" in out.output
        assert any(why in out.output for why in ("no operations found", "no client operations", "cannot tell",
                                                 "an EDN operation among the lines of a Jepsen log"))


def test_only_nemesis_events_is_a_history_with_nothing_to_check(tmp_path: Path) -> None:
    """As Knossos counts it (its mongodb-v0-ack-rollback- example is such a history, and linearizable)."""
    path = tmp_path / "n.edn"
    path.write_text("{:type :info, :process :nemesis, :f :start, :value nil}\n" * 3)
    out = CliRunner().invoke(main, ["analyze", str(path), "--model", "cas-register"])
    assert out.exit_code == 0 and "no client operations: all 3 events are the nemesis's" in out.output


def test_unbounded_and_unreadable_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from histcheck.formats import lines
    monkeypatch.setattr(lines, "MAX_LINE_BYTES", 1 << 20)
    for target in ("/dev/zero", "/proc/self/mem"):
        code, output, seconds = analyze(target, ["--model", "cas-register"])
        assert_contract(code, output, seconds, target, target)
        assert code == 254
    code, output, _ = analyze(str(tmp_path), ["--model", "cas-register"])
    assert code == 254 and str(tmp_path) in output


def test_index_order_disagreements(tmp_path: Path) -> None:
    ok = "{:index %d, :time %d, :type :%s, :process 0, :f :write, :value 1}\n"
    path = tmp_path / "h.edn"
    path.write_text(ok % (0, 10, "invoke") + ok % (0, 20, "ok"))
    out = CliRunner().invoke(main, ["analyze", str(path), "--model", "cas-register"])
    assert out.exit_code == 0 and "repeat an :index already used, the first at line 2" in out.output
    path.write_text(ok % (5, 10, "invoke") + ok % (4, 20, "ok"))
    out = CliRunner().invoke(main, ["analyze", str(path), "--model", "cas-register"])
    assert out.exit_code == 0 and "an :index lower than the one before, the first at line 2" in out.output
    path.write_text(ok % (5, 20, "invoke") + ok % (4, 10, "ok"))
    out = CliRunner().invoke(main, ["analyze", str(path), "--model", "cas-register"])
    assert out.exit_code == 254 and f"{path}, line 2" in out.output


def test_time_limit_bounds_reading(tmp_path: Path) -> None:
    """A history too big to read in the limit is unknown (time), never valid."""
    path = tmp_path / "big.edn"
    path.write_bytes(variant_bytes(register_history(200_000, seed=3), "edn"))
    started = time.monotonic()
    out = CliRunner().invoke(main, ["analyze", str(path), "--time-limit", "0.05", "--json"])
    assert time.monotonic() - started < 0.05 + SLACK
    assert out.exit_code == 2 and '"cause": "time"' in out.output, out.output


# -- real processes: pipes, FIFOs, /dev/stdin, process substitution, SIGINT ----------------------------------

@pytest.fixture(scope="module")
def small() -> tuple[bytes, list[str]]:
    return variant_bytes(register_history(600, seed=5), "log-worker-space"), ["--model", "cas-register",
                                                                              "--init", "0"]


def run(args: list[str], data: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=data, capture_output=True, timeout=timeout)


def test_pipes_fifos_stdin_and_process_substitution(tmp_path: Path, small) -> None:
    data, options = small
    gz = tmp_path / "h.log.gz"
    gz.write_bytes(gzip.compress(data))
    runs = {"-": run(CLI + ["analyze", "-", *options], data),
            "/dev/stdin": run(CLI + ["analyze", "/dev/stdin", *options], gzip.compress(data)),
            "<(zcat)": run(["bash", "-c", f'{" ".join(CLI[:2])} "{CLI[2]}" analyze <(zcat {gz}) '
                            + " ".join(options)])}
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(data))
    writer.start()
    runs["fifo"] = run(CLI + ["analyze", str(fifo), *options])
    writer.join()
    for name, proc in runs.items():
        assert proc.returncode == 0, (name, proc.stderr.decode())
        assert b"1200 events" in proc.stdout or b"events" in proc.stdout, name


def test_a_silent_pipe_is_bounded_by_the_time_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(CLI + ["analyze", str(fifo), "--time-limit", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    with open(fifo, "wb") as writer:   # opened and never written: the reader blocks in read()
        writer.write(b"INFO  jepsen.util - 0\t:invoke\t:read\tnil\n")
        writer.flush()
        out, err = proc.communicate(timeout=1 + SLACK)
    assert proc.returncode == 2, err
    assert b"unknown (time)" in out and b"Traceback" not in err


def test_sigint_while_reading_and_at_any_moment(tmp_path: Path, small) -> None:
    data, options = small
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(CLI + ["analyze", str(fifo), *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(fifo, "wb") as writer:
        writer.write(data[: len(data) // 2])
        writer.flush()
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=SLACK)
    assert proc.returncode == 2 and b"interrupted" in out + err and b"Traceback" not in err, (out, err)
    path = tmp_path / "h.log"
    path.write_bytes(data)
    for delay in random.Random(SEED).sample([0.0, 0.02, 0.05, 0.1, 0.3, 0.6, 1.0], 4):  # imports, reading, checking
        proc = _started(["analyze", str(path), *options])
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=SLACK * 4)
        assert b"Traceback" not in err, (delay, err)
        assert proc.returncode in (0, 2), (delay, proc.returncode, err)
        if proc.returncode == 2:
            assert b"interrupted" in out + err


def _started(args: list[str]) -> subprocess.Popen:
    """The command, once its entry point is in place: Python's own start-up comes before any code of ours, so
    a signal then is the interpreter's business.  ``-X importtime`` says when histcheck.__main__ is imported."""
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-c", "from histcheck.__main__ import main; main()",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in proc.stderr:
        if line.rstrip().endswith(b"histcheck.__main__"):
            return proc
    raise AssertionError("the command never imported its entry point")
