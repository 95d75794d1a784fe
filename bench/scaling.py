"""Registry scaling: the SQL registry's abort with 1,000 to 1,000,000 stored processes."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from flask_import_abort import AbortOutcome
from flask_import_abort.processes.sql import SQLImportRegistry

from .stats import interleaved, median

SIZES = (1_000, 100_000, 1_000_000)
POSTGRES_URL = os.environ.get(
    "IMPORT_ABORT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

_FILL = {
    "sqlite": """
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1)
        INSERT INTO {table} (token, state, created_at, finished_at, processed_count)
        SELECT printf('bench_%08d', i), CASE WHEN i < :running THEN 'processing'
               ELSE 'succeeded' END, '2026-01-01 00:00:00.000000', NULL, 0 FROM n
    """,
    "postgresql": """
        INSERT INTO {table} (token, state, created_at, finished_at, processed_count)
        SELECT 'bench_' || lpad(i::text, 8, '0'), CASE WHEN i < :running THEN 'processing'
               ELSE 'succeeded' END, now(), NULL, 0 FROM generate_series(0, :count - 1) AS i
    """,
}


def _token(number: int) -> str:
    return f"bench_{number:08d}"


def stored(url: str, size: int, running: int) -> SQLImportRegistry:
    """A registry whose table holds ``size`` processes, the first ``running`` of them running."""
    registry = SQLImportRegistry(url, table_name=f"bench_imports_{size}")
    registry.drop_table()
    registry.create_table()
    fill = _FILL[registry.engine.dialect.name].format(table=registry.table.name)
    with registry.engine.begin() as connection:
        connection.execute(text(fill), {"count": size, "running": running})
        if registry.engine.dialect.name == "postgresql":
            connection.execute(text(f"ANALYZE {registry.table.name}"))
    return registry


def measure_database(url: str, rounds: int, calls: int) -> dict[str, Any]:
    running = rounds * calls + calls  # one round of warm-up
    registries = {size: stored(url, size, running) for size in SIZES}
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
