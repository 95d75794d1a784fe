"""Internal: the webhook dispatcher's HTTP side. What it posts to, checked (its URLs, basic
authentication and headers), how a URL is shown, and one POST that ends within its timeout
however the receiver behaves.

This module and :mod:`~flask_import_abort.processes.webhooks` are the dispatcher; this is the
one module that imports httpx (the ``[webhooks]`` extra), when a dispatcher is made."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from .notices import SIGNATURE_HEADER, STANDARD_HEADERS

#: The most of an answer's body that is read (and then thrown away, never logged).
READ_LIMIT = 16 * 1024
#: The hosts an ``http`` URL may name without ``allow_http``.
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
#: A header's name: RFC 9110's ``token``.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A header's value: visible ASCII, and spaces or tabs between (no CR, no LF).
_HEADER_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?|")
#: The headers the dispatcher sets itself, which the host's may not.
_OWN_HEADERS = frozenset(
    {
        SIGNATURE_HEADER.lower(),
        *STANDARD_HEADERS,
        "content-type",
        "idempotency-key",
        "authorization",
        "host",
        "content-length",
    }
)


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
    """Whether ``host`` names this machine: ``localhost`` or a loopback address."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_basic_auth(value: object) -> tuple[str, str] | None:
    """``value``, a ``(user, password)`` pair of strings, or None; else a ``TypeError``."""
    if value is None:
        return None
    if (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(part, str) for part in value)
    ):
        return (value[0], value[1])
    raise TypeError("basic_auth is a (user, password) pair of strings, or None.")


def checked_headers(value: object) -> dict[str, str]:
    """``value``, the host's own headers (names and values as HTTP allows, none that the
    dispatcher sets), or None for none; else a ``TypeError`` or ``ValueError``."""
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
    taken = {name.lower() for name in value} & _OWN_HEADERS
    if taken:
        raise ValueError(f"headers may not set {sorted(taken)}: the dispatcher sets them.")
    return dict(value)


def url_digest(url: str) -> str:
    """What a notice records of a URL it reached (never the URL, which may carry a key)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def shown_url(url: str) -> str:
    """A URL as a log line, ``show`` or a ``repr`` shows it: ``scheme://host[:port]/…``. Its
    path and query are left out: a receiver's URL often carries a key in either (a chat
    service's ``/hooks/T000/B000/<secret>``)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def httpx_available() -> Any:
    """httpx, or an ``ImportError`` naming the extra."""
    try:
        import httpx
    except ImportError as missing:
        raise ImportError(
            "delivering webhooks needs httpx: pip install 'flask-import-abort[webhooks]'"
        ) from missing
    return httpx


def new_client(timeout: float, auth: tuple[str, str] | None) -> Any:
    """An HTTP client that follows no redirect and opens a connection of its own for each
    POST, one that :class:`Cutter` can shut: none is kept alive."""
    httpx = httpx_available()
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        auth=auth,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def post(
    client: Any,
    cutter: Cutter,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
) -> str | None:
    """One POST of ``body`` to ``url``, within ``timeout`` seconds in all: None when it was
    answered 2xx, else what went wrong (never the answer's body, of which no more than
    :data:`READ_LIMIT` bytes are read)."""
    httpx = httpx_available()
    deadline = time.monotonic() + timeout
    sockets: list[socket.socket] = []

    def trace(event: str, info: Mapping[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            found = info["return_value"].get_extra_info("socket")
            if found is not None:
                sockets.append(found)

    late = f"no answer within {timeout:g} s"
    try:
        with (
            cutter.bound(sockets, deadline),
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
        return late if time.monotonic() >= deadline else type(error).__name__
    if time.monotonic() >= deadline:
        return late
    return None if 200 <= status < 300 else f"answered {status}"


class Cutter:
    """Shuts the sockets of a POST down once its deadline passes, so that a receiver that
    drips its answer a byte at a time, or never answers, holds an attempt no longer. One
    thread watches every deadline, started when the first is set."""

    def __init__(self, tick: float = 0.05) -> None:
        self._tick = tick
        self._armed: dict[int, tuple[float, list[socket.socket]]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def bound(self, sockets: list[socket.socket], deadline: float) -> Iterator[None]:
        """Within the block, ``sockets`` (and those added to it meanwhile) are shut once
        ``deadline`` (``time.monotonic``) passes."""
        key = object()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._watch, name="flask-import-abort-webhooks", daemon=True
                )
                self._thread.start()
            self._armed[id(key)] = (deadline, sockets)
        try:
            yield
        finally:
            with self._lock:
                self._armed.pop(id(key), None)

    def _watch(self) -> None:
        """The watching thread: every tick, shut the sockets whose deadline has passed."""
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
