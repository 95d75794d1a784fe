"""An app whose registry writes notices to a SQLite file (WEBHOOK_TEST_DATABASE) and whose
webhook goes to WEBHOOK_TEST_URL, for `flask import-abort deliver` run as a process of its own;
``python -m tests.webhook_app end TOKEN`` ends an import there, then waits to be killed."""

from __future__ import annotations

import os
import sys
import time

from flask import Flask

from flask_import_abort import ImportAbort, ImportState
from flask_import_abort.processes.sql import SQLImportRegistry

SECRET = "webhook-secret-of-the-tests"


def registry() -> SQLImportRegistry:
    return SQLImportRegistry(f"sqlite:///{os.environ['WEBHOOK_TEST_DATABASE']}", webhooks=True)


app = Flask(__name__)
app.config.update(
    IMPORT_ABORT_BEARER_TOKENS=["secret"],
    IMPORT_ABORT_WEBHOOK_URLS=os.environ.get("WEBHOOK_TEST_URL", "http://127.0.0.1:9/"),
    IMPORT_ABORT_WEBHOOK_SECRET=SECRET,
    IMPORT_ABORT_WEBHOOK_TIMEOUT=2.0,
)
ImportAbort(app, registry=registry())


def end(token: str) -> None:
    """Run the import ``token`` to its end, say so, and wait, never delivering its notice."""
    own = registry()
    own.start(token)
    own.report_progress(token, 10, total=10)
    own.finish(token, ImportState.SUCCEEDED)
    print("ended", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    end(sys.argv[2])
