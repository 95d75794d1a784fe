"""The web layer's fixtures: a spy registry and a client of a host app that calls it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ..helpers import SpyRegistry


@pytest.fixture
def spy() -> SpyRegistry:
    return SpyRegistry()


@pytest.fixture
def spy_client(make_app: Callable[..., Flask], spy: SpyRegistry) -> Iterator[FlaskClient]:
    with make_app(registry=spy).test_client() as client:
        yield client
