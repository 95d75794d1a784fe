"""Errors of the endpoint, their catalog of codes, and their errorModel bodies."""

from __future__ import annotations

import json
from collections.abc import Iterable
from http.client import responses as _status_phrases
from typing import Any

from flask import Response, current_app, has_app_context
from werkzeug.exceptions import HTTPException

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


class ImportAbortError(HTTPException):
    """An error the endpoint answers with an errorModel body.

    Each subclass is one row of the catalog: its HTTP status (``code``), its ``error_code``
    and its default ``message``. An authorizer or a registry may raise them, or any other
    werkzeug ``HTTPException``.
    """

    code = 500
    error_code = "30010"
    message = "The import process could not be aborted because of an internal error."

    def __init__(
        self,
        message: str | None = None,
        *,
        dev_message: str | None = None,
        more_info: str | None = None,
        error_path: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message or self.message)
        self.dev_message = dev_message
        self.more_info = more_info
        self.error_path = error_path
        self.extra_headers = list(headers)
        self._body: bytes | None = None

    def body(self) -> bytes:
        """The errorModel body as JSON, made on first use and kept with the error.

        The optional fields appear only where they say something.
        """
        if self._body is None:
            fields = {
                "status": str(self.code),
                "errorCode": self.error_code,
                "message": str(self.description),
                "type": status_type_uri(self.code),
                "devMessage": self.dev_message,
                "moreInfo": self.more_info,
                "o:errorPath": self.error_path,
            }
            model = {key: value for key, value in fields.items() if value is not None}
            self._body = json.dumps(model).encode()
        return self._body

    def get_response(self, *args: Any, **kwargs: Any) -> Response:
        """The errorModel answer, wherever the error is raised."""
        response_class = current_app.response_class if has_app_context() else Response
        return response_class(
            self.body(), status=self.code, headers=self.extra_headers, mimetype="application/json"
        )


class InvalidToken(ImportAbortError):
    code = 400
    error_code = "30001"
    message = "The import process token is not valid."


class MalformedJson(ImportAbortError):
    code = 400
    error_code = "30002"
    message = "The request body is not valid JSON."


class BodyNotAnObject(ImportAbortError):
    code = 400
    error_code = "30003"
    message = "The request body must be a JSON object."


class InvalidReason(ImportAbortError):
    code = 400
    error_code = "30013"
    message = "The reason for the abort is not valid."


class UnsupportedBodyType(ImportAbortError):
    code = 415
    error_code = "30004"
    message = "The request body must be JSON: send it as application/json, or send no body."


class BodyTooLarge(ImportAbortError):
    code = 413
    error_code = "30005"
    message = "The request body is too large."


class NotAuthenticated(ImportAbortError):
    """OCC's own answer to a call without valid credentials; its clients log in again on it."""

    code = 401
    error_code = "00001000"
    message = "The user is not authenticated."


class NotAllowed(ImportAbortError):
    code = 403
    error_code = "30006"
    message = "You are not allowed to abort import processes."


class ImportNotFound(ImportAbortError):
    code = 404
    error_code = "30007"
    message = "No import process has that token."


class MethodNotAllowed(ImportAbortError):
    code = 405
    error_code = "30009"
    message = "Use POST to abort an import process."


class ImportFinished(ImportAbortError):
    code = 409
    error_code = "30008"
    message = "The import process has already finished, so it can no longer be aborted."


class RegistryUnavailable(ImportAbortError):
    """The registry's store cannot be reached now; the answer says when to try again."""

    code = 503
    error_code = "30012"
    message = "The import processes cannot be reached right now; try again later."

    def __init__(self, retry_after: int, **kwargs: Any) -> None:
        headers = [("Retry-After", str(retry_after)), *kwargs.pop("headers", ())]
        super().__init__(headers=headers, **kwargs)


class InternalError(ImportAbortError):
    """Something failed inside; the details go to the log, never into the body."""


#: The errorCode of an ``HTTPException`` that is not one of ours, by its status.
_FOREIGN_ERROR_CODES = {
    401: NotAuthenticated.error_code,
    403: NotAllowed.error_code,
    413: BodyTooLarge.error_code,
    500: InternalError.error_code,
}
FOREIGN_ERROR_CODE = "30011"


class _ForeignError(ImportAbortError):
    """A werkzeug ``HTTPException`` that is not one of ours, raised by an authorizer or a
    registry: its status, description and headers in an errorModel."""

    def __init__(self, error: HTTPException) -> None:
        self.code = status = error.code or 500
        self.error_code = _FOREIGN_ERROR_CODES.get(status, FOREIGN_ERROR_CODE)
        source = error.response.headers.items() if error.response else error.get_headers()
        super().__init__(
            error.description or _status_phrases.get(status, "Error"),
            headers=[
                (name, value)
                for name, value in source
                if name.lower() not in ("content-type", "content-length")
            ],
        )


def error_response(error: HTTPException) -> Response:
    """Render any ``HTTPException`` as an errorModel JSON response, keeping its headers."""
    if not isinstance(error, ImportAbortError):
        error = _ForeignError(error)
    return error.get_response()
