"""The demo's settings: their defaults, then ``FLASK_DEMO_*`` from the environment.

The web app (``create_app``) and the engines' workers (``example_app.celery_app``,
``example_app.rq_app``) read them alike, so that a worker started beside the app, on this
machine or another, finds the same database, broker and queue.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Config, Flask

from .products import DATA

EXECUTORS = ("thread", "celery", "rq")
TRANSLATIONS = Path(__file__).with_name("translations")


def defaults(instance_path: str) -> dict[str, Any]:
    return {
        "DEMO_BEARER_TOKEN": os.environ.get("DEMO_BEARER_TOKEN"),  # a random one when not set
        # What an OCC client signs in with at /ccadmin(ui)/v1/login; a random one when not set.
        "DEMO_APPLICATION_KEY": None,
        "DEMO_DATABASE_URL": f"sqlite:///{Path(instance_path, 'imports.db')}",
        "DEMO_IMPORT_FOLDER": str(DATA),
        # Where exports write the products table (each served at .../exportProcess/<id>/file).
        "DEMO_EXPORT_FOLDER": str(Path(instance_path, "exports")),
        "DEMO_BATCH_SIZE": 500,
        "DEMO_BATCH_PAUSE": 0.5,
        "DEMO_LEASE": 15.0,
        "DEMO_REAP_INTERVAL": 5.0,
        "DEMO_EXECUTOR": "thread",
        "DEMO_MAX_RUNNING_IMPORTS": 2,
        # Each import's products split into this many chunks, each run by a worker of its own
        # (a thread, a Celery pool process, an RQ worker); one abort stops them all.
        "DEMO_PARALLELISM": 1,
        # The demo's own receiver of OCC's Import Complete webhook (/demo/webhooks), and the
        # address the app is reached at, which the notices link to.
        "DEMO_WEBHOOK_RECEIVER": False,
        "DEMO_PUBLIC_URL": "http://127.0.0.1:5000",
        "DEMO_CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
        "DEMO_CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/0",
        "DEMO_REDIS_URL": "redis://127.0.0.1:6379/0",
        # The queue the engines' imports go to: `rq worker imports`, Celery's `-Q imports`.
        "DEMO_QUEUE": "imports",
        # The demo stands in for OCC's admin API: both of its roots, getImportProcess beside
        # the abort, and the discovery its clients call first (verify, registry).
        "IMPORT_ABORT_URL_PREFIX": ["/ccadmin/v1/importProcess", "/ccadminui/v1/importProcess"],
        "IMPORT_ABORT_STATUS_ROUTE": True,
        "IMPORT_ABORT_OCC_DISCOVERY": True,
        # OCC's exports too: abortExportProcess and getExportProcess under both roots.
        "IMPORT_ABORT_EXPORTS": True,
        "IMPORT_ABORT_EXPORT_URL_PREFIX": [
            "/ccadmin/v1/exportProcess",
            "/ccadminui/v1/exportProcess",
        ],
        # An abort left unheeded this long is forced (the engines' hooks stop the worker).
        "IMPORT_ABORT_STOP_DEADLINE": 30.0,
        # The demo's own messages in every language the plugin speaks.
        "IMPORT_ABORT_TRANSLATIONS": str(TRANSLATIONS),
    }


def load(config: Config, instance_path: str, overrides: dict[str, Any] | None = None) -> None:
    """Fill ``config``: the defaults, then the environment, then ``overrides``."""
    config.update(defaults(instance_path))
    config.from_prefixed_env()  # FLASK_DEMO_BATCH_PAUSE=2, FLASK_IMPORT_ABORT_..., ...
    config.update(overrides or {})
    parallelism = config["DEMO_PARALLELISM"]
    if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1:
        raise ValueError(
            f"DEMO_PARALLELISM is a whole number of chunks, at least 1; got {parallelism!r}."
        )
    if not isinstance(config["DEMO_WEBHOOK_RECEIVER"], bool):
        raise TypeError(
            "DEMO_WEBHOOK_RECEIVER must be True or False (FLASK_DEMO_WEBHOOK_RECEIVER=true); "
            f"got {config['DEMO_WEBHOOK_RECEIVER']!r}."
        )
    if config["DEMO_EXECUTOR"] not in EXECUTORS:
        raise ValueError(
            f"DEMO_EXECUTOR must be one of {', '.join(EXECUTORS)}; got {config['DEMO_EXECUTOR']!r}."
        )


def for_workers() -> Config:
    """The settings a worker process reads: those of an app made with no overrides."""
    instance_path = Flask("example_app").instance_path
    config = Config(instance_path)
    load(config, instance_path)
    return config
