"""The routes measured: the plugin's abort against the best hand-written Flask view.

Each is an app of its own serving ``POST /ccadmin/v1/importProcess/<token>/abort``, so routing
costs all of them the same; the plugin's and the bare one share one registry instance:

- ``plugin``: the route ``ImportAbort`` mounts.
- ``bare``: a view with the same bearer check (the plugin's own matcher), the same registry
  call with the same details (who, and the body's reason when it has one), ``jsonify`` of
  equivalent answers, its 404 message in the language werkzeug picks from Accept-Language,
  and nothing else.
- ``monolingual``: the plugin's route with its languages taken away: English, whatever the
  request asks for; the baseline of what localizing costs.
- ``smorest``: a flask-smorest route that only dumps ``{"success": true}`` through its
  response schema, for scale.
- ``floor``: :func:`raw_wsgi`, a WSGI callable returning the success bytes, with no Flask.
- ``signed``: the plugin's route with OCC's sign-in on as well, called with one of its signed
  access tokens (:data:`SIGNED_AUTH`) instead of the static token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, jsonify, request
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields

from flask_import_abort import (
    AbortOutcome,
    AbortRequest,
    ImportAbort,
    ImportRegistry,
    ImportState,
    InMemoryImportRegistry,
)
from flask_import_abort.access._auth import BearerTokens
from flask_import_abort.languages import _catalogs as i18n
from flask_import_abort.processes import ProcessKind

SECRET = "bench-admin-token"
AUTH = f"Bearer {SECRET}"
RUNNING = "bench_running_1"
UNKNOWN = "bench_unknown_2"
PATH = "/ccadmin/v1/importProcess/{token}/abort"
RULE = PATH.replace("{token}", "<token>")
SUCCESS = b'{"success": true}'
#: What an operator's abort carries beside the token: why.
REASON_BODY = b'{"reason": "The supplier sent last year\'s price list"}'
#: What the bare view answers for an unknown process and for missing credentials: the same
#: fields the plugin's errorModel carries, so both send bodies of the same kind and size.
BARE_NOT_FOUND = {
    "status": "404",
    "errorCode": "30007",
    "message": "No import process has that token.",
    "type": "https://www.rfc-editor.org/rfc/rfc9110#status.404",
    "o:errorPath": "token",
}
#: The Accept-Language headers of a browser set to English, and of one set to German.
ENGLISH = "en-US,en;q=0.9"
GERMAN = "de-DE,de;q=0.9,en;q=0.8"
#: The bare view's own catalog of its 404 message, by language.
BARE_MESSAGES = {
    "en": BARE_NOT_FOUND["message"],
    "de": "Es gibt keinen Importprozess mit diesem Token.",
}
BARE_NOT_AUTHENTICATED = {
    "status": "401",
    "errorCode": "00001000",
    "message": "The user is not authenticated.",
    "type": "https://www.rfc-editor.org/rfc/rfc9110#status.401",
    "moreInfo": "Send Authorization: Bearer <access token>.",
}


class Success(Schema):
    success = fields.Boolean(required=True)


def running_registry() -> InMemoryImportRegistry:
    """A registry with one running process, ``RUNNING``; aborting it again answers success."""
    registry = InMemoryImportRegistry()
    registry.add(ImportState.PROCESSING, token=RUNNING)
    return registry


def plugin_app(registry: ImportRegistry) -> Flask:
    app = Flask(__name__)
    app.config["IMPORT_ABORT_BEARER_TOKENS"] = [SECRET]
    ImportAbort(app, registry=registry)
    return app


#: OCC's sign-in of the ``signed`` variant: one application key and one signing key.
APPLICATION_KEY = "bench-application-key"
SIGNING_KEY = "bench-signing-key-of-at-least-32-bytes"


def signed_app(registry: ImportRegistry) -> Flask:
    """The plugin with OCC's sign-in on, beside its static token."""
    app = Flask(__name__)
    app.config.update(
        IMPORT_ABORT_BEARER_TOKENS=[SECRET],
        IMPORT_ABORT_APPLICATION_KEYS={"bench-client": APPLICATION_KEY},
        IMPORT_ABORT_SIGNING_KEYS={"bench-1": SIGNING_KEY},
        IMPORT_ABORT_ACCESS_TOKEN_LIFETIME=3600,
    )
    ImportAbort(app, registry=registry)
    return app


def signed_token() -> str:
    """An access token of the ``signed`` variant, as its /login answers it."""
    answer = (
        signed_app(InMemoryImportRegistry())
        .test_client()
        .post(
            "/ccadmin/v1/login",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Bearer {APPLICATION_KEY}"},
        )
    )
    return str(answer.get_json()["access_token"])


#: What the ``signed`` variant is called with: a token signed with the same key in every process.
SIGNED_AUTH = f"Bearer {signed_token()}"


def monolingual_app(registry: ImportRegistry) -> Flask:
    """The plugin with no languages: every error answered in English, its header unread (as
    before errors were localized). What localizing costs is the plugin over this."""
    app = plugin_app(registry)
    del app.extensions[i18n.EXTENSION_KEY]
    return app


def bare_app(registry: Any, rule: str = RULE, kind: ProcessKind | None = None) -> Flask:
    """The abort written by hand, at ``rule``, naming ``kind`` in its abort when given."""
    app = Flask(__name__)
    tokens = BearerTokens([SECRET])

    @app.post(rule)
    def abort_import_process(token: str) -> Any:
        authorization = request.headers.get("Authorization")
        actor = tokens.match(authorization)
        if actor is None:
            challenge = 'Bearer error="invalid_token"' if authorization else "Bearer"
            return jsonify(BARE_NOT_AUTHENTICATED), 401, {"WWW-Authenticate": challenge}
        body = request.get_json(silent=True) if request.content_length else None
        reason = body.get("reason") if isinstance(body, dict) else None
        outcome = registry.abort(token, AbortRequest(actor=actor, reason=reason, kind=kind))
        if outcome is AbortOutcome.NOT_FOUND:
            language = "en"
            if "HTTP_ACCEPT_LANGUAGE" in request.environ:
                language = request.accept_languages.best_match(BARE_MESSAGES, default="en")
            answer = {**BARE_NOT_FOUND, "message": BARE_MESSAGES[language]}
            return jsonify(answer), 404, {"Content-Language": language}
        return jsonify(success=True)

    return app


def smorest_app() -> Flask:
    app = Flask(__name__)
    app.config.update(API_TITLE="bench", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    api = Api(app)
    blp = Blueprint("smorest", __name__)

    @blp.post(RULE)
    @blp.response(200, Success)
    def abort_import_process(token: str) -> dict[str, bool]:
        return {"success": True}

    api.register_blueprint(blp)
    return app


StartResponse = Callable[..., Any]


def raw_wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The floor: the success answer's bytes from a bare WSGI callable."""
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(SUCCESS)))]
    )
    return [SUCCESS]


def variants(registry: ImportRegistry | None = None) -> dict[str, Callable[..., Any]]:
    """Every variant's WSGI callable, by name; the plugin and bare ones on ``registry``."""
    registry = running_registry() if registry is None else registry
    return {
        "plugin": plugin_app(registry).wsgi_app,
        "signed": signed_app(registry).wsgi_app,
        "monolingual": monolingual_app(registry).wsgi_app,
        "bare": bare_app(registry).wsgi_app,
        "smorest": smorest_app().wsgi_app,
        "floor": raw_wsgi,
    }


def served() -> Callable[..., Iterable[bytes]]:
    """What gunicorn serves: ``/<variant>/ccadmin/...`` goes to that variant, the prefix cut."""
    apps = variants()

    def dispatch(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        _, variant, rest = environ["PATH_INFO"].split("/", 2)
        environ["PATH_INFO"] = "/" + rest
        return apps[variant](environ, start_response)  # type: ignore[no-any-return]

    return dispatch
