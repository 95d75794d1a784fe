"""Internal: getImportProcess's answer, read from the registry's snapshot of one process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import Flask, Response, current_app

from .._config import Config
from .._context import request_object
from ..endpoint import _settings as settings
from ..endpoint._schemas import ImportProcessStatus
from ..errors import ImportAbortError
from ..processes.capabilities import Chunked, Snapshots
from ..processes.contract import EndReason, ProcessKind
from ..processes.lifecycle import ABORTABLE_STATES, ImportState, ProcessSnapshot, UnknownImport
from ._settings import occ_of

#: What a failed process's ``error`` says, by why it ended: (title, detail), ``{kind}`` the
#: process's kind (an import, an export).
FAILED = ("The {kind} failed.", "The {kind} process reported a failure and stopped.")
FAILED_BECAUSE = {
    EndReason.WORKER_LOST: (
        "The {kind}'s worker was lost.",
        "No heartbeat came from the {kind}'s worker within the registry's lease: it died or "
        "hung, so the process was ended.",
    ),
    EndReason.CHUNK_FAILED: (
        "Another chunk of the {kind} failed.",
        "A chunk of the same {kind} failed, and the {kind} stops at its first failure.",
    ),
}


#: The package's own fields, which a host's fields may not replace.
OWN_FIELDS = frozenset(ImportProcessStatus().fields)


def describe_import(
    snapshot: ProcessSnapshot,
    *,
    chunks: Sequence[ProcessSnapshot] | None = None,
    prefix: str | None = None,
) -> dict[str, Any]:
    """What getImportProcess answers for ``snapshot`` on the current app: OCC's fields, who
    aborted it and why, and the fields of the app's ``IMPORT_ABORT_STATUS_FIELDS`` hook; for
    a parallel import, each of its ``chunks`` (a registry's ``chunks(token)``) when given.

    A host's own list of processes answers each item with it, so that they read alike.
    Its links are under ``prefix``: by default the import routes'; an export's are under the
    export routes' (getExportProcess answers it too), with its file (``rel: "file"``, its
    metadata's ``fileLink``) once it has succeeded.
    """
    if prefix is None:
        prefix = settings.settings_of(current_app).url_prefix
    path = f"{prefix}/{snapshot.token}"
    state = snapshot.state
    body: dict[str, Any] = {
        "processId": snapshot.token,
        "completed": state.is_final,
        "completedPercentage": snapshot.percentage,
        "startTime": _iso(snapshot.started_at),
        "endTime": _iso(snapshot.finished_at),
        "progress": state.value,
        "links": [{"rel": "self", "href": path}],
        "abortRequested": snapshot.abort_requested,
        "abortedBy": snapshot.aborted_by,
        "abortReason": snapshot.abort_reason,
        "abortRequestedAt": _iso(snapshot.abort_requested_at),
        "abortRequestId": snapshot.abort_request_id,
        "endReason": None if snapshot.end_reason is None else snapshot.end_reason.value,
    }
    if state in ABORTABLE_STATES:  # an ended process has nothing left to abort
        body["links"].append({"rel": "abort", "href": f"{path}/abort"})
    file = (snapshot.metadata or {}).get("fileLink")
    exported = snapshot.kind is ProcessKind.EXPORT
    if exported and state is ImportState.SUCCEEDED and isinstance(file, str):
        body["links"].append({"rel": "file", "href": file})  # the exported file, once whole
    if state is ImportState.FAILED:  # as OCC answers: only a failed process has one
        body["error"] = _error(snapshot)
    if snapshot.parent is not None:
        body["parentProcessId"] = snapshot.parent
    if chunks:
        body["chunks"] = [_chunk(chunk) for chunk in chunks]
    fields = occ_of(current_app).status_fields
    if fields is not None:
        body.update(host_fields(fields(snapshot)))
    return body


def status_answer(
    app: Flask,
    registry: Snapshots,
    token: str,
    *,
    kind: ProcessKind | None,
    not_found: ImportAbortError,
    prefix: str | None = None,
) -> Response:
    """A status route's answer for ``token``: the process described (with its chunks, where
    the registry keeps them), or ``not_found`` when no process of ``kind`` (of any, for None)
    has it, so that a token of the other kind is unknown to the route."""
    try:
        snapshot = registry.snapshot(token)
        if kind is not None and snapshot.kind is not kind:
            raise UnknownImport(token)
        chunks = registry.chunks(token) if isinstance(registry, Chunked) else None
    except UnknownImport:
        return not_found.response_to(app, request_object().environ)
    body = describe_import(snapshot, chunks=chunks, prefix=prefix)
    # the app's JSON provider, as Flask's jsonify: a host field may be a date, a Decimal, a UUID
    return app.response_class(app.json.dumps(body), mimetype="application/json")


def _error(snapshot: ProcessSnapshot) -> dict[str, str]:
    """Why a failed process failed; for a parallel import, which chunk failed it."""
    reason, process = snapshot.end_reason, snapshot.kind.value
    title, detail = FAILED if reason is None else FAILED_BECAUSE.get(reason, FAILED)
    title, detail = title.format(kind=process), detail.format(kind=process)
    kind = "failed" if snapshot.end_reason is None else snapshot.end_reason.value
    if snapshot.failed_chunk is not None:
        title = f"Chunk {snapshot.failed_chunk} of the {process} failed."
        went = "went on" if snapshot.continue_on_error else "were stopped"
        detail = f"{detail} The {process}'s other chunks {went}."
    return {"detail": detail, "title": title, "type": kind}


def _chunk(chunk: ProcessSnapshot) -> dict[str, Any]:
    """One chunk of a parallel import, as its parent's answer lists it."""
    return {
        "processId": chunk.token,
        "progress": chunk.state.value,
        "completedPercentage": chunk.percentage,
        "recordsWritten": chunk.processed,
        "recordsTotal": chunk.total,
        "startTime": _iso(chunk.started_at),
        "endTime": _iso(chunk.finished_at),
        "endReason": None if chunk.end_reason is None else chunk.end_reason.value,
    }


def host_fields(fields: object) -> Mapping[str, Any]:
    """The hook's answer: a mapping of fields of the host's own, none of the package's."""
    if not isinstance(fields, Mapping):
        raise TypeError(
            f"{Config.STATUS_FIELDS.name} answered {type(fields).__name__}, not a "
            "mapping of field names to values."
        )
    taken = sorted(OWN_FIELDS.intersection(fields))
    if taken:
        raise ValueError(
            f"{Config.STATUS_FIELDS.name} answered fields the package sets: {taken}; "
            "name the host's own fields otherwise."
        )
    return fields


def _iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, to the millisecond, as OCC writes its times."""
    return None if moment is None else moment.isoformat(timespec="milliseconds")
