"""A one-process HTTP key-value store for tests of system files (``python kv_server.py HOST PORT``).

GET /kv/KEY answers {"value": ...} or 404; PUT /kv/KEY stores {"value": ...}; POST /cas/KEY with
{"from": ..., "to": ...} answers 200 when the value was ``from`` (and stores ``to``), 412 otherwise.  One lock makes
it linearizable, which is what a fault-free run against one node must find.

Failpoints, both ways a system file can set them: ``PUT /fail/NAME`` (the action as body) and ``DELETE
/fail/NAME`` at run time, or ``KV_FAILPOINTS="name=action;..."`` at start.  ``reject-writes`` with action
``return`` makes every PUT answer 503.  ``GET /status`` answers the node's name as leader and the failpoints.
"""
from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STORE: dict[str, str] = {}
LOCK = threading.Lock()
FAILPOINTS = dict(part.split("=", 1) for part in os.environ.get("KV_FAILPOINTS", "").split(";") if "=" in part)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, body: dict | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def do_GET(self) -> None:
        if self.path == "/health":
            return self._answer(200, {"ok": True})
        if self.path == "/status":
            return self._answer(200, {"leader": NAME, "failpoints": FAILPOINTS})
        key = self.path.removeprefix("/kv/")
        with LOCK:
            value = STORE.get(key)
        self._answer(404 if value is None else 200, None if value is None else {"value": value})

    def do_PUT(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/fail/"):
            FAILPOINTS[self.path.removeprefix("/fail/")] = raw.decode()
            return self._answer(200)
        if FAILPOINTS.get("reject-writes") == "return":
            return self._answer(503, {"error": "failpoint reject-writes"})
        body = json.loads(raw or b"{}")
        with LOCK:
            STORE[self.path.removeprefix("/kv/")] = body["value"]
        self._answer(200)

    def do_DELETE(self) -> None:
        FAILPOINTS.pop(self.path.removeprefix("/fail/"), None)
        self._answer(200)

    def do_POST(self) -> None:
        body, key = self._body(), self.path.removeprefix("/cas/")
        with LOCK:
            if STORE.get(key) != body["from"]:
                return self._answer(412, {"error": "value differs"})
            STORE[key] = body["to"]
        self._answer(200)

    def log_message(self, *args: object) -> None:
        pass


NAME = sys.argv[3] if len(sys.argv) > 3 else "n1"

if __name__ == "__main__":
    ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
