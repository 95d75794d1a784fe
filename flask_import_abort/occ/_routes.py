"""Internal: OCC's own routes around the operations, under OCC's two roots: discovery (``verify``,
``registry``) and sign-in (``login``, ``refresh``); the OCC operation id a route carries; and the
check a host's own routes share with the plugin's."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from flask import Flask, Response, current_app, json, request
from flask.sansio.app import App
from werkzeug.exceptions import HTTPException

from .._config import Config, Key
from .._context import app_object, request_object
from ..access._auth import ANONYMOUS
from ..access._settings import access_of
from ..access._signin import AccessTokens, SignInRefused
from ..endpoint import _settings as settings
from ..endpoint._checks import read_body
from ..errors import BodyTooLarge
from ._settings import occ_of

#: The roots OCC serves its admin API under; its clients use either.
OCC_ROOTS = ("/ccadmin/v1", "/ccadminui/v1")
#: The header ``verify`` answers with the version.
VERSION_HEADER = "OracleCommerceCloud-Version"
#: The attribute of a view function that names its OCC operation.
OPERATION_ATTRIBUTE = "occ_operation"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Operation:
    """What ``registry`` says of a route: OCC's operation id, and how a client calls it."""

    id: str
    auth_required: bool = True
    request_type: str = JSON
    response_type: str = JSON
    #: Whether the operation reads ``X-CCAsset-Language``, as OCC's registry hints it.
    locale_hint: str = "assetLanguageOptional"


def occ_operation(
    operation_id: str, *, auth_required: bool = True, request_type: str = JSON
) -> Callable[[View], View]:
    """Name a view's OCC operation, so that OCC's ``registry`` lists it for clients that call
    operations by id: ``@occ_operation("executeImport")`` under the route decorator."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", operation_id):
        raise ValueError(
            f"an OCC operation id is a name such as 'executeImport'; got {operation_id!r}."
        )

    def name(view: View) -> View:
        setattr(view, OPERATION_ATTRIBUTE, Operation(operation_id, auth_required, request_type))
        return view

    return name


def authenticate() -> str:
    """Check the current request as the plugin checks its own: the bearer tokens, the access
    tokens of OCC's sign-in, the authorizer. Answers the caller's name (``anonymous`` where
    anonymous access is on); raises the plugin's 401 (or the authorizer's error) otherwise, an
    errorModel answer wherever it is raised."""
    check = access_of(current_app).check
    if check is None:
        return ANONYMOUS
    allowed = check(request_object())
    if isinstance(allowed, str):
        return allowed
    raise allowed


def access_required(view: View) -> View:
    """A view of the host's that only callers the plugin lets in reach (see
    :func:`authenticate`)."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]


# -- sign-in ---------------------------------------------------------------------------------


def _oauth(body: dict[str, Any], status: int = 200, challenge: str | None = None) -> Response:
    """An OAuth answer: never kept by a cache (RFC 6749, 5.1)."""
    response = current_app.response_class(json.dumps(body), status, mimetype=JSON)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    if challenge is not None:
        response.headers["WWW-Authenticate"] = f'Bearer error="{challenge}"'
    return response


def _refused(refusal: SignInRefused) -> Response:
    body = {"error": refusal.error, "error_description": refusal.description}
    challenge = refusal.error if refusal.status == 401 else None
    return _oauth(body, refusal.status, challenge)


def _signing_in() -> AccessTokens:
    """The app's access tokens: the sign-in routes exist only where they are configured."""
    tokens = access_of(current_app).access_tokens
    if tokens is None:
        raise RuntimeError("OCC's sign-in is not configured on this app.")
    return tokens


def _body(setup: settings.Settings) -> bytes:
    """The request's body, read as the abort reads its own: refused past
    ``IMPORT_ABORT_MAX_BODY_BYTES``, whether its length is declared or it comes in chunks."""
    try:
        return read_body(request, setup.max_body_bytes)
    except BodyTooLarge:
        raise SignInRefused(413, "invalid_request", "The request body is too large.") from None


def _form(setup: settings.Settings) -> dict[str, str]:
    """The sign-in's form, from a body of at most ``IMPORT_ABORT_MAX_BODY_BYTES``."""
    if request.mimetype != FORM:
        raise SignInRefused(400, "invalid_request", f"Send the form as {FORM}.")
    try:
        text = _body(setup).decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise SignInRefused(400, "invalid_request", "The form is not URL-encoded.") from None
    form = dict(pairs)
    if len(form) != len(pairs):  # RFC 6749, 3.1: no parameter more than once
        raise SignInRefused(400, "invalid_request", "A parameter is sent more than once.")
    return form


def login() -> Response:
    """OCC's sign-in of an application: ``grant_type=client_credentials``, form-encoded, with
    ``Authorization: Bearer <application key>``; answers OAuth's token answer."""
    setup = settings.settings_of(current_app)
    tokens = _signing_in()
    try:
        grant = _form(setup).get("grant_type")
        if not grant:
            raise SignInRefused(400, "invalid_request", "grant_type is missing.")
        if grant != "client_credentials":
            raise SignInRefused(
                400,
                "unsupported_grant_type",
                "Only grant_type=client_credentials, with an application key, is served here.",
            )
        name = tokens.application(request.headers.get("Authorization"))
    except SignInRefused as refusal:
        return _refused(refusal)
    return _oauth(tokens.issue(name))


def refresh() -> Response:
    """OCC's refresh: a new access token for the valid one the request carries (its body, if
    any, is read within the limit and not used)."""
    setup = settings.settings_of(current_app)
    tokens = _signing_in()
    try:
        _body(setup)
        return _oauth(tokens.refresh(request.headers.get("Authorization")))
    except SignInRefused as refusal:
        return _refused(refusal)


setattr(login, OPERATION_ATTRIBUTE, Operation("login", auth_required=False, request_type=FORM))
setattr(refresh, OPERATION_ATTRIBUTE, Operation("refresh", request_type=FORM))


# -- discovery -------------------------------------------------------------------------------


def verify() -> Response:
    """What OCC's clients call first: the version, in a header."""
    response = current_app.response_class(b'{"success": true}', mimetype=JSON)
    response.headers[VERSION_HEADER] = occ_of(current_app).version
    return response


setattr(verify, OPERATION_ATTRIBUTE, Operation("verify", auth_required=False))


def registry() -> Response:
    """OCC's ``registry``: each operation id of the app's routes, and how to call it."""
    app: Flask = app_object()
    root = request.path.rsplit("/", 1)[0]
    body = {"endpointMap": endpoint_map(app, root)}
    return app.response_class(json.dumps(body), mimetype=JSON)


setattr(registry, OPERATION_ATTRIBUTE, Operation("registry", auth_required=False))

_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?[^<>]+>")


def endpoint_map(app: Flask, root: str) -> dict[str, dict[str, Any]]:
    """The app's routes that carry an OCC operation id, by id: under ``root`` where the
    operation is served there, else where it is."""
    found: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        operation: Operation | None = getattr(
            app.view_functions.get(rule.endpoint), OPERATION_ATTRIBUTE, None
        )
        if operation is None:
            continue
        kept = found.get(operation.id)
        # the first rule found, unless a later one is under the root asked and it is not
        if kept is not None and not (
            rule.rule.startswith(f"{root}/") and not kept["url"].startswith(f"{root}/")
        ):
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        found[operation.id] = {
            "id": operation.id,
            "method": methods[0] if methods else "GET",
            "url": _ARGUMENT.sub("{}", rule.rule),
            "hasPathParams": bool(rule.arguments),
            "authRequired": operation.auth_required,
            "requestType": operation.request_type,
            "responseType": operation.response_type,
            "localeHint": operation.locale_hint,
        }
    return dict(sorted(found.items()))


# -- the routes ------------------------------------------------------------------------------


def path_taken(app: App, path: str, method: str) -> str | None:
    """The endpoint of the app's route that answers ``method`` on ``path``, if one does."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match(path, method=method)
    except HTTPException:  # nothing answers it there: the path is free
        return None
    return str(endpoint)


def add_routes(app: App, name: str) -> None:
    """OCC's discovery and sign-in routes under both of its roots, where the settings turn them
    on; a host route already on one of those paths is an error, never shadowed."""
    occ = occ_of(app)
    config = Config
    # (path, view, method, the setting that turns it on)
    views: list[tuple[str, Callable[[], Response], str, Key]] = []
    if occ.discovery:
        views += [
            ("verify", verify, "GET", config.OCC_DISCOVERY),
            ("registry", registry, "GET", config.OCC_DISCOVERY),
        ]
    if access_of(app).access_tokens is not None:
        views += [
            ("login", login, "POST", config.APPLICATION_KEYS),
            ("refresh", refresh, "POST", config.APPLICATION_KEYS),
        ]
    for root in OCC_ROOTS:
        for path, view, method, key in views:
            taken = path_taken(app, f"{root}/{path}", method)
            if taken is not None:
                raise ValueError(
                    f"{key.name} is on, but the app's route {taken!r} answers "
                    f"{method} {root}/{path} already: remove it, or leave the setting off."
                )
            endpoint = f"{name}.occ_{root.strip('/').split('/')[0]}_{path}"
            app.add_url_rule(f"{root}/{path}", endpoint, view, methods=[method])
