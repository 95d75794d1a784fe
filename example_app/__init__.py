"""A host app that mounts flask-import-abort, with a demo import to abort.

make run        # or: DEMO_BEARER_TOKEN=... python -m example_app

With ``DEMO_DATABASE_URL`` set (say ``FLASK_DEMO_DATABASE_URL=sqlite:////tmp/imports.db``) the
app keeps no import of its own: it answers aborts of the processes in that database, which
import workers in other processes register and run (see the README's Registries section).
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from flask import Flask, abort, jsonify

from flask_import_abort import ImportAbort, ImportState, InMemoryImportRegistry
from flask_import_abort.registries.sql import SQLImportRegistry

from .importer import ProductImport

#: The running demo import's token: the one on OCC's reference page.
RUNNING_IMPORT = "ezzPxcPRmJIlXYCyOTQNT9HMacA_10000"
#: Demo processes that are not running, one for each answer the endpoint gives.
OTHER_IMPORTS = {
    "demoPending_10001": ImportState.PENDING,
    "demoSucceeded_10002": ImportState.SUCCEEDED,
    "demoFailed_10003": ImportState.FAILED,
}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The demo host. Its import starts with ``app.extensions["demo_import"].start()``."""
    app = Flask(__name__)
    app.config.update(
        DEMO_BEARER_TOKEN=os.environ.get("DEMO_BEARER_TOKEN"),  # a random one when not set
        DEMO_BATCHES=600,
        DEMO_BATCH_SIZE=100,
        DEMO_BATCH_SECONDS=0.5,
    )
    app.config.from_prefixed_env()  # FLASK_IMPORT_ABORT_MAX_BODY_BYTES=1024, ...
    app.config.update(config or {})
    app.config["DEMO_BEARER_TOKEN"] = app.config["DEMO_BEARER_TOKEN"] or secrets.token_urlsafe(24)
    app.config["IMPORT_ABORT_BEARER_TOKENS"] = [app.config["DEMO_BEARER_TOKEN"]]

    if app.config.get("DEMO_DATABASE_URL"):
        shared = SQLImportRegistry(app.config["DEMO_DATABASE_URL"])
        shared.create_table()
        ImportAbort(app, registry=shared)
        return app

    # The whole wiring of the plugin: a registry and who may call.
    registry = InMemoryImportRegistry()
    ImportAbort(app, registry=registry)

    for token, state in OTHER_IMPORTS.items():
        registry.add(state, token=token)
    demo = ProductImport(
        registry,
        registry.add(token=RUNNING_IMPORT),
        batches=int(app.config["DEMO_BATCHES"]),
        batch_size=int(app.config["DEMO_BATCH_SIZE"]),
        batch_seconds=float(app.config["DEMO_BATCH_SECONDS"]),
    )
    app.extensions["demo_import"] = demo

    @app.get("/ccadmin/v1/importProcess/<token>")
    def get_import_process(token: str) -> Any:
        """The host's own getImportProcess, to watch the import stop."""
        if token == demo.token:
            return jsonify(demo.status())
        if token not in OTHER_IMPORTS:
            abort(404)
        state = registry.state(token)
        return jsonify(completed=state.is_final, progress=state.value)

    return app
