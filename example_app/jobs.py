"""The demo's import and export, the same on every executor, each batch by batch.

An import writes a products file into the table: each batch takes ``pause`` seconds (the time a
real import spends validating and pricing it) and is then written in one transaction, so an
abort leaves whole batches behind. The file is read when the import runs, not when it is
queued, so queued imports cost no memory. An export writes the table to a JSON file, page by
page; only a whole file is named and linked (an aborted export leaves its ``.part`` behind).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, func, insert, select

from flask_import_abort.processes import ImportRun, WorkerRegistry, split

from .products import read_products

log = logging.getLogger("example_app.importer")


def batches(records: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``records`` in slices of ``size``."""
    for start in range(0, len(records), size):
        yield records[start : start + size]


def import_products(
    run: ImportRun,
    registry: WorkerRegistry,
    products: Table,
    path: str,
    batch_size: int,
    pause: float,
    part: int = 0,
    parts: int = 1,
) -> None:
    """The body of an import, or of its chunk ``part`` of ``parts`` (a slice of the file): ``run``
    stops it after the batch in hand when it is aborted."""
    log.info("import %s runs in process %d", run.token, os.getpid())
    records = split(read_products(Path(path)), parts)[part]
    engine = registry.engine  # type: ignore[attr-defined]
    # The total goes through the run, which reports it once the process has started: an
    # import aborted just as its job was dequeued never started, and refuses it.
    for batch in run.batches(batches(records, batch_size), total=len(records)):
        time.sleep(pause)
        rows = [
            {
                "process_id": run.token,
                "product_id": product["id"],
                "display_name": product["displayName"],
                "list_price_cents": round(product["listPrice"] * 100),
                "stock": product["stock"],
            }
            for product in batch
        ]
        with engine.begin() as connection:
            connection.execute(insert(products), rows)


def export_products(
    run: ImportRun,
    registry: WorkerRegistry,
    products: Table,
    folder: str,
    link: str,
    batch_size: int,
    pause: float,
) -> None:
    """The body of an export: the products table written to ``<folder>/<token>.json``, a page
    of ``batch_size`` at a time; ``run`` stops it after the page in hand when it is aborted.
    Once every page is written, the file is named and ``link`` (the address it is served at,
    ``{token}`` in it) is added to the export's metadata as ``fileLink``, before its end: what
    getExportProcess and the Export Complete notice give."""
    log.info("export %s runs in process %d", run.token, os.getpid())
    engine: Engine = registry.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(products)).scalar_one()
    target = Path(folder, f"{run.token}.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.part")
    with partial.open("w", encoding="utf-8") as file:
        file.write('{"products": [\n')
        written = 0
        for page in run.batches(_pages(engine, products, batch_size), total=total):
            time.sleep(pause)
            for row in page:
                file.write(("," if written else "") + json.dumps(row, sort_keys=True) + "\n")
                written += 1
        file.write("]}\n")
    if not run.stopped:  # every page written: the file is whole
        partial.replace(target)
        registry.update_metadata(run.token, {"fileLink": link.format(token=run.token)})


def _pages(engine: Engine, products: Table, size: int) -> Iterator[list[dict[str, Any]]]:
    """The products table, ``size`` rows a page, in the order of its key; each page read when
    it is asked for."""
    c = products.c
    query = select(c.product_id, c.display_name, c.list_price_cents, c.stock, c.process_id)
    query = query.order_by(c.process_id, c.product_id).limit(size)
    offset = 0
    while True:
        with engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query.offset(offset))]
        if not rows:
            return
        yield rows
        offset += len(rows)
