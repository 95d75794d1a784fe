"""Real servers for the tests: gunicorn serving an app factory on 127.0.0.1, in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).parent.parent
GUNICORN_CONF = Path(__file__).with_name("gunicorn_conf.py")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Server:
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


def _wait_for_workers(server: Server, workers: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while sum("worker ready to answer" in line for line in server.log_lines()) < workers:
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("gunicorn's workers did not start:\n" + server.log.read_text())
        time.sleep(0.05)


@contextmanager
def gunicorn(
    app: str, log: Path, *, workers: int, threads: int = 4, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Serve ``app`` (``module:factory()``) with gunicorn's gthread workers until the block ends."""
    port = free_port()
    options = ["--config", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{port}"]
    options += ["--workers", str(workers), "--threads", str(threads)]
    with _serve(["-m", "gunicorn", *options, app], port, log, env) as server:
        _wait_for_workers(server, workers)
        yield server


@contextmanager
def demo(
    log: Path, env: dict[str, str] | None = None, *, ignore_sigint: bool = False
) -> Iterator[Server]:
    """Serve the example app as `make run` does, on a free port, until the block ends.

    ``ignore_sigint`` starts it as a shell starts a command put in the background with ``&``:
    with SIGINT ignored, a disposition the process inherits.
    """
    port = free_port()
    arguments = ["-m", "example_app", "--port", str(port)]
    with _serve(arguments, port, log, env, ignore_sigint=ignore_sigint) as server:
        yield server


@contextmanager
def _serve(
    arguments: list[str],
    port: int,
    log: Path,
    env: dict[str, str] | None,
    *,
    ignore_sigint: bool = False,
) -> Iterator[Server]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if ignore_sigint else None
    try:
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, *arguments],
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    try:
        wait_for_port(port, process)
        yield Server(port, log, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def post(host: str, path: str, headers: Mapping[str, str]) -> tuple[str, int, bytes]:
    """POST ``path`` on a connection of its own: the path, the status and the body."""
    connection = HTTPConnection(host, timeout=30)
    try:
        connection.request("POST", path, headers=dict(headers))
        response = connection.getresponse()
        return path, response.status, response.read()
    finally:
        connection.close()


def fire(
    host: str, paths: list[str], *, headers: Mapping[str, str], clients: int = 50
) -> list[tuple[str, int, bytes]]:
    """POST every path, ``clients`` threads at once, each taking its share of the paths."""
    start = threading.Barrier(clients)

    def client(share: list[str]) -> list[tuple[str, int, bytes]]:
        start.wait()
        return [post(host, path, headers) for path in share]

    with ThreadPoolExecutor(max_workers=clients) as pool:
        shares = list(pool.map(client, [paths[i::clients] for i in range(clients)]))
    return [answer for share in shares for answer in share]
