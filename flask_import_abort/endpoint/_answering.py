"""Internal: how the plugin's routes answer, whichever room's they are: the body read and loaded
by the route's schema, authorization and the token checked before the view, every error an
errorModel (none reaches the host's handlers), and an abort's outcome as its answer."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

import marshmallow as ma
from flask import Flask, Request, Response
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from .. import errors
from .._context import app_object, request_object
from ..access._auth import ANONYMOUS, OPERATION_KEY
from ..access._settings import access_of
from ..processes.contract import (
    AbortOutcome,
    AbortRequest,
    ImportRegistry,
    ProcessKind,
    StoreOutdated,
    StoreUnavailable,
    failures,
)
from ..processes.signals import announce
from ..processes.tokens import token_for_log
from ..signals import abort_responded
from . import _settings as settings
from ._aborting import answered, request_id
from ._checks import check_token, invalid_reason, load_body, sends_no_body
from ._schemas import (
    ERROR_RESPONSE,
    ERROR_RESPONSES,
    AbortImportProcessRequest,
    AbortImportProcessResponse,
    error_response_name,
)

log = logging.getLogger("flask_import_abort")

ABORT_RULE = "/<token>/abort"
STATUS_RULE = "/<token>"
#: The methods an abort URL answers with a 405 errorModel.
OTHER_METHODS_LIST = ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
#: The error answers, each a response component with the headers it carries, for the doc
#: decorator (one decorator for them all: each alt_response adds a wrapper run on every request).
DOCUMENTED_RESPONSES: dict[int | str, str] = {
    "default": ERROR_RESPONSE,
    **{status: error_response_name(status) for status in ERROR_RESPONSES},
}
#: A status route's error answers: the abort's, but those of a body and of a finished process.
STATUS_RESPONSES: dict[int | str, str] = {
    "default": ERROR_RESPONSE,
    **{status: error_response_name(status) for status in (400, 401, 403, 404, 500, 503)},
}
#: What the view answers a successful abort: the response schema's body, made once.
SUCCESS = {"success": True}
SUCCESS_BODY = json.dumps(AbortImportProcessResponse().dump(SUCCESS)).encode()


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
        current = request_object() if req is None else req  # one look-up, not one an access
        if sends_no_body(current.environ):
            return {}
        body = load_body(current, settings.settings_of(app_object()).max_body_bytes)
        if body is ma.missing:
            return {}
        try:
            return cast(ma.Schema, argmap).load(body, unknown=unknown)
        except ma.ValidationError as error:
            raise invalid_reason(error) from None


def answered_by_the_plugin(
    view: Callable[..., Response], *, operation: str, announced: bool = True
) -> Callable[[str], Response]:
    """The outside of a route: authorization, then the token, then the view (which reads
    the body); whatever is raised on the way is answered here, as an errorModel, so that no
    error of the plugin's ever reaches the host's error handlers. ``operation``, OCC's id of
    the route's operation, is put in the request's environ for the authorizer to read;
    ``announced``: the answer is an abort's, sent with the ``abort_responded`` signal."""

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
                current_request.environ[OPERATION_KEY] = operation
                allowed = check(current_request)
                if not isinstance(allowed, str):  # the refusal is this route's own answer
                    refused = allowed.response_to(app, current_request.environ)
                    return responded(app, refused) if announced else refused
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
        return responded(app, response) if announced else response

    return answer


def responded(app: Flask, response: Response, outcome: AbortOutcome | None = None) -> Response:
    if abort_responded.receivers:
        announce(abort_responded, app, status=response.status_code, outcome=outcome)
    return response


def abort_documented(docs: Any, operation: str) -> Callable[[Callable[..., Response]], Any]:
    """An abort route's documentation on ``docs`` (a flask-smorest ``Blueprint``), as its
    decorators declare it: the operation id and the error answers, the optional body its
    parser reads, and the success; the import and the export abort alike."""

    def documented(view: Callable[..., Response]) -> Any:
        view = docs.response(
            200,
            AbortImportProcessResponse,
            description="Following model is returned when operation succeeds.",
            example=SUCCESS,
        )(view)
        view = docs.arguments(
            AbortImportProcessRequest(),  # an instance: webargs would make one a request
            location="json",
            required=False,
            error_status_code=400,
            unknown=ma.EXCLUDE,
            description="Optional: no body, an empty body, or a JSON object. Its `reason` is "
            "recorded; other keys are ignored.",
        )(view)
        return docs.doc(operationId=operation, responses=DOCUMENTED_RESPONSES)(view)

    return documented


def requested(
    setup: settings.Settings,
    actor: str,
    body: Mapping[str, Any],
    kind: ProcessKind | None,
    environ: Mapping[str, Any],
) -> AbortRequest:
    """What an abort route passes on of its request: the stop deadline, who asked, why (the
    body's ``reason``), the request's ``X-Request-ID``, and the kind of process it means."""
    reason = body.get("reason") or None
    found = request_id(environ.get("HTTP_X_REQUEST_ID"))
    return AbortRequest(setup.stop_deadline, actor, reason, found, kind=kind)


def answer_abort(
    app: Flask,
    registry: ImportRegistry,
    abort: Callable[[str, AbortRequest], AbortOutcome],
    token: str,
    details: AbortRequest,
    not_found: errors.ImportAbortError,
    finished: errors.ImportAbortError,
    environ: dict[str, Any],
) -> Response:
    """Ask ``abort`` (the registry's) to abort ``token`` with ``details``, and answer what it
    said, in the language the request's ``environ`` asks for: success for an abort requested
    now or before, ``not_found`` or ``finished`` (each the same every time), a 500 for an
    answer that is no ``AbortOutcome``."""
    outcome = abort(token, details)
    if outcome is AbortOutcome.REQUESTED or outcome is AbortOutcome.ALREADY_REQUESTED:
        # The response schema's body, made once (flask-smorest passes a Response on as it is).
        answer = app.response_class(SUCCESS_BODY, mimetype="application/json")
    elif outcome is AbortOutcome.NOT_FOUND:
        answer = not_found.response_to(app, environ)
    elif outcome is AbortOutcome.FINISHED:
        answer = finished.response_to(app, environ)
    else:
        log.error(
            "the import registry answered %r for import process %s, not an AbortOutcome",
            outcome,
            token_for_log(token),
        )
        return responded(app, errors.InternalError().get_response())
    answered(app, registry, token, outcome, details)
    return responded(app, answer, outcome)
