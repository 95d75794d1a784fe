"""OCC's Import Complete webhook: a notice of every end of an import process, delivered at least
once, through crashes.

The store writes a notice in the transaction that records an end (``SQLImportRegistry(...,
webhooks=True)``): the worker's end, a reap, the abort of a pending or lost process, a forced
end, a parallel import's end (never a chunk's). A :class:`WebhookDispatcher` delivers them::

    dispatcher = WebhookDispatcher(registry, ["https://hooks.example.com/imports"], secret)
    dispatcher.deliver()        # in a reaper's round, a cron job, a beat task

Each notice is POSTed to every URL as OCC posts its ``dataImport`` event, in its shape (the
item under ``standaloneItem`` or ``bundleItems``; see :func:`notice_body`): a JSON body signed in
``X-Oracle-CC-WebHook-Signature`` (base64 of HMAC-SHA512 over the raw body with the secret),
with an id that stays the same on every attempt (``deliveryId``, and the ``Idempotency-Key``
header). Beside OCC's, Standard Webhooks' headers (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``) sign the id and the time of the attempt too, so that a receiver can
refuse a captured notice sent again later (:func:`verify_notice`). Any answer but a 2xx is
tried again, five attempts in all, with growing waits; each URL on its own. An attempt ends
within its timeout however the receiver behaves (one that answers a byte a second is cut),
redirects are not followed, and no more than :data:`READ_LIMIT` bytes of an answer are read,
none logged.

Needs the ``[webhooks]`` extra (httpx) to deliver; the store writes notices without it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from .lifecycle import ProcessSnapshot, Snapshots, checked_seconds
from .signals import announce, notice_delivered, notice_failed, notice_retried
from .tokens import token_for_log

__all__ = [
    "ATTEMPTS",
    "LINKS",
    "SIGNATURE_HEADER",
    "Delivered",
    "Notice",
    "NoticeRefused",
    "Outbox",
    "WebhookDispatcher",
    "notice_body",
    "signature",
    "standard_signature",
    "verify_notice",
]

log = logging.getLogger("flask_import_abort.webhooks")

#: The header OCC signs its webhooks' bodies in.
SIGNATURE_HEADER = "X-Oracle-CC-WebHook-Signature"
#: Attempts of each notice, in all, as OCC makes them.
ATTEMPTS = 5
#: Seconds before the second attempt; each later wait is twice the one before.
FIRST_WAIT = 2.0
#: The most of an answer's body that is read (and then thrown away, never logged).
READ_LIMIT = 16 * 1024
#: Standard Webhooks' headers: the delivery's id, the attempt's time, and their signature.
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
#: Seconds a notice's timestamp may be away from the receiver's clock, by default.
TOLERANCE = 300.0
#: The hosts an ``http`` URL may name without ``allow_http``.
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


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


@runtime_checkable
class Outbox(Protocol):
    """A store that keeps notices: what a :class:`WebhookDispatcher` delivers from."""

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


def notice_body(
    snapshot: ProcessSnapshot, *, delivery_id: str, base_url: str | None = None, path: str = ""
) -> dict[str, Any]:
    """The JSON body of the notice of ``snapshot``'s end, in the shape of OCC's ``dataImport``
    body: ``processId``; the item, from the metadata the import was registered with, under
    ``standaloneItem`` (``id``, ``format``, ``result``), or under ``bundleItems`` as a list of
    one (``fileName`` too) when its ``mode`` is ``bundle``; ``result`` its counts (a parallel
    import's summed: one item); ``metaLink``, ``failedRecordsFileLink`` and
    ``failedAssociationsFileLink`` from the metadata keys of those names. Then, beside OCC's,
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
    body.update((link, metadata[link]) for link in LINKS if metadata.get(link))
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


def checked_url(url: object, *, allow_http: bool = False) -> str:
    """``url``, an ``https`` URL (``http`` only to a loopback host, or with ``allow_http``);
    else a ``ValueError`` or ``TypeError`` saying why."""
    if not isinstance(url, str):
        raise TypeError(f"a webhook URL is a string; got {type(url).__name__}.")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"a webhook URL is an absolute https URL; got {url!r}.")
    if parts.username or parts.password:
        raise ValueError(
            "a webhook URL carries no credentials: give them as the basic authentication "
            "setting, which is never logged."
        )
    if parts.scheme == "http" and not (allow_http or _is_loopback(parts.hostname)):
        raise ValueError(
            f"webhook URLs must be https (http only to this machine, or with http allowed "
            f"explicitly, for development); got {url!r}."
        )
    return url


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Delivered:
    """What one :meth:`WebhookDispatcher.deliver` did, counted by notice."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0
    #: Notices claimed by another dispatcher meanwhile (their lease lapsed while this one
    #: delivered): this one's attempt was made, its record left to the other.
    lost_claims: int = 0
    purged: int = 0
    tokens: list[str] = field(default_factory=list)


class WebhookDispatcher:
    """Delivers the notices of ``outbox`` to ``urls``, signed with ``secret``.

    ``store`` reads the processes the notices are of (the registry; by default ``outbox``
    itself). ``basic_auth`` is a ``(user, password)`` pair and ``headers`` more headers, both
    sent with every attempt; ``base_url`` (with ``path``, the endpoint's prefix) makes the
    notices' status links. Each attempt of each URL ends within ``timeout`` seconds. Delivered
    notices are removed ``retention`` seconds after; failed ones stay until
    :meth:`retry_failed` makes them due again.
    """

    def __init__(
        self,
        outbox: Outbox,
        urls: str | Iterable[str],
        secret: str,
        *,
        store: Snapshots | None = None,
        basic_auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        base_url: str | None = None,
        path: str = "",
        timeout: float = 10.0,
        attempts: int = ATTEMPTS,
        first_wait: float = FIRST_WAIT,
        retention: float = 7 * 24 * 3600.0,
        allow_http: bool = False,
        standard_headers: bool = True,
    ) -> None:
        if not isinstance(outbox, Outbox):
            raise TypeError(f"{type(outbox).__name__} keeps no notices (it has no outbox).")
        if not isinstance(secret, str) or not secret:
            raise ValueError("the webhook secret is a string, and not an empty one.")
        for name, flag in (("allow_http", allow_http), ("standard_headers", standard_headers)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} is True or False; got {type(flag).__name__}.")
        self.standard_headers = standard_headers
        listed = [urls] if isinstance(urls, str) else list(urls)
        if not listed:
            raise ValueError("a webhook dispatcher needs one URL at least.")
        self.urls = [checked_url(url, allow_http=allow_http) for url in listed]
        self.outbox = outbox
        self.store: Snapshots = store or outbox  # type: ignore[assignment]
        self._secret = secret
        self.basic_auth = _basic_auth(basic_auth)
        self.headers = _headers(headers)
        self.base_url = base_url
        self.path = path
        self.timeout = checked_seconds(timeout, "timeout")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"attempts is a whole number, at least 1; got {attempts!r}.")
        self.attempts = attempts
        self.first_wait = checked_seconds(first_wait, "first_wait")
        self.retention = checked_seconds(retention, "retention")
        #: How long a claim lasts: one notice's attempt of every URL, and a margin. Notices are
        #: claimed one at a time, so that no claim lapses while its dispatcher still works.
        self.lease = self.timeout * len(self.urls) + 30.0
        self._cutter = _Cutter()
        self._client: Any = None
        self._client_lock = threading.Lock()
        httpx_available()  # a missing extra is said here, not at the first end

    def __repr__(self) -> str:  # never the secret
        return f"WebhookDispatcher(urls={[_shown(url) for url in self.urls]!r})"

    def deliver(self, *, limit: int = 100, stop: threading.Event | None = None) -> Delivered:
        """Deliver the notices due now, up to ``limit`` of them, one attempt each; then remove
        the delivered ones past their retention. Each notice is claimed just before its
        attempt, for one attempt's :attr:`lease`: a claim never lapses while this dispatcher
        still has it, however many notices are due. Once ``stop`` is set, no other notice is
        claimed."""
        done = Delivered()
        for _ in range(limit):
            if stop is not None and stop.is_set():
                break
            claimed = self.outbox.claim_notices(1, self.lease)
            if not claimed:
                break
            self._attempt(claimed[0], done, self._http())
        done.purged = self.outbox.purge_delivered(self.retention)
        return done

    def retry_failed(self) -> int:
        """Make the failed notices due again, from their first attempt; how many."""
        return self.outbox.retry_failed()

    def close(self) -> None:
        """Close the dispatcher's HTTP client; the next delivery makes another."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> Any:
        """The dispatcher's one HTTP client (its TLS context made once), which opens a
        connection of its own for each attempt, one the deadline can cut: none is kept
        alive."""
        with self._client_lock:
            if self._client is None:
                httpx = httpx_available()
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout),
                    follow_redirects=False,
                    auth=self.basic_auth,
                    limits=httpx.Limits(max_keepalive_connections=0),
                )
            return self._client

    def _attempt(self, notice: Notice, done: Delivered, client: Any) -> None:
        try:
            snapshot = self.store.snapshot(notice.token)
        except KeyError:  # the process was deleted: nothing left to announce
            self._record(notice, notice.delivered_to, "the process is gone", "failed", 0.0, done)
            return
        reached = list(notice.delivered_to)
        errors = []
        try:
            body = json.dumps(
                notice_body(
                    snapshot, delivery_id=notice.id, base_url=self.base_url, path=self.path
                ),
                separators=(",", ":"),
            ).encode("utf-8")
            headers = self._headers_of(notice, body)  # signed once an attempt, not once a URL
            for url in self.urls:
                digest = _digest(url)
                if digest in reached:
                    continue
                error = self._post(client, url, body, headers)
                if error is None:
                    reached.append(digest)
                else:
                    errors.append(f"{_shown(url)}: {error}")
        except Exception as error:  # whatever stops an attempt is a failed attempt, recorded
            log.exception("notice %s: the attempt failed", notice.id)
            errors.append(f"the attempt failed: {type(error).__name__}")
        attempt = notice.attempts + 1
        if not errors:
            state, wait = "delivered", 0.0
        elif attempt >= self.attempts:
            state, wait = "failed", 0.0
        else:
            state, wait = "pending", self.first_wait * 2 ** (attempt - 1)
        self._record(notice, reached, "; ".join(errors)[:500] or None, state, wait, done)

    def _record(
        self,
        notice: Notice,
        reached: Sequence[str],
        error: str | None,
        state: str,
        wait: float,
        done: Delivered,
    ) -> None:
        kept = self.outbox.record_attempt(
            notice, delivered_to=reached, error=error, state=state, wait=wait
        )
        if not kept:
            done.lost_claims += 1
            log.warning(
                "notice %s of import process %s: its claim lapsed during the attempt",
                notice.id,
                token_for_log(notice.token),
            )
            return
        details = {"notice_id": notice.id, "token": notice.token, "attempts": notice.attempts + 1}
        done.tokens.append(notice.token)
        if state == "delivered":
            done.delivered += 1
            announce(notice_delivered, self, **details)
        elif state == "failed":
            done.failed += 1
            log.error(
                "notice %s of import process %s failed after %d attempts: %s",
                notice.id,
                token_for_log(notice.token),
                notice.attempts + 1,
                error,
            )
            announce(notice_failed, self, **details)
        else:
            done.retried += 1
            log.warning(
                "notice %s of import process %s: attempt %d failed (%s); tried again in %g s",
                notice.id,
                token_for_log(notice.token),
                notice.attempts + 1,
                error,
                wait,
            )
            announce(notice_retried, self, **details)

    def _headers_of(self, notice: Notice, body: bytes) -> dict[str, str]:
        """An attempt's headers: the host's, OCC's signature of the body, the delivery's id, and
        Standard Webhooks' signature of the id, the attempt's time and the body."""
        headers = {
            **self.headers,
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: signature(body, self._secret),
            "Idempotency-Key": notice.id,
        }
        if self.standard_headers:
            now = int(time.time())
            headers["webhook-id"] = notice.id
            headers["webhook-timestamp"] = str(now)
            headers["webhook-signature"] = standard_signature(notice.id, now, body, self._secret)
        return headers

    def _post(self, client: Any, url: str, body: bytes, headers: Mapping[str, str]) -> str | None:
        """One POST of ``body`` to ``url``, within :attr:`timeout` in all: None when it was
        answered 2xx, else what went wrong (never the answer's body)."""
        httpx = httpx_available()
        deadline = time.monotonic() + self.timeout
        sockets: list[socket.socket] = []

        def trace(event: str, info: Mapping[str, Any]) -> None:
            if event == "connection.connect_tcp.complete":
                found = info["return_value"].get_extra_info("socket")
                if found is not None:
                    sockets.append(found)

        try:
            with (
                self._cutter.bound(sockets, deadline),
                client.stream(
                    "POST", url, content=body, headers=headers, extensions={"trace": trace}
                ) as answer,
            ):
                read = 0
                for chunk in answer.iter_raw():
                    read += len(chunk)
                    if read >= READ_LIMIT or time.monotonic() >= deadline:
                        break
                status = answer.status_code
        except httpx.HTTPError as error:
            if time.monotonic() >= deadline:
                return f"no answer within {self.timeout:g} s"
            return type(error).__name__
        if time.monotonic() >= deadline:
            return f"no answer within {self.timeout:g} s"
        if 200 <= status < 300:
            return None
        return f"answered {status}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


def _digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _shown(url: str) -> str:
    """A URL as a log line, ``show`` or a ``repr`` shows it: ``scheme://host[:port]/…``. Its
    path and query are left out: a receiver's URL often carries a key in either (a chat
    service's ``/hooks/T000/B000/<secret>``)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def _basic_auth(value: object) -> tuple[str, str] | None:
    if value is None:
        return None
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(part, str) for part in value)
    ):
        return (value[0], value[1])
    raise TypeError("basic_auth is a (user, password) pair of strings, or None.")


#: A header's name: RFC 9110's ``token``.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A header's value: visible ASCII, and spaces or tabs between (no CR, no LF).
_HEADER_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?|")


def _headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(name, str) and isinstance(text, str) for name, text in value.items()
    ):
        raise TypeError("headers is a mapping of header names to strings, or None.")
    for name, text in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"the header name {name!r:.60} is not a token of RFC 9110.")
        if not _HEADER_VALUE.fullmatch(text):
            raise ValueError(
                f"the value of the header {name!r} is not visible ASCII (no CR, LF or other "
                "control character, no byte past 0x7e, no space around it)."
            )
    taken = {name.lower() for name in value} & {
        SIGNATURE_HEADER.lower(),
        *STANDARD_HEADERS,
        "content-type",
        "idempotency-key",
        "authorization",
        "host",
        "content-length",
    }
    if taken:
        raise ValueError(f"headers may not set {sorted(taken)}: the dispatcher sets them.")
    return dict(value)


class _Cutter:
    """Shuts the sockets of an attempt down once its deadline passes, so that a receiver that
    drips its answer a byte at a time, or never answers, holds an attempt no longer."""

    def __init__(self, tick: float = 0.05) -> None:
        self._tick = tick
        self._armed: dict[int, tuple[float, list[socket.socket]]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def bound(self, sockets: list[socket.socket], deadline: float) -> _Armed:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._watch, name="flask-import-abort-webhooks", daemon=True
                )
                self._thread.start()
        return _Armed(self, sockets, deadline)

    def _watch(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                due = [key for key, (deadline, _) in self._armed.items() if deadline <= now]
                expired = [self._armed.pop(key)[1] for key in due]
            for sockets in expired:
                for found in sockets:
                    with contextlib.suppress(OSError):
                        found.shutdown(socket.SHUT_RDWR)


class _Armed:
    def __init__(self, cutter: _Cutter, sockets: list[socket.socket], deadline: float) -> None:
        self._cutter, self._sockets, self._deadline = cutter, sockets, deadline

    def __enter__(self) -> None:
        with self._cutter._lock:
            self._cutter._armed[id(self)] = (self._deadline, self._sockets)

    def __exit__(self, *exc_info: object) -> None:
        with self._cutter._lock:
            self._cutter._armed.pop(id(self), None)


def httpx_available() -> Any:
    """httpx, or an ``ImportError`` naming the extra."""
    try:
        import httpx
    except ImportError as missing:
        raise ImportError(
            "delivering webhooks needs httpx: pip install 'flask-import-abort[webhooks]'"
        ) from missing
    return httpx
