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

This module schedules the attempts and records them; its HTTP side (the checks of what it
posts to, and one POST bounded in time) is ``_posting``, the one module that imports httpx (the
``[webhooks]`` extra), when a dispatcher is made. The store writes notices without it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._posting import (
    Cutter,
    checked_basic_auth,
    checked_headers,
    checked_url,
    httpx_available,
    new_client,
    post,
    shown_url,
    url_digest,
)
from .capabilities import Snapshots
from .contract import ProcessKind
from .lifecycle import checked_seconds
from .notices import (
    SIGNATURE_HEADER,
    Notice,
    Outbox,
    notice_body,
    signature,
    standard_signature,
)
from .signals import announce, notice_delivered, notice_failed, notice_retried
from .tokens import token_for_log

__all__ = ["ATTEMPTS", "Delivered", "WebhookDispatcher", "checked_url"]

log = logging.getLogger("flask_import_abort.webhooks")

#: Attempts of each notice, in all, as OCC makes them.
ATTEMPTS = 5
#: Seconds before the second attempt; each later wait is twice the one before.
FIRST_WAIT = 2.0


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
    notices' status links. An export's notices go to ``export_urls`` alone (OCC configures its
    Export Complete webhook apart), their links under ``export_path``; an import's go to
    ``urls``; a notice of a kind with no URL is delivered at once, to none. Each attempt of
    each URL ends within ``timeout`` seconds. Delivered notices are removed ``retention``
    seconds after; failed ones stay until :meth:`retry_failed` makes them due again.
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
        export_urls: str | Iterable[str] = (),
        export_path: str = "",
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
        self.urls = _urls(urls, allow_http)
        #: Where an export's notices go (OCC's Export Complete webhook is configured apart):
        #: these alone, and the export routes' prefix for their status links.
        self.export_urls, self.export_path = _urls(export_urls, allow_http), export_path
        if not self.urls and not self.export_urls:
            raise ValueError("a webhook dispatcher needs one URL at least.")
        self.outbox = outbox
        self.store: Snapshots = store or outbox  # type: ignore[assignment]
        self._secret = secret
        self.basic_auth = checked_basic_auth(basic_auth)
        self.headers = checked_headers(headers)
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
        self.lease = self.timeout * max(len(self.urls), len(self.export_urls)) + 30.0
        self._cutter = Cutter()
        self._client: Any = None
        self._client_lock = threading.Lock()
        httpx_available()  # a missing extra is said here, not at the first end

    def __repr__(self) -> str:  # never the secret
        shown = [shown_url(url) for url in self.urls]
        if not self.export_urls:
            return f"WebhookDispatcher(urls={shown!r})"
        exports = [shown_url(url) for url in self.export_urls]
        return f"WebhookDispatcher(urls={shown!r}, export_urls={exports!r})"

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
                self._client = new_client(self.timeout, self.basic_auth)
            return self._client

    def _attempt(self, notice: Notice, done: Delivered, client: Any) -> None:
        """One attempt of ``notice``: its body built from the process as it is now, signed once,
        and POSTed to each URL it has not reached yet. Every URL answered 2xx: delivered;
        else it is due again after a wait that doubles each attempt, or failed after the
        last. A notice whose process is gone fails at once."""
        try:
            snapshot = self.store.snapshot(notice.token)
        except KeyError:  # the process was deleted: nothing left to announce
            self._record(notice, notice.delivered_to, "the process is gone", "failed", 0.0, done)
            return
        reached = list(notice.delivered_to)
        errors = []
        exported = snapshot.kind is ProcessKind.EXPORT
        urls, path = (self.export_urls, self.export_path) if exported else (self.urls, self.path)
        try:
            body = json.dumps(
                notice_body(snapshot, delivery_id=notice.id, base_url=self.base_url, path=path),
                separators=(",", ":"),
            ).encode("utf-8")
            headers = self._headers_of(notice, body)  # signed once an attempt, not once a URL
            for url in urls:
                digest = url_digest(url)
                if digest in reached:
                    continue
                error = post(client, self._cutter, url, body, headers, self.timeout)
                if error is None:
                    reached.append(digest)
                else:
                    errors.append(f"{shown_url(url)}: {error}")
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
        """Record the attempt under the notice's claim, count it in ``done``, log it and send
        its signal; when the claim lapsed meanwhile, another dispatcher owns the notice, and
        only the lapse is counted."""
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


def _urls(urls: str | Iterable[str], allow_http: bool) -> list[str]:
    """``urls``, one or several, each checked."""
    listed = [urls] if isinstance(urls, str) else list(urls)
    return [checked_url(url, allow_http=allow_http) for url in listed]
