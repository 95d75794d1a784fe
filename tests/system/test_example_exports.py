"""The example app's exports: the products table written to a JSON file batch by batch, aborted
through abortExportProcess after the batch in hand, its file linked once it has succeeded."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ..helpers import assert_error_model
from ..servers import demo
from .test_example_app import (
    AUTH,
    IMPORT,
    PROCESSES,
    _on_its_engine,
    call,
    make_demo,
    start_import,
    wait_for,
)

__all__ = ["make_demo"]  # the fixture, shared with the import tests

EXPORTS = "/ccadmin/v1/exportProcess"


def start_export(client: FlaskClient) -> str:
    response = client.post(EXPORTS, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "submitted"
    token: str = response.get_json()["processId"]
    return token


def export_status(client: FlaskClient, token: str) -> dict[str, Any]:
    response = client.get(f"{EXPORTS}/{token}", headers=AUTH)
    assert response.status_code == 200
    found: dict[str, Any] = response.get_json()
    return found


def ended(client: FlaskClient, token: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (answer := export_status(client, token))["completed"] and answer, timeout=60
    )
    return found


def imported(make_demo: Callable[..., Flask], **config: Any) -> tuple[Flask, FlaskClient]:
    """A demo whose products table holds one whole import."""
    app = make_demo(DEMO_BATCH_PAUSE=0, **config)
    client = app.test_client()
    token = start_import(client)
    wait_for(
        lambda: client.get(f"/ccadmin/v1/importProcess/{token}", headers=AUTH).get_json()[
            "completed"
        ]
    )
    return app, client


def test_an_export_writes_the_products_table_and_links_its_file(
    make_demo: Callable[..., Flask], tmp_path: Path
) -> None:
    _, client = imported(make_demo, DEMO_EXPORT_FOLDER=str(tmp_path / "exports"))

    token = start_export(client)
    final = ended(client, token)

    assert final["progress"] == "succeeded"
    file = next(link["href"] for link in final["links"] if link["rel"] == "file")
    assert file.endswith(f"{EXPORTS}/{token}/file")
    with client.get(f"{EXPORTS}/{token}/file", headers=AUTH) as served:
        assert served.status_code == 200
        products = json.loads(served.get_data())["products"]
    assert len(products) == final["recordsTotal"] == final["recordsWritten"] > 0
    assert (tmp_path / "exports" / f"{token}.json").is_file()
    listed = client.get(EXPORTS, headers=AUTH).get_json()["items"]
    assert [item["processId"] for item in listed] == [token]
    assert token not in {
        item["processId"]
        for item in client.get("/ccadmin/v1/importProcess", headers=AUTH).get_json()["items"]
    }


def test_an_aborted_export_stops_after_its_batch_and_links_no_file(
    make_demo: Callable[..., Flask], tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    app, client = imported(make_demo, DEMO_EXPORT_FOLDER=str(folder))
    app.extensions["demo_importer"].pause = 0.2  # each batch takes a while from now on

    token = start_export(client)
    wait_for(lambda: export_status(client, token)["progress"] == "processing")
    aborted = client.post(f"{EXPORTS}/{token}/abort", headers=AUTH, json={"reason": "wrong"})
    final = ended(client, token)

    assert aborted.get_json() == {"success": True}
    assert (final["progress"], final["abortReason"]) == ("aborted", "wrong")
    assert final["recordsWritten"] < final["recordsTotal"]
    assert [link["rel"] for link in final["links"]] == ["self"]
    assert_error_model(client.get(f"{EXPORTS}/{token}/file", headers=AUTH), 404, "91005")
    assert not (folder / f"{token}.json").exists()
    assert (folder / f"{token}.json.part").is_file()


def test_an_exports_token_is_unknown_to_the_import_routes(
    make_demo: Callable[..., Flask], tmp_path: Path
) -> None:
    _, client = imported(make_demo, DEMO_EXPORT_FOLDER=str(tmp_path / "exports"))
    token = start_export(client)

    assert_error_model(client.post(f"/ccadmin/v1/importProcess/{token}/abort", headers=AUTH), 404)
    assert_error_model(client.get(f"/ccadmin/v1/importProcess/{token}", headers=AUTH), 404)
    ended(client, token)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["thread", "celery", "rq"])
def test_the_served_demos_export_on_each_executor_is_aborted_and_its_notice_received(
    executor: str, tmp_path: Path
) -> None:
    with _on_its_engine(executor, tmp_path, products=400, pause=0.05) as (_, env):
        env.update(FLASK_DEMO_WEBHOOK_RECEIVER="true", FLASK_DEMO_REAP_INTERVAL="0.2")
        with demo(tmp_path / "demo.log", env) as server:
            imports, exports = (f"http://{server.host}{path}" for path in (PROCESSES, EXPORTS))
            _, submitted = call(imports, "POST", IMPORT)
            imported = f"{imports}/{submitted['processId']}"
            wait_for(lambda: call(imported)[1]["completed"], timeout=60)
            _, started = call(exports, "POST")
            token = started["processId"]
            status = f"{exports}/{token}"
            wait_for(lambda: call(status)[1]["recordsWritten"] >= 20)

            aborted = call(f"{status}/abort", "POST", {"reason": "wrong catalog"})
            final = wait_for(lambda: (found := call(status)[1])["completed"] and found)
            notices = wait_for(
                lambda: [
                    item
                    for item in call(f"http://{server.host}/demo/webhooks")[1]["items"]
                    if item["processId"] == token
                ],
                timeout=30,
            )
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(timeout=40) == 0

    assert aborted == (200, {"success": True})
    assert (final["progress"], final["executor"]) == ("aborted", executor)
    assert 20 <= final["recordsWritten"] < 400
    assert final["recordsWritten"] % 10 == 0  # whole batches only
    [notice] = notices
    assert notice["progress"] == "aborted"
    assert notice["result"]["successCount"] == final["recordsWritten"]
