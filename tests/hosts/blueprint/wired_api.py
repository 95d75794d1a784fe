"""api.py's twin, wired by ImportAbort."""

from flask import Flask
from flask_smorest import Api

from flask_import_abort import ImportAbort

app = Flask(__name__)
app.config.update(API_TITLE="My imports", API_VERSION="1", OPENAPI_VERSION="3.0.3")
app.config["OPENAPI_URL_PREFIX"] = "/"
app.config["IMPORT_ABORT_REGISTRY"] = "imports:registry"
app.config["IMPORT_ABORT_BEARER_TOKENS"] = ["change-me"]
api = Api(app)
ImportAbort(app, api=api)
