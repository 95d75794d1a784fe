"""Internal: the request, response and errorModel schemas, named as OCC names them."""

from __future__ import annotations

import marshmallow as ma

from .checks import REASON_MAX_LENGTH

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
    """abortImportProcess_response."""

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
    """errorModel: the body of every error answer."""

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
