"""The notices of OCC's Import Complete webhook, apart from their delivery: what a store keeps
(:class:`Notice`, the :class:`Outbox` a dispatcher reads), the body of each in OCC's
``dataImport`` shape (:func:`notice_body`), and the signatures: OCC's (:func:`signature`), and
Standard Webhooks' over the id and the attempt's time, with a receiver's check of them
(:func:`verify_notice`).

Both registries write notices with these and no HTTP client; the dispatcher that POSTs them is
:mod:`flask_import_abort.processes.webhooks` (the ``[webhooks]`` extra).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from .contract import ProcessKind
from .lifecycle import ProcessSnapshot

__all__ = [
    "EXPORT_LINKS",
    "LINKS",
    "SIGNATURE_HEADER",
    "STANDARD_HEADERS",
    "TOLERANCE",
    "Notice",
    "NoticeRefused",
    "Outbox",
    "is_due",
    "notice_body",
    "signature",
    "standard_signature",
    "verify_notice",
]

#: The header OCC signs its webhooks' bodies in.
SIGNATURE_HEADER = "X-Oracle-CC-WebHook-Signature"
#: Standard Webhooks' headers: the delivery's id, the attempt's time, and their signature.
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
#: Seconds a notice's timestamp may be away from the receiver's clock, by default.
TOLERANCE = 300.0


@dataclass(frozen=True)
class Notice:
    """One notice of an end, as the outbox holds it."""

    #: The delivery's id: the same on every attempt, for a receiver to drop repeats.
    id: str
    token: str
    #: ``pending``, ``delivered`` or ``failed``.
    state: str
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    claim: str | None = None
    #: Digests of the URLs it has reached.
    delivered_to: tuple[str, ...] = ()
    last_attempt_at: datetime | None = None
    last_error: str | None = None
    finished_at: datetime | None = None


def is_due(notice: Notice, claimed_until: datetime | None, now: datetime) -> bool:
    """Whether a dispatcher may claim ``notice`` at ``now``: pending, its next attempt come,
    and no claim on it that still holds (``claimed_until`` none or past). The in-memory outbox
    applies this; the SQL outbox's ``due`` condition implements it."""
    if notice.state != "pending" or (claimed_until is not None and claimed_until > now):
        return False
    return notice.next_attempt_at is None or notice.next_attempt_at <= now


@runtime_checkable
class Outbox(Protocol):
    """A store that keeps notices: what a dispatcher
    (:class:`~flask_import_abort.processes.webhooks.WebhookDispatcher`) delivers from."""

    def claim_notices(self, limit: int, lease: float) -> list[Notice]:
        """Claim up to ``limit`` due notices for ``lease`` seconds, committed at once."""
        ...

    def record_attempt(
        self,
        notice: Notice,
        *,
        delivered_to: Sequence[str],
        error: str | None,
        state: str,
        wait: float,
    ) -> bool:
        """Record one attempt of ``notice`` under its claim: whether the claim still held."""
        ...

    def notices(self, token: str) -> list[Notice]:
        """The notices of the process ``token``, oldest first."""
        ...

    def retry_failed(self) -> int:
        """Make every failed notice due again, its attempts from zero; how many."""
        ...

    def purge_delivered(self, older_than: float) -> int:
        """Remove the notices delivered more than ``older_than`` seconds ago; how many."""
        ...


def signature(body: bytes, secret: str) -> str:
    """OCC's signature of ``body``: base64 of HMAC-SHA512 with ``secret``'s UTF-8 bytes."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha512).digest()
    return base64.b64encode(digest).decode("ascii")


def standard_signature(delivery_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """Standard Webhooks' signature of an attempt: ``v1,`` and base64 of HMAC-SHA256 of
    ``id.timestamp.body``, keyed with ``secret``'s UTF-8 bytes."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


class NoticeRefused(ValueError):
    """A notice :func:`verify_notice` refuses: unsigned, signed otherwise, or too old."""


def verify_notice(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> str:
    """Check a notice as its receiver gets it: its Standard Webhooks signature over the id, the
    timestamp and the raw ``body``, and a timestamp within ``tolerance`` seconds of ``now``
    (this machine's clock by default). Answers the delivery's id, the same on every attempt, for
    the receiver to drop repeats; raises :class:`NoticeRefused` otherwise. ``headers`` is the
    request's headers (any mapping; names are matched without regard to case)."""
    found = {name.lower(): value for name, value in headers.items()}
    delivery_id, stamp, signatures = (found.get(name) for name in STANDARD_HEADERS)
    if not delivery_id or not stamp or not signatures:
        raise NoticeRefused("the notice carries no webhook-id, webhook-timestamp or signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise NoticeRefused("webhook-timestamp is not a number of seconds") from None
    moment = time.time() if now is None else now
    if abs(moment - timestamp) > tolerance:
        raise NoticeRefused(f"the notice was signed more than {tolerance:g} s from now")
    expected = standard_signature(delivery_id, timestamp, body, secret)
    if not any(hmac.compare_digest(expected, one) for one in signatures.split()):
        raise NoticeRefused("the notice's signature is not the secret's")
    return delivery_id


#: The metadata keys whose links OCC's ``dataImport`` body carries, under the same names.
LINKS = ("metaLink", "failedRecordsFileLink", "failedAssociationsFileLink")
#: Those of its ``dataExport`` body: the status archive and the exported file.
EXPORT_LINKS = ("metaLink", "fileLink")


def notice_body(
    snapshot: ProcessSnapshot, *, delivery_id: str, base_url: str | None = None, path: str = ""
) -> dict[str, Any]:
    """The JSON body of the notice of ``snapshot``'s end, in the shape of OCC's ``dataImport``
    body (an export's in its ``dataExport`` shape: the same, with ``fileLink`` in place of the
    failed-records links): ``processId``; the item, from the metadata the import was
    registered with, under ``standaloneItem`` (``id``, ``format``, ``result``), or under
    ``bundleItems`` as a list of one (``fileName`` too) when its ``mode`` is ``bundle``;
    ``result`` its counts (a parallel import's summed: one item); ``metaLink``,
    ``failedRecordsFileLink`` and ``failedAssociationsFileLink`` (an export's ``metaLink`` and
    ``fileLink``) from the metadata keys of those names. Then, beside OCC's,
    this package's own fields: the status link (with ``base_url``), the delivery's id, the end,
    and for an abort who, why, when and the request's id. Absent fields are left out, never
    sent as null."""
    metadata = snapshot.metadata or {}
    result = {"successCount": snapshot.processed, "failureCount": snapshot.failed}
    item = {"result": result, "format": metadata.get("format"), "id": metadata.get("id")}
    body: dict[str, Any] = {"processId": snapshot.token}
    if metadata.get("mode") == "bundle":
        body["bundleItems"] = [_present({"fileName": metadata.get("fileName"), **item})]
    else:
        body["standaloneItem"] = _present(item)
    links = EXPORT_LINKS if snapshot.kind is ProcessKind.EXPORT else LINKS
    body.update((link, metadata[link]) for link in links if metadata.get(link))
    if base_url:
        status = f"{base_url.rstrip('/')}{path}/{snapshot.token}"
        body["links"] = [{"rel": "status", "href": status}]
    body.update(
        _present(
            {
                "deliveryId": delivery_id,
                "progress": snapshot.state.value,
                "endTime": _iso(snapshot.finished_at),
                "endReason": None if snapshot.end_reason is None else snapshot.end_reason.value,
                "abortRequested": snapshot.abort_requested,
                "abortedBy": snapshot.aborted_by,
                "abortReason": snapshot.abort_reason,
                "abortRequestedAt": _iso(snapshot.abort_requested_at),
                "abortRequestId": snapshot.abort_request_id,
            }
        )
    )
    return body


def _present(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` without those that are None."""
    return {name: value for name, value in fields.items() if value is not None}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")
