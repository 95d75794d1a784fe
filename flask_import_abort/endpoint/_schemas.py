"""Internal: the request, response and errorModel schemas, named as OCC names them, and the
components of the OpenAPI document the operation refers to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from apispec import BasePlugin

from ..processes.lifecycle import ImportState
from ._checks import json_type

#: The longest reason an abort may give.
REASON_MAX_LENGTH = 500
#: What a reason may be, as the OpenAPI document says it: no control characters (C0, DEL, C1),
#: no line or paragraph separator (U+2028, U+2029), no bidirectional control (U+061C, U+200E,
#: U+200F, U+202A to U+202E, U+2066 to U+2069), which change how a log line or a terminal reads
#: what follows. A lone surrogate (``"\\ud800"``, which no UTF-8 can carry, so no database
#: keeps it) is refused too, by a rule of its own: JSON Schema's patterns match code points.
REASON_PATTERN = (
    "^[^\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069]*$"
)


class _AtMost(ma.validate.Length):
    """At most ``max`` characters, saying how many there were."""

    def __call__(self, value: Any) -> Any:
        """``value``, when it is at most ``max`` characters; else a validation error giving
        both lengths."""
        if self.max is not None and len(value) > self.max:
            raise ma.ValidationError(
                f"The reason is {len(value)} characters long; at most {self.max} are allowed."
            )
        return value


class _NoControlCharacters(ma.validate.Regexp):
    """The whole of the value matches (``$`` alone lets a final line break through)."""

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self.error)
        return value


class _Reason(ma.fields.String):
    """A string that UTF-8 can write (no lone surrogate, which JSON's ``\\u`` escapes can
    carry), or the JSON type it is instead; its validators hold it to the rest."""

    default_error_messages = {  # noqa: RUF012 (marshmallow's own name and type)
        "null": "The reason is a JSON null, not a string."
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ma.ValidationError(f"The reason is a JSON {json_type(value)}, not a string.")
        if not value.isascii():  # an ASCII string has no surrogate: the common reason's
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                message = "The reason holds a lone surrogate (\\ud800 to \\udfff)."
                raise ma.ValidationError(message) from None
        return super()._deserialize(value, attr, data, **kwargs)


def _string(description: str, **kwargs: object) -> ma.fields.String:
    return ma.fields.String(metadata={"description": description}, **kwargs)  # type: ignore[arg-type]


class AbortImportProcessRequest(ma.Schema):
    """abortImportProcess_request: optional; OCC's clients send nothing, and other keys are
    ignored. ``reason`` is this endpoint's own: why, recorded with the abort that counts."""

    class Meta:
        unknown = ma.INCLUDE

    #: Every rule of a reason, for the endpoint and the command line alike.
    reason = _Reason(
        validate=[
            _AtMost(max=REASON_MAX_LENGTH),
            _NoControlCharacters(
                REASON_PATTERN,
                error="The reason holds control characters (a line break, a tab, a "
                "direction control, ...).",
            ),
        ],
        metadata={
            "description": "Why the import is aborted, recorded with the first abort of it and "
            f"shown to operators. At most {REASON_MAX_LENGTH} characters, none of them "
            "control characters (line separators and direction controls included).",
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
    """The fields of OCC's errorModel, as its reference describes them."""

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


def _moment(description: str) -> ma.fields.DateTime:
    return ma.fields.DateTime(allow_none=True, metadata={"description": description})


def _text(description: str) -> ma.fields.String:
    return ma.fields.String(allow_none=True, metadata={"description": description})


class ImportProcessError(ma.Schema):
    """Why a failed process failed."""

    detail = ma.fields.String(metadata={"description": "What happened."})
    title = ma.fields.String(metadata={"description": "A short summary of the error."})
    type = ma.fields.String(
        metadata={"description": "The kind of failure: `failed`, or why the package ended it."}
    )


class Link(ma.Schema):
    rel = ma.fields.String(metadata={"description": "`self`, or `abort`."})
    href = ma.fields.String(metadata={"description": "The path of the resource."})


class ImportProcessChunk(ma.Schema):
    """getImportProcess_chunk: one chunk of a parallel import, each run by a worker of its own."""

    processId = ma.fields.String(metadata={"description": "The chunk's token."})
    progress = ma.fields.String(
        validate=ma.validate.OneOf([state.value for state in ImportState]),
        metadata={"description": "Its state."},
    )
    completedPercentage = ma.fields.Integer(
        metadata={"description": "Whole percent of its records written; 0 while unknown."}
    )
    recordsWritten = ma.fields.Integer(metadata={"description": "Records it has written."})
    recordsTotal = ma.fields.Integer(
        allow_none=True, metadata={"description": "Records it expects to write; null if unknown."}
    )
    startTime = _moment("When the chunk started; null while it waits.")
    endTime = _moment("When it ended; null until then.")
    endReason = _text("Why the package ended it rather than its worker, as the import's.")


class ImportProcessStatus(ma.Schema):
    """getImportProcess_response: OCC's fields, then this endpoint's own about an abort, then
    the host's (``IMPORT_ABORT_STATUS_FIELDS``)."""

    class Meta:
        unknown = ma.INCLUDE

    processId = ma.fields.String(metadata={"description": "The import process's token."})
    completed = ma.fields.Boolean(
        metadata={"description": "Whether the process has ended (succeeded, failed or aborted)."}
    )
    completedPercentage = ma.fields.Integer(
        metadata={"description": "Whole percent of its records written; 0 while unknown."}
    )
    startTime = _moment("When the process started; null while pending.")
    endTime = _moment("When the process ended; null until then.")
    progress = ma.fields.String(
        validate=ma.validate.OneOf([state.value for state in ImportState]),
        metadata={"description": "Its state."},
    )
    error = ma.fields.Nested(
        ImportProcessError,
        metadata={"description": "Why it failed: only when its progress is `failed`."},
    )
    links = ma.fields.List(ma.fields.Nested(Link))
    abortRequested = ma.fields.Boolean(
        metadata={"description": "Whether an abort was requested (this endpoint's own field)."}
    )
    abortedBy = _text("Who requested the abort that counted (the first).")
    abortReason = _text("Why, as the abort's body said.")
    abortRequestedAt = _moment("When.")
    abortRequestId = _text("The abort request's `X-Request-ID`.")
    endReason = _text(
        "Why the package ended the process rather than its worker: `worker_lost`, "
        "`stop_deadline`, `shutdown`, `chunk_failed`; null when its worker recorded the end."
    )
    chunks = ma.fields.List(
        ma.fields.Nested(ImportProcessChunk),
        metadata={
            "description": "A parallel import's chunks, in order: its progress is theirs, "
            "summed. Only for a parallel import."
        },
    )
    parentProcessId = _text(
        "A chunk's import, which an abort of the chunk aborts. Only for a chunk."
    )


#: OpenAPI component names, as the reference page calls the schemas.
SCHEMA_NAMES = {
    "abortImportProcess_request": AbortImportProcessRequest,
    "abortImportProcess_response": AbortImportProcessResponse,
    "errorModel": ErrorModel,
}
#: getImportProcess's, where it is served: the nested ones first, so that the status refers
#: to them by these names.
STATUS_SCHEMA_NAMES = {
    "getImportProcess_chunk": ImportProcessChunk,
    "getImportProcess_error": ImportProcessError,
    "getImportProcess_link": Link,
    "getImportProcess_response": ImportProcessStatus,
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


#: Names in the OpenAPI document that the operation refers to.
ERROR_RESPONSE = "errorModel"
SECURITY_SCHEME = "bearerAuth"
#: The operation's error answers, each documented as a response of its own with its headers.
ERROR_RESPONSES = {
    400: "The token or the body is malformed.",
    401: "No valid credentials (OCC's errorCode 00001000); the answer carries a challenge.",
    403: "The credentials do not allow aborting imports.",
    404: "No import process has that token.",
    409: "The import process has already succeeded or failed.",
    413: "The body is larger than IMPORT_ABORT_MAX_BODY_BYTES.",
    415: "A non-empty body that is not JSON.",
    500: "The registry failed; details are in the server log only.",
    503: "The registry's store is unreachable or locked; the answer carries Retry-After.",
}


def error_response_name(status: int) -> str:
    """The name of the response component of one of :data:`ERROR_RESPONSES`."""
    return f"abortImportProcess_{status}"


def _error_model_response(description: str, headers: Mapping[str, object], oas3: bool) -> Any:
    """An errorModel answer's OpenAPI response, in the version's shape."""
    response: dict[str, Any] = {"description": description}
    if oas3:
        response["content"] = {"application/json": {"schema": ErrorModel}}
    else:
        response["schema"] = ErrorModel
    response["headers"] = headers
    return response


def add_components(spec: Any, *, with_status: bool = False) -> None:
    """Register what the operations refer to in ``spec`` (an apispec ``APISpec``), in the form
    of its OpenAPI version, leaving alone any name the document already has; getImportProcess's
    schemas where ``with_status`` says it is served."""
    components = spec.components
    schemas = {**SCHEMA_NAMES, **STATUS_SCHEMA_NAMES} if with_status else SCHEMA_NAMES
    for name, schema in schemas.items():
        if name not in components.schemas:
            components.schema(name, schema=schema)
    oas3 = spec.openapi_version.major >= 3
    if ERROR_RESPONSE not in components.responses:
        headers = {
            "Content-Language": header("Content-Language", oas3),
            "Retry-After": header("Retry-After", oas3, required=False),
            "Allow": header("Allow", oas3, required=False),
        }
        components.response(
            ERROR_RESPONSE, _error_model_response("The error response", headers, oas3)
        )
    for status, description in ERROR_RESPONSES.items():
        name = error_response_name(status)
        if name not in components.responses:
            response = _error_model_response(description, error_headers(status, oas3), oas3)
            components.response(name, response)


class _Security(BasePlugin):
    """Sets the plugin's operations' ``security`` as each app authorizes them, when the
    operations are added to a document (apispec's operation helper): the decorators that
    declare the operations are the same for every app."""

    def __init__(self) -> None:
        self.requirements: dict[str, list[dict[str, list[str]]] | None] = {}

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Give each of the package's operations its own security requirement (none for a
        public one)."""
        for operation in (operations or {}).values():
            if not isinstance(operation, dict):
                continue
            identifier = operation.get("operationId")
            if identifier not in self.requirements:
                continue
            requirement = self.requirements[identifier]
            if requirement is None:
                operation.pop("security", None)
            else:
                operation["security"] = requirement


def security_schemes(authorizer: object) -> Mapping[str, Any]:
    """The OpenAPI 3 security schemes an authorizer declares (its ``security_schemes``), if it
    declares them and how it wants each operation (its ``security_requirement``)."""
    schemes = getattr(authorizer, "security_schemes", None)
    if isinstance(schemes, Mapping) and callable(getattr(authorizer, "security_requirement", None)):
        return schemes
    return {}


def document_security(
    spec: Any,
    requirements: Mapping[str, list[dict[str, list[str]]] | None],
    schemes: Mapping[str, Any],
) -> None:
    """Have ``spec`` document the operations' ``security`` as ``requirements`` say, with the
    authorizer's ``schemes`` beside the bearer one."""
    plugin = next((one for one in spec.plugins if isinstance(one, _Security)), None)
    if plugin is None:
        plugin = _Security()
        plugin.init_spec(spec)
        spec.plugins = [*spec.plugins, plugin]
    plugin.requirements.update(requirements)
    named = {name for found in requirements.values() for one in found or () for name in one}
    if SECURITY_SCHEME in named:
        _add_bearer_scheme(spec, spec.openapi_version.major >= 3)
    for name, scheme in schemes.items():
        if name not in spec.components.security_schemes:
            spec.components.security_scheme(name, dict(scheme))


def _add_bearer_scheme(spec: Any, oas3: bool) -> None:
    """Declare the bearer scheme, once, in the version's shape."""
    components = spec.components
    if SECURITY_SCHEME not in components.security_schemes:
        scheme = (
            {"type": "http", "scheme": "bearer"}
            if oas3
            else {"type": "apiKey", "in": "header", "name": "Authorization"}
        )
        components.security_scheme(SECURITY_SCHEME, scheme)
