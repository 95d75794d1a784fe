"""Internal: the operation's OpenAPI description, in the host's document or one of its own."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, Response, current_app, json
from flask.sansio.blueprints import BlueprintSetupState
from flask_smorest import Api
from flask_smorest.spec.plugins import FlaskPlugin

from ._schemas import SCHEMA_NAMES, ErrorModel, header
from ._settings import settings_of
from ._views import ERROR_RESPONSE, SECURITY_SCHEME, blp

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


def add_components(spec: APISpec) -> None:
    """Register what the operation refers to, leaving alone any name the document already has."""
    components = spec.components
    for name, schema in SCHEMA_NAMES.items():
        if name not in components.schemas:
            components.schema(name, schema=schema)
    oas3 = spec.openapi_version.major >= 3
    if ERROR_RESPONSE not in components.responses:
        response: dict[str, Any] = {"description": "The error response"}
        if oas3:
            response["content"] = {"application/json": {"schema": ErrorModel}}
        else:
            response["schema"] = ErrorModel
        response["headers"] = {
            "Content-Language": header("Content-Language", oas3),
            "Retry-After": header("Retry-After", oas3, required=False),
            "Allow": header("Allow", oas3, required=False),
        }
        components.response(ERROR_RESPONSE, response)
    if SECURITY_SCHEME not in components.security_schemes:
        scheme = (
            {"type": "http", "scheme": "bearer"}
            if oas3
            else {"type": "apiKey", "in": "header", "name": "Authorization"}
        )
        components.security_scheme(SECURITY_SCHEME, scheme)


def build_spec(app: Flask) -> dict[str, Any]:
    """A document of the abort operation alone, as the blueprint is registered on ``app``."""
    spec = APISpec(
        title="Import Process abort",
        version=_installed_version(),
        openapi_version=OPENAPI_VERSION,
        plugins=[FlaskPlugin(), MarshmallowPlugin()],
        info=INFO,
        # Relative: the server that serves this document, wherever it is reached.
        servers=[{"url": "/", "description": "This server"}],
    )
    add_components(spec)
    spec.tag({"name": blp.name, "description": blp.description})
    # An Api that is never attached to an app: flask-smorest reads its documentation defaults,
    # and the host keeps its error handlers.
    doc_defaults = Api()
    names = [name for name, blueprint in app.blueprints.items() if blueprint is blp]
    for name in names:
        blp.register_views_in_doc(doc_defaults, app, spec, name=name, parameters=None)
    return spec.to_dict()


def serve_spec() -> Response:
    """The plugin's own OpenAPI document, rendered once per app."""
    cache = settings_of(current_app).openapi_cache
    body = cache.get("json")
    if body is None:
        body = cache["json"] = json.dumps(build_spec(current_app)).encode()
    return current_app.response_class(body, mimetype="application/json")


def _installed_version() -> str:
    try:
        return version("flask-import-abort")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def _document(setup: BlueprintSetupState) -> None:
    """On the blueprint's first registration on an app: join the host's ``Api`` document when
    it registered the blueprint, else serve the plugin's own (unless turned off)."""
    app = setup.app
    host_api = app.extensions.get("flask-smorest", {}).get("blp_name_to_api", {}).get(setup.name)
    if host_api is not None:
        add_components(host_api.spec)
    elif (url := settings_of(app).openapi_url) is not None:
        app.add_url_rule(url, endpoint=OPENAPI_ENDPOINT, view_func=serve_spec)


blp.record_once(_document)
