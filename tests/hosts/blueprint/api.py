from flask import Flask
from flask_smorest import Api

from flask_import_abort import blp

app = Flask(__name__)
app.config.update(API_TITLE="My imports", API_VERSION="1", OPENAPI_VERSION="3.0.3")
app.config["OPENAPI_URL_PREFIX"] = "/"  # the document at /openapi.json
app.config["IMPORT_ABORT_REGISTRY"] = "imports:registry"  # "module:attribute", or the registry
app.config["IMPORT_ABORT_BEARER_TOKENS"] = ["change-me"]
api = Api(app)
api.register_blueprint(blp)
