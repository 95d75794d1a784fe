"""Prometheus metrics of the abort endpoint and the import processes (extra ``[metrics]``).

Nothing is mounted until the host says where::

    metrics = ImportAbortMetrics(app)
    app.add_url_rule("/metrics", view_func=metrics.exposition)   # behind the host's own auth

``import_abort_answers_total{outcome, status}`` counts the endpoint's answers;
``import_abort_abort_to_stop_seconds{kind}`` is the time from an abort to the end it brought,
observed where the end is recorded (this process's ``ImportRun`` s and reaps: a Celery or RQ
worker exposes its own); ``import_abort_processes{kind, state}`` is read from the registry at
scrape time, within the registry's own time bound. ``kind`` is ``import`` or ``export``.

Under a server of several worker processes (gunicorn ``--workers 4``), each process counts its
own answers, and a scrape reaches one of them. Use prometheus_client's multiprocess mode: set
``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before the app (and prometheus_client) is
imported, and call ``prometheus_client.multiprocess.mark_process_dead(worker.pid)`` from
gunicorn's ``child_exit``; ``exposition()`` then adds up every process's counts (the example
app's ``gunicorn_conf.py`` does all three).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

try:
    import prometheus_client
except ImportError as missing:
    raise ImportError(
        "flask_import_abort.operators.metrics needs prometheus_client: "
        "pip install 'flask-import-abort[metrics]'"
    ) from missing

from flask import Flask, Response, current_app
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..endpoint._settings import settings_of
from ..processes.capabilities import Kinded, Listing
from ..processes.contract import AbortOutcome, ProcessKind, failures
from ..processes.lifecycle import ImportState, ProcessSnapshot
from ..processes.signals import notice_delivered, notice_failed, notice_retried
from ..signals import abort_responded, process_ended
from ._settings import operators_of

__all__ = ["ImportAbortMetrics"]

log = logging.getLogger("flask_import_abort")

#: Seconds from an abort to the end it brought: a batch or two, up to a stop deadline.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)


class ImportAbortMetrics:
    """The metrics of one or more apps, in ``registry`` (a new ``CollectorRegistry`` by
    default, so that several apps in one process never collide; pass
    ``prometheus_client.REGISTRY`` to join the process-wide one)."""

    def __init__(
        self, app: Flask | None = None, *, registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        self.answers = Counter(
            "import_abort_answers",
            "Answers of the abort endpoint, by the registry's outcome and the HTTP status.",
            ["outcome", "status"],
            registry=self.registry,
        )
        self.abort_to_stop = Histogram(
            "import_abort_abort_to_stop_seconds",
            "Seconds from an abort to the end it brought, for the ends recorded here, by the "
            "process's kind (import or export).",
            ["kind"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.notices = Counter(
            "import_abort_webhook_notices",
            "Attempts of the webhooks' notices by what came of them: delivered (to every URL), "
            "retried (to be tried again), failed (for good).",
            ["result"],
            registry=self.registry,
        )
        self._states = _States()
        self.registry.register(self._states)
        #: What a scrape reads in multiprocess mode: every process's counts, and the states.
        self._every_process: CollectorRegistry | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Count ``app``'s answers, time the ends of its registry's processes, and report the
        processes by state. The plugin must be set up on ``app`` first."""
        registry = settings_of(app).registry
        abort_responded.connect(self._answered, sender=app, weak=False)
        process_ended.connect(self._ended, sender=registry, weak=False)
        dispatcher = operators_of(app).dispatcher
        if dispatcher is not None:
            for result, signal in (
                ("delivered", notice_delivered),
                ("retried", notice_retried),
                ("failed", notice_failed),
            ):
                signal.connect(self._noticed(result), sender=dispatcher, weak=False)
        if isinstance(registry, Listing):
            self._states.registries.append(registry)

    def exposition(self) -> Response:
        """The metrics in Prometheus's text format: a view to mount where the host wants. In
        multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set), the counts of every process."""
        return current_app.response_class(
            prometheus_client.generate_latest(self._scraped()),
            content_type=prometheus_client.CONTENT_TYPE_LATEST,
        )

    def _scraped(self) -> CollectorRegistry:
        """What a scrape reads: this process's registry, or under a multiprocess server
        (``PROMETHEUS_MULTIPROC_DIR``) every worker's files and the states read once."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return self.registry
        if self._every_process is None:
            every_process = CollectorRegistry()
            multiprocess.MultiProcessCollector(every_process)  # type: ignore[no-untyped-call]
            every_process.register(self._states)
            self._every_process = every_process
        return self._every_process

    def _answered(
        self, sender: object, *, status: int, outcome: AbortOutcome | None, **_: Any
    ) -> None:
        self.answers.labels("refused" if outcome is None else outcome.value, str(status)).inc()

    def _noticed(self, result: str) -> Any:
        counted = self.notices.labels(result)
        return lambda sender, **_: counted.inc()

    def _ended(self, sender: object, *, snapshot: ProcessSnapshot, **_: Any) -> None:
        asked, ended = snapshot.abort_requested_at, snapshot.finished_at
        if snapshot.state is ImportState.ABORTED and asked is not None and ended is not None:
            kind = self.abort_to_stop.labels(snapshot.kind.value)
            kind.observe(max(0.0, (ended - asked).total_seconds()))


class _States(Collector):
    """The processes of each registry by state, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.registries: list[Listing] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The processes by state, read from the registries at scrape time; every state is
        given, 0 when no process is in it."""
        gauge = GaugeMetricFamily(
            "import_abort_processes",
            "Processes by kind (import or export) and state, as the registry holds them at "
            "scrape time.",
            labels=["kind", "state"],
        )
        counts = {(kind, state): 0 for kind in ProcessKind for state in ImportState}
        for registry in self.registries:
            try:
                for kind, state, count in _counted(registry):
                    counts[kind, state] += count
            except failures():
                log.warning("import processes could not be counted for a scrape", exc_info=True)
                return
        for (kind, state), count in counts.items():
            gauge.add_metric([kind.value, state.value], count)
        yield gauge

    def describe(self) -> list[Any]:
        return []


def _counted(registry: Listing) -> Iterator[tuple[ProcessKind, ImportState, int]]:
    """``registry``'s processes counted by kind and state: every one an import where the
    registry records no kinds."""
    kinds = registry.kinds if isinstance(registry, Kinded) else None
    if kinds is None:
        for state, count in registry.count_by_state().items():
            yield ProcessKind.IMPORT, ImportState(state), count
        return
    for kind in sorted(kinds):
        for state, count in registry.count_by_state(kind=kind).items():
            yield kind, ImportState(state), count
