"""What the tests share besides their fixtures: the credentials and URLs, a spy registry, a
host app, a test clock, the errorModel's check."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from flask_import_abort import AbortOutcome, ImportAbort
from flask_import_abort.endpoint._schemas import ErrorModel

from .databases import require_postgres

PREFIX = "/ccadmin/v1/importProcess"

SECRET = "test-admin-token"

AUTH = {"Authorization": f"Bearer {SECRET}"}


def abort_url(token: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/{token}/abort"


class SpyRegistry:
    """Answers a set outcome (or raises), and counts every call."""

    def __init__(self, outcome: Any = AbortOutcome.REQUESTED) -> None:
        self.outcome = outcome
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def abort(self, token: str) -> AbortOutcome:
        with self._lock:
            self.calls.append(token)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome  # type: ignore[no-any-return]


def assert_error_model(response: Any, status: int, error_code: str | None = None) -> dict[str, Any]:
    """The response is an errorModel answer with that status, valid against its schema."""
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert ErrorModel().validate(body) == {}
    assert body["status"] == str(status)
    assert body["errorCode"].isdigit()
    assert body["message"].strip()
    assert body["type"].startswith("https://")
    if error_code is not None:
        assert body["errorCode"] == error_code
    return body  # type: ignore[no-any-return]


def assert_answers_every_outcome(client: FlaskClient, running: str, finished: str) -> None:
    """The plugin answers on ``client`` as its contract says, for one token of each kind."""
    assert client.post(abort_url(running), headers=AUTH).get_json() == {"success": True}
    assert_error_model(client.post(abort_url(finished), headers=AUTH), 409, "30008")
    assert_error_model(client.post(abort_url("no_such_import"), headers=AUTH), 404, "30007")
    assert_error_model(client.post(abort_url(running)), 401, "00001000")
    assert_error_model(client.get(abort_url(running)), 405, "30009")
    assert_error_model(client.delete(abort_url(running)), 405, "30009")


def host(config: dict[str, Any] | None = None, **kwargs: Any) -> Flask:
    """A host app with the plugin mounted; keyword arguments go to ImportAbort."""
    app = Flask("host")
    app.config.update({"TESTING": True, "IMPORT_ABORT_BEARER_TOKENS": [SECRET], **(config or {})})
    ImportAbort(app, **kwargs)
    return app


def database_for(kind: str, tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'imports.db'}" if kind == "sqlite" else require_postgres()


class Clock:
    """A clock that moves only when told: a registry's time in a test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
        #: Told of each move: a database that tells this clock's time (``database_clock``).
        self.moved: list[Callable[[datetime], None]] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        for tell in self.moved:
            tell(self.now)


#: The lease of the clocked registries.
LEASE = 60.0


class ExplodingStream(io.RawIOBase):
    """A body stream that fails the test if more than ``allowed`` bytes are read from it."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0  # lets the test client probe the stream without reading it

    def readinto(self, buffer: Any) -> int:
        self.read_bytes += len(buffer)
        assert self.read_bytes <= self.allowed, "the endpoint read the whole oversized body"
        buffer[:] = b" " * len(buffer)
        return len(buffer)
