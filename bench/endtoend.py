"""End to end: the variants in one gunicorn (gthread) on 127.0.0.1, loaded by wrk in turn."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import apps
from .inprocess import PATHS
from .stats import interleaved, median, paired_ratio

ROOT = Path(__file__).parent.parent
LUA = Path(__file__).with_name("post.lua")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def pinned(cpu: int) -> list[str]:
    """``taskset`` to keep server and load generator on a core each, where there are two."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "--cpu-list", str(cpu)]
    return []


@contextmanager
def gunicorn(threads: int = 4) -> Iterator[str]:
    """``bench.apps:served()`` in one gthread worker; yields its base address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1"]
    command += ["--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    server = subprocess.Popen([*pinned(0), *command, "bench.apps:served()"], cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not _answers(base):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.1)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def _answers(base: str) -> bool:
    try:
        status_of(f"{base}/floor/x", None)
    except OSError:
        return False
    return True


def status_of(url: str, authorization: str | None) -> int:
    request = urllib.request.Request(url, method="POST")
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def wrk(url: str, authorization: str | None, seconds: int, connections: int) -> dict[str, Any]:
    """One wrk run: requests/s, p50 and p99 in ms, and how many answers were not 2xx/3xx."""
    command = [*pinned(1), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += ["-s", str(LUA), url]
    env = {**os.environ, "BENCH_AUTHORIZATION": authorization or ""}
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),  # type: ignore[index]
        "p50_ms": _latency(output, "50%"),
        "p99_ms": _latency(output, "99%"),
        "requests": requests,
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "socket_errors": errors[1] if errors else None,
    }


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        raise ValueError(f"no {percentile} latency in wrk's output:\n{output}")
    return float(match[1]) * _UNITS[match[2]]


def summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": median([sample["rps"] for sample in samples]),
        "p50_ms": median([sample["p50_ms"] for sample in samples]),
        "p99_ms": median([sample["p99_ms"] for sample in samples]),
        "runs": samples,
    }


def run(rounds: int = 30, seconds: int = 2, connections: int = 4) -> dict[str, Any]:
    """Plugin and bare under wrk in turn, round after round, on each path; the floor after."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is missing: install Debian's wrk package (make bench does)")
    results: dict[str, Any] = {}
    with gunicorn() as base:
        for kind, route in PATHS.items():
            if route.body:
                continue  # wrk sends no body: the in-process figures measure that path
            token, authorization, status = route.token, route.authorization, route.status
            path = apps.PATH.format(token=token)
            urls = {name: f"{base}/{name}{path}" for name in ("plugin", "bare")}
            for name, url in urls.items():
                if (got := status_of(url, authorization)) != status:
                    raise AssertionError(f"{name} answers {got} for the {kind} path, not {status}")
                wrk(url, authorization, 1, connections)  # warm up

            def measure(url: str, authorization: str | None = authorization) -> Any:
                return lambda: wrk(url, authorization, seconds, connections)

            runs = interleaved({name: measure(url) for name, url in urls.items()}, rounds)
            for name, samples in runs.items():
                answered = sum(sample["requests"] - sample["non_2xx"] for sample in samples)
                refused = sum(sample["non_2xx"] for sample in samples)
                if refused if status == 200 else answered:
                    raise AssertionError(f"{name}: answers with another status class on {kind}")
            row: dict[str, Any] = {name: summary(samples) for name, samples in runs.items()}
            rps = {name: [sample["rps"] for sample in samples] for name, samples in runs.items()}
            row.update(paired_ratio(rps["plugin"], rps["bare"]))
            if kind == "success":
                floor = f"{base}/floor{path}"
                row["floor"] = summary([wrk(floor, None, seconds, connections) for _ in range(3)])
            results[kind] = row
    return results
