from __future__ import annotations

import inspect
import io
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_import_abort import AbortOutcome, ImportAbort, ImportState, InMemoryImportRegistry
from flask_import_abort.endpoint._schemas import ErrorModel
from flask_import_abort.processes import WorkerRegistry

from .databases import require_postgres, sql_registry

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


@pytest.fixture
def registry() -> InMemoryImportRegistry:
    registry = InMemoryImportRegistry()
    registry.add(ImportState.PENDING, token="pending_1")
    registry.add(ImportState.PROCESSING, token="ezzPxcPRmJIlXYCyOTQNT9HMacA_10000")
    registry.add(ImportState.SUCCEEDED, token="succeeded_1")
    registry.add(ImportState.FAILED, token="failed_1")
    return registry


@pytest.fixture
def spy() -> SpyRegistry:
    return SpyRegistry()


def host(config: dict[str, Any] | None = None, **kwargs: Any) -> Flask:
    """A host app with the plugin mounted; keyword arguments go to ImportAbort."""
    app = Flask("host")
    app.config.update({"TESTING": True, "IMPORT_ABORT_BEARER_TOKENS": [SECRET], **(config or {})})
    ImportAbort(app, **kwargs)
    return app


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    return host


@pytest.fixture
def app(make_app: Callable[..., Flask], registry: InMemoryImportRegistry) -> Flask:
    return make_app(registry=registry)


@pytest.fixture
def spy_client(make_app: Callable[..., Flask], spy: SpyRegistry) -> Iterator[FlaskClient]:
    with make_app(registry=spy).test_client() as client:
        yield client


def _database(kind: str, tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'imports.db'}" if kind == "sqlite" else require_postgres()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A SQLite file of this test's own, or the PostgreSQL server."""
    return _database(request.param, tmp_path)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def worker_registry(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[WorkerRegistry]:
    """Each registry the package ships, empty."""
    if request.param == "memory":
        yield InMemoryImportRegistry()
        return
    with sql_registry(_database(request.param, tmp_path)) as registry:
        yield registry


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


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def clocked_registry(
    request: pytest.FixtureRequest, tmp_path: Any, clock: Clock
) -> Iterator[WorkerRegistry]:
    """Each registry the package ships, empty, on ``clock`` with a lease of ``LEASE`` seconds."""
    if request.param == "memory":
        yield InMemoryImportRegistry(lease=LEASE, clock=clock)
        return
    with sql_registry(_database(request.param, tmp_path), lease=LEASE, clock=clock) as registry:
        yield registry


#: What in a test's source says it needs more than this process: a server, a worker, the
#: example app (which starts threads, engines and a reaper), or a subprocess.
_NEEDS_MORE = re.compile(
    r"require_(postgres|redis|rabbitmq)\(|example_app|create_app\(|make_demo|"
    r"_engine\b|subprocess\.|Popen\(|gunicorn\("
)
#: Fixtures that bring a server or the example app.
_SYSTEM_FIXTURES = {"make_demo", "celery_engine", "rq_engine", "old_database", "faketime"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``system`` every test that needs a service, a worker, the example app or the
    browser (the slow ones, those run on PostgreSQL, and those whose code reaches for one), so
    that an unpacked sdist runs ``pytest -m "not system"`` on any machine."""
    sources: dict[Any, str] = {}
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_a_server = callspec is not None and "postgresql" in map(str, callspec.params.values())
        function = getattr(item, "function", None)
        if function is not None and function not in sources:
            try:
                sources[function] = inspect.getsource(function)
            except (OSError, TypeError):
                sources[function] = ""
        needs_more = function is not None and _NEEDS_MORE.search(sources[function]) is not None
        if (
            item.get_closest_marker("slow")
            or on_a_server
            or needs_more
            or _SYSTEM_FIXTURES & set(getattr(item, "fixturenames", ()))
        ):
            item.add_marker(pytest.mark.system)


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
