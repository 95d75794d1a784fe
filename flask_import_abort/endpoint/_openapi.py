"""Internal: the operation's own OpenAPI document, for an app where no host ``Api`` documents it.

The document is what flask-smorest's ``Api`` makes of the blueprint, on a private Flask app made
for it (public API only): the host app gets no ``Api``, so it keeps its error handlers.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask, Response, current_app, json
from flask.sansio.app import App
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import NotFound

from .._config import EXTENSION_KEY
from .._context import app_object
from ._settings import settings_of

#: What the keys of the other rooms' settings start with.
ROOMS_KEY = f"{EXTENSION_KEY}."

OPENAPI_VERSION = "3.0.3"
OPENAPI_ENDPOINT = "import_abort_openapi"
PROJECT_URL = "https://github.com/flask-import-abort/flask-import-abort"
#: The ``info`` of the plugin's own document, beside its title and version.
INFO = {
    "description": "Oracle Commerce Cloud's abortImportProcess operation, served by "
    "flask-import-abort: abort an import process by its token. Error answers carry an "
    "errorModel body whose `message` is in the language the request asks for "
    "(`X-CCAsset-Language`, then `Accept-Language`).",
    "contact": {"name": "flask-import-abort", "url": f"{PROJECT_URL}/issues"},
    "license": {"name": "MIT", "url": "https://opensource.org/license/mit"},
}


def build_spec(app: Flask, blueprint: Blueprint) -> dict[str, Any]:
    """A document of the abort operation alone, as ``blueprint`` is registered on ``app``."""
    private = Flask(__name__)
    private.config.update(
        API_TITLE="Import Process abort",
        API_VERSION=_installed_version(),
        OPENAPI_VERSION=OPENAPI_VERSION,
        # Relative: the server that serves this document, wherever it is reached.
        API_SPEC_OPTIONS={"info": INFO, "servers": [{"url": "/", "description": "This server"}]},
    )
    # The app's own settings, with a document and a cache of the private app's own.
    settings = settings_of(app)
    private.extensions.update(  # the other rooms' settings too: "import_abort.<room>"
        (key, value) for key, value in app.extensions.items() if key.startswith(ROOMS_KEY)
    )
    private.extensions[EXTENSION_KEY] = dataclasses.replace(
        settings, openapi_url=None, openapi_cache={}, documented=set()
    )
    api = Api(private)
    for name, registered in app.blueprints.items():
        if registered is blueprint:
            api.register_blueprint(blueprint, name=name, url_prefix=settings.url_prefix)
    return _without_unused_schemas(api.spec.to_dict())


def _without_unused_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without the schemas nothing refers to (the ``Api`` registers a few of its
    own, for its error handlers and pagination, which this document has no use for)."""
    schemas = document.get("components", {}).get("schemas", {})
    while True:
        text = json.dumps(document)
        unused = [name for name in schemas if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            return document
        for name in unused:
            del schemas[name]


def serve_spec(blueprint: Blueprint) -> Response:
    """The plugin's own OpenAPI document of ``blueprint``, rendered once per app; the host's 404
    where a host ``Api`` documents the operation instead."""
    settings = settings_of(current_app)
    if settings.documented:
        raise NotFound()
    body = settings.openapi_cache.get("json")
    if body is None:
        app = app_object()
        body = settings.openapi_cache["json"] = json.dumps(build_spec(app, blueprint)).encode()
    return current_app.response_class(body, mimetype="application/json")


def _installed_version() -> str:
    try:
        return version("flask-import-abort")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def add_route(app: App, blueprint: Blueprint) -> None:
    """Serve the plugin's own document of ``blueprint`` on ``app``, unless it is turned off."""
    url = settings_of(app).openapi_url
    if url is not None:
        view = functools.partial(serve_spec, blueprint)
        app.add_url_rule(url, endpoint=OPENAPI_ENDPOINT, view_func=view)
