"""Internal: the blueprint and its abort route, declared with flask-smorest's own decorators."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

import marshmallow as ma
from flask import Flask, Request, Response, current_app, request
from flask.sansio.app import App
from flask.sansio.blueprints import BlueprintSetupState
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from . import errors
from ._config import DEFAULT_URL_PREFIX, Config
from ._context import app_object, request_object
from ._install import setup
from .access._auth import ANONYMOUS
from .access._settings import Access, access_of
from .endpoint import _openapi
from .endpoint import _settings as settings
from .endpoint._aborting import answered, request_id
from .endpoint._checks import check_token, invalid_reason, load_body, sends_no_body
from .endpoint._schemas import (
    ERROR_RESPONSE,
    ERROR_RESPONSES,
    SECURITY_SCHEME,
    AbortImportProcessRequest,
    AbortImportProcessResponse,
    ImportProcessStatus,
    add_components,
    document_security,
    error_response_name,
    security_schemes,
    token_parameter,
)
from .occ._routes import OPERATION_ATTRIBUTE, Operation, add_routes, path_taken
from .occ._settings import occ_of
from .occ._status import describe_import
from .operators import cli
from .processes.capabilities import Chunked
from .processes.contract import (
    AbortOutcome,
    AbortRequest,
    StoreOutdated,
    StoreUnavailable,
    failures,
)
from .processes.lifecycle import UnknownImport
from .processes.signals import announce
from .processes.tokens import token_for_log
from .signals import abort_responded

log = logging.getLogger("flask_import_abort")

ABORT_RULE = "/<token>/abort"
STATUS_RULE = "/<token>"

#: What the view answers a successful abort: the response schema's body, made once.
SUCCESS = {"success": True}
SUCCESS_BODY = json.dumps(AbortImportProcessResponse().dump(SUCCESS)).encode()
#: The registry's two refusals, each the same every time (raised nowhere, only rendered).
NOT_FOUND = errors.ImportNotFound(error_path="token")
FINISHED = errors.ImportFinished(error_path="token")
ALLOW = "OPTIONS, POST"
#: What the document says of the methods other than POST, at the level of the path.
OTHER_METHODS = (
    "POST aborts. OPTIONS answers 200 with `Allow: OPTIONS, POST`; every other method answers "
    "405 with an errorModel body (errorCode 30009) and the same `Allow` header."
)
#: The error answers, each a response component with the headers it carries, for the doc
#: decorator (one decorator for them all: each alt_response adds a wrapper run on every request).
DOCUMENTED_RESPONSES: dict[int | str, str] = {
    "default": ERROR_RESPONSE,
    **{status: error_response_name(status) for status in ERROR_RESPONSES},
}
METHOD_NOT_ALLOWED = errors.MethodNotAllowed(
    more_info=f"Allowed methods: {ALLOW}.", headers=[("Allow", ALLOW)]
)


class BodyParser(FlaskParser):
    """webargs' parser of the abort's body: what ``load_body`` takes, within the app's
    ``IMPORT_ABORT_MAX_BODY_BYTES``, loaded by the route's schema; a field the schema refuses
    is the plugin's errorModel, never webargs' 422.

    The route has one schema and one location, so ``parse`` does what webargs' own would do
    for them (read, then ``schema.load``) without looking the location up on each request."""

    def parse(
        self, argmap: Any, req: Request | None = None, *, unknown: Any = None, **_: Any
    ) -> Any:
        """What the body says; nothing to load when the request sends no body (most aborts:
        OCC's clients send none), which the schema would load as the empty object it is."""
        # webargs passes no request from a Flask view: the parser's is Flask's own.
        current = request if req is None else req
        if sends_no_body(current.environ):
            return {}
        body = load_body(current, settings.settings_of(current_app).max_body_bytes)
        if body is ma.missing:
            return {}
        try:
            return cast(ma.Schema, argmap).load(body, unknown=unknown)
        except ma.ValidationError as error:
            raise invalid_reason(error) from None


class AbortBlueprint(Blueprint):  # type: ignore[misc]
    """The plugin's blueprint: registered once per app, it sets the plugin up on it. Its
    registration is the one place that wires what the plugin adds to an app (its settings, its
    routes, its ``flask import-abort`` commands, its OpenAPI document), whether ``ImportAbort``
    or the host registers it."""

    ARGUMENTS_PARSER = BodyParser()

    def register(self, app: App, options: dict[str, Any]) -> None:
        """Set the plugin up on ``app`` (unless ``ImportAbort`` did), then add the routes
        under the settings' URL prefix, the commands and the OpenAPI document. A second
        registration on the same app is a ``RuntimeError``."""
        if any(blueprint is self for blueprint in app.blueprints.values()):
            raise RuntimeError(
                "flask-import-abort's blueprint is registered on this app already; register "
                "it once per app (a second name would mount a second abort route)."
            )
        found = setup(app, url_prefix=options.get("url_prefix"))
        super().register(app, {**options, "url_prefix": found.url_prefix})
        cli.add_commands(app)
        _openapi.add_route(app, self)

    def register_views_in_doc(
        self, api: Any, app: Flask, spec: Any, *, name: str, parameters: Any
    ) -> None:
        """Document the route as it is mounted on ``app``: the token as long as its settings
        allow, the error answers with the headers each carries, and what the URL answers to
        the methods the operation does not list. Called by the ``Api`` that documents it."""
        setup = settings.settings_of(app)
        access, status_route = access_of(app), occ_of(app).status_route
        setup.documented.add(spec)
        add_components(spec, with_status=status_route)
        oas3 = spec.openapi_version.major >= 3
        schemes = security_schemes(access.authorizer) if oas3 else {}
        requirements = {
            operation: _security(access, operation, schemes)
            for operation in ("abortImportProcess", "getImportProcess")
        }
        document_security(spec, requirements, schemes)
        path_parameters = [*(parameters or []), token_parameter(setup.token_max_length, oas3)]
        super().register_views_in_doc(api, app, spec, name=name, parameters=path_parameters)
        if status_route:
            status_docs.register_views_in_doc(api, app, spec, name=name, parameters=path_parameters)
        if oas3:  # OpenAPI 2 has no description of a path
            rule = next(app.url_map.iter_rules(f"{name}.{abort_import_process.__name__}"))
            spec.path(rule=rule, parameters=path_parameters, description=OTHER_METHODS)


blp = AbortBlueprint(
    "import_abort",
    __name__,
    url_prefix=DEFAULT_URL_PREFIX,
    description="Abort an import process (Oracle Commerce Cloud's abortImportProcess).",
)


def _security(
    access: Access, operation: str, schemes: Mapping[str, Any]
) -> list[dict[str, list[str]]] | None:
    """The operation's ``security`` as the app authorizes it: none needed where anonymous
    access is on; the bearer scheme where bearer tokens or OCC's sign-in are configured; the
    authorizer's own where it declares one; left out where only an authorizer that declares
    nothing lets callers in (the document cannot say how)."""
    if access.check is None:
        return []
    found: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}] if access.takes_bearer else []
    if schemes:
        requirement = access.authorizer.security_requirement(operation)  # type: ignore[union-attr]
        found.append({name: list(scopes) for name, scopes in requirement.items()})
    return found or None


#: getImportProcess's error answers: the abort's, but those of a body and of a finished import.
STATUS_RESPONSES: dict[int | str, str] = {
    "default": ERROR_RESPONSE,
    **{status: error_response_name(status) for status in (400, 401, 403, 404, 500, 503)},
}
#: getImportProcess, documented with flask-smorest's decorators on a blueprint of its own that
#: is never registered: the abort's blueprint adds its rules where the settings turn it on.
status_docs = Blueprint("import_abort_status", __name__)


def _answered_by_the_plugin(
    view: Callable[..., Response], *, announced: bool = True
) -> Callable[[str], Response]:
    """The outside of a route: authorization, then the token, then the view (which reads
    the body); whatever is raised on the way is answered here, as an errorModel, so that no
    error of the plugin's ever reaches the host's error handlers. ``announced``: the answer
    is an abort's, sent with the ``abort_responded`` signal."""

    @functools.wraps(view)
    def answer(token: str) -> Response:
        app: Flask = app_object()
        setup = settings.settings_of(app)
        check = access_of(app).check
        current_request: Request = request_object()
        try:
            if check is None:
                actor = ANONYMOUS
            else:
                allowed = check(current_request)
                if not isinstance(allowed, str):  # the refusal is this route's own answer
                    refused = allowed.response_to(app, current_request.environ)
                    return _responded(app, refused) if announced else refused
                actor = allowed
            check_token(token, setup.token_max_length)
            return view(token=token, actor=actor, app=app, setup=setup)
        except HTTPException as error:
            response = errors.error_response(error)
        except StoreUnavailable as error:
            response = errors.RegistryUnavailable(error.retry_after).get_response()
        except StoreOutdated:  # the store logged what to run, once
            response = errors.InternalError().get_response()
        except failures():
            log.exception("%s of import process %s failed", view.__name__, token_for_log(token))
            response = errors.InternalError().get_response()
        return _responded(app, response) if announced else response

    return answer


def _responded(app: Flask, response: Response, outcome: AbortOutcome | None = None) -> Response:
    if abort_responded.receivers:
        announce(abort_responded, app, status=response.status_code, outcome=outcome)
    return response


@blp.route(ABORT_RULE, methods=["POST"])
@_answered_by_the_plugin
@blp.doc(
    operationId="abortImportProcess",
    responses=DOCUMENTED_RESPONSES,
)
@blp.arguments(
    AbortImportProcessRequest(),  # an instance: webargs would make one per request of a class
    location="json",
    required=False,
    error_status_code=400,
    unknown=ma.EXCLUDE,
    description="Optional: no body, an empty body, or a JSON object. Its `reason` is "
    "recorded; other keys are ignored.",
)
@blp.response(
    200,
    AbortImportProcessResponse,
    description="Following model is returned when operation succeeds.",
    example=SUCCESS,
)
def abort_import_process(
    body: dict[str, Any], *, token: str, actor: str, app: Flask, setup: settings.Settings
) -> Response:
    """Abort Import Process

    Abort an import process. The import stops after the batch of records it is processing,
    and may leave partial data behind. `success: true` means the abort command was passed to
    the import process; poll the process until its progress is `aborted`.
    """
    current_request: Request = request_object()
    details = AbortRequest(
        setup.stop_deadline,
        actor,
        body.get("reason") or None,
        request_id(current_request.environ.get("HTTP_X_REQUEST_ID")),
    )
    outcome = setup.abort(token, details)
    if outcome is AbortOutcome.REQUESTED or outcome is AbortOutcome.ALREADY_REQUESTED:
        # The response schema's body, made once (flask-smorest passes a Response on as it is).
        answer = app.response_class(SUCCESS_BODY, mimetype="application/json")
    elif outcome is AbortOutcome.NOT_FOUND:
        answer = NOT_FOUND.response_to(app, current_request.environ)
    elif outcome is AbortOutcome.FINISHED:
        answer = FINISHED.response_to(app, current_request.environ)
    else:
        log.error(
            "the import registry answered %r for import process %s, not an AbortOutcome",
            outcome,
            token_for_log(token),
        )
        return _responded(app, errors.InternalError().get_response())
    answered(app, setup.registry, token, outcome, details)
    return _responded(app, answer, outcome)


setattr(abort_import_process, OPERATION_ATTRIBUTE, Operation("abortImportProcess"))
# OPTIONS is answered by the rule below. Flask reads this attribute of a view when it adds its
# rule (flask-smorest's route keeps the argument of that name for itself).
abort_import_process.provide_automatic_options = False


@status_docs.route(STATUS_RULE, methods=["GET"])
@functools.partial(_answered_by_the_plugin, announced=False)
@status_docs.doc(
    operationId="getImportProcess",
    responses=STATUS_RESPONSES,
)
@status_docs.response(
    200, ImportProcessStatus, description="Following model is returned when operation succeeds."
)
def get_import_process(*, token: str, actor: str, app: Flask, setup: settings.Settings) -> Response:
    """Get Import Process

    Get the status of an import process: its `progress`, how much of it is done, when it
    started and ended, and who aborted it and why.
    """
    registry = setup.snapshots
    try:
        snapshot = registry.snapshot(token)  # type: ignore[union-attr]
        chunks = registry.chunks(token) if isinstance(registry, Chunked) else None
    except UnknownImport:
        current_request: Request = request_object()
        return NOT_FOUND.response_to(app, current_request.environ)
    body = describe_import(snapshot, chunks=chunks)
    # the app's JSON provider, as Flask's jsonify: a host field may be a date, a Decimal, a UUID
    return app.response_class(app.json.dumps(body), mimetype="application/json")


setattr(get_import_process, OPERATION_ATTRIBUTE, Operation("getImportProcess"))


def method_not_allowed(token: str) -> Response:
    """Any other method on the abort URL: 405 errorModel, or the allowed methods for OPTIONS."""
    if request.method == "OPTIONS":
        return current_app.response_class(status=200, headers={"Allow": ALLOW})
    return METHOD_NOT_ALLOWED.get_response()


#: The methods the abort URL answers with a 405 errorModel.
OTHER_METHODS_LIST = ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


def _other_methods(state: BlueprintSetupState) -> None:
    """Routing answers an unknown method with a 405 of the host's before any blueprint is
    known, so the abort URL has a rule of its own for every other method: a plain Flask rule,
    which the OpenAPI document leaves out (it lists POST alone)."""
    state.add_url_rule(
        ABORT_RULE,
        "method_not_allowed",
        method_not_allowed,
        methods=OTHER_METHODS_LIST,
        provide_automatic_options=False,
    )


def _aliases(state: BlueprintSetupState) -> None:
    """The route under each alias prefix of the settings: the same view and the same 405, as
    plain rules of the blueprint's endpoints (its handlers apply), which the OpenAPI document
    leaves out, so that the operation id stays unique. One blueprint registration."""
    app = state.app
    view = app.view_functions[f"{state.name}.{abort_import_process.__name__}"]
    for number, alias in enumerate(settings.settings_of(app).url_aliases, start=1):
        rule = f"{alias}{ABORT_RULE}"
        endpoint = f"{state.name}.alias_{number}"
        app.add_url_rule(rule, endpoint, view, methods=["POST"], provide_automatic_options=False)
        app.add_url_rule(
            rule,
            f"{endpoint}_method_not_allowed",
            method_not_allowed,
            methods=OTHER_METHODS_LIST,
            provide_automatic_options=False,
        )


def _status(state: BlueprintSetupState) -> None:
    """getImportProcess under every prefix, where the settings turn it on; a host route that
    answers GET on that path already is an error, never shadowed."""
    app = state.app
    setup = settings.settings_of(app)
    if not occ_of(app).status_route:
        return
    for prefix in (setup.url_prefix, *setup.url_aliases):
        taken = path_taken(app, f"{prefix}/any-token", "GET")
        if taken is not None:
            raise ValueError(
                f"{Config.STATUS_ROUTE.name} is on, but the app's route {taken!r} "
                f"answers GET {prefix}/<token> already: remove it, or leave the setting off."
            )
    state.add_url_rule(STATUS_RULE, get_import_process.__name__, get_import_process)
    for number, alias in enumerate(setup.url_aliases, start=1):
        app.add_url_rule(
            f"{alias}{STATUS_RULE}", f"{state.name}.status_alias_{number}", get_import_process
        )


blp.record(_other_methods)
blp.record(_aliases)


def _occ_routes(state: BlueprintSetupState) -> None:
    """OCC's discovery and sign-in, under its two roots, where the settings turn them on."""
    add_routes(state.app, state.name)


blp.record(_status)
blp.record(_occ_routes)
