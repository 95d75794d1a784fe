"""Errors of the endpoint, their catalog of codes, and their errorModel bodies."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http.client import responses as _status_phrases
from typing import Any

from flask import Flask, Response, has_app_context, has_request_context, request
from werkzeug.exceptions import HTTPException

from ._context import app_object
from .languages._catalogs import ENGLISH, N_, Catalog, Localizer, localizer_of
from .languages._catalogs import EXTENSION_KEY as I18N_KEY

#: Statuses that RFC 9110 defines; the others point at the RFC that does, or IANA's registry.
_RFC9110_STATUSES = frozenset({*range(400, 418), 421, 422, 426, *range(500, 506)})
_OTHER_STATUS_URIS = {
    428: "https://www.rfc-editor.org/rfc/rfc6585#section-3",
    429: "https://www.rfc-editor.org/rfc/rfc6585#section-4",
    431: "https://www.rfc-editor.org/rfc/rfc6585#section-5",
    451: "https://www.rfc-editor.org/rfc/rfc7725#section-3",
    511: "https://www.rfc-editor.org/rfc/rfc6585#section-6",
}
_IANA_STATUS_REGISTRY = "https://www.iana.org/assignments/http-status-codes"


def status_type_uri(status: int) -> str:
    """The URI of the definition of an HTTP status, for errorModel's ``type``."""
    if status in _RFC9110_STATUSES:
        return f"https://www.rfc-editor.org/rfc/rfc9110#status.{status}"
    return _OTHER_STATUS_URIS.get(status, _IANA_STATUS_REGISTRY)


#: What the language of an answer depends on, for caches (``Vary``).
LANGUAGE_HEADERS = "Accept-Language, X-CCAsset-Language"
_CACHEABLE = frozenset({"GET", "HEAD"})
#: How many languages' bodies an error keeps at most (each app has catalogs of its own).
_BODIES_KEPT = 64


class ImportAbortError(HTTPException):
    """An error the endpoint answers with an errorModel body.

    Each subclass is one row of the catalog: its HTTP status (``code``), its ``error_code``
    and its default ``message``. An authorizer or a registry may raise them, or any other
    werkzeug ``HTTPException``.

    ``message`` is answered in the request's language when a catalog translates it (the
    package's, or the host's ``IMPORT_ABORT_TRANSLATIONS``); its ``%(name)s`` placeholders are
    filled from ``values`` after translation. The other fields are never translated.
    """

    code = 500
    error_code = "30010"
    message = N_("The import process could not be aborted because of an internal error.")

    def __init__(
        self,
        message: str | None = None,
        *,
        dev_message: str | None = None,
        more_info: str | None = None,
        error_path: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        values: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.dev_message = dev_message
        self.more_info = more_info
        self.error_path = error_path
        self.extra_headers = list(headers)
        self.values = values
        #: The body in each language it was answered in, made on first use.
        self._bodies: dict[Catalog, bytes] = {}

    def body(self, catalog: Catalog = ENGLISH) -> bytes:
        """The errorModel body as JSON, its ``message`` in ``catalog``'s language.

        The optional fields appear only where they say something.
        """
        found = self._bodies.get(catalog)
        if found is None:
            fields = {
                "status": str(self.code),
                "errorCode": self.error_code,
                "message": catalog.message(str(self.description), self.values),
                "type": status_type_uri(self.code),
                "devMessage": self.dev_message,
                "moreInfo": self.more_info,
                "o:errorPath": self.error_path,
            }
            model = {key: value for key, value in fields.items() if value is not None}
            # UTF-8 as it is; a lone surrogate (no UTF-8 has one) as the JSON escape of it.
            text = json.dumps(model, ensure_ascii=False)
            if len(self._bodies) >= _BODIES_KEPT:  # an error made once, for app after app
                self._bodies.clear()
            found = self._bodies[catalog] = text.encode("utf-8", "backslashreplace")
        return found

    def get_response(self, *args: Any, **kwargs: Any) -> Response:
        """The errorModel answer, wherever the error is raised, in the request's language."""
        if has_request_context():
            return self.response_to(
                app_object(),
                request.environ,
            )
        if has_app_context():
            app = app_object()
            localizer = localizer_of(app.extensions)
            catalog = ENGLISH if localizer is None else localizer.default
            return self._response(app.response_class, catalog)
        return self._response(Response, ENGLISH)

    def response_to(self, app: Flask, environ: Mapping[str, Any]) -> Response:
        """The errorModel answer to the request of ``environ`` on ``app``."""
        localizer: Localizer | None = app.extensions.get(I18N_KEY)
        if localizer is None:
            return self._response(app.response_class, ENGLISH)
        # Only an answer to GET or HEAD is ever kept by a cache, so only it needs the Vary.
        vary = LANGUAGE_HEADERS if environ.get("REQUEST_METHOD") in _CACHEABLE else None
        return self._response(app.response_class, localizer.choose(environ), vary)

    def _response(
        self, response_class: type[Response], catalog: Catalog, vary: str | None = None
    ) -> Response:
        """The errorModel answer in ``catalog``'s language, with this error's headers."""
        response = response_class(self.body(catalog), self.code, content_type="application/json")
        # Headers.add, one by one, costs a request less than the constructor's headers=.
        add = response.headers.add
        for name, value in self.extra_headers:
            add(name, value)
        add("Content-Language", catalog.tag)
        if vary is not None:
            add("Vary", vary)
        return response


class InvalidToken(ImportAbortError):
    code = 400
    error_code = "30001"
    message = N_("The import process token is not valid.")


class MalformedJson(ImportAbortError):
    code = 400
    error_code = "30002"
    message = N_("The request body is not valid JSON.")


class BodyNotAnObject(ImportAbortError):
    code = 400
    error_code = "30003"
    message = N_("The request body must be a JSON object.")


class InvalidReason(ImportAbortError):
    code = 400
    error_code = "30013"
    message = N_("The reason for the abort is not valid.")


class UnsupportedBodyType(ImportAbortError):
    code = 415
    error_code = "30004"
    message = N_("The request body must be JSON: send it as application/json, or send no body.")


class BodyTooLarge(ImportAbortError):
    code = 413
    error_code = "30005"
    message = N_("The request body is too large.")


class NotAuthenticated(ImportAbortError):
    """OCC's own answer to a call without valid credentials; its clients log in again on it."""

    code = 401
    error_code = "00001000"
    message = N_("The user is not authenticated.")


class NotAllowed(ImportAbortError):
    code = 403
    error_code = "30006"
    message = N_("You are not allowed to abort import processes.")


class ReadNotAllowed(ImportAbortError):
    """The credentials are good, but do not allow reading import processes."""

    code = 403
    error_code = "30016"
    message = N_("You are not allowed to read import processes.")


class ImportNotFound(ImportAbortError):
    code = 404
    error_code = "30007"
    message = N_("No import process has that token.")


class MethodNotAllowed(ImportAbortError):
    code = 405
    error_code = "30009"
    message = N_("Use POST to abort an import process.")


class ImportFinished(ImportAbortError):
    code = 409
    error_code = "30008"
    message = N_("The import process has already finished, so it can no longer be aborted.")


class ExportNotFound(ImportAbortError):
    """An export's 404: no export process has the token (an import's token included)."""

    code = 404
    error_code = ImportNotFound.error_code
    message = N_("No export process has that token.")


class ExportMethodNotAllowed(ImportAbortError):
    code = 405
    error_code = MethodNotAllowed.error_code
    message = N_("Use POST to abort an export process.")


class ExportFinished(ImportAbortError):
    code = 409
    error_code = ImportFinished.error_code
    message = N_("The export process has already finished, so it can no longer be aborted.")


class RegistryUnavailable(ImportAbortError):
    """The registry's store cannot be reached now; the answer says when to try again."""

    code = 503
    error_code = "30012"
    message = N_("The import processes cannot be reached right now; try again later.")

    def __init__(self, retry_after: int, **kwargs: Any) -> None:
        headers = [("Retry-After", str(retry_after)), *kwargs.pop("headers", ())]
        super().__init__(headers=headers, **kwargs)


class IdentityProviderUnavailable(ImportAbortError):
    """The identity provider's signing keys cannot be fetched now; the answer says when to try
    again."""

    code = 503
    error_code = "30015"
    message = N_("The identity provider cannot be reached right now; try again later.")

    def __init__(self, retry_after: int, **kwargs: Any) -> None:
        headers = [("Retry-After", str(retry_after)), *kwargs.pop("headers", ())]
        super().__init__(headers=headers, **kwargs)


class InternalError(ImportAbortError):
    """Something failed inside; the details go to the log, never into the body."""


#: Our error for some statuses of an ``HTTPException`` that is not one of ours: its errorCode,
#: and its message when the exception carries werkzeug's stock sentence. Other statuses answer
#: FOREIGN_ERROR_CODE.
_OURS_BY_STATUS: dict[int, type[ImportAbortError]] = {
    401: NotAuthenticated,
    403: NotAllowed,
    413: BodyTooLarge,
    500: InternalError,
}
FOREIGN_ERROR_CODE = "30011"
#: The challenge of a 401 that came without one (RFC 9110 requires one): the document's
#: security scheme.
DEFAULT_CHALLENGE = "Bearer"


class _ForeignError(ImportAbortError):
    """A werkzeug ``HTTPException`` that is not one of ours, raised by an authorizer or a
    registry: its status, description and headers in an errorModel.

    A bare one (``Forbidden()``) says our catalog's message for its status, in the request's
    language, rather than werkzeug's English sentence.
    """

    def __init__(self, error: HTTPException) -> None:
        self.code = status = error.code or 500
        ours = _OURS_BY_STATUS.get(status)
        if ours is NotAllowed and has_request_context() and request.method in _CACHEABLE:
            ours = ReadNotAllowed  # a 403 of getImportProcess: reading, not aborting
        self.error_code = FOREIGN_ERROR_CODE if ours is None else ours.error_code
        description = error.description
        if ours is not None and (not description or description == type(error).description):
            description = ours.message
        source = error.response.headers.items() if error.response else error.get_headers()
        headers = [
            (name, value)
            for name, value in source
            if name.lower() not in ("content-type", "content-length")
        ]
        if status == 401 and not any(name.lower() == "www-authenticate" for name, _ in headers):
            headers.append(("WWW-Authenticate", DEFAULT_CHALLENGE))
        super().__init__(description or _status_phrases.get(status, "Error"), headers=headers)


def error_response(error: HTTPException) -> Response:
    """Render any ``HTTPException`` as an errorModel JSON response, keeping its headers."""
    if not isinstance(error, ImportAbortError):
        error = _ForeignError(error)
    return error.get_response()
