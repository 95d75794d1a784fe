"""Telling a job engine of the aborts an app's endpoint records, without making it wait::

    imports = CeleryImports(celery, registry)      # or RQImports(queue, registry)
    mirror = mirror_aborts(app, imports)
    ...
    mirror.wait(5.0)                               # before a clean shutdown, say

The registry is the source of truth: when the broker is down, the abort still counts, the
worker stops at its next batch, and one WARNING line says the engine was not told.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from flask import Flask

from ..processes.contract import AbortOutcome
from ..processes.tokens import token_for_log
from ..signals import abort_answered
from ._settings import operators_of

__all__ = ["Mirror", "mirror_aborts"]

log = logging.getLogger("flask_import_abort")


class Engine(Protocol):
    """An engine adapter of the process layer: ``CeleryImports`` or ``RQImports``."""

    def tell_of_abort(self, token: str) -> None: ...


def mirror_aborts(app: Flask, imports: Engine) -> Mirror:
    """Tell ``imports``' engine of each abort ``app``'s endpoint records, in the background: a
    queued job never runs, a running Celery task is marked ``ABORTED`` (what Flower shows)."""
    mirror = Mirror(imports.tell_of_abort)
    abort_answered.connect(mirror.answered, sender=app, weak=False)
    operators_of(app).engines.append(imports)  # reaping ends what the engine cancelled
    return mirror


class Mirror:
    """Calls ``tell(token)`` for each requested abort in a thread of its own, so the
    endpoint's answer never waits for an engine; a failure is one WARNING line."""

    def __init__(self, tell: Callable[[str], None]) -> None:
        self._tell = tell
        self._tokens: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._untold = 0
        self._told = threading.Condition(self._lock)

    def answered(self, sender: object, *, token: str, outcome: AbortOutcome, **_: Any) -> None:
        if outcome is not AbortOutcome.REQUESTED:
            return  # unknown, finished, or told before: nothing to send
        with self._lock:
            self._untold += 1
        self._tokens.put(token)
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="import-abort-mirror", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            token = self._tokens.get()
            try:
                self._tell(token)
            except Exception as error:
                log.warning(
                    "import process %s: its abort is recorded, but its engine could not be "
                    "told (%s: %s); its worker stops at its next batch all the same",
                    token_for_log(token),
                    type(error).__name__,
                    str(error).splitlines()[0][:200] if str(error) else "",
                )
            finally:
                with self._lock:
                    self._untold -= 1
                    self._told.notify_all()

    def wait(self, timeout: float = 5.0) -> bool:
        """Wait until the engine was told of every abort so far (or telling it failed);
        whether it was, within ``timeout`` seconds."""
        with self._lock:
            return self._told.wait_for(lambda: self._untold == 0, timeout)
