"""The example app under gunicorn, loaded with valid, unknown and hostile requests at once."""

from __future__ import annotations

import random
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path

import pytest

from flask_import_abort import ImportState
from flask_import_abort.processes.sql import SQLImportRegistry

from ..helpers import AUTH, SECRET, abort_url
from ..servers import gunicorn

pytestmark = pytest.mark.slow  # real servers, workers or tools: run once, on the newest Python

CONNECTIONS = 32
REQUESTS_PER_CONNECTION = 100
JSON = {"Content-Type": "application/json"}
RUNNING_IMPORT, PENDING, SUCCEEDED = "load_running_1", "load_pending_2", "load_succeeded_3"

#: (method, path, headers, body, the status it must get)
MIX: list[tuple[str, str, dict[str, str], bytes | None, int]] = [
    ("POST", abort_url(RUNNING_IMPORT), AUTH, None, 200),
    ("POST", abort_url(PENDING), AUTH, None, 200),
    ("POST", abort_url(RUNNING_IMPORT), {**AUTH, **JSON}, b"{}", 200),
    ("POST", abort_url(SUCCEEDED), AUTH, None, 409),
    ("POST", abort_url("no_such_import_7"), AUTH, None, 404),
    ("POST", abort_url("1%27;DROP--"), AUTH, None, 404),
    ("POST", abort_url("a" * 300), AUTH, None, 400),
    ("POST", abort_url("x%0d%0aSet-Cookie:evil"), AUTH, None, 400),
    ("POST", abort_url("%C0%AE%C0%AE"), AUTH, None, 400),
    ("POST", abort_url(RUNNING_IMPORT), {**AUTH, **JSON}, b"[1, 2]", 400),
    ("POST", abort_url(RUNNING_IMPORT), {**AUTH, **JSON}, b'{"a": ', 400),
    ("POST", abort_url(RUNNING_IMPORT), {**AUTH, **JSON}, b"[" * 5_000 + b"]" * 5_000, 400),
    ("POST", abort_url(RUNNING_IMPORT), {**AUTH, "Content-Type": "text/plain"}, b"x", 415),
    ("POST", abort_url(RUNNING_IMPORT), {**AUTH, **JSON}, b" " * 70_000, 413),
    ("POST", abort_url(RUNNING_IMPORT), {}, None, 401),
    ("POST", abort_url(RUNNING_IMPORT), {"Authorization": "Bearer " + "A" * 8_000}, None, 401),
    ("POST", abort_url(RUNNING_IMPORT), {"Authorization": "Basic eDp5"}, None, 401),
    ("GET", abort_url(RUNNING_IMPORT), {**AUTH, "X-HTTP-Method-Override": "POST"}, None, 405),
    ("DELETE", abort_url(RUNNING_IMPORT), AUTH, None, 405),
]


def keep_alive_client(host: str, seed: int) -> Counter[str]:
    """One connection sending a random share of the mix; what each request got."""
    rng = random.Random(seed)
    tally: Counter[str] = Counter()
    connection = HTTPConnection(host, timeout=30)
    try:
        for _ in range(REQUESTS_PER_CONNECTION):
            method, path, headers, body, expected = rng.choice(MIX)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except OSError as error:  # reset, refused, timed out, closed under us
                tally[f"dropped: {type(error).__name__}"] += 1
                connection.close()
                continue
            if response.status == expected:
                tally["expected"] += 1
            else:
                tally[f"{method} {path[:60]} got {response.status}, not {expected}"] += 1
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
    finally:
        connection.close()
    return tally


def lying_content_length(port: int) -> Counter[str]:
    """Declare 100 MB, send two bytes: the answer must come at once, unread body or not."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST {abort_url(RUNNING_IMPORT)} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {SECRET}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {100 * 1024 * 1024}\r\n\r\n{{}}".encode()
        )
        try:
            status_line = sock.makefile("rb").readline()
        except OSError as error:
            return Counter({f"dropped: {type(error).__name__}": 1})
    return Counter({"expected" if status_line.split()[1:2] == [b"413"] else repr(status_line): 1})


def seed(registry: SQLImportRegistry) -> None:
    """The processes the mix aborts: one running, one pending, one succeeded."""
    registry.create_table()
    for token in (RUNNING_IMPORT, PENDING, SUCCEEDED):
        registry.register(token=token)
    registry.start(RUNNING_IMPORT)
    registry.start(SUCCEEDED)
    registry.finish(SUCCEEDED, ImportState.SUCCEEDED)
    registry.engine.dispose()


def test_gunicorn_serves_a_mixed_hostile_load_without_a_5xx_or_a_dropped_connection(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'imports.db'}"
    seed(SQLImportRegistry(url))
    env = {"DEMO_BEARER_TOKEN": SECRET, "FLASK_DEMO_DATABASE_URL": url}
    with gunicorn(
        "example_app:create_app()", tmp_path / "gunicorn.log", workers=2, env=env
    ) as server:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=CONNECTIONS + 8) as pool:
            clients = [pool.submit(keep_alive_client, server.host, n) for n in range(CONNECTIONS)]
            liars = [pool.submit(lying_content_length, server.port) for _ in range(CONNECTIONS)]
            tally = sum((f.result() for f in clients + liars), Counter())
        elapsed = time.monotonic() - started

        after = HTTPConnection(server.host, timeout=10)
        after.request("POST", abort_url(SUCCEEDED), headers=AUTH)
        still = after.getresponse().status
        after.close()
        alive = server.process.poll() is None
        log = "\n".join(server.log_lines())

    total = CONNECTIONS * REQUESTS_PER_CONNECTION + CONNECTIONS
    assert tally == {"expected": total}, f"{tally} in {elapsed:.1f} s"
    assert still == 409
    assert alive
    assert "Traceback" not in log
