"""A webhook receiver on loopback for the tests: a real HTTP server that answers as it is told
(200, 500, a redirect, nothing at all, or a byte at a time) and keeps what it was sent."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request the receiver took."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the receiver answers, in turn (the last one for ever after), and what it took.

        An answer is a status (``200``, ``500``), ``"redirect"`` (302 to another path of its own),
        ``"hang"`` (reads the request and answers nothing for a minute), ``"slow"`` (200 after
    0.1 s), ``"drip"`` (a status line
        sent a byte every half second), or ``"verify"`` (200 when the signature checks out with
        ``secret``, else 401).
    """

    url: str
    answers: list[Any]
    secret: str = ""
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> Any:
        with self.lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def took(self) -> list[Received]:
        with self.lock:
            return list(self.received)


def verified(body: bytes, signature: str, secret: str) -> bool:
    """Whether ``signature`` is OCC's over ``body`` with ``secret``, compared in constant time."""
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha512).digest())
    return hmac.compare_digest(expected, signature.encode())


@contextmanager
def receiver(answers: list[Any], secret: str = "") -> Iterator[Receiver]:
    """A receiver on a free loopback port, for the block."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            own = state["receiver"]
            with own.lock:
                own.received.append(Received(self.path, dict(self.headers), body))
            answer = own.next_answer()
            if answer == "hang":
                time.sleep(60)
                return
            if answer == "slow":  # 200, a tenth of a second late
                time.sleep(0.1)
                self._answer(200)
                return
            if answer == "drip":
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(0.5)
                return
            if answer == "redirect":
                self._answer(302, {"Location": "/elsewhere"})
                return
            if answer == "verify":
                signature = self.headers.get("X-Oracle-CC-WebHook-Signature", "")
                self._answer(200 if verified(body, signature, own.secret) else 401)
                return
            self._answer(int(answer))

        def _answer(self, status: int, headers: dict[str, str] | None = None) -> None:
            text = b"secret-looking body that is never logged"
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    state["receiver"] = Receiver(f"http://{host}:{port}/hooks/imports", list(answers), secret)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()
