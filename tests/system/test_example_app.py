"""The example app: OCC's import flow on a real SQLite file, aborted after the current batch."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from example_app import close_app, create_app
from example_app.importer import Importer
from example_app.make_products import main as make_products
from example_app.products import (
    COUNT,
    PRODUCTS_FILE,
    product,
    read_products,
    write_products_file,
)
from flask_import_abort import ImportState
from flask_import_abort.processes import EndReason
from flask_import_abort.processes.sql import SQLImportRegistry

from ..databases import require_rabbitmq, require_redis
from ..helpers import abort_url, assert_error_model
from ..servers import ROOT, demo

TOKEN = "demo-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IMPORT = {"fileName": "products.json", "mode": "standalone", "id": "Products", "format": "json"}
PROCESSES = "/ccadmin/v1/importProcess"


@pytest.fixture
def make_demo(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    made: list[Flask] = []

    def make(**config: Any) -> Flask:
        app = create_app(
            {
                "DEMO_BEARER_TOKEN": TOKEN,
                "DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'imports.db'}",
                **config,
            }
        )
        made.append(app)
        return app

    yield make
    for app in made:
        close_app(app)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (answer := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return answer


def start_import(client: FlaskClient) -> str:
    response = client.post(PROCESSES, json=IMPORT, headers=AUTH)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "submitted"
    token: str = body["processId"]
    return token


def process(client: FlaskClient, token: str) -> dict[str, Any]:
    response = client.get(f"{PROCESSES}/{token}", headers=AUTH)
    assert response.status_code == 200
    found: dict[str, Any] = response.get_json()
    return found


def stored_products(app: Flask, token: str) -> list[str]:
    importer: Importer = app.extensions["demo_importer"]
    table = importer.products
    query = select(table.c.product_id).where(table.c.process_id == token)
    with importer.registry.engine.connect() as connection:
        return sorted(connection.execute(query).scalars())


def wait_until_completed(client: FlaskClient, token: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (answer := process(client, token))["completed"] and answer
    )
    return found


def test_an_import_writes_every_product_of_the_file_and_succeeds(
    make_demo: Callable[..., Flask],
) -> None:
    app = make_demo(DEMO_BATCH_PAUSE=0)
    client = app.test_client()

    token = start_import(client)
    final = wait_until_completed(client, token)

    assert final["progress"] == "succeeded"
    assert final["completedPercentage"] == 100
    assert final["recordsWritten"] == final["recordsTotal"] == COUNT
    assert final["startTime"] <= final["endTime"]
    assert final["links"] == [{"rel": "self", "href": f"{PROCESSES}/{token}"}]
    assert stored_products(app, token) == [product(n)["id"] for n in range(COUNT)]


def test_an_aborted_import_stops_after_its_batch_keeps_what_it_wrote_and_says_aborted(
    make_demo: Callable[..., Flask],
) -> None:
    app = make_demo(DEMO_BATCH_SIZE=100, DEMO_BATCH_PAUSE=0.02)
    client = app.test_client()
    token = start_import(client)
    wait_for(lambda: process(client, token)["recordsWritten"] >= 300)

    answer = client.post(abort_url(token), headers=AUTH)
    at_abort = process(client, token)["recordsWritten"]
    final = wait_until_completed(client, token)

    assert answer.get_json() == {"success": True}
    assert final["progress"] == "aborted"
    written = final["recordsWritten"]
    assert at_abort <= written <= at_abort + 100  # the batch in hand is finished, no other begun
    assert written % 100 == 0
    assert final["completedPercentage"] == 100 * written // COUNT < 100
    assert stored_products(app, token) == [product(n)["id"] for n in range(written)]
    # Aborting again is harmless and changes nothing.
    assert client.post(abort_url(token), headers=AUTH).get_json() == {"success": True}
    assert process(client, token) == final


def test_aborting_a_finished_import_is_409_and_changes_nothing(
    make_demo: Callable[..., Flask],
) -> None:
    client = make_demo(DEMO_BATCH_PAUSE=0).test_client()
    final = wait_until_completed(client, start_import(client))
    token = final["processId"]

    assert_error_model(client.post(abort_url(token), headers=AUTH), 409, "30008")
    assert process(client, token) == final


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"fileName=products.json", "The body must be a JSON object."),
        (b'["products.json"]', "The body must be a JSON object."),
        (json.dumps({**IMPORT, "fileName": None}), "fileName: Field may not be null."),
        (json.dumps({k: v for k, v in IMPORT.items() if k != "fileName"}), "fileName: Missing"),
        (json.dumps({**IMPORT, "mode": "replace"}), "mode: Must be one of: standalone."),
        (json.dumps({**IMPORT, "id": "Collections"}), "id: Must be one of: Products."),
        (json.dumps({**IMPORT, "format": "csv"}), "format: Must be one of: json."),
        (json.dumps({**IMPORT, "fileName": "none.json"}), "No import file is named 'none.json'."),
        (json.dumps({**IMPORT, "fileName": "../products.py"}), "No import file is named"),
        (json.dumps({**IMPORT, "fileName": "/etc/passwd"}), "No import file is named"),
        (json.dumps({**IMPORT, "fileName": "x" * 300}), "fileName: Length must be between"),
    ],
)
def test_execute_import_refuses_a_bad_body_with_an_error_model_and_starts_nothing(
    make_demo: Callable[..., Flask], body: str | bytes, message: str
) -> None:
    app = make_demo()
    headers = {**AUTH, "Content-Type": "application/json"}

    error = assert_error_model(app.test_client().post(PROCESSES, data=body, headers=headers), 400)

    assert error["message"].startswith(message)
    assert app.extensions["demo_importer"].registry.recent() == []


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_the_hosts_endpoints_need_the_demo_bearer_token_as_the_abort_does(
    make_demo: Callable[..., Flask], headers: dict[str, str]
) -> None:
    client = make_demo().test_client()

    for response in (
        client.post(PROCESSES, json=IMPORT, headers=headers),
        client.get(PROCESSES, headers=headers),
        client.get(f"{PROCESSES}/any", headers=headers),
        client.post(abort_url("any"), headers=headers),
    ):
        error = assert_error_model(response, 401, "00001000")
        assert error["message"] == "The user is not authenticated."
    assert client.application.extensions["demo_importer"].registry.recent() == []


def test_an_unknown_process_is_404_with_an_error_model(make_demo: Callable[..., Flask]) -> None:
    client = make_demo().test_client()

    assert_error_model(client.get(f"{PROCESSES}/no_such_process", headers=AUTH), 404)
    assert_error_model(client.post(abort_url("no_such_process"), headers=AUTH), 404, "30007")


def test_the_list_holds_the_latest_processes_newest_first(make_demo: Callable[..., Flask]) -> None:
    app = make_demo()
    registry = app.extensions["demo_importer"].registry
    tokens = [registry.register(total=10) for _ in range(3)]
    client = app.test_client()

    listed = client.get(PROCESSES, headers=AUTH).get_json()["items"]
    two = client.get(f"{PROCESSES}?limit=2", headers=AUTH).get_json()["items"]

    assert [item["processId"] for item in listed] == tokens[::-1]
    assert [item["processId"] for item in two] == tokens[:0:-1]
    assert listed[0] == process(client, tokens[-1])
    assert listed[0]["progress"] == "pending"
    assert (listed[0]["recordsWritten"], listed[0]["recordsTotal"]) == (0, 10)


def test_an_app_reaps_the_imports_whose_worker_is_gone_and_leaves_the_living_alone(
    make_demo: Callable[..., Flask],
) -> None:
    app = make_demo(DEMO_LEASE=0.6, DEMO_REAP_INTERVAL=0.1)
    registry = app.extensions["demo_importer"].registry
    pending, gone, alive = (registry.register() for _ in range(3))
    registry.start(gone)  # a worker that never calls again: a killed server's import
    registry.start(alive)

    deadline = time.monotonic() + 10
    while registry.snapshot(gone).state is ImportState.PROCESSING:
        assert time.monotonic() < deadline, "never reaped"
        registry.heartbeat(alive)  # a living worker's import beats
        time.sleep(0.05)

    snapshot = registry.snapshot(gone)
    assert (snapshot.state, snapshot.end_reason) == (ImportState.FAILED, EndReason.WORKER_LOST)
    assert registry.snapshot(alive).state is ImportState.PROCESSING
    assert registry.snapshot(pending).state is ImportState.PENDING
    described = process(app.test_client(), gone)
    assert (described["progress"], described["endReason"]) == ("failed", "worker_lost")


def test_the_dashboard_is_served_by_the_app_with_nothing_from_elsewhere(
    make_demo: Callable[..., Flask],
) -> None:
    client = make_demo().test_client()

    page = client.get("/")
    assets = [client.get("/static/dashboard.js"), client.get("/static/dashboard.css")]

    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert all(asset.status_code == 200 for asset in assets)
    for text in [page.text] + [asset.text for asset in assets]:
        assert "http:" not in text
        assert "https:" not in text
        assert "//" not in text.replace("// ", "")  # no protocol-relative address either
    for asset in assets:
        asset.close()


def test_without_a_configured_token_each_app_makes_a_random_one(
    monkeypatch: pytest.MonkeyPatch, make_demo: Callable[..., Flask]
) -> None:
    monkeypatch.delenv("DEMO_BEARER_TOKEN", raising=False)
    first, second = make_demo(DEMO_BEARER_TOKEN=None), make_demo(DEMO_BEARER_TOKEN=None)

    assert first.config["DEMO_BEARER_TOKEN"] != second.config["DEMO_BEARER_TOKEN"]
    assert len(first.config["DEMO_BEARER_TOKEN"]) >= 32
    assert first.config["IMPORT_ABORT_BEARER_TOKENS"] == {
        "demo-admin": first.config["DEMO_BEARER_TOKEN"]
    }


def test_the_shipped_products_file_is_the_scripts_output_byte_for_byte(tmp_path: Path) -> None:
    make_products(["--output", str(tmp_path / "products.json")])

    assert (tmp_path / "products.json").read_bytes() == PRODUCTS_FILE.read_bytes()
    products = read_products(PRODUCTS_FILE)
    assert len(products) == COUNT >= 20_000
    assert len({item["id"] for item in products}) == COUNT


# The demo as `make run` serves it, over real HTTP


def call(url: str, method: str = "GET", body: Any = None, token: str | None = TOKEN) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_the_served_demo_follows_occs_flow_with_the_readme_curl_lines(tmp_path: Path) -> None:
    env = {
        "DEMO_BEARER_TOKEN": TOKEN,
        "FLASK_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'imports.db'}",
        "FLASK_DEMO_BATCH_PAUSE": "0.05",
    }
    with demo(tmp_path / "demo.log", env) as server:
        base = f"http://{server.host}{PROCESSES}"
        code, submitted = call(base, "POST", IMPORT)
        status_url = f"{base}/{submitted['processId']}"
        wait_for(lambda: call(status_url)[1]["recordsWritten"] > 0)

        aborted = call(f"{status_url}/abort", "POST")
        final = wait_for(lambda: (found := call(status_url)[1])["completed"] and found)
        again = call(f"{status_url}/abort", "POST")
        anonymous = call(f"{status_url}/abort", "POST", token=None)
        output = server.log.read_text()

    assert (code, submitted["status"]) == (200, "submitted")
    assert aborted == again == (200, {"success": True})
    assert anonymous[0] == 401
    assert final["progress"] == "aborted"
    assert 0 < final["recordsWritten"] < COUNT
    assert f"open http://{server.host}/#token={TOKEN}" in output
    assert f"Demo bearer token: {TOKEN}" in output
    assert "stops on request after" in output


def test_the_docs_show_the_wiring_the_example_has() -> None:
    page = (ROOT / "docs" / "example.md").read_text()
    source = (ROOT / "example_app" / "__init__.py").read_text()
    wiring = page.split("## How the example is built")[1].split("```py\n")[1].split("```")[0]

    for line in wiring.strip().splitlines():
        code, _, comment = line.partition("  #")
        assert f"{code.strip()}  #{comment}" in source


def test_the_readme_gives_the_page_and_curl_lines_the_demo_prints() -> None:
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()

    assert "DEMO_BEARER_TOKEN ?= demo-admin-token" in makefile
    assert "http://127.0.0.1:5000/#token=demo-admin-token" in readme
    assert (
        'curl -H "Authorization: Bearer demo-admin-token" -H "Content-Type: application/json" '
        "-d '" + json.dumps(IMPORT) + "' http://127.0.0.1:5000/ccadmin/v1/importProcess"
    ) in readme
    assert (
        'curl -X POST -H "Authorization: Bearer demo-admin-token" '
        "http://127.0.0.1:5000/ccadmin/v1/importProcess/<processId>/abort"
    ) in readme


# Executors: a bounded pool of threads, or a job engine's worker beside the app.


def test_the_thread_executor_refuses_an_import_past_its_bound_and_keeps_no_process_of_it(
    make_demo: Callable[..., Flask],
) -> None:
    app = make_demo(DEMO_MAX_RUNNING_IMPORTS=2, DEMO_BATCH_PAUSE=0.05)
    client = app.test_client()
    registry = app.extensions["demo_importer"].registry
    answers = [client.post(PROCESSES, json=IMPORT, headers=AUTH) for _ in range(40)]

    accepted = [answer.get_json()["processId"] for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code != 200]
    assert len(accepted) == 2
    for answer in refused:
        body = assert_error_model(answer, 429, "91004")
        assert answer.headers["Retry-After"] == "5"
        assert "DEMO_MAX_RUNNING_IMPORTS is 2" in body["devMessage"]
    assert sorted(s.token for s in registry.recent(100)) == sorted(accepted)
    assert {process(client, token)["executor"] for token in accepted} == {"thread"}

    client.post(f"{PROCESSES}/{accepted[0]}/abort", headers=AUTH)
    wait_for(lambda: registry.snapshot(accepted[0]).state.is_final)
    wait_for(lambda: client.post(PROCESSES, json=IMPORT, headers=AUTH).status_code == 200)


def test_closing_the_app_aborts_the_imports_it_runs_after_their_batch(
    make_demo: Callable[..., Flask],
) -> None:
    app = make_demo(DEMO_BATCH_PAUSE=0.1)
    client = app.test_client()
    registry = app.extensions["demo_importer"].registry
    tokens = [start_import(client), start_import(client)]
    wait_for(lambda: all(registry.snapshot(t).processed > 0 for t in tokens))

    close_app(app)

    for token in tokens:
        snapshot = registry.snapshot(token)
        assert (snapshot.state, snapshot.abort_requested) == (ImportState.ABORTED, True)
        assert snapshot.processed == stored_count(app, token)


def stored_count(app: Flask, token: str) -> int:
    return len(stored_products(app, token))


#: How the served demo is stopped: Ctrl-C at a terminal, Ctrl-C to one a shell started with
#: ``&`` (which starts it with SIGINT ignored), and SIGTERM (``kill``, a container's stop).
STOPS = {
    "ctrl-c": (signal.SIGINT, False),
    "ctrl-c-started-in-background": (signal.SIGINT, True),
    "sigterm": (signal.SIGTERM, False),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("executor", "stop"),
    [
        ("celery", "ctrl-c"),
        ("rq", "ctrl-c"),
        ("rq", "ctrl-c-started-in-background"),
        ("celery", "sigterm"),
    ],
)
def test_the_served_demo_runs_its_imports_on_a_job_engine_and_stops_its_worker_with_it(
    executor: str, stop: str, tmp_path: Path
) -> None:
    stop_signal, started_with_sigint_ignored = STOPS[stop]
    with _on_its_engine(executor, tmp_path, products=400, pause=0.1) as (queue, env):
        with demo(tmp_path / "demo.log", env, ignore_sigint=started_with_sigint_ignored) as server:
            base = f"http://{server.host}{PROCESSES}"
            code, submitted = call(base, "POST", IMPORT)
            status_url = f"{base}/{submitted['processId']}"
            wait_for(lambda: call(status_url)[1]["recordsWritten"] >= 20)

            aborted = call(f"{status_url}/abort", "POST")
            final = wait_for(lambda: (found := call(status_url)[1])["completed"] and found)
            assert _workers_of(queue), "no worker ran beside the app"
            server.process.send_signal(stop_signal)
            assert server.process.wait(timeout=40) == 0

        assert (code, aborted) == (200, (200, {"success": True}))
        assert (final["progress"], final["executor"]) == ("aborted", executor)
        assert 20 <= final["recordsWritten"] < 400
        assert final["recordsWritten"] % 10 == 0
        wait_for(lambda: not _workers_of(queue))  # stopping the app stopped the worker too


@contextlib.contextmanager
def _on_its_engine(
    executor: str, tmp_path: Path, *, products: int, pause: float
) -> Iterator[tuple[str, dict[str, str]]]:
    """The served demo's environment on ``executor`` (a queue of its own, a file of
    ``products``, batches of 10 taking ``pause`` s), and the queue; a worker the demo failed to
    stop is ended afterwards, this test's to end as its queue is unique."""
    if executor != "thread":
        require_redis()
    if executor == "celery":
        require_rabbitmq()
    queue = f"demo-{secrets.token_hex(4)}"
    folder = tmp_path / "imports"
    folder.mkdir()
    write_products_file(folder / "products.json", count=products)
    env = {
        "DEMO_BEARER_TOKEN": TOKEN,
        "FLASK_DEMO_EXECUTOR": executor,
        "FLASK_DEMO_QUEUE": queue,
        "FLASK_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'imports.db'}",
        "FLASK_DEMO_IMPORT_FOLDER": str(folder),
        "FLASK_DEMO_BATCH_SIZE": "10",
        "FLASK_DEMO_BATCH_PAUSE": str(pause),
    }
    try:
        yield queue, env
    finally:
        for pid in _workers_of(queue):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _workers_of(queue: str) -> list[int]:
    """The processes whose command line names ``queue``: the engine's worker and its pool."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if queue.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:  # it ended meanwhile
            continue
    return found


def test_get_import_process_says_who_aborted_it_when_and_why(
    make_demo: Callable[..., Flask],
) -> None:
    client = make_demo(DEMO_BATCH_PAUSE=0.2).test_client()
    token = start_import(client)

    client.post(
        abort_url(token),
        json={"reason": "the wrong catalog"},
        headers={**AUTH, "X-Request-ID": "ticket-42"},
    )
    client.post(abort_url(token), json={"reason": "again"}, headers=AUTH)  # the first counts
    described = process(client, token)

    assert (described["abortedBy"], described["abortReason"], described["abortRequestId"]) == (
        "demo-admin",
        "the wrong catalog",
        "ticket-42",
    )
    assert described["abortRequestedAt"] is not None


def test_the_demos_metrics_are_behind_its_bearer_token(make_demo: Callable[..., Flask]) -> None:
    client = make_demo().test_client()
    client.post(abort_url("no_such"), headers=AUTH)

    anonymous = client.get("/metrics")
    scraped = client.get("/metrics", headers=AUTH)

    assert_error_model(anonymous, 401, "00001000")
    assert scraped.status_code == 200
    text = scraped.get_data(as_text=True)
    assert 'import_abort_answers_total{outcome="not_found",status="404"} 1.0' in text


@pytest.mark.slow
@pytest.mark.parametrize(
    ("executor", "stop"),
    [("thread", "sigterm"), ("rq", "ctrl-c"), ("rq", "sigterm"), ("celery", "ctrl-c")],
)
def test_stopping_the_demo_aborts_its_imports_as_shutdown_and_leaves_nothing_writing(
    executor: str, stop: str, tmp_path: Path
) -> None:
    """Ctrl-C or SIGTERM during an import: it stops after its batch and is recorded aborted by
    ``shutdown``; a queued one never runs; the engine's worker and its children are gone."""
    stop_signal, _ = STOPS[stop]
    # Celery's pool runs two at once: a third waits in the queue, as RQ's second does.
    started = 1 if executor == "thread" else 3
    with _on_its_engine(executor, tmp_path, products=2000, pause=0.2) as (queue, env):
        with demo(tmp_path / "demo.log", env) as server:
            base = f"http://{server.host}{PROCESSES}"
            tokens = [call(base, "POST", IMPORT)[1]["processId"] for _ in range(started)]
            wait_for(lambda: call(f"{base}/{tokens[0]}")[1]["recordsWritten"] >= 20)
            stopping = time.monotonic()
            server.process.send_signal(stop_signal)
            assert server.process.wait(timeout=40) == 0
            took = time.monotonic() - stopping
            assert not _workers_of(queue), "the engine's worker outlived the demo"

        registry = SQLImportRegistry(env["FLASK_DEMO_DATABASE_URL"])
        ended = {token: registry.snapshot(token) for token in tokens}
        written = {token: ended[token].processed for token in tokens}
        time.sleep(1.0)  # nothing of the worker is left to write
        assert {token: registry.snapshot(token).processed for token in tokens} == written
        registry.close()

    assert took < 25  # a batch, the worker's warm stop, well inside the demo's bounds
    for snapshot in ended.values():
        assert (snapshot.state, snapshot.aborted_by, snapshot.end_reason) == (
            ImportState.ABORTED,
            "shutdown",
            EndReason.SHUTDOWN,
        )
        assert snapshot.processed < 2000
    assert ended[tokens[0]].processed >= 20
    assert ended[tokens[-1]].started_at is None or executor == "thread"  # the queued one


@pytest.mark.parametrize(("executor", "services"), [("rq", "redis"), ("celery", "rabbitmq redis")])
def test_make_run_starts_only_the_services_its_executor_needs(executor: str, services: str) -> None:
    planned = subprocess.run(
        [shutil.which("make") or "make", "-n", "run", f"EXECUTOR={executor}", "VENV=.venv-no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert f"bash .ci/services {services}\n" in planned


def test_the_services_script_needs_no_postgresql_or_rabbitmq_tools_for_redis_alone(
    tmp_path: Path,
) -> None:
    require_redis()  # up: nothing to start, so no tool of any server is needed
    found = subprocess.run(
        ["/bin/bash", ".ci/services", "redis"],
        cwd=ROOT,
        env={"PATH": str(tmp_path)},  # no pg_isready, no rabbitmqctl, nothing
        capture_output=True,
        text=True,
        check=False,
    )
    assert (found.returncode, found.stderr) == (0, "")


# Parallel imports: DEMO_PARALLELISM chunks, each a worker of its own.


def stored_by_chunks(app: Flask, token: str) -> list[str]:
    """The products an import's chunks wrote, in the file's order."""
    importer: Importer = app.extensions["demo_importer"]
    table = importer.products
    query = select(table.c.product_id).where(table.c.process_id.like(f"{token}-%"))
    with importer.registry.engine.connect() as connection:
        return sorted(connection.execute(query).scalars())


def test_with_parallelism_an_import_runs_in_chunks_and_writes_every_product_once(
    make_demo: Callable[..., Flask],
) -> None:
    app = make_demo(DEMO_BATCH_PAUSE=0, DEMO_PARALLELISM=3)
    client = app.test_client()

    token = start_import(client)
    final = wait_until_completed(client, token)

    assert final["progress"] == "succeeded"
    assert final["recordsWritten"] == final["recordsTotal"] == COUNT
    assert [chunk["recordsTotal"] for chunk in final["chunks"]] == [6667, 6667, 6666]
    assert {chunk["progress"] for chunk in final["chunks"]} == {"succeeded"}
    assert stored_by_chunks(app, token) == [product(n)["id"] for n in range(COUNT)]


def test_with_parallelism_one_abort_stops_every_chunk_and_keeps_what_they_wrote(
    make_demo: Callable[..., Flask],
) -> None:
    app = make_demo(DEMO_BATCH_SIZE=100, DEMO_BATCH_PAUSE=0.05, DEMO_PARALLELISM=4)
    client = app.test_client()
    token = start_import(client)
    wait_for(
        lambda: (
            all(c["recordsWritten"] >= 100 for c in process(client, token).get("chunks", []))
            and len(process(client, token)["chunks"]) == 4
        )
    )

    answer = client.post(abort_url(token), json={"reason": "wrong file"}, headers=AUTH)
    final = wait_until_completed(client, token)

    assert answer.get_json() == {"success": True}
    assert (final["progress"], final["abortReason"]) == ("aborted", "wrong file")
    assert [chunk["progress"] for chunk in final["chunks"]] == ["aborted"] * 4
    assert all(chunk["recordsWritten"] % 100 == 0 for chunk in final["chunks"])
    assert final["recordsWritten"] == len(stored_by_chunks(app, token)) < COUNT
    time.sleep(0.3)  # no chunk writes on after the import ended
    assert final["recordsWritten"] == len(stored_by_chunks(app, token))
    listed = client.get(f"{PROCESSES}?limit=5", headers=AUTH).get_json()["items"]
    assert [item["processId"] for item in listed] == [token]  # chunks are read through it


def test_the_bound_on_running_imports_counts_imports_not_chunks(
    make_demo: Callable[..., Flask],
) -> None:
    app = make_demo(DEMO_MAX_RUNNING_IMPORTS=2, DEMO_PARALLELISM=4, DEMO_BATCH_PAUSE=0.05)
    client = app.test_client()

    answers = [client.post(PROCESSES, json=IMPORT, headers=AUTH) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    for answer in answers[:2]:
        token = answer.get_json()["processId"]
        wait_for(lambda t=token: process(client, t)["progress"] == "processing")
        assert len(process(client, token)["chunks"]) == 4
    for answer in answers[:2]:
        client.post(abort_url(answer.get_json()["processId"]), headers=AUTH)


def test_a_parallelism_that_makes_no_sense_fails_at_start_naming_the_setting(
    make_demo: Callable[..., Flask],
) -> None:
    for wrong in (0, "4", 2.5, True):
        with pytest.raises(ValueError, match="DEMO_PARALLELISM"):
            make_demo(DEMO_PARALLELISM=wrong)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["celery", "rq"])
def test_the_served_demo_runs_an_import_in_four_chunks_on_four_workers_and_aborts_them_all(
    executor: str, tmp_path: Path
) -> None:
    with _on_its_engine(executor, tmp_path, products=800, pause=0.1) as (queue, env):
        env["FLASK_DEMO_PARALLELISM"] = "4"
        with demo(tmp_path / "demo.log", env) as server:
            base = f"http://{server.host}{PROCESSES}"
            _, submitted = call(base, "POST", IMPORT)
            status_url = f"{base}/{submitted['processId']}"
            wait_for(
                lambda: all(c["recordsWritten"] >= 20 for c in call(status_url)[1]["chunks"]),
                timeout=60,
            )
            workers = len(_workers_of(queue))

            aborted = call(f"{status_url}/abort", "POST")
            final = wait_for(lambda: (found := call(status_url)[1])["completed"] and found)
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(timeout=40) == 0

        # Celery: its main process and a pool of four; RQ: four workers, each with a work horse.
        assert workers >= (5 if executor == "celery" else 8)
        assert aborted == (200, {"success": True})
        assert final["progress"] == "aborted"
        assert [chunk["progress"] for chunk in final["chunks"]] == ["aborted"] * 4
        assert all(20 <= chunk["recordsWritten"] < 200 for chunk in final["chunks"])
        assert final["recordsWritten"] == sum(c["recordsWritten"] for c in final["chunks"])
        wait_for(lambda: not _workers_of(queue))


# The demo's own receiver of OCC's Import Complete webhook.


def _signed(body: bytes, secret: str, sent_at: datetime | None = None) -> dict[str, str]:
    """A notice's Standard Webhooks headers, made by PyPI's standardwebhooks."""
    from standardwebhooks.webhooks import Webhook

    moment = sent_at or datetime.now(timezone.utc)
    return {
        "webhook-id": "d-1",
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret.encode()).sign("d-1", moment, body.decode()),
    }


def test_the_demos_receiver_takes_a_signed_notice_once_and_refuses_a_forged_one(
    make_demo: Callable[..., Flask],
) -> None:
    app = make_demo(DEMO_WEBHOOK_RECEIVER=True)
    client = app.test_client()
    secret = app.config["IMPORT_ABORT_WEBHOOK_SECRET"]
    body = json.dumps(
        {
            "processId": "p-1",
            "deliveryId": "d-1",
            "progress": "aborted",
            "standaloneItem": {"result": {"successCount": 500, "failureCount": 0}},
        }
    ).encode()
    headers = _signed(body, secret)

    taken = [client.post("/demo/webhooks", data=body, headers=headers) for _ in range(2)]
    forged = client.post("/demo/webhooks", data=body, headers=_signed(body, "x"))
    late = datetime.now(timezone.utc) - timedelta(minutes=6)
    replayed = client.post("/demo/webhooks", data=body, headers=_signed(body, secret, late))
    listed = client.get("/demo/webhooks", headers=AUTH).get_json()["items"]

    assert [answer.status_code for answer in taken] == [204, 204]  # the repeat is dropped
    assert forged.status_code == 401
    assert replayed.status_code == 401
    assert [(item["processId"], item["progress"]) for item in listed] == [("p-1", "aborted")]
    assert client.get("/demo/webhooks").status_code == 401  # the list is the admin's
    assert app.config["IMPORT_ABORT_WEBHOOK_URLS"] == ["http://127.0.0.1:5000/demo/webhooks"]


def test_without_the_receiver_the_demo_has_no_webhook(make_demo: Callable[..., Flask]) -> None:
    app = make_demo()
    assert app.extensions["import_abort.operators"].dispatcher is None
    assert app.test_client().post("/demo/webhooks").status_code == 404
    with pytest.raises(TypeError, match="DEMO_WEBHOOK_RECEIVER must be True or False"):
        make_demo(DEMO_WEBHOOK_RECEIVER="false")


@pytest.mark.slow
def test_the_served_demo_notifies_its_own_receiver_of_an_aborted_import(tmp_path: Path) -> None:
    with _on_its_engine("rq", tmp_path, products=400, pause=0.1) as (_, env):
        env.update(FLASK_DEMO_WEBHOOK_RECEIVER="true", FLASK_DEMO_REAP_INTERVAL="0.2")
        with demo(tmp_path / "demo.log", env) as server:
            base = f"http://{server.host}{PROCESSES}"
            _, submitted = call(base, "POST", IMPORT)
            token = submitted["processId"]
            wait_for(lambda: call(f"{base}/{token}")[1]["recordsWritten"] >= 20)
            aborted = call(f"{base}/{token}/abort", "POST", {"reason": "wrong file"})
            final = wait_for(lambda: (found := call(f"{base}/{token}")[1])["completed"] and found)
            notices = wait_for(
                lambda: call(f"http://{server.host}/demo/webhooks")[1]["items"], timeout=30
            )
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(timeout=40) == 0

    assert aborted == (200, {"success": True})
    [notice] = notices
    assert (notice["processId"], notice["progress"]) == (token, "aborted")
    assert notice["result"]["successCount"] == final["recordsWritten"]
