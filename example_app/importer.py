"""A demo import: products written into a catalog batch by batch, stopping when asked."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from flask_import_abort import ImportState, InMemoryImportRegistry

log = logging.getLogger("example_app.importer")


def product(number: int) -> dict[str, Any]:
    """The demo catalog's product number ``number``, the same on every run."""
    return {
        "id": f"prod_{number:06d}",
        "displayName": f"Demo product {number}",
        "listPrice": round(5 + (number * 7919 % 10_000) / 100, 2),
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ProductImport:
    """One import process: ``batches`` batches of ``batch_size`` products into ``catalog``.

    Between batches it asks the registry whether it should stop, as OCC's imports do: an
    abort lets the batch in progress finish, and the batches written stay written.
    """

    registry: InMemoryImportRegistry
    token: str
    batches: int
    batch_size: int
    batch_seconds: float
    catalog: list[dict[str, Any]] = field(default_factory=list)
    done_batches: int = 0
    start_time: str | None = None
    end_time: str | None = None

    def start(self) -> threading.Thread:
        """Run the import in a background thread."""
        thread = threading.Thread(target=self.run, name=f"import-{self.token}", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        if not self.registry.start(self.token):
            log.info("import %s was aborted before it started", self.token)
            return
        self.start_time = _now()
        try:
            end = self._write_batches()
        except Exception:
            log.exception("import %s failed", self.token)
            end = ImportState.FAILED
        self.end_time = _now()
        self.registry.set_state(self.token, end)

    def _write_batches(self) -> ImportState:
        for batch in range(self.batches):
            if self.registry.should_stop(self.token):
                log.info(
                    "import %s: abort honoured after batch %d of %d; %d products stay written",
                    self.token,
                    self.done_batches,
                    self.batches,
                    len(self.catalog),
                )
                return ImportState.ABORTED
            first = batch * self.batch_size
            records = [product(number) for number in range(first, first + self.batch_size)]
            time.sleep(self.batch_seconds)  # the time a real batch takes to validate and store
            self.catalog.extend(records)
            self.done_batches += 1
            if self.done_batches % 10 == 0:
                log.info("import %s: batch %d of %d written", self.token, batch + 1, self.batches)
        return ImportState.SUCCEEDED

    def status(self) -> dict[str, Any]:
        """The process as OCC's getImportProcess describes one."""
        state = self.registry.state(self.token)
        return {
            "completed": state.is_final,
            "completedPercentage": 100 * self.done_batches // self.batches,
            "progress": state.value,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "recordsWritten": len(self.catalog),
        }
