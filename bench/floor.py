"""The SQL registry against the database's own floor: its statements sent through the raw driver.

For ``abort``, ``should_stop`` (which records the heartbeat) and ``report_progress``, the floor
is the very statement the registry sends, compiled by the registry for the dialect, executed
on a plain driver connection (``sqlite3`` / ``psycopg``) with its parameters, and committed:
what any code that writes the same row durably must pay. A statement that grows slower makes
both sides slower, though, so ``abort, simplest`` measures the registry's abort against the
simplest durable abort any code could write: one column, ``UPDATE <table> SET
abort_requested_at = ... WHERE token = ...``, and ``COMMIT``. Registry and floor alternate call
by call, on running processes of the same table, so drift and the disk's moods hit both alike.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from flask_import_abort.processes import AbortRequest, ProcessKind
from flask_import_abort.processes.sql import SQLImportRegistry
from flask_import_abort.processes.sql._store import _Compiled

from .scaling import POSTGRES_URL
from .stats import median


def quantiles(values: list[float]) -> list[float]:
    return statistics.quantiles(values, n=4) if len(values) > 1 else values * 3


OPERATIONS = ("abort", "abort, simplest", "should_stop", "report_progress")


@contextmanager
def _databases(names: list[str]) -> Iterator[list[tuple[str, str]]]:
    with tempfile.TemporaryDirectory() as folder:
        urls = {"sqlite": f"sqlite:///{Path(folder) / 'floor.db'}", "postgresql": POSTGRES_URL}
        yield [(name, urls[name]) for name in names]


def _raw_connection(url: str) -> Any:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return sqlite3.connect(parsed.database or "", timeout=5)
    import psycopg

    return psycopg.connect(parsed.set(drivername="postgresql").render_as_string(False))


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def measure(url: str, rounds: int, calls: int, kind: str = "import") -> dict[str, Any]:
    """Per operation: µs per call through the registry and through the raw driver, and ratio;
    on processes of ``kind``, aborted as that kind's route aborts them."""
    registry = SQLImportRegistry(url, table_name="bench_floor")
    registry.drop_table()
    registry.create_table()
    raw = _raw_connection(url)
    dialect = registry.engine.dialect
    statements = registry._statements  # the registry's own statements, for the floor
    prepared = {
        "abort": _Compiled(statements.abort_running, dialect),
        "should_stop": _Compiled(statements.beat, dialect),
        "report_progress": _Compiled(statements.progress, dialect),
    }

    # The processes are made through connections of their own, as a host's workers make them:
    # on PostgreSQL a connection that has just written a row updates it more slowly than any
    # other (10 to 25 % here, with the raw driver alone), which would tilt the scale.
    workers = SQLImportRegistry(url, table_name="bench_floor")

    def running(count: int) -> list[str]:
        tokens = [workers.register(kind=kind) for _ in range(count)]
        for token in tokens:
            workers.start(token)
        return tokens

    def floor(name: str, values: dict[str, Any]) -> None:
        cursor = raw.cursor()
        cursor.execute(prepared[name].sql, prepared[name].parameters(values))
        cursor.close()
        raw.commit()

    simplest_sql = f"UPDATE {registry.table.name} SET abort_requested_at = " + (
        "? WHERE token = ?" if isinstance(raw, sqlite3.Connection) else "%s WHERE token = %s"
    )

    def simplest(token: str) -> None:
        now = datetime.now(timezone.utc)
        if isinstance(raw, sqlite3.Connection):  # stored as SQLAlchemy stores a DateTime
            now = now.replace(tzinfo=None)
        cursor = raw.cursor()
        cursor.execute(simplest_sql, (now.isoformat(sep=" "), token))
        cursor.close()
        raw.commit()

    asked = AbortRequest(kind=ProcessKind(kind))  # as the route of that kind asks

    try:
        samples: dict[str, dict[str, list[float]]] = {
            name: {"registry": [], "raw": [], "ratio": []} for name in OPERATIONS
        }
        for _ in range(rounds):
            # abort needs a fresh process a call
            ours, theirs, simple_ours, simple_theirs = (running(calls) for _ in range(4))
            beat_ours, beat_theirs = running(2)  # beating and reporting, never aborted
            times: dict[str, dict[str, list[float]]] = {
                name: {"registry": [], "raw": []} for name in OPERATIONS
            }
            for call in range(calls):
                abort_values = {
                    **{"key": theirs[call], "stop_deadline": None, "of_kind": kind},
                    **{"actor": None, "reason": None, "request_id": None, "end_reason": None},
                }
                progress_values = {"key": beat_theirs, "processed": call}
                pairs = {
                    "abort": (
                        partial(registry.abort, ours[call], asked),
                        partial(floor, "abort", abort_values),
                    ),
                    "abort, simplest": (
                        partial(registry.abort, simple_ours[call]),
                        partial(simplest, simple_theirs[call]),
                    ),
                    "should_stop": (
                        partial(registry.should_stop, beat_ours),
                        partial(floor, "should_stop", {"key": beat_theirs}),
                    ),
                    "report_progress": (
                        partial(registry.report_progress, beat_ours, call),
                        partial(floor, "report_progress", progress_values),
                    ),
                }
                for name, (through_registry, through_driver) in pairs.items():
                    first, second = (
                        (through_registry, through_driver)
                        if call % 2
                        else (through_driver, through_registry)
                    )
                    took = (_timed(first), _timed(second))
                    ours_took, theirs_took = took if call % 2 else took[::-1]
                    times[name]["registry"].append(ours_took)
                    times[name]["raw"].append(theirs_took)
            for name in OPERATIONS:
                for variant in ("registry", "raw"):
                    samples[name][variant].append(median(times[name][variant]))
                # Each call and its floor ran back to back: the median of their ratios.
                pairs = zip(times[name]["raw"], times[name]["registry"], strict=True)
                samples[name]["ratio"].append(median([raw / ours for raw, ours in pairs]))
    finally:
        raw.close()
        workers.close()
        registry.drop_table()
        registry.close()
    return {
        name: {
            "registry_us": median(samples[name]["registry"]) * 1e6,
            "raw_us": median(samples[name]["raw"]) * 1e6,
            "ratio": median(samples[name]["ratio"]),
            "q1": quantiles(samples[name]["ratio"])[0],
            "q3": quantiles(samples[name]["ratio"])[2],
        }
        for name in OPERATIONS
    }


def run(
    *, rounds: int = 15, calls: int = 100, databases: list[str] | None = None
) -> dict[str, Any]:
    """The floor comparison on each database."""
    with _databases(databases or ["sqlite", "postgresql"]) as found:
        return {name: measure(url, rounds, calls) for name, url in found}


if __name__ == "__main__":  # python -m bench.floor
    import json

    print(json.dumps(run(rounds=int(os.environ.get("ROUNDS", "5"))), indent=2))
