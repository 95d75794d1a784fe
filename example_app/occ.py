"""The host's own OCC-shaped import endpoints beside the plugin's routes, and its dashboard.

executeImport       POST /ccadmin/v1/importProcess
the demo's list     GET  /ccadmin/v1/importProcess?limit=20   (newest first)
executeExport       POST /ccadmin/v1/exportProcess             (the products table, as JSON)
the demo's list     GET  /ccadmin/v1/exportProcess?limit=20
an export's file    GET  /ccadmin/v1/exportProcess/<id>/file   (once it has succeeded)

The package serves getImportProcess (``IMPORT_ABORT_STATUS_ROUTE``) and abortImportProcess, and
their export twins (``IMPORT_ABORT_EXPORTS``); the lists answer each item as the package's
status routes do, with the demo's fields (``status_fields``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request, send_from_directory
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from werkzeug.security import safe_join

from flask_import_abort import authenticate, occ_operation
from flask_import_abort.errors import ImportAbortError
from flask_import_abort.languages._catalogs import N_
from flask_import_abort.occ import describe_import
from flask_import_abort.processes import ImportState, ProcessKind, ProcessSnapshot

from .importer import Importer, TooManyImports

PREFIX = "/ccadmin/v1/importProcess"
EXPORT_PREFIX = "/ccadmin/v1/exportProcess"
api = Blueprint("occ_imports", __name__)
dashboard = Blueprint("dashboard", __name__)


class ExecuteImportSchema(Schema):
    """executeImport's body: the demo imports products, standalone, from a JSON file."""

    class Meta:
        unknown = EXCLUDE

    fileName = fields.String(required=True, validate=validate.Length(1, 255))
    mode = fields.String(required=True, validate=validate.OneOf(["standalone"]))
    id = fields.String(required=True, validate=validate.OneOf(["Products"]))
    format = fields.String(required=True, validate=validate.OneOf(["json"]))


class InvalidImportRequest(ImportAbortError):
    """The host's own errors answer in errorModel too, by subclassing the package's; their
    messages are in the demo's catalogs (``translations/``), so they answer in the caller's
    language like the plugin's own."""

    code = 400
    error_code = "91001"
    message = N_("The import request is not valid.")


class TooManyRunning(ImportAbortError):
    """The thread executor's bound is reached: the import was not started (nor kept)."""

    code = 429
    error_code = "91004"
    message = N_("At most %(limit)d imports may run at once; try again when one has ended.")


class ExecutorUnavailable(ImportAbortError):
    """The job engine's broker cannot be reached: the import was not queued (nor kept)."""

    code = 503
    error_code = "91003"
    message = N_("The import could not be queued right now; try again later.")


class NoExportFile(ImportAbortError):
    """No export of that id has a file (it is unknown, or has not succeeded)."""

    code = 404
    error_code = "91005"
    message = N_("No export file has that id.")


def importer() -> Importer:
    found: Importer = current_app.extensions["demo_importer"]
    return found


@api.before_request
def require_admin() -> None:
    """The host's own check is the plugin's: its bearer tokens, and the access tokens of
    OCC's sign-in; the same 401 errorModel otherwise."""
    authenticate()


@api.post(PREFIX)
@occ_operation("executeImport")
def execute_import() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidImportRequest(N_("The body must be a JSON object."))
    try:
        job = ExecuteImportSchema().load(body)
    except ValidationError as invalid:
        field, messages = next(iter(invalid.normalized_messages().items()))
        raise InvalidImportRequest(f"{field}: {' '.join(map(str, messages))}") from None
    path = safe_join(current_app.config["DEMO_IMPORT_FOLDER"], job["fileName"])
    if path is None or not Path(path).is_file():
        raise InvalidImportRequest(
            N_("No import file is named %(name)s."), values={"name": repr(job["fileName"][:100])}
        )
    return _submitted(
        lambda: importer().start(Path(path)), f"an import of {job['fileName']!r:.100}"
    )


@api.get(PREFIX)
@occ_operation("listImportProcesses")
def list_import_processes() -> Any:
    limit = max(1, min(request.args.get("limit", 20, type=int), 100))
    registry = importer().registry
    items = [
        describe_import(one, chunks=registry.chunks(one.token) if one.chunks else None)
        for one in registry.recent(limit, kind="import")
    ]
    return jsonify(items=items)


@api.post(EXPORT_PREFIX)
@occ_operation("executeExport")
def execute_export() -> Any:
    """OCC's executeExport, as the demo has it: the products table, to a JSON file."""
    return _submitted(importer().start_export, "an export")


def _submitted(start: Callable[[], str], what: str) -> Any:
    """``start`` a process: its id, submitted; a full thread executor's 429, or a 503 when
    the job engine's broker cannot take it (its process was ended, never queued)."""
    try:
        token = start()
    except TooManyImports as bound:
        raise TooManyRunning(
            dev_message=f"DEMO_MAX_RUNNING_IMPORTS is {bound.args[0]}.",
            headers=[("Retry-After", "5")],
            values={"limit": bound.args[0]},
        ) from None
    except Exception:  # the broker or Redis is down: the process was ended, never queued
        current_app.logger.exception("%s could not be queued", what)
        raise ExecutorUnavailable(headers=[("Retry-After", "5")]) from None
    return jsonify(processId=token, status="submitted")


@api.get(EXPORT_PREFIX)
@occ_operation("listExportProcesses")
def list_export_processes() -> Any:
    limit = max(1, min(request.args.get("limit", 20, type=int), 100))
    exports = importer().registry.recent(limit, kind="export")
    return jsonify(items=[describe_import(one, prefix=EXPORT_PREFIX) for one in exports])


@api.get(f"{EXPORT_PREFIX}/<token>/file")
def export_file(token: str) -> Any:
    """A succeeded export's file, behind the same bearer token as the other endpoints."""
    try:
        snapshot = importer().registry.snapshot(token)
    except KeyError:
        raise NoExportFile() from None
    linked = (snapshot.metadata or {}).get("fileLink")
    if snapshot.kind is not ProcessKind.EXPORT or snapshot.state is not ImportState.SUCCEEDED:
        raise NoExportFile()
    if not linked:
        raise NoExportFile()
    return send_from_directory(current_app.config["DEMO_EXPORT_FOLDER"], f"{token}.json")


def status_fields(snapshot: ProcessSnapshot) -> dict[str, Any]:
    """The demo's own fields of getImportProcess (``IMPORT_ABORT_STATUS_FIELDS``): the products
    the import has in the table now, the executor that ran it, and whether its worker was lost.
    """
    token = snapshot.token
    exported = snapshot.kind is ProcessKind.EXPORT  # an export writes a file, not the table
    return {
        "recordsTotal": snapshot.total,
        "recordsWritten": snapshot.processed
        if exported
        else importer().records_written_by(snapshot),
        "executor": importer().executors([token]).get(token),
        "workerLost": snapshot.lost,
    }


@api.get("/metrics")
def metrics() -> Any:
    """The demo's Prometheus metrics, behind the same bearer token as its other endpoints."""
    return current_app.extensions["demo_metrics"].exposition()


@dashboard.get("/")
def index() -> str:
    """The page: plain HTML, CSS and JavaScript that call the endpoints above and the abort."""
    return render_template("dashboard.html", webhooks=current_app.config["DEMO_WEBHOOK_RECEIVER"])
