"""Registry scaling: the SQL registry's abort with 1,000 to 1,000,000 running processes."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from flask_import_abort import AbortOutcome
from flask_import_abort.processes.sql import SQLImportRegistry

from .stats import interleaved, median

SIZES = (1_000, 100_000, 1_000_000)
POSTGRES_URL = os.environ.get(
    "IMPORT_ABORT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

#: The table's processes, every one running as ``register(total=10)`` and ``start`` leave it:
#: started and beating now, nothing asked of it yet.
_FILL = {
    "sqlite": """
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1)
        INSERT INTO {table} (token, state, created_at, started_at, heartbeat_at,
                             processed_count, total_count)
        SELECT printf('bench_%08d', i), 'processing', {now}, {now}, {now}, 0, 10 FROM n
    """,
    "postgresql": """
        INSERT INTO {table} (token, state, created_at, started_at, heartbeat_at,
                             processed_count, total_count)
        SELECT 'bench_' || lpad(i::text, 8, '0'), 'processing', now(), now(), now(), 0, 10
        FROM generate_series(0, :count - 1) AS i
    """,
}
#: A running process stays running through the whole section: no heartbeat goes stale.
LEASE = 24 * 3600.0


def _token(number: int) -> str:
    return f"bench_{number:08d}"


def stored(url: str, size: int) -> SQLImportRegistry:
    """A registry whose table holds ``size`` running processes. They are written through an
    engine of their own, as a host's workers write theirs, apart from the web process that
    aborts them."""
    registry = SQLImportRegistry(url, table_name=f"bench_imports_{size}", lease=LEASE)
    registry.drop_table()
    registry.create_table()
    dialect = registry.engine.dialect.name
    now = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
    fill = _FILL[dialect].format(table=registry.table.name, now=now)
    workers = create_engine(url)
    try:
        with workers.begin() as connection:
            connection.execute(text(fill), {"count": size})
            if dialect == "postgresql":
                connection.execute(text(f"ANALYZE {registry.table.name}"))
    finally:
        workers.dispose()
    return registry


def measure_database(url: str, rounds: int, calls: int) -> dict[str, Any]:
    if rounds * calls + calls > SIZES[0]:  # each abort takes a running process, and a warm-up
        raise ValueError(f"{rounds} rounds of {calls} aborts need more than {SIZES[0]} rows")
    registries = {size: stored(url, size) for size in SIZES}
    next_token = dict.fromkeys(SIZES, 0)

    def measure(size: int) -> Any:
        def once() -> float:
            registry, timings = registries[size], []
            for _ in range(calls):
                token = _token(next_token[size])
                next_token[size] += 1
                started = time.perf_counter_ns()
                outcome = registry.abort(token)
                timings.append((time.perf_counter_ns() - started) / 1000)
                if outcome is not AbortOutcome.REQUESTED:
                    raise AssertionError(f"{token}: {outcome}, not requested")
            return median(timings)

        return once

    try:
        for size in SIZES:
            measure(size)()  # warm up: connections, statement caches, the index's pages
        samples = interleaved({str(size): measure(size) for size in SIZES}, rounds)
    finally:
        for registry in registries.values():
            registry.drop_table()
            registry.engine.dispose()
    row: dict[str, Any] = {
        size: {"us_per_abort": median(values), "samples": values}
        for size, values in samples.items()
    }
    row["ratio"] = row[str(SIZES[-1])]["us_per_abort"] / row[str(SIZES[0])]["us_per_abort"]
    return row


def run(rounds: int = 12, calls: int = 50) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as folder:
        results["sqlite"] = measure_database(
            f"sqlite:///{Path(folder, 'imports.db')}", rounds, calls
        )
    results["postgresql"] = measure_database(POSTGRES_URL, rounds, calls)
    return results
