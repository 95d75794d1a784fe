"""The example app: a real import, aborted through the endpoint, stops after its batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from example_app import OTHER_IMPORTS, RUNNING_IMPORT, create_app
from example_app.importer import ProductImport, product
from flask_import_abort import ImportState

from .conftest import abort_url, assert_error_model

ROOT = Path(__file__).parent.parent


@pytest.fixture
def demo_app() -> Flask:
    return create_app(
        {
            "DEMO_BEARER_TOKEN": "demo-test-token",
            "DEMO_BATCHES": 500,
            "DEMO_BATCH_SIZE": 10,
            "DEMO_BATCH_SECONDS": 0.02,
        }
    )


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_abort_stops_the_running_import_after_its_current_batch(demo_app: Flask) -> None:
    demo: ProductImport = demo_app.extensions["demo_import"]
    thread = demo.start()
    _wait_for(lambda: demo.done_batches >= 3)
    client = demo_app.test_client()

    response = client.post(
        abort_url(RUNNING_IMPORT), headers={"Authorization": "Bearer demo-test-token"}
    )
    batches_at_abort = demo.done_batches
    thread.join(timeout=10)

    assert response.get_json() == {"success": True}
    assert not thread.is_alive()
    assert demo.registry.state(RUNNING_IMPORT) is ImportState.ABORTED
    # The batch in progress when the abort came is finished, and no other is begun.
    assert demo.done_batches in (batches_at_abort, batches_at_abort + 1)
    assert demo.done_batches < demo.batches
    # What was written before the abort stays written.
    assert demo.catalog == [product(n) for n in range(demo.done_batches * demo.batch_size)]
    status = client.get(f"/ccadmin/v1/importProcess/{RUNNING_IMPORT}").get_json()
    assert status["progress"] == "aborted"
    assert status["completed"] is True
    assert status["completedPercentage"] == 100 * demo.done_batches // demo.batches
    assert status["recordsWritten"] == len(demo.catalog)


def test_a_finished_demo_import_records_succeeded(demo_app: Flask) -> None:
    demo: ProductImport = demo_app.extensions["demo_import"]
    demo.batches, demo.batch_seconds = 3, 0

    demo.run()

    assert demo.registry.state(RUNNING_IMPORT) is ImportState.SUCCEEDED
    assert len(demo.catalog) == 3 * demo.batch_size
    assert_error_model(
        demo_app.test_client().post(
            abort_url(RUNNING_IMPORT), headers={"Authorization": "Bearer demo-test-token"}
        ),
        409,
        "30008",
    )


def test_demo_processes_answer_each_outcome(demo_app: Flask) -> None:
    client = demo_app.test_client()
    auth = {"Authorization": "Bearer demo-test-token"}

    assert client.post(abort_url("demoPending_10001"), headers=auth).status_code == 200
    assert client.get("/ccadmin/v1/importProcess/demoPending_10001").get_json()["progress"] == (
        "aborted"
    )
    assert_error_model(client.post(abort_url("demoSucceeded_10002"), headers=auth), 409)
    assert_error_model(client.post(abort_url("demoFailed_10003"), headers=auth), 409)
    assert_error_model(client.post(abort_url("demoUnknown"), headers=auth), 404)
    assert_error_model(client.post(abort_url("demoPending_10001")), 401, "00001000")
    assert set(OTHER_IMPORTS) < set(demo_app.extensions["demo_import"].registry.tokens())


def test_without_a_configured_token_each_app_makes_a_random_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEMO_BEARER_TOKEN", raising=False)
    first, second = create_app(), create_app()

    assert first.config["DEMO_BEARER_TOKEN"] != second.config["DEMO_BEARER_TOKEN"]
    assert len(first.config["DEMO_BEARER_TOKEN"]) >= 32
    assert first.config["IMPORT_ABORT_BEARER_TOKENS"] == [first.config["DEMO_BEARER_TOKEN"]]


# The demo as `make run` serves it, over real HTTP


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served_demo() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    env = {
        **os.environ,
        "DEMO_BEARER_TOKEN": "demo-admin-token",
        "FLASK_DEMO_BATCH_SECONDS": "0.05",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "example_app", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _reachable(base), timeout=20)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=10)


def _reachable(base: str) -> bool:
    try:
        urllib.request.urlopen(f"{base}/import-abort/openapi.json", timeout=1)
    except OSError:
        return False
    return True


def _call(url: str, method: str = "GET", token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_served_demo_is_aborted_with_the_readme_curl_line(
    served_demo: tuple[str, subprocess.Popen[str]],
) -> None:
    base, server = served_demo
    status_url = f"{base}/ccadmin/v1/importProcess/{RUNNING_IMPORT}"
    _wait_for(lambda: _call(status_url)[1]["recordsWritten"] > 0)

    code, body = _call(f"{status_url}/abort", "POST", "demo-admin-token")
    _wait_for(lambda: _call(status_url)[1]["progress"] == "aborted")

    assert (code, body) == (200, {"success": True})
    final = _call(status_url)[1]
    assert final["completed"] is True
    assert 0 < final["recordsWritten"] < 600 * 100
    assert _call(f"{status_url}/abort", "POST", "demo-admin-token") == (200, {"success": True})
    assert _call(f"{status_url}/abort", "POST")[0] == 401
    server.terminate()
    output = server.communicate(timeout=10)[0]
    assert "Demo bearer token: demo-admin-token" in output
    assert "abort honoured after batch" in output


def test_readme_curl_line_is_the_one_the_demo_prints() -> None:
    readme = (ROOT / "README.md").read_text()
    line = (
        'curl -X POST -H "Authorization: Bearer demo-admin-token" '
        f"http://127.0.0.1:5000/ccadmin/v1/importProcess/{RUNNING_IMPORT}/abort"
    )

    assert line in readme
    assert "DEMO_BEARER_TOKEN ?= demo-admin-token" in (ROOT / "Makefile").read_text()
