"""Internal: the blueprint and its abort route."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint as FlaskBlueprint
from flask import Flask, Request, Response, current_app, request
from flask.sansio.app import App
from flask_smorest import Blueprint
from flask_smorest.spec.plugins import FlaskPlugin
from werkzeug.exceptions import HTTPException

from . import _settings as settings
from . import errors
from ._aborting import answered, request_id
from ._auth import ANONYMOUS
from ._checks import check_body, check_token
from ._schemas import (
    AbortImportProcessRequest,
    AbortImportProcessResponse,
    ErrorModel,
    error_headers,
    token_parameter,
)
from .processes.contract import FAILURES, AbortOutcome, AbortRequest, StoreUnavailable
from .processes.signals import announce
from .processes.tokens import token_for_log
from .signals import abort_responded

log = logging.getLogger("flask_import_abort")

ABORT_RULE = "/<token>/abort"
#: Names in the OpenAPI document that the operation refers to (see ``openapi.py``).
ERROR_RESPONSE = "errorModel"
SECURITY_SCHEME = "bearerAuth"

#: The body of every successful answer, made once.
SUCCESS_BODY = json.dumps(AbortImportProcessResponse().dump({"success": True})).encode()
#: The registry's two refusals, each the same every time (raised nowhere, only rendered).
NOT_FOUND = errors.ImportNotFound(error_path="token")
FINISHED = errors.ImportFinished(error_path="token")
ALLOW = "OPTIONS, POST"
#: What the document says of the methods other than POST, at the level of the path.
OTHER_METHODS = (
    "POST aborts. OPTIONS answers 200 with `Allow: OPTIONS, POST`; every other method answers "
    "405 with an errorModel body (errorCode 30009) and the same `Allow` header."
)
METHOD_NOT_ALLOWED = errors.MethodNotAllowed(
    more_info=f"Allowed methods: {ALLOW}.", headers=[("Allow", ALLOW)]
)


class AbortBlueprint(Blueprint):  # type: ignore[misc]
    """The plugin's blueprint: registered once per app, it sets the plugin up on it."""

    def register(self, app: App, options: dict[str, Any]) -> None:
        """Read the app's settings (unless ``ImportAbort`` did), then add the routes under the
        settings' URL prefix. A second registration on the same app is a ``RuntimeError``."""
        if any(blueprint is self for blueprint in app.blueprints.values()):
            raise RuntimeError(
                "flask-import-abort's blueprint is registered on this app already; register "
                "it once per app (a second name would mount a second abort route)."
            )
        url_prefix = options.get("url_prefix")
        found = app.extensions.get(settings.EXTENSION_KEY)
        if found is None:
            found = settings.install(app, url_prefix=url_prefix)
        elif url_prefix is not None and url_prefix.rstrip("/") != found.url_prefix:
            raise ValueError(
                f"register_blueprint(url_prefix={url_prefix!r}) disagrees with the plugin's "
                f"{settings.Config.URL_PREFIX} {found.url_prefix!r}: set one of them."
            )
        super().register(app, {**options, "url_prefix": found.url_prefix})

    def register_views_in_doc(
        self, api: Any, app: Flask, spec: Any, *, name: str, parameters: Any
    ) -> None:
        """Document the route as it is mounted on ``app``: the token as long as its settings
        allow, every header in the form of the document's OpenAPI version, and what the URL
        answers to the methods the operation does not list."""
        oas3 = spec.openapi_version.major >= 3
        token = token_parameter(settings.settings_of(app).token_max_length, oas3)
        super().register_views_in_doc(
            api, app, spec, name=name, parameters=[*(parameters or []), token]
        )
        rule = next(app.url_map.iter_rules(f"{name}.{abort_import_process.__name__}"))
        path = spec.to_dict()["paths"][FlaskPlugin.flaskpath2openapi(rule.rule)]
        operation = copy.deepcopy(path["post"])
        for status, response in operation["responses"].items():
            if status.isdigit() and int(status) >= 400:
                response["headers"] = error_headers(int(status), oas3)
        spec.path(
            rule=rule,
            operations={"post": operation},
            parameters=path["parameters"],
            description=OTHER_METHODS if oas3 else None,  # OpenAPI 2 has no path description
        )


blp = AbortBlueprint(
    "import_abort",
    __name__,
    url_prefix=settings.DEFAULT_URL_PREFIX,
    description="Abort an import process (Oracle Commerce Cloud's abortImportProcess).",
)

View = TypeVar("View", bound=Callable[..., Any])


def _documented_by(*decorators: Callable[[Any], Any]) -> Callable[[View], View]:
    """Take the documentation that flask-smorest's decorators gather, without their wrappers.

    Each of those decorators wraps the view in a function that runs on every request. The
    route keeps what they document (flask-smorest reads it from ``_apidoc``) and calls the
    view itself, so a request pays for none of them.
    """

    def decorate(view: View) -> View:
        documented = view
        for decorator in reversed(decorators):
            documented = decorator(documented)
        view._apidoc = documented._apidoc  # type: ignore[attr-defined]
        return view

    return decorate


def _error(status: int, description: str) -> Any:
    return blp.alt_response(status, schema=ErrorModel, description=description)


@_documented_by(
    blp.doc(
        operationId="abortImportProcess",
        security=[{SECURITY_SCHEME: []}],
        responses={"default": ERROR_RESPONSE},
    ),
    blp.arguments(
        AbortImportProcessRequest,
        location="json",
        required=False,
        error_status_code=400,
        description="Optional: no body, an empty body, or a JSON object. Its `reason` is "
        "recorded; other keys are ignored.",
    ),
    blp.response(
        200,
        AbortImportProcessResponse,
        description="Following model is returned when operation succeeds.",
        example={"success": True},
    ),
    _error(400, "The token or the body is malformed."),
    _error(401, "No valid credentials (OCC's errorCode 00001000); the answer carries a challenge."),
    _error(403, "The credentials do not allow aborting imports."),
    _error(404, "No import process has that token."),
    _error(409, "The import process has already succeeded or failed."),
    _error(413, "The body is larger than IMPORT_ABORT_MAX_BODY_BYTES."),
    _error(415, "A non-empty body that is not JSON."),
    _error(500, "The registry failed; details are in the server log only."),
    _error(503, "The registry's store is unreachable or locked; the answer carries Retry-After."),
)
def abort_import_process(token: str) -> Response:
    """Abort Import Process

    Abort an import process. The import stops after the batch of records it is processing,
    and may leave partial data behind. `success: true` means the abort command was passed to
    the import process; poll the process until its progress is `aborted`.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    response, outcome = _abort(app, token)
    if abort_responded.receivers:
        announce(abort_responded, app, status=response.status_code, outcome=outcome)
    return response


def _abort(app: Flask, token: str) -> tuple[Response, AbortOutcome | None]:
    """The answer to an abort request, and the registry's outcome when it was asked."""
    setup: settings.Settings = app.extensions[settings.EXTENSION_KEY]
    current_request: Request = request._get_current_object()  # type: ignore[attr-defined]
    try:
        if setup.check is None:
            actor = ANONYMOUS
        else:
            allowed = setup.check(current_request)
            if not isinstance(allowed, str):
                return allowed.response_to(app, current_request.environ), None
            actor = allowed
        check_token(token, setup.token_max_length)
        reason = check_body(current_request, setup.max_body_bytes)
        details = AbortRequest(
            setup.stop_deadline,
            actor,
            reason,
            request_id(current_request.environ.get("HTTP_X_REQUEST_ID")),
        )
        outcome = setup.abort(token, details)
    except HTTPException as error:
        return errors.error_response(error), None
    except StoreUnavailable as error:
        return errors.RegistryUnavailable(error.retry_after).get_response(), None
    except FAILURES:
        log.exception("abort of import process %s failed", token_for_log(token))
        return errors.InternalError().get_response(), None
    return _answer(app, setup.registry, token, outcome, details, current_request), outcome


# OPTIONS is answered by the rule below; Flask reads this where flask-smorest's route drops it.
abort_import_process.provide_automatic_options = False  # type: ignore[attr-defined]
blp.add_url_rule(ABORT_RULE, view_func=abort_import_process, methods=["POST"])


def _answer(
    app: Flask,
    registry: Any,
    token: str,
    outcome: AbortOutcome,
    details: AbortRequest,
    current_request: Request,
) -> Response:
    if outcome is AbortOutcome.REQUESTED or outcome is AbortOutcome.ALREADY_REQUESTED:
        response = app.response_class(SUCCESS_BODY, mimetype="application/json")
    elif outcome is AbortOutcome.NOT_FOUND:
        response = NOT_FOUND.response_to(app, current_request.environ)
    elif outcome is AbortOutcome.FINISHED:
        response = FINISHED.response_to(app, current_request.environ)
    else:
        log.error(
            "the import registry answered %r for import process %s, not an AbortOutcome",
            outcome,
            token_for_log(token),
        )
        return errors.InternalError().get_response()
    answered(app, registry, token, outcome, details)
    return response


def method_not_allowed(token: str) -> Response:
    """Any other method on the abort URL: 405 errorModel, or the allowed methods for OPTIONS."""
    if request.method == "OPTIONS":
        return current_app.response_class(status=200, headers={"Allow": ALLOW})
    return METHOD_NOT_ALLOWED.get_response()


# Routing answers an unknown method with a 405 of the host's before any blueprint is known, so
# the abort URL has a rule of its own for every other method. It is a plain Flask rule: the
# OpenAPI document should list POST alone.
FlaskBlueprint.add_url_rule(
    blp,
    ABORT_RULE,
    "method_not_allowed",
    method_not_allowed,
    methods=["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"],
    provide_automatic_options=False,
)
