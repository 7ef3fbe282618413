"""A fake Meta Graph API on 127.0.0.1 for the WhatsApp channel's tests.

``FakeGraph`` is a real HTTP server (a thread) that accepts
``POST /{version}/{phone_id}/messages``, records each call (path, headers, JSON body) and
answers like the Cloud API. It checks what the real API checks for the messages we send
(token, ``messaging_product``, a recipient, text and interactive limits) and answers a
request the real API would refuse with its 400 error, so a test sees the same failure
production would. ``fail_next`` scripts failures (429, 500, a Graph error code, a slow
answer) for the next calls.

``LocalServer`` is the small threaded server underneath; tests reuse it for other fakes.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], Any]]


class LocalServer:
    """Runs ``handler(method, path, headers, body) -> (status, headers, json)`` on a free
    port of 127.0.0.1 until ``close()`` (``path`` without its query string)."""

    def __init__(self, handler: Handler) -> None:
        outer = handler

        class _Request(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                path = urlsplit(self.path).path
                status, extra, payload = outer(self.command, path, headers, body)
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Request)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class GraphCall:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def to(self) -> str:
        return str(self.body.get("to") or self.body.get("recipient") or "")

    @property
    def kind(self) -> str:
        """ "text", "button" or "list"."""
        if self.body.get("type") == "interactive":
            return str(self.body["interactive"]["type"])
        return str(self.body.get("type"))

    @property
    def text(self) -> str:
        """The text the person reads first: the message, or an interactive's body."""
        if self.body.get("type") == "text":
            return str(self.body["text"]["body"])
        return str(self.body["interactive"]["body"]["text"])

    @property
    def choices(self) -> list[tuple[str, str]]:
        """(id, title) of every reply button or list row, in order."""
        if self.body.get("type") != "interactive":
            return []
        interactive = self.body["interactive"]
        if interactive["type"] == "button":
            return [
                (b["reply"]["id"], b["reply"]["title"]) for b in interactive["action"]["buttons"]
            ]
        return [
            (row["id"], row["title"])
            for section in interactive["action"]["sections"]
            for row in section["rows"]
        ]


@dataclass
class _Failure:
    status: int
    code: int
    delay: float
    retry_after: str | None


class FakeGraph:
    """The Cloud API's messages endpoint, as far as the WhatsApp channel uses it."""

    def __init__(self, token: str, phone_id: str, version: str = "v21.0") -> None:
        self.token = token
        self.phone_id = phone_id
        self.version = version
        self.calls: list[GraphCall] = []  # accepted messages, in arrival order
        self.attempts = 0  # every POST, failed ones included
        self.rejected: list[tuple[GraphCall, str]] = []  # refused as the real API would
        self._failures: deque[_Failure] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = LocalServer(self._handle)

    @property
    def url(self) -> str:
        """What WHATSAPP_GRAPH_URL points at (the version included)."""
        return f"{self._server.url}/{self.version}"

    def close(self) -> None:
        self._server.close()

    def fail_next(
        self,
        status: int,
        times: int = 1,
        code: int = 2,
        delay: float = 0.0,
        retry_after: str | None = None,
    ) -> None:
        """The next ``times`` calls fail with ``status`` and Graph error ``code`` (after
        ``delay`` seconds; a status of 200 with a delay only makes the answer slow)."""
        with self._lock:
            for _ in range(times):
                self._failures.append(_Failure(status, code, delay, retry_after))

    def wait_for(self, count: int, timeout: float = 10.0) -> list[GraphCall]:
        """Waits until at least ``count`` messages were accepted; returns them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.calls) >= count:
                    return list(self.calls)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} WhatsApp messages, got {len(self.calls)}")

    def to(self, recipient: str) -> list[GraphCall]:
        with self._lock:
            return [call for call in self.calls if call.to == recipient]

    # --- the server side ----------------------------------------------------------------
    def _handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        if method != "POST" or path != f"/{self.version}/{self.phone_id}/messages":
            return 404, {}, _error(100, "Unsupported request - method type or path unknown")
        with self._lock:
            self.attempts += 1
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            time.sleep(failure.delay)
            if failure.status != 200:
                extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                return failure.status, extra, _error(failure.code, "scripted failure")
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, _error(190, "Invalid OAuth access token")
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {}, _error(100, "the request body is not JSON")
        call = GraphCall(path, headers, body if isinstance(body, dict) else {})
        problem = _problem(call.body)
        with self._lock:
            if problem:
                self.rejected.append((call, problem))
                return 400, {}, _error(131009, f"Parameter value is not valid: {problem}")
            self.calls.append(call)
            message_id = f"wamid.fake{next(self._ids)}"
        return (
            200,
            {},
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": call.to, "wa_id": call.to}],
                "messages": [{"id": message_id}],
            },
        )


def _error(code: int, message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"(#{code}) {message}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "fbtrace_id": "AfakeTrace",
        }
    }


def _problem(body: dict[str, Any]) -> str:
    """Why the Cloud API would refuse this message ("" when it would accept it)."""
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    to, recipient = body.get("to"), body.get("recipient")
    if not (isinstance(to, str) and re.fullmatch(r"[0-9]{5,20}", to)) and not (
        isinstance(recipient, str) and re.fullmatch(r"[A-Z]{2}\.[A-Za-z0-9.]+", recipient)
    ):
        return "a phone number in 'to' or a user id in 'recipient' is required"
    kind = body.get("type")
    if kind == "text":
        text = (body.get("text") or {}).get("body")
        if not isinstance(text, str) or not text.strip() or len(text) > 4096:
            return "text.body must be 1-4096 characters"
        return ""
    if kind != "interactive":
        return f"unexpected message type {kind!r}"
    interactive = body.get("interactive") or {}
    text = (interactive.get("body") or {}).get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 1024:
        return "interactive.body.text must be 1-1024 characters"
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            return "1-3 reply buttons"
        ids = [b["reply"]["id"] for b in buttons]
        titles = [b["reply"]["title"] for b in buttons]
        if any(not t or len(t) > 20 for t in titles) or len(set(titles)) != len(titles):
            return "button titles must be unique and 1-20 characters"
        if any(not i or len(i) > 256 for i in ids) or len(set(ids)) != len(ids):
            return "button ids must be unique and 1-256 characters"
        return ""
    if interactive.get("type") == "list":
        label = action.get("button")
        if not isinstance(label, str) or not label or len(label) > 20:
            return "the list button label must be 1-20 characters"
        sections = action.get("sections") or []
        rows = [row for section in sections for row in section.get("rows") or []]
        if not 1 <= len(sections) <= 10 or not 1 <= len(rows) <= 10:
            return "1-10 sections with 1-10 rows in all"
        if any(len(section.get("title") or "") > 24 for section in sections):
            return "section titles are at most 24 characters"
        ids = [row.get("id") or "" for row in rows]
        if any(not i or len(i) > 200 for i in ids) or len(set(ids)) != len(ids):
            return "row ids must be unique and 1-200 characters"
        if any(not row.get("title") or len(row["title"]) > 24 for row in rows):
            return "row titles must be 1-24 characters"
        if any(len(row.get("description") or "") > 72 for row in rows):
            return "row descriptions are at most 72 characters"
        return ""
    return f"unexpected interactive type {interactive.get('type')!r}"
