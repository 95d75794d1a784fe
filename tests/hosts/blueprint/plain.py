from flask import Flask

from flask_import_abort import blp

app = Flask(__name__)
app.config["IMPORT_ABORT_REGISTRY"] = "imports:registry"  # "module:attribute", or the registry
app.config["IMPORT_ABORT_BEARER_TOKENS"] = ["change-me"]
app.register_blueprint(blp)  # or with url_prefix="/admin/imports": the prefix is yours to choose
