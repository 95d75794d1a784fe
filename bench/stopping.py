"""Abort-to-stop: from the abort's answer to the worker recording ``aborted``, against a batch."""

from __future__ import annotations

import itertools
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flask_import_abort import ImportState, InMemoryImportRegistry
from flask_import_abort.processes import WorkerRegistry, run_import
from flask_import_abort.processes.sql import SQLImportRegistry

from . import apps
from .inprocess import Route, environ
from .scaling import POSTGRES_URL
from .stats import median

BATCHES = (0.05, 0.2)


def one_trial(
    registry: WorkerRegistry, abort: Callable[[str], int], batch: float
) -> dict[str, float]:
    """Run an import of ``batch``-second batches, abort it part-way; the times seen.

    The worker asks ``should_stop`` before each batch, so its poll interval is one batch and
    the registry calls between two batches; the stop is bounded by one batch and one interval.
    """
    token = registry.register(total=10_000)
    stopped: list[float] = []
    polls: list[float] = []

    def batches() -> Iterator[list[int]]:
        while True:
            yield [0]

    def write(_: list[int]) -> None:
        time.sleep(batch)

    original = registry.should_stop

    def timed_should_stop(token: str) -> bool:
        polls.append(time.perf_counter())
        return original(token)

    def work() -> None:
        registry.should_stop = timed_should_stop  # type: ignore[method-assign]
        state = run_import(registry, token, batches(), write)
        stopped.append(time.perf_counter())
        if state is not ImportState.ABORTED:
            raise AssertionError(f"the import ended {state.value}, not aborted")

    worker = threading.Thread(target=work)
    worker.start()
    time.sleep(batch * random.uniform(1.5, 4.5))  # somewhere inside a batch
    if abort(token) != 200:
        raise AssertionError("the abort was not answered 200")
    answered = time.perf_counter()
    worker.join()
    registry.should_stop = original  # type: ignore[method-assign]
    intervals = [later - earlier for earlier, later in itertools.pairwise(polls)]
    return {
        "abort_to_stop_ms": (stopped[0] - answered) * 1000,
        "poll_interval_ms": median(intervals) * 1000,
    }


def plugin_abort(registry: WorkerRegistry) -> Callable[[str], int]:
    """The abort, through the plugin's route in-process (``app.wsgi_app``)."""
    wsgi = apps.plugin_app(registry).wsgi_app

    def abort(token: str) -> int:
        statuses: list[int] = []
        body = wsgi(
            environ(Route(token, apps.AUTH, 200, ())),
            lambda status, headers, exc_info=None: statuses.append(int(status[:3])),
        )
        b"".join(body)
        return statuses[0]

    return abort


def run(trials: int = 10) -> dict[str, Any]:
    random.seed(6)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stopping-") as folder:
        registries: dict[str, WorkerRegistry] = {
            "memory": InMemoryImportRegistry(),
            "sqlite": SQLImportRegistry(f"sqlite:///{Path(folder, 'imports.db')}"),
            "postgresql": SQLImportRegistry(POSTGRES_URL, table_name="bench_stopping"),
        }
        for name, registry in registries.items():
            if isinstance(registry, SQLImportRegistry):
                registry.drop_table()
                registry.create_table()
            abort = plugin_abort(registry)
            for batch in BATCHES:
                samples = [one_trial(registry, abort, batch) for _ in range(trials)]
                stops = [sample["abort_to_stop_ms"] for sample in samples]
                interval = median([sample["poll_interval_ms"] for sample in samples])
                results[f"{name} {batch * 1000:.0f} ms"] = {
                    "batch_ms": batch * 1000,
                    "poll_interval_ms": interval,
                    "median_ms": median(stops),
                    "max_ms": max(stops),
                    "bound_ms": batch * 1000 + interval,
                    "max_over_one_batch_ms": max(stops) - batch * 1000,
                    "samples": stops,
                }
            if isinstance(registry, SQLImportRegistry):
                registry.drop_table()
                registry.engine.dispose()
    return results
