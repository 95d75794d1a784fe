"""RQ jobs for the tests, run by a real worker: ``rq worker QUEUE``.

Redis and the queue come from ENGINE_TEST_REDIS_URL and ENGINE_TEST_QUEUE, beside the settings
of ``tests.engine_imports``.
"""

from __future__ import annotations

import os

from redis import Redis
from rq import Queue

from flask_import_abort import ImportRun
from flask_import_abort.processes.integrations.rq import RQImports

from .engine_imports import dispatcher, registry, write_batches
from .engine_imports import import_named as write_named

REDIS_URL = os.environ.get("ENGINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
redis = Redis.from_url(REDIS_URL)
imports = RQImports(
    Queue(os.environ.get("ENGINE_TEST_QUEUE", "engine-tests"), connection=redis), registry()
)

#: The webhooks' notices delivered by an RQ job that comes again, when a URL is given.
delivery = dispatcher(imports.registry)  # type: ignore[arg-type]

__all__ = ["REDIS_URL", "Queue", "delivery", "import_named", "import_rows", "imports", "redis"]


@imports.job
def import_rows(run: ImportRun, count: int, size: int, pause: float) -> None:
    write_batches(imports.registry, run, count, size, pause)  # type: ignore[arg-type]


@imports.job
def import_named(run: ImportRun, *, total: int, metadata: str) -> None:
    write_named(imports.registry, run, total, metadata)  # type: ignore[arg-type]
