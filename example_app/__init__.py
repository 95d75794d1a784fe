"""A host app that mounts flask-import-abort: real product imports, their dashboard, and abort.

make run                    # or: DEMO_BEARER_TOKEN=... python -m example_app
make run EXECUTOR=celery    # imports on a Celery worker (or EXECUTOR=rq, on an RQ worker)
make run EXECUTOR=celery PARALLELISM=4   # each import in four chunks, on four processes
make run WEBHOOKS=1         # OCC's Import Complete webhook, to a receiver of its own

Every ``DEMO_*`` setting may also come from the environment as ``FLASK_DEMO_*``.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from flask import Flask
from sqlalchemy import MetaData

from flask_import_abort import ImportAbort, reaper
from flask_import_abort.operators.metrics import ImportAbortMetrics
from flask_import_abort.processes import Reaper
from flask_import_abort.processes.sql import SQLImportRegistry, create_tables

from . import settings
from .importer import Importer
from .occ import EXPORT_PREFIX, api, dashboard, status_fields
from .products import products_table
from .receiver import PATH as RECEIVER_PATH
from .receiver import notices_table, receiver


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The demo host: its import processes live in ``DEMO_DATABASE_URL``."""
    app = Flask(__name__)
    settings.load(app.config, app.instance_path, config)
    token = app.config["DEMO_BEARER_TOKEN"] or secrets.token_urlsafe(24)
    app.config["DEMO_BEARER_TOKEN"] = token
    application_key = app.config["DEMO_APPLICATION_KEY"] or secrets.token_urlsafe(24)
    app.config["DEMO_APPLICATION_KEY"] = application_key
    os.makedirs(app.instance_path, exist_ok=True)

    # The plugin: the registry the imports are kept in, and who may abort them.
    lease = float(app.config["DEMO_LEASE"])  # seconds without a heartbeat: its worker is lost
    webhooks = app.config["DEMO_WEBHOOK_RECEIVER"]  # every end notified, to its own receiver
    url = app.config["DEMO_DATABASE_URL"]
    registry = SQLImportRegistry(url, lease=lease, webhooks=webhooks)  # the imports
    importer = Importer(
        registry,
        products_table(MetaData()),
        batch_size=int(app.config["DEMO_BATCH_SIZE"]),
        pause=float(app.config["DEMO_BATCH_PAUSE"]),
        executor=app.config["DEMO_EXECUTOR"],
        max_running=int(app.config["DEMO_MAX_RUNNING_IMPORTS"]),
        parallelism=app.config["DEMO_PARALLELISM"],  # chunks of each import, a worker each
        export_folder=app.config["DEMO_EXPORT_FOLDER"],  # exports' files, served by the demo
        export_link=f"{app.config['DEMO_PUBLIC_URL'].rstrip('/')}{EXPORT_PREFIX}/{{token}}/file",
    )
    importer.create_tables()  # or upgrades them, from an older version's
    app.config.setdefault("IMPORT_ABORT_FORCE_STOP", importer.force_stop())  # the engine's kill
    app.config["IMPORT_ABORT_BEARER_TOKENS"] = {"demo-admin": token}  # who may abort, by name
    app.config["IMPORT_ABORT_APPLICATION_KEYS"] = {"demo-client": application_key}  # OCC's login
    app.config.setdefault("IMPORT_ABORT_SIGNING_KEYS", {"demo-1": secrets.token_urlsafe(48)})
    app.config.setdefault("IMPORT_ABORT_STATUS_FIELDS", status_fields)  # its own fields
    if webhooks:  # OCC's Import Complete webhook, to the receiver below; the reaper delivers
        public = app.config["DEMO_PUBLIC_URL"].rstrip("/")
        app.config["IMPORT_ABORT_WEBHOOK_URLS"] = [f"{public}{RECEIVER_PATH}"]
        app.config["IMPORT_ABORT_WEBHOOK_EXPORT_URLS"] = [f"{public}{RECEIVER_PATH}"]
        app.config.setdefault("IMPORT_ABORT_WEBHOOK_SECRET", secrets.token_urlsafe(32))
        app.config["IMPORT_ABORT_WEBHOOK_BASE_URL"] = public
    ImportAbort(app, registry=registry)  # abortImportProcess, and getImportProcess

    # The host's own part: the importer, its endpoints, its page.
    importer.mirror_aborts(app)  # with an engine: a queued job is dropped, Flower sees aborts
    app.extensions["demo_metrics"] = ImportAbortMetrics(app)  # at /metrics, behind the token
    app.extensions["demo_importer"] = importer
    app.register_blueprint(api)
    app.register_blueprint(dashboard)
    if webhooks:
        notices = notices_table(importer.products.metadata)
        create_tables(registry.engine, notices)
        app.extensions["demo_notices"] = notices
        app.register_blueprint(receiver)

    # Imports whose worker died (a killed or restarted server) end failed once their lease
    # lapses: every worker of every machine reaps, and each end is recorded once.
    interval = float(app.config["DEMO_REAP_INTERVAL"])
    if interval > 0:
        app.extensions["demo_reaper"] = reaper(app, interval).start()
    return app


def close_app(app: Flask) -> None:
    """Stop the app's reaper and executor and close its registry's connections, once it serves
    no more."""
    running: Reaper | None = app.extensions.get("demo_reaper")
    if running is not None:
        running.stop()
    importer: Importer = app.extensions["demo_importer"]
    importer.close()
    importer.registry.close()
