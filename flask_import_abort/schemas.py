"""Internal: the request, response and errorModel schemas, named as OCC names them."""

from __future__ import annotations

import marshmallow as ma


def _string(description: str, **kwargs: object) -> ma.fields.String:
    return ma.fields.String(metadata={"description": description}, **kwargs)  # type: ignore[arg-type]


class AbortImportProcessRequest(ma.Schema):
    """abortImportProcess_request: optional, with no fields of its own; other keys are ignored."""

    class Meta:
        unknown = ma.INCLUDE


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
