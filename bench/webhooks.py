"""Webhooks: what writing a notice with each end costs that end, on SQLite and PostgreSQL, and
how long a notice takes from the end to the receiver's 200, with the example's reap interval
and with ``deliver`` run right away."""

from __future__ import annotations

import logging
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flask_import_abort.processes import ImportState, Reaper
from flask_import_abort.processes.sql import SQLImportRegistry
from flask_import_abort.processes.webhooks import WebhookDispatcher

from .scaling import POSTGRES_URL
from .stats import median

#: The example app's reap interval, which its reaper delivers on.
EXAMPLE_INTERVAL = 5.0
SECRET = "bench-webhook-secret"


def _end(registry: SQLImportRegistry) -> float:
    """Seconds one end takes: the worker's ``finish`` of a running process."""
    token = registry.register()
    registry.start(token)
    started = time.perf_counter()
    registry.finish(token, ImportState.SUCCEEDED)
    return time.perf_counter() - started


def end_cost(url: str, rounds: int, ends: int) -> dict[str, Any]:
    """The worker's end with and without its notice, in µs, interleaved end by end."""
    with (
        SQLImportRegistry(url, table_name="bench_webhooks") as plain,
        SQLImportRegistry(url, table_name="bench_webhooks", webhooks=True) as hooked,
    ):
        plain.drop_table()
        plain.create_table()
        ratios, without, with_notice = [], [], []
        for _ in range(3):  # warm both
            _end(plain)
            _end(hooked)
        for _ in range(rounds):
            pairs = [(_end(plain), _end(hooked)) for _ in range(ends)]
            round_plain = median([pair[0] for pair in pairs])
            round_hooked = median([pair[1] for pair in pairs])
            without.append(round_plain)
            with_notice.append(round_hooked)
            ratios.append(round_plain / round_hooked)
        plain.drop_table()
    return {
        "without_us": median(without) * 1e6,
        "with_us": median(with_notice) * 1e6,
        "ratio": median(ratios),
    }


@contextmanager
def _receiver() -> Iterator[tuple[str, list[float]]]:
    """A receiver on loopback answering 200; the moments (``time.monotonic``) it answered."""
    answered: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            answered.append(time.monotonic())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/hooks", answered
    finally:
        server.shutdown()
        server.server_close()


def latency(url: str, trials: int, interval: float) -> dict[str, Any]:
    """From an end to the receiver's 200: through a reaper every ``interval`` seconds (the end
    at a random moment of its round), and with ``deliver`` called right after the end."""
    with (
        SQLImportRegistry(url, table_name="bench_webhooks", webhooks=True) as registry,
        _receiver() as (hook, answered),
    ):
        registry.drop_table()
        registry.create_table()
        dispatcher = WebhookDispatcher(registry, hook, SECRET)
        right_away = []
        for _ in range(trials):
            ended = time.monotonic() + _end(registry)
            dispatcher.deliver()
            right_away.append(answered[-1] - ended)
        reaped = []
        with Reaper(registry, interval, dispatcher=dispatcher):
            for _ in range(trials):
                time.sleep(random.uniform(0, interval))
                before = len(answered)
                ended = time.monotonic() + _end(registry)
                while len(answered) == before:
                    time.sleep(0.005)
                reaped.append(answered[-1] - ended)
        registry.drop_table()
    return {
        "right_away_median_ms": median(right_away) * 1000,
        "right_away_max_ms": max(right_away) * 1000,
        "interval_s": interval,
        "reaper_median_s": median(reaped),
        "reaper_max_s": max(reaped),
    }


def run(rounds: int = 15, ends: int = 40, trials: int = 8) -> dict[str, Any]:
    random.seed(15)
    logging.getLogger("flask_import_abort").setLevel(logging.ERROR)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as folder:
        urls = {"sqlite": f"sqlite:///{Path(folder, 'imports.db')}", "postgresql": POSTGRES_URL}
        for name, url in urls.items():
            results[name] = {
                "end": end_cost(url, rounds, ends),
                "latency": latency(url, trials, EXAMPLE_INTERVAL),
            }
    return results
