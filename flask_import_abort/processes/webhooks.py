"""OCC's Import Complete webhook: a notice of every end of an import process, delivered at least
once, through crashes.

The store writes a notice in the transaction that records an end (``SQLImportRegistry(...,
webhooks=True)``): the worker's end, a reap, the abort of a pending or lost process, a forced
end, a parallel import's end (never a chunk's). A :class:`WebhookDispatcher` delivers them::

    dispatcher = WebhookDispatcher(registry, ["https://hooks.example.com/imports"], secret)
    dispatcher.deliver()        # in a reaper's round, a cron job, a beat task

Each notice is POSTed to every URL as OCC posts its ``dataImport`` event, in its shape (the
item under ``standaloneItem`` or ``bundleItems``; see :mod:`~flask_import_abort.processes.notices`,
which writes and signs them): a JSON body signed in
``X-Oracle-CC-WebHook-Signature`` (base64 of HMAC-SHA512 over the raw body with the secret),
with an id that stays the same on every attempt (``deliveryId``, and the ``Idempotency-Key``
header). Beside OCC's, Standard Webhooks' headers (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``) sign the id and the time of the attempt too, so that a receiver can
refuse a captured notice sent again later
(:func:`~flask_import_abort.processes.notices.verify_notice`). Any answer but a 2xx is
tried again, five attempts in all, with growing waits; each URL on its own. An attempt ends
within its timeout however the receiver behaves (one that answers a byte a second is cut),
redirects are not followed, and no more than 16 KiB of an answer are read,
none logged.

This module is the only one that imports httpx (the ``[webhooks]`` extra), when a dispatcher
first delivers; the store writes notices without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .lifecycle import Snapshots, checked_seconds
from .notices import (
    SIGNATURE_HEADER,
    STANDARD_HEADERS,
    Notice,
    Outbox,
    notice_body,
    signature,
    standard_signature,
)
from .signals import announce, notice_delivered, notice_failed, notice_retried
from .tokens import token_for_log

__all__ = ["ATTEMPTS", "Delivered", "WebhookDispatcher"]

log = logging.getLogger("flask_import_abort.webhooks")

#: Attempts of each notice, in all, as OCC makes them.
ATTEMPTS = 5
#: Seconds before the second attempt; each later wait is twice the one before.
FIRST_WAIT = 2.0
#: The most of an answer's body that is read (and then thrown away, never logged).
READ_LIMIT = 16 * 1024
#: The hosts an ``http`` URL may name without ``allow_http``.
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


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
