"""plain.py's twin, wired by ImportAbort."""

from flask import Flask

from flask_import_abort import ImportAbort

app = Flask(__name__)
app.config["IMPORT_ABORT_REGISTRY"] = "imports:registry"
app.config["IMPORT_ABORT_BEARER_TOKENS"] = ["change-me"]
ImportAbort(app)
