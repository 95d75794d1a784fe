"""An app whose registry is a SQLite file (CLI_TEST_DATABASE), for `flask import-abort` run as
a process of its own; each abort takes CLI_TEST_ABORT_SECONDS longer, so that a test can send
Ctrl-C in the middle of a bulk abort."""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask

from flask_import_abort import AbortOutcome, ImportAbort
from flask_import_abort.processes.sql import SQLImportRegistry


class SlowRegistry(SQLImportRegistry):
    def abort(self, token: str, request: Any = None) -> AbortOutcome:
        outcome = super().abort(token, request)
        time.sleep(float(os.environ.get("CLI_TEST_ABORT_SECONDS", "0")))
        return outcome


app = Flask(__name__)
app.config["IMPORT_ABORT_BEARER_TOKENS"] = ["secret"]
ImportAbort(app, registry=SlowRegistry(f"sqlite:///{os.environ['CLI_TEST_DATABASE']}"))
