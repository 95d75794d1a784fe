"""Internal: abortExportProcess and getExportProcess, declared with flask-smorest's decorators on
blueprints that are never registered: the plugin's blueprint adds their rules under the export
prefixes where the settings turn them on, and documents them beside the import routes."""

from __future__ import annotations

import functools
from typing import Any, cast

from flask import Flask, Response, current_app, request
from flask_smorest import Blueprint

from .. import errors
from .._context import request_object
from ..endpoint import _settings as settings
from ..endpoint._answering import (
    ABORT_RULE,
    STATUS_RESPONSES,
    STATUS_RULE,
    BodyParser,
    abort_documented,
    answer_abort,
    answered_by_the_plugin,
    requested,
)
from ..endpoint._schemas import (
    ImportProcessStatus,
)
from ..occ._routes import OPERATION_ATTRIBUTE, Operation
from ..occ._status import status_answer
from ..processes.capabilities import Snapshots
from ._settings import exports_of

__all__ = ["abort_export_process", "export_docs", "export_status_docs", "get_export_process"]

#: The export routes' refusals, each the same every time (raised nowhere, only rendered).
NOT_FOUND = errors.ExportNotFound(error_path="token")
FINISHED = errors.ExportFinished(error_path="token")
ALLOW = "OPTIONS, POST"
METHOD_NOT_ALLOWED = errors.ExportMethodNotAllowed(
    more_info=f"Allowed methods: {ALLOW}.", headers=[("Allow", ALLOW)]
)
#: What the document says of the export abort URL's other methods.
OTHER_METHODS = (
    "POST aborts. OPTIONS answers 200 with `Allow: OPTIONS, POST`; every other method answers "
    "405 with an errorModel body (errorCode 30009) and the same `Allow` header."
)


class _Docs(Blueprint):  # type: ignore[misc]
    """A blueprint that only documents: its body parser is the abort route's own."""

    ARGUMENTS_PARSER = BodyParser()


#: abortExportProcess, and getExportProcess (a blueprint of its own, documented only where the
#: status route is on).
export_docs = _Docs("import_abort_exports", __name__)
export_status_docs = Blueprint("import_abort_export_status", __name__)


@export_docs.route(ABORT_RULE, methods=["POST"])
@functools.partial(answered_by_the_plugin, operation="abortExportProcess")
@abort_documented(export_docs, "abortExportProcess")
def abort_export_process(
    body: dict[str, Any], *, token: str, actor: str, app: Flask, setup: settings.Settings
) -> Response:
    """Abort Export Process

    Abort an export process. The export stops after the batch of records it is writing, and
    its file is left incomplete. `success: true` means the abort command was passed to the
    export process; poll the process until its progress is `aborted`.
    """
    exports = exports_of(app)
    environ = request_object().environ
    details = requested(setup, actor, body, exports.kind, environ)
    return answer_abort(
        app, exports.registry, exports.abort, token, details, NOT_FOUND, FINISHED, environ
    )


setattr(abort_export_process, OPERATION_ATTRIBUTE, Operation("abortExportProcess"))


@export_status_docs.route(STATUS_RULE, methods=["GET"])
@functools.partial(answered_by_the_plugin, operation="getExportProcess", announced=False)
@export_status_docs.doc(operationId="getExportProcess", responses=STATUS_RESPONSES)
@export_status_docs.response(
    200, ImportProcessStatus, description="Following model is returned when operation succeeds."
)
def get_export_process(*, token: str, actor: str, app: Flask, setup: settings.Settings) -> Response:
    """Get Export Process

    Get the status of an export process: its `progress`, how much of it is done, when it
    started and ended, who aborted it and why, and, once it has succeeded, the link to its
    file (`rel: "file"`).
    """
    exports = exports_of(app)
    # served only where the registry reads snapshots (read_exports checks it)
    registry = cast(Snapshots, exports.snapshots)
    return status_answer(
        app, registry, token, kind=exports.kind, not_found=NOT_FOUND, prefix=exports.url_prefix
    )


setattr(get_export_process, OPERATION_ATTRIBUTE, Operation("getExportProcess"))


def export_method_not_allowed(token: str) -> Response:
    """Any other method on the export abort URL: 405 errorModel, or the allowed methods for
    OPTIONS."""
    if request.method == "OPTIONS":
        return current_app.response_class(status=200, headers={"Allow": ALLOW})
    return METHOD_NOT_ALLOWED.get_response()
