"""Internal: the request, response and errorModel schemas, named as OCC names them."""

from __future__ import annotations

import marshmallow as ma

from ._checks import REASON_MAX_LENGTH

#: What a reason may be, as the OpenAPI document says it: no control characters.
REASON_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"


def _string(description: str, **kwargs: object) -> ma.fields.String:
    return ma.fields.String(metadata={"description": description}, **kwargs)  # type: ignore[arg-type]


class AbortImportProcessRequest(ma.Schema):
    """abortImportProcess_request: optional; OCC's clients send nothing, and other keys are
    ignored. ``reason`` is this endpoint's own: why, recorded with the abort that counts."""

    class Meta:
        unknown = ma.INCLUDE

    reason = ma.fields.String(
        validate=[
            ma.validate.Length(max=REASON_MAX_LENGTH),
            ma.validate.Regexp(REASON_PATTERN),
        ],
        metadata={
            "description": "Why the import is aborted, recorded with the first abort of it and "
            f"shown to operators. At most {REASON_MAX_LENGTH} characters, none of them "
            "control characters.",
            "example": "The supplier sent last year's price list",
        },
    )


class AbortImportProcessResponse(ma.Schema):
    """abortImportProcess_response. Open to more fields, as OCC's page is."""

    class Meta:
        unknown = ma.INCLUDE

    success = ma.fields.Boolean(
        required=True,
        metadata={"description": "Returns true if we pass abort command to import process."},
    )


class _ErrorFields(ma.Schema):
    devMessage = _string(
        "An optional non-localized message containing technical information for developers"
    )
    errorCode = _string("The numerical code identifying the error")
    message = _string("The localized message describing the error")
    moreInfo = _string("An optional non-localized message with more information")
    errorPath = _string(
        "An optional machine readable description of where the error occurred",
        data_key="o:errorPath",
    )
    status = _string("The HTTP status code")


class ErrorItem(_ErrorFields):
    """One entry of errorModel's ``errors``."""

    class Meta:
        unknown = ma.INCLUDE


class ErrorModel(_ErrorFields):
    """errorModel: the body of every error answer. Open to more fields, as OCC's page is."""

    class Meta:
        unknown = ma.INCLUDE

    errors = ma.fields.List(
        ma.fields.Nested(ErrorItem),
        metadata={"description": "An optional list of errors if multiple errors were encountered"},
    )
    type = _string("The URI to the HTTP state code definition")


#: OpenAPI component names, as the reference page calls the schemas.
SCHEMA_NAMES = {
    "abortImportProcess_request": AbortImportProcessRequest,
    "abortImportProcess_response": AbortImportProcessResponse,
    "errorModel": ErrorModel,
}


#: What the document allows a token to be: the characters a URL path segment carries as they
#: are (RFC 3986's pchar, without the ``%`` that starts an escape), not a dot segment. The
#: endpoint accepts more, percent-encoded: any printable character but ``/``.
SEGMENT_PATTERN = r"^(?!\.\.?$)[A-Za-z0-9\-._~!$&'()*+,;=:@]+$"
PARAMETER_DESCRIPTION = (
    "Token corresponding to the import process. At most IMPORT_ABORT_TOKEN_MAX_LENGTH "
    "characters (256 by default). This document allows the characters a URL path segment "
    "carries unencoded; the endpoint also accepts any other printable character, "
    "percent-encoded, except `/` and whitespace. Not `.` or `..`."
)


def token_parameter(max_length: int, oas3: bool) -> dict[str, object]:
    """The path parameter ``token``, as OpenAPI 3 (or 2) describes one."""
    schema = {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": SEGMENT_PATTERN,
    }
    described = {
        "in": "path",
        "name": "token",
        "required": True,
        "description": PARAMETER_DESCRIPTION,
    }
    return {**described, "schema": schema} if oas3 else {**described, **schema}


#: The headers of error answers: name -> (description, JSON type).
HEADERS = {
    "Content-Language": ("The language of `message`, such as `en`, `de` or `pt-BR`.", "string"),
    "WWW-Authenticate": (
        'The challenge: `Bearer`, with `error="invalid_token"` when the credentials sent '
        "were wrong.",
        "string",
    ),
    "Retry-After": ("Seconds to wait before trying again.", "integer"),
    "Allow": ("On a 405, the methods the URL allows: `OPTIONS, POST`.", "string"),
}
#: Which headers each error status always carries; every other one may carry Allow.
ERROR_HEADERS = {
    401: ("Content-Language", "WWW-Authenticate"),
    503: ("Content-Language", "Retry-After"),
}
DEFAULT_ERROR_HEADERS = ("Content-Language",)


def header(name: str, oas3: bool, required: bool = True) -> dict[str, object]:
    """The Header object of one of :data:`HEADERS`, as OpenAPI 3 (or 2) describes one."""
    description, json_type = HEADERS[name]
    if not oas3:
        return {"description": description, "type": json_type}
    return {"description": description, "required": required, "schema": {"type": json_type}}


def error_headers(status: int, oas3: bool) -> dict[str, object]:
    """The headers an error answer of ``status`` carries, each required."""
    names = ERROR_HEADERS.get(status, DEFAULT_ERROR_HEADERS)
    return {name: header(name, oas3) for name in names}
