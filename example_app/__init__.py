"""A host app that mounts flask-import-abort: real product imports, their dashboard, and abort.

make run        # or: DEMO_BEARER_TOKEN=... python -m example_app

Every ``DEMO_*`` setting may also come from the environment as ``FLASK_DEMO_*``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import MetaData

from flask_import_abort import BearerTokens, ImportAbort, Reaper
from flask_import_abort.registries.sql import SQLImportRegistry

from .importer import Importer
from .occ import api, dashboard
from .products import DATA, products_table


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The demo host: its import processes live in ``DEMO_DATABASE_URL``."""
    app = Flask(__name__)
    app.config.update(
        DEMO_BEARER_TOKEN=os.environ.get("DEMO_BEARER_TOKEN"),  # a random one when not set
        DEMO_DATABASE_URL=f"sqlite:///{Path(app.instance_path, 'imports.db')}",
        DEMO_IMPORT_FOLDER=str(DATA),
        DEMO_BATCH_SIZE=500,
        DEMO_BATCH_PAUSE=0.5,
        DEMO_LEASE=15.0,
        DEMO_REAP_INTERVAL=5.0,
    )
    app.config.from_prefixed_env()  # FLASK_DEMO_BATCH_PAUSE=2, FLASK_IMPORT_ABORT_..., ...
    app.config.update(config or {})
    token = app.config["DEMO_BEARER_TOKEN"] or secrets.token_urlsafe(24)
    app.config["DEMO_BEARER_TOKEN"] = token
    os.makedirs(app.instance_path, exist_ok=True)

    # The plugin: the registry the imports are kept in, and who may abort them.
    lease = float(app.config["DEMO_LEASE"])  # seconds without a heartbeat: its worker is lost
    registry = SQLImportRegistry(app.config["DEMO_DATABASE_URL"], lease=lease)  # the imports
    app.config["IMPORT_ABORT_BEARER_TOKENS"] = [token]  # who may abort
    ImportAbort(app, registry=registry)  # the endpoint

    # The host's own part: the importer that registers and runs imports, its endpoints, its page.
    importer = Importer(
        registry,
        products_table(MetaData()),
        batch_size=int(app.config["DEMO_BATCH_SIZE"]),
        pause=float(app.config["DEMO_BATCH_PAUSE"]),
    )
    importer.create_tables()
    app.extensions["demo_importer"] = importer
    app.extensions["demo_admins"] = BearerTokens(app.config["IMPORT_ABORT_BEARER_TOKENS"])
    app.register_blueprint(api)
    app.register_blueprint(dashboard)

    # Imports whose worker died (a killed or restarted server) end failed once their lease
    # lapses: every worker of every machine reaps, and each end is recorded once.
    interval = float(app.config["DEMO_REAP_INTERVAL"])
    if interval > 0:
        app.extensions["demo_reaper"] = Reaper(app, interval).start()
    return app


def close_app(app: Flask) -> None:
    """Stop the app's reaper and close its registry's connections, once it serves no more."""
    reaper: Reaper | None = app.extensions.get("demo_reaper")
    if reaper is not None:
        reaper.stop()
    app.extensions["demo_importer"].registry.close()
