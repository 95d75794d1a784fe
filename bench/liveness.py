"""Liveness: from a worker's death to its process reading lost and ended, and from a stop
deadline to the forced end, with real worker processes and reapers on SQLite and PostgreSQL.

A worker is a process of its own running ``run_import`` (``python -m bench.liveness worker``).
It is killed with SIGKILL in the middle of a batch; a :func:`~flask_import_abort.reaper` reaps
every ``interval`` seconds. For the deadline, the worker's batch outlasts the deadline, so it
never sees the abort: only the reaper can end it.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from flask import Flask

from flask_import_abort import ImportAbort, reaper
from flask_import_abort.processes import run_import
from flask_import_abort.processes.sql import SQLImportRegistry

from .scaling import POSTGRES_URL
from .stats import median

LEASE, INTERVAL, DEADLINE = 1.0, 0.25, 1.0
ROOT = Path(__file__).parent.parent


def until(condition: Callable[[], object], timeout: float = 30.0) -> float:
    """Poll ``condition`` every millisecond; when it held (``time.monotonic()``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition never held")
        time.sleep(0.001)
    return time.monotonic()


@contextmanager
def _worker(url: str, table: str, token: str, pause: float) -> Iterator[tuple[int, TextIO]]:
    """A worker process running an import; its pid, and what it prints."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "bench.liveness", "worker", url, table, token, str(pause)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    if worker.stdout is None:
        raise RuntimeError("the worker's output is not piped")
    try:
        yield worker.pid, worker.stdout
    finally:
        worker.kill()
        worker.wait()
        worker.stdout.close()


def _app(registry: SQLImportRegistry, **config: Any) -> Flask:
    app = Flask("bench")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=["bench"], **config)
    ImportAbort(app, registry=registry)
    return app


def death_to_end(registry: SQLImportRegistry, url: str) -> dict[str, float]:
    """Kill a worker mid-batch; seconds until its process reads lost, and until it is failed."""
    token = registry.register()
    app = _app(registry)
    with _worker(url, registry.table.name, token, pause=0.2) as (pid, output):
        while output.readline().strip() != "written":
            pass  # a batch written
        output.readline()  # and the next begun
        time.sleep(0.1)  # half-way through it
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        died = time.monotonic()
        time.sleep(random.uniform(0, INTERVAL))  # the reapers' round falls anywhere
        with reaper(app, INTERVAL):
            lost = until(lambda: registry.snapshot(token).lost or _ended(registry, token))
            ended = until(lambda: _ended(registry, token))
    return {"lost_s": lost - died, "ended_s": ended - died}


def deadline_to_forced(registry: SQLImportRegistry, url: str) -> dict[str, float]:
    """Abort a worker stuck in a long batch; seconds from the deadline to the forced end."""
    token = registry.register()
    app = _app(registry, IMPORT_ABORT_STOP_DEADLINE=DEADLINE)
    with _worker(url, registry.table.name, token, pause=30.0) as (_, output):
        output.readline()  # inside its first batch: it will not ask again for 30 s
        status = app.test_client().post(
            f"/ccadmin/v1/importProcess/{token}/abort", headers={"Authorization": "Bearer bench"}
        )
        if status.status_code != 200:
            raise AssertionError(f"the abort answered {status.status_code}")
        due = time.monotonic() + DEADLINE
        time.sleep(random.uniform(0, INTERVAL))  # the reapers' round falls anywhere
        with reaper(app, INTERVAL):
            forced = until(lambda: registry.snapshot(token).forced)
    return {"after_deadline_s": forced - due}


def _ended(registry: SQLImportRegistry, token: str) -> bool:
    return registry.snapshot(token).state.is_final


def run(trials: int = 5) -> dict[str, Any]:
    random.seed(12)
    logging.getLogger("flask_import_abort").setLevel(logging.ERROR)  # a line a reaped import
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-liveness-") as folder:
        urls = {"sqlite": f"sqlite:///{Path(folder, 'imports.db')}", "postgresql": POSTGRES_URL}
        for name, url in urls.items():
            with SQLImportRegistry(url, table_name="bench_liveness", lease=LEASE) as registry:
                registry.drop_table()
                registry.create_table()
                deaths = [death_to_end(registry, url) for _ in range(trials)]
                deadlines = [deadline_to_forced(registry, url) for _ in range(trials)]
                registry.drop_table()
            lost = [trial["lost_s"] for trial in deaths]
            ended = [trial["ended_s"] for trial in deaths]
            forced = [trial["after_deadline_s"] for trial in deadlines]
            results[name] = {
                "lease_s": LEASE,
                "interval_s": INTERVAL,
                "deadline_s": DEADLINE,
                "lost_median_s": median(lost),
                "lost_max_s": max(lost),
                "ended_median_s": median(ended),
                "ended_max_s": max(ended),
                "ended_bound_s": LEASE + INTERVAL,
                "forced_median_s": median(forced),
                "forced_max_s": max(forced),
                "forced_bound_s": 1.0,
            }
    return results


def worker(url: str, table: str, token: str, pause: str) -> None:
    """An import of batches of ten rows, ``pause`` seconds each, printing each batch's end."""
    with SQLImportRegistry(url, table_name=table, lease=LEASE) as registry:

        def write(batch: list[int]) -> None:
            print("writing", flush=True)
            time.sleep(float(pause))
            print("written", flush=True)

        run_import(registry, token, ([n] * 10 for n in range(1000)), write)


if __name__ == "__main__":  # python -m bench.liveness worker URL TABLE TOKEN PAUSE
    if sys.argv[1] == "worker":
        worker(*sys.argv[2:])
