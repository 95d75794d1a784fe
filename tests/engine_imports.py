"""The import the engine tests run: rows into a table of their own, batch by batch.

Celery and RQ workers import this module (``tests.celery_app``, ``tests.rq_app``); the
settings come from the environment the test gives the worker:

ENGINE_TEST_DATABASE_URL    the registry's database
ENGINE_TEST_TABLE           the registry's table (the products table is named after it)
ENGINE_TEST_LEASE           the registry's lease, in seconds
ENGINE_TEST_WEBHOOK_URL     where the workers' dispatcher delivers the webhooks' notices
                            (their registry writes notices only when it is set)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from flask_import_abort import ImportRun
from flask_import_abort.processes.sql import SQLImportRegistry
from flask_import_abort.processes.webhooks import WebhookDispatcher


def registry() -> SQLImportRegistry:
    """The workers' registry; in the tests' own process, a placeholder they replace."""
    return SQLImportRegistry(
        os.environ.get("ENGINE_TEST_DATABASE_URL", "sqlite://"),
        table_name=os.environ.get("ENGINE_TEST_TABLE", "engine_tests"),
        lease=float(os.environ.get("ENGINE_TEST_LEASE", "60")),
        webhooks="ENGINE_TEST_WEBHOOK_URL" in os.environ,
    )


#: The secret the workers' dispatcher signs with.
WEBHOOK_SECRET = "webhook-secret-of-the-tests"


def dispatcher(registry: SQLImportRegistry) -> WebhookDispatcher | None:
    """The workers' dispatcher of the webhooks' notices, when a URL is given."""
    url = os.environ.get("ENGINE_TEST_WEBHOOK_URL")
    if url is None:
        return None
    return WebhookDispatcher(registry, url, WEBHOOK_SECRET, timeout=2.0, first_wait=0.001)


def products_table(registry_table: str) -> Table:
    return Table(
        f"products_{registry_table}",
        MetaData(),
        Column("process_id", String(256), primary_key=True),
        Column("id", Integer, primary_key=True),
    )


def batches(count: int, size: int) -> Iterator[list[int]]:
    for batch in range(count):
        yield list(range(batch * size, (batch + 1) * size))


def write_batches(
    registry: SQLImportRegistry, run: ImportRun, count: int, size: int, pause: float
) -> None:
    """The body of the engines' import: each batch takes ``pause`` s, then is one INSERT."""
    products = products_table(registry.table.name)
    for batch in run.batches(batches(count, size)):
        time.sleep(pause)
        rows: list[dict[str, Any]] = [{"id": n, "process_id": run.token} for n in batch]
        with registry.engine.begin() as connection:
            connection.execute(insert(products), rows)


#: What :func:`import_named`'s keyword argument ``metadata`` must be, the job's own.
OWN_METADATA = "the job's own metadata"


def import_named(registry: SQLImportRegistry, run: ImportRun, total: int, metadata: str) -> None:
    """A job whose keyword arguments are named as the options of its registration: it writes
    ``total`` records, and fails unless ``metadata`` is :data:`OWN_METADATA`."""
    if metadata != OWN_METADATA:
        raise ValueError(f"the job was given metadata={metadata!r}")
    for _ in run.batches([list(range(total))]):
        registry.report_progress(run.token, total)
