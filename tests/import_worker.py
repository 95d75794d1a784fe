"""An import worker in a process of its own, as a host runs one: products into a table by batch.

python -m tests.import_worker DATABASE_URL REGISTRY_TABLE TOKEN PRODUCTS_TABLE BATCHES SIZE PAUSE \
    [LEASE]

It prints "batch N" as each batch is written, and the end state at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table

from flask_import_abort.processes import run_import
from flask_import_abort.processes.sql import SQLImportRegistry


def products_table(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("display_name", String(64), nullable=False),
    )


def main(argv: list[str]) -> None:
    url, registry_table, token, products_name, batches, size, pause, *lease = argv
    registry = SQLImportRegistry(
        url, table_name=registry_table, lease=float(lease[0] if lease else 60)
    )
    products = products_table(products_name)
    products.create(registry.engine, checkfirst=True)

    def read() -> Iterator[list[dict[str, Any]]]:
        for batch in range(int(batches)):
            first = batch * int(size)
            yield [
                {"id": n, "display_name": f"Product {n}"} for n in range(first, first + int(size))
            ]

    def write(batch: list[dict[str, Any]]) -> None:
        time.sleep(float(pause))  # the time a real batch takes to validate
        with registry.engine.begin() as connection:
            connection.execute(products.insert(), batch)
        print(f"batch {batch[0]['id'] // int(size)}", flush=True)

    print(run_import(registry, token, read(), write).value, flush=True)
    registry.close()


if __name__ == "__main__":
    main(sys.argv[1:])
