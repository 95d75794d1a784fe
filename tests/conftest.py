"""The fixtures every folder's tests share; the helpers are in ``helpers.py``."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from flask_import_abort import ImportState, InMemoryImportRegistry
from flask_import_abort.processes import WorkerRegistry

from .databases import sql_registry
from .helpers import LEASE, Clock, database_for, host


@pytest.fixture
def registry() -> InMemoryImportRegistry:
    registry = InMemoryImportRegistry()
    registry.add(ImportState.PENDING, token="pending_1")
    registry.add(ImportState.PROCESSING, token="ezzPxcPRmJIlXYCyOTQNT9HMacA_10000")
    registry.add(ImportState.SUCCEEDED, token="succeeded_1")
    registry.add(ImportState.FAILED, token="failed_1")
    return registry


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    return host


@pytest.fixture
def app(make_app: Callable[..., Flask], registry: InMemoryImportRegistry) -> Flask:
    return make_app(registry=registry)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A SQLite file of this test's own, or the PostgreSQL server."""
    return database_for(request.param, tmp_path)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def worker_registry(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[WorkerRegistry]:
    """Each registry the package ships, empty."""
    if request.param == "memory":
        yield InMemoryImportRegistry()
        return
    with sql_registry(database_for(request.param, tmp_path)) as registry:
        yield registry


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
    with sql_registry(database_for(request.param, tmp_path), lease=LEASE, clock=clock) as registry:
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
