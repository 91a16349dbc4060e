"""timeline.html in a real browser: headless Chromium driven over the DevTools protocol.

What a person does with the page is what is tested: it opens (quickly, with no console errors and no network
requests), the "jump to first error" control scrolls the failing operation into view, and a screenshot shows it
highlighted.  The protocol is spoken over a websocket (``websocket-client``), so nothing else is downloaded.
Screenshots are kept in ``$HISTCHECK_ARTIFACTS`` (default: pytest's tmp dir) for people and CI to look at.
"""
from __future__ import annotations

import base64
import io
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from histcheck.checker.result import Failure, Result, op_summary
from histcheck.history import History, Op
from histcheck.render.timeline import write_timeline

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-allow-origins=*", "--remote-debugging-port=0", "--window-size=1400,800"]

websocket = pytest.importorskip("websocket", reason="websocket-client is in the test extra")
if CHROMIUM is None:
    pytest.skip("chromium is not installed (.ci/setup installs it: apt-get install chromium)",
                allow_module_level=True)


class Browser:
    """One headless Chromium and one page, spoken to over the DevTools protocol."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="histcheck-chromium-")
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = self._port()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep the pipe from filling up
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=20, suppress_origin=True)
        self.next_id, self.events = 0, []
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable")

    def _port(self) -> int:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                return int(found.group(1))
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError("chromium did not start its DevTools endpoint")

    def send(self, method: str, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def evaluate(self, expression: str):
        out = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def open(self, path: Path, timeout: float = 30.0) -> float:
        """Navigate to a file and wait until the page says it is ready; returns the seconds it took."""
        started = time.monotonic()
        self.send("Page.navigate", url=path.resolve().as_uri())
        while time.monotonic() - started < timeout:
            if self.evaluate("document.readyState === 'complete' && document.body.dataset.ready === 'true'"):
                return time.monotonic() - started
            time.sleep(0.02)
        raise TimeoutError(f"{path} was not ready after {timeout} s")

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def errors(self) -> list[str]:
        self.evaluate("1")  # flush pending events
        out = []
        for msg in self.events:
            method, params = msg.get("method"), msg.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(str(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append(params["entry"].get("text", "")[:500])
        return out

    def requests(self) -> list[str]:
        return [m["params"]["request"]["url"] for m in self.events
                if m.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    where = os.environ.get("HISTCHECK_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.mktemp("browser")
    path.mkdir(parents=True, exist_ok=True)
    return path


def synthetic(n_calls: int, processes: int = 10, seed: int = 7) -> tuple[History, Result]:
    """A register history of ``n_calls`` calls with a hand-made failure in the middle (a read of 99)."""
    rng, ops, open_ = random.Random(seed), [], {}
    value, bad_at = 0, n_calls // 2
    for n in range(n_calls):
        p = rng.randrange(processes)
        if p in open_:
            ops.append(_complete(ops[open_.pop(p)], value, rng))
        kind = "read" if rng.random() < 0.5 else "write"
        v = rng.randrange(5) if kind == "write" else None
        if n == bad_at:
            kind, v = "read", None
        ops.append(Op("invoke", p, kind, v, index=len(ops), time=len(ops) * 1000))
        open_[p] = len(ops) - 1
        if kind == "write":
            value = v
        if n == bad_at:
            ops.append(Op("ok", p, "read", 99, index=len(ops), time=len(ops) * 1000))
            del open_[p]
    for pos in open_.values():
        ops.append(_complete(ops[pos], value, rng))
    history = History(ops, source="synthetic.edn")
    calls = history.calls()
    bad = next(c for c in calls if c.value == 99)
    failure = Failure(None, op_summary(bad), None, longest=[[op_summary(c) for c in calls[:50]]])
    return history, Result(False, "register", 0, ops=len(calls), failure=failure)


def _complete(inv: Op, value, rng) -> Op:
    kind = "info" if rng.random() < 0.01 else "ok"
    out = value if inv.f == "read" and kind == "ok" else inv.value
    return Op(kind, inv.process, inv.f, out, index=-1, time=None)


def _renumber(history: History) -> History:
    for i, op in enumerate(history.ops):
        op.index = i
    return history


def red_pixels(png: bytes, box: dict) -> int:
    from PIL import Image
    img = Image.open(io.BytesIO(png)).convert("RGB")
    x0, y0 = int(box["x"]) - 6, int(box["y"]) - 2
    x1, y1 = int(box["x"] + max(box["w"], 4)) + 8, int(box["y"] + box["h"]) + 2
    count = 0
    for x in range(max(0, x0), min(img.width, x1)):
        for y in range(max(0, y0), min(img.height, y1)):
            r, g, b = img.getpixel((x, y))
            if r > 180 and g < 140 and b < 90:
                count += 1
    return count


def jump_and_look(browser: Browser, page: Path, shot: Path) -> tuple[dict, bytes]:
    browser.evaluate("document.getElementById('scroller').scrollLeft = 0")
    before = browser.evaluate("document.getElementById('scroller').scrollLeft")
    browser.evaluate("document.getElementById('jump').click()")
    time.sleep(0.6)  # past the first flashes; the highlight stays red when the flashing stops
    browser.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    state = browser.evaluate("""(() => { const t = window.histcheckTimeline, s = document.getElementById('scroller');
        return {box: t.box(t.failing), width: s.clientWidth, left: s.scrollLeft,
                jumped: document.body.dataset.jumped}; })()""")
    state["before"] = before
    time.sleep(1.2)
    return state, browser.screenshot(shot)


def test_cas_failure_page_jumps_to_the_failing_read(browser, artifacts, tmp_path):
    import histcheck
    from histcheck.explain import minimize
    path = CORPUS / "knossos/cas-register/bad/cas-failure.edn"
    if not path.exists():
        pytest.skip(f"corpus not found at {CORPUS}")
    history = histcheck.load(path)
    result = histcheck.check(history, model="cas-register", init=0)
    ce = minimize(history, result, model="cas-register", init=0)
    page = write_timeline(tmp_path / "timeline.html", history, result, ce, model="cas-register", init=0)
    seconds = browser.open(page)
    assert seconds < 3.0
    assert browser.errors() == []
    assert [u for u in browser.requests() if not u.startswith(("file:", "data:", "about:"))] == []
    state, png = jump_and_look(browser, page, artifacts / "cas-failure-timeline.png")
    assert state["jumped"] == "491"
    assert state["left"] > state["before"]
    box = state["box"]
    assert 0 < box["x"] < state["width"] and 0 < box["y"] < 800, state
    assert red_pixels(png, box) > 20, "the failing operation is not outlined in red on the screenshot"


def test_synthetic_100k_operations_open_fast_and_jump(browser, artifacts, tmp_path):
    history, result = synthetic(50_000)
    _renumber(history)
    assert len(history) >= 100_000
    page = write_timeline(tmp_path / "big.html", history, result, model="register", init=0)
    size = page.stat().st_size
    assert size < 8_000_000, size
    seconds = browser.open(page)
    assert seconds < 3.0, seconds
    assert browser.errors() == []
    state, png = jump_and_look(browser, page, artifacts / "synthetic-100k-timeline.png")
    bad = next(op for op in history.ops if op.type == "ok" and op.value == 99)
    assert state["jumped"] == str(bad.index)
    assert red_pixels(png, state["box"]) > 20
    t0 = time.monotonic()
    browser.evaluate("window.histcheckTimeline.zoom(0.01)")
    browser.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert time.monotonic() - t0 < 2.0, "drawing the whole 100k history at once is too slow"
    assert browser.errors() == []


def test_largest_corpus_history_is_small_and_opens_fast(browser, artifacts, tmp_path):
    import histcheck
    path = CORPUS / "porcupine/kv/c50-bad.txt"
    if not path.exists():
        pytest.skip(f"corpus not found at {CORPUS}")
    history = histcheck.load(path)
    result = histcheck.check(history, model="kv", init="", time_limit=20)
    page = write_timeline(tmp_path / "c50.html", history, result, model="kv", init="")
    assert page.stat().st_size < 5_000_000
    seconds = browser.open(page)
    assert seconds < 3.0, seconds
    assert browser.errors() == []
    n_keys = browser.evaluate("document.getElementById('key').options.length")
    assert n_keys == 1 + len({op.extra["key"] for op in history.ops if op.extra})
    if result.valid is False:
        state, png = jump_and_look(browser, page, artifacts / "c50-bad-timeline.png")
        assert state["jumped"] == str(result.failure.op["index"])
        assert red_pixels(png, state["box"]) > 20


def test_time_axis_for_a_timed_history(browser, artifacts, tmp_path):
    import histcheck
    path = CORPUS / "knossos/cas-register/bad/rethink-fail.edn"
    if not path.exists():
        pytest.skip(f"corpus not found at {CORPUS}")
    history = histcheck.load(path)
    result = histcheck.check(history, model="cas-register", init=0)
    page = write_timeline(tmp_path / "rethink.html", history, result, model="cas-register", init=0)
    browser.open(page)
    assert browser.evaluate("document.getElementById('axis').disabled") is False
    browser.evaluate("const a = document.getElementById('axis'); a.value = 'time'; a.onchange()")
    width = browser.evaluate("document.getElementById('spacer').getBoundingClientRect().width")
    assert width < 3000  # fitted to the window: about 14 s of test on one screen
    state, png = jump_and_look(browser, page, artifacts / "rethink-time-axis.png")
    assert state["jumped"] == str(result.failure.op["index"])
    assert 0 < state["box"]["x"] < state["width"]
    assert red_pixels(png, state["box"]) > 20
    assert browser.errors() == []


def _boxes_overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


def test_partition_kill_run_has_a_lane_per_worker_and_labels_that_never_overlap(browser, artifacts, tmp_path):
    from fault_histories import partition_kill_run
    history = partition_kill_run()
    processes = {op.process for op in history.ops if op.is_client}
    assert len(processes) > 15  # crashes retired processes: far more processes than the five workers
    bad = next(c for c in history.calls() if c.f == "read" and c.call_pos > len(history.ops) // 2)
    result = Result(False, "cas-register", 0, ops=len(history.calls()), failure=Failure(None, op_summary(bad), None))
    page = write_timeline(tmp_path / "partition-kill.html", history, result)
    assert browser.open(page) < 3.0
    assert browser.errors() == []
    assert browser.evaluate("window.histcheckTimeline.lanes()") == ["nemesis"] + [f"worker {w}" for w in range(5)]
    seen: set[str] = set()
    for zoom in (1.0, 0.5, 6.0, 4.0):  # labels are laid out again at every zoom: none overlaps at any, anywhere
        browser.evaluate(f"window.histcheckTimeline.zoom({zoom})")
        width = browser.evaluate("document.getElementById('spacer').getBoundingClientRect().width")
        view = browser.evaluate("document.getElementById('scroller').clientWidth")
        for left in range(0, int(width), max(1, int(view * 0.8))):
            browser.evaluate(f"document.getElementById('scroller').scrollLeft = {left}")
            browser.evaluate("window.histcheckTimeline.redraw()")
            labels = browser.evaluate("window.histcheckTimeline.labels()")
            seen.update(b["text"] for b in labels)
            clashes = [(a["text"], b["text"]) for i, a in enumerate(labels) for b in labels[i + 1:]
                       if _boxes_overlap(a, b)]
            assert clashes == [], (zoom, left, clashes)
    assert {'start-partition [["n1"] ["n2" "n3"]]', 'kill ["n2"]', 'kill ["n1"]'} <= seen, seen
    browser.evaluate("document.getElementById('fit').click()")
    browser.evaluate("window.histcheckTimeline.redraw()")
    labels = browser.evaluate("window.histcheckTimeline.labels()")
    texts = [b["text"] for b in labels]
    assert len(texts) == 5, texts  # every window labelled once, on one screen
    kill = next(b for b in labels if b["text"] == 'kill ["n2"]')
    tip = browser.evaluate(f"""(() => {{
        document.getElementById('cv').dispatchEvent(new MouseEvent('mousemove', {{clientX: {kill['x'] + 3},
            clientY: {kill['y'] + 4}, bubbles: true}}));
        const t = document.getElementById('tip'); return t.style.display + '|' + t.textContent; }})()""")
    assert tip.startswith("block|nemesis: kill") and '"leader_before" "n2"' in tip, tip  # the whole value
    lane = browser.evaluate("""(() => { const r = document.getElementById('cv').getBoundingClientRect();
        const t = window.histcheckTimeline.box(0);
        document.getElementById('cv').dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + 20,
            clientY: t.y + 8, bubbles: true}));
        return document.getElementById('tip').textContent; })()""")
    assert re.match(r"worker \d held processes \d+, \d+", lane), lane  # every process the worker held
    assert not any("{'" in t or "':" in t for t in texts)  # EDN, not Python dict syntax
    browser.screenshot(artifacts / "partition-kill-fit.png")
    state, png = jump_and_look(browser, page, artifacts / "partition-kill-timeline.png")
    assert state["jumped"] == str(bad.complete.index)
    assert state["left"] > state["before"]
    assert 0 < state["box"]["x"] < state["width"]
    assert red_pixels(png, state["box"]) > 20
    assert browser.errors() == []


# -- the checker's language: anomalies of checkers other than linearizability ---------------------------------

def colour_pixels(png: bytes, box: dict, colour: str, tolerance: int = 40) -> int:
    """Pixels within ``tolerance`` of ``colour`` (``#rrggbb``) around an operation's box."""
    from PIL import Image
    img = Image.open(io.BytesIO(png)).convert("RGB")
    want = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    x0, y0 = int(box["x"]) - 6, int(box["y"]) - 2
    x1, y1 = int(box["x"] + max(box["w"], 4)) + 8, int(box["y"] + box["h"]) + 2
    return sum(1 for x in range(max(0, x0), min(img.width, x1)) for y in range(max(0, y0), min(img.height, y1))
               if all(abs(a - b) <= tolerance for a, b in zip(img.getpixel((x, y)), want)))


def tooltip_of(browser: Browser, call: int) -> str:
    return browser.evaluate(f"""(() => {{ const b = window.histcheckTimeline.box({call});
        document.getElementById('cv').dispatchEvent(new MouseEvent('mousemove', {{clientX: b.x + Math.min(b.w, 20) / 2,
            clientY: b.y + 13, bubbles: true}}));
        return document.getElementById('tip').textContent; }})()""")


def jump_to_first_anomaly(browser: Browser, shot: Path) -> tuple[dict, bytes]:
    browser.evaluate("document.getElementById('scroller').scrollLeft = 0")
    browser.evaluate("document.getElementById('jump').click()")
    time.sleep(1.8)  # past the flashing: the outlines are back in their kind's colour
    browser.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    state = browser.evaluate("""(() => { const t = window.histcheckTimeline, s = document.getElementById('scroller'),
        f = t.focused();
        return {boxes: f.map(i => t.box(i)), focused: f, width: s.clientWidth, jumped: document.body.dataset.jumped,
                jumpedOps: document.body.dataset.jumpedOps, kind: document.body.dataset.jumpedKind}; })()""")
    return state, browser.screenshot(shot)


def test_set_with_lost_adds_says_lost_writes_and_jumps_to_the_first(browser, artifacts, tmp_path):
    from histcheck.checkers import check
    from render_histories import lost_set
    history = lost_set()
    result = check(history, "set")
    page = write_timeline(tmp_path / "lost-set.html", history, result)
    assert browser.open(page) < 3.0
    assert browser.errors() == []
    assert browser.evaluate("document.getElementById('verdict').textContent") == "lost writes: 3"
    assert browser.evaluate("document.getElementById('jump').textContent") == "Jump to first anomaly"
    marked = browser.evaluate("window.histcheckTimeline.marked()")
    adds = {op.value: op.index for op in history.ops if op.type == "ok" and op.f == "add"}
    final = history.ops[-1].index
    assert [m["kind"] for m in marked] == ["lost"] * 3
    assert [m["indexes"] for m in marked] == [[adds[7], final], [adds[19], final], [adds[23], final]]
    state, png = jump_to_first_anomaly(browser, artifacts / "lost-set-timeline.png")
    assert state["kind"] == "lost" and state["jumped"] == str(adds[7])
    assert state["jumpedOps"] == f"{adds[7]},{final}"   # the lost add, and the final read that misses it
    add_box, read_box = state["boxes"]
    assert 0 < add_box["x"] < state["width"] and 0 < read_box["x"] < state["width"], state
    assert colour_pixels(png, add_box, "#d62728") > 20, "the lost add is not outlined in red"
    assert colour_pixels(png, read_box, "#d62728") > 20, "the final read is not outlined in red"
    tip = tooltip_of(browser, state["focused"][0])
    assert "lost: Element 7 was added by process" in tip and "absent from the final read" in tip, tip
    browser.evaluate("document.getElementById('next').click()")
    assert browser.evaluate("document.body.dataset.jumped") == str(adds[19])
    assert browser.errors() == []


def test_list_append_write_skew_says_g2_item_and_jumps_to_the_cycle(browser, artifacts, tmp_path):
    from histcheck.checkers import check
    from render_histories import write_skew_list_append
    history = write_skew_list_append()
    result = check(history, "list-append")
    page = write_timeline(tmp_path / "write-skew.html", history, result)
    assert browser.open(page) < 3.0
    assert browser.errors() == []
    assert browser.evaluate("document.getElementById('verdict').textContent") == "G2-item"
    (cycle,) = browser.evaluate("window.histcheckTimeline.marked()")
    expected = sorted(op["index"] for op in result.anomalies[0].ops)
    assert cycle["kind"] == "G2-item" and sorted(cycle["indexes"]) == expected
    state, png = jump_to_first_anomaly(browser, artifacts / "write-skew-timeline.png")
    assert state["kind"] == "G2-item" and state["jumped"] == str(expected[0])
    assert sorted(int(i) for i in state["jumpedOps"].split(",")) == expected
    for box in state["boxes"]:
        assert 0 < box["x"] < state["width"], state
        assert colour_pixels(png, box, "#0b6e99") > 20, "a transaction of the cycle is not outlined"
    tip = tooltip_of(browser, state["focused"][0])
    assert "G2-item: So T1 -> T2 -> T1" in tip and "write skew" in tip and "rw  key" in tip, tip
    assert "[[:r 0 [" in tip  # the transaction's whole value, as EDN
    assert browser.errors() == []


def test_100k_event_set_with_5000_lost_adds_opens_fast_and_marks_them_all(browser, artifacts, tmp_path):
    from histcheck.checkers import check
    from render_histories import lost_set
    n = 49_999
    history = lost_set(n_adds=n, lost=tuple(range(0, n, 10)), processes=10)
    assert len(history.ops) >= 100_000
    result = check(history, "set")
    page = write_timeline(tmp_path / "lost-100k.html", history, result)
    assert page.stat().st_size < 8_000_000
    assert browser.open(page) < 3.0
    assert browser.errors() == []
    assert browser.evaluate("document.getElementById('verdict').textContent") == "lost writes: 5000"
    assert browser.evaluate("window.histcheckTimeline.marked().length") == 5000
    state, png = jump_to_first_anomaly(browser, artifacts / "lost-100k-timeline.png")
    first_add = next(op.index for op in history.ops if op.type == "ok" and op.f == "add" and op.value == 0)
    assert state["jumped"] == str(first_add)
    assert colour_pixels(png, state["boxes"][0], "#d62728") > 20
    assert browser.errors() == []


def test_corpus_set_full_page_names_lost_and_unexpected(browser, artifacts, tmp_path):
    import histcheck
    from histcheck.checkers import check
    path = CORPUS / "elle-cli/jepsen/set_full.json"
    if not path.exists():
        pytest.skip(f"corpus not found at {CORPUS}")
    history = histcheck.load(path)
    page = write_timeline(tmp_path / "set-full.html", history, check(history, "set-full"))
    assert browser.open(page) < 3.0
    assert browser.errors() == []
    assert browser.evaluate("document.getElementById('verdict').textContent") == "lost writes: 293, unexpected: 293"
    state, png = jump_to_first_anomaly(browser, artifacts / "set-full-timeline.png")
    assert state["kind"] == "lost" and state["jumped"] == "1"      # the add of [0 0], and the read missing it
    assert state["jumpedOps"] == "1,587"
    # too far apart for one screen: the add is in view, the final read is a tag at the right edge
    assert 0 < state["boxes"][0]["x"] < state["width"] < state["boxes"][1]["x"]
    (tag,) = browser.evaluate("window.histcheckTimeline.offscreen()")
    assert (tag["index"], tag["side"]) == (587, "right") and tag["text"].endswith("read at index 587 \u2192")
    assert browser.errors() == []
