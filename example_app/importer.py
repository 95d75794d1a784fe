"""The host's import worker: a products file written batch by batch, through the worker API."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, insert, select

from flask_import_abort import run_import
from flask_import_abort.registries.sql import SQLImportRegistry, create_tables

from .products import read_products

log = logging.getLogger("example_app.importer")


def batches(records: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``records`` in slices of ``size``."""
    for start in range(0, len(records), size):
        yield records[start : start + size]


@dataclass
class Importer:
    """Runs product imports in background threads, each registered in ``registry``.

    Each batch takes ``pause`` seconds (the time a real import spends validating and pricing
    it) and is then written in one transaction, so an abort leaves whole batches behind.
    """

    registry: SQLImportRegistry
    products: Table
    batch_size: int
    pause: float

    def create_tables(self) -> None:
        """The registry's table and the products', safely from every booting worker at once."""
        create_tables(self.registry.engine, self.registry.table, self.products)

    def start(self, path: Path) -> str:
        """Register an import of the file at ``path``, start it, and return its process id."""
        records = read_products(path)
        token = self.registry.register(total=len(records))
        thread = threading.Thread(
            target=self._run, args=(token, records), name=f"import-{token[:8]}", daemon=True
        )
        thread.start()
        return token

    def _run(self, token: str, records: list[dict[str, Any]]) -> None:
        log.info("import %s runs in process %d", token, os.getpid())
        write = functools.partial(self._write, token)
        try:
            state = run_import(self.registry, token, batches(records, self.batch_size), write)
        except Exception:  # ImportRun recorded it failed; the traceback goes to the log
            log.exception("import %s failed", token)
            return
        log.info("import %s ended %s", token, state.value)

    def _write(self, token: str, batch: Sequence[dict[str, Any]]) -> None:
        time.sleep(self.pause)
        rows = [
            {
                "process_id": token,
                "product_id": product["id"],
                "display_name": product["displayName"],
                "list_price_cents": round(product["listPrice"] * 100),
                "stock": product["stock"],
            }
            for product in batch
        ]
        with self.registry.engine.begin() as connection:
            connection.execute(insert(self.products), rows)

    def records_written(self, tokens: Sequence[str]) -> dict[str, int]:
        """How many products each process has in the table now."""
        column = self.products.c.process_id
        query = select(column, func.count()).where(column.in_(tokens)).group_by(column)
        with self.registry.engine.connect() as connection:
            return {row[0]: row[1] for row in connection.execute(query)}
