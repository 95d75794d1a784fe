"""getImportProcess, shipped by the package and opt-in (`IMPORT_ABORT_STATUS_ROUTE`): OCC's fields
from the registry's snapshot, who aborted and why, the host's own fields through a hook, with the
abort's authorization, errors and languages."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from flask import Flask, jsonify
from flask_smorest import Api
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

from flask_import_abort import ImportAbort, ImportState, InMemoryImportRegistry
from flask_import_abort.processes import ProcessSnapshot

from ..helpers import AUTH, PREFIX, SECRET, SpyRegistry, abort_url, assert_error_model

UI_PREFIX = "/ccadminui/v1/importProcess"
OCC_FIELDS = {"completed", "completedPercentage", "startTime", "endTime", "progress", "links"}


def _app(registry: Any, **config: Any) -> Flask:
    app = Flask("host")
    app.config.update(
        IMPORT_ABORT_BEARER_TOKENS={"ops": SECRET},
        IMPORT_ABORT_STATUS_ROUTE=True,
        IMPORT_ABORT_URL_PREFIX=[PREFIX, UI_PREFIX],
    )
    app.config.update(config)
    ImportAbort(app, registry=registry)
    return app


def _validated(app: Flask, response: Any) -> Any:
    """``response``, checked against the app's own OpenAPI document."""
    document = app.test_client().get(app.config["IMPORT_ABORT_OPENAPI_URL"]).get_json()
    OpenAPI.from_dict(document).validate_response(
        WerkzeugOpenAPIRequest(response.request), WerkzeugOpenAPIResponse(response)
    )
    return response


def test_an_aborted_import_reads_aborted_with_who_why_and_when() -> None:
    registry = InMemoryImportRegistry()
    token = registry.register(total=200)
    registry.start(token)
    registry.report_progress(token, 50)
    app = _app(registry)
    client = app.test_client()
    client.post(
        abort_url(token), json={"reason": "wrong file"}, headers={**AUTH, "X-Request-ID": "r-1"}
    )

    running = _validated(app, client.get(f"{PREFIX}/{token}", headers=AUTH)).get_json()
    assert set(running) >= OCC_FIELDS
    assert running["progress"] == "processing"
    assert running["completed"] is False
    assert running["completedPercentage"] == 25
    assert (running["abortRequested"], running["abortedBy"]) == (True, "ops")
    assert (running["abortReason"], running["abortRequestId"]) == ("wrong file", "r-1")
    assert running["abortRequestedAt"]
    assert running["startTime"]
    assert running["endTime"] is None
    assert running["links"] == [
        {"rel": "self", "href": f"{PREFIX}/{token}"},
        {"rel": "abort", "href": f"{PREFIX}/{token}/abort"},
    ]

    registry.finish(token, ImportState.ABORTED)
    ended = _validated(app, client.get(f"{PREFIX}/{token}", headers=AUTH)).get_json()
    assert (ended["progress"], ended["completed"]) == ("aborted", True)
    assert "error" not in ended
    assert ended["endTime"] >= ended["startTime"]
    assert ended["links"] == [{"rel": "self", "href": f"{PREFIX}/{token}"}]  # nothing to abort


@pytest.mark.parametrize(
    ("state", "completed", "percentage"),
    [
        (ImportState.PENDING, False, 0),
        (ImportState.PROCESSING, False, 0),
        (ImportState.PAUSED, False, 0),
        (ImportState.BLOCKED, False, 0),
        (ImportState.SUCCEEDED, True, 100),
        (ImportState.FAILED, True, 0),
        (ImportState.ABORTED, True, 0),
    ],
)
def test_every_state_is_occs_progress(state: ImportState, completed: bool, percentage: int) -> None:
    registry = InMemoryImportRegistry()
    token = registry.add(state)
    app = _app(registry)

    body = _validated(app, app.test_client().get(f"{PREFIX}/{token}", headers=AUTH)).get_json()

    assert (body["progress"], body["completed"]) == (state.value, completed)
    assert body["completedPercentage"] == percentage
    assert ("error" in body) == (state is ImportState.FAILED)
    abort_link = {"rel": "abort", "href": f"{PREFIX}/{token}/abort"}
    assert (abort_link in body["links"]) == (not completed)  # only while it can be aborted


def test_a_failed_import_says_why_in_error() -> None:
    registry = InMemoryImportRegistry()
    token = registry.add(ImportState.PROCESSING)
    registry.finish(token, ImportState.FAILED)

    app = _app(registry)
    body = _validated(app, app.test_client().get(f"{PREFIX}/{token}", headers=AUTH)).get_json()

    assert set(body["error"]) == {"detail", "title", "type"}
    assert body["error"]["type"] == "failed"


def test_every_answer_is_the_same_under_an_alias_prefix() -> None:
    registry = InMemoryImportRegistry()
    token = registry.add(ImportState.PROCESSING)
    client = _app(registry).test_client()
    for path, headers in [
        (token, AUTH),
        ("no_such_import", AUTH),
        ("a b", AUTH),
        (token, {}),
        (token, {"Authorization": "Bearer wrong"}),
        ("no_such_import", {**AUTH, "X-CCAsset-Language": "de"}),
    ]:
        first = client.get(f"{PREFIX}/{path}", headers=headers)
        alias = client.get(f"{UI_PREFIX}/{path}", headers=headers)
        assert (alias.status_code, alias.get_json()) == (first.status_code, first.get_json())
        assert alias.headers.get("WWW-Authenticate") == first.headers.get("WWW-Authenticate")


def test_it_has_the_aborts_authorization_errors_and_languages() -> None:
    registry = InMemoryImportRegistry()
    token = registry.add(ImportState.PROCESSING)
    client = _app(registry).test_client()

    assert_error_model(client.get(f"{PREFIX}/{token}"), 401, "00001000")
    wrong = client.get(f"{PREFIX}/{token}", headers={"Authorization": "Bearer wrong"})
    assert wrong.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    german = client.get(f"{PREFIX}/nope", headers={**AUTH, "X-CCAsset-Language": "de"})
    assert (
        assert_error_model(german, 404, "30007")["message"] != "No import process has that token."
    )
    assert german.headers["Content-Language"] == "de"
    assert_error_model(client.get(f"{PREFIX}/{'x' * 300}", headers=AUTH), 400)


def test_it_is_off_by_default_and_the_path_stays_the_hosts() -> None:
    registry = InMemoryImportRegistry()
    token = registry.add(ImportState.PROCESSING)
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET])
    ImportAbort(app, registry=registry)

    @app.get(f"{PREFIX}/<process_id>")
    def hosts_own(process_id: str) -> dict[str, str]:
        return {"host": process_id}

    assert app.test_client().get(f"{PREFIX}/{token}", headers=AUTH).get_json() == {"host": token}
    document = app.test_client().get("/import-abort/openapi.json").get_json()
    assert list(document["paths"]) == [f"{PREFIX}/{{token}}/abort"]


def test_a_host_route_on_the_path_already_is_an_error_at_init_app() -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], IMPORT_ABORT_STATUS_ROUTE=True)

    @app.get(f"{PREFIX}/<process_id>")
    def hosts_own(process_id: str) -> dict[str, str]:
        return {"host": process_id}

    with pytest.raises(ValueError, match=r"IMPORT_ABORT_STATUS_ROUTE.*hosts_own"):
        ImportAbort(app, registry=InMemoryImportRegistry())


def test_a_host_adds_fields_of_its_own_through_the_hook() -> None:
    registry = InMemoryImportRegistry()
    token = registry.add(ImportState.PROCESSING)
    registry.report_progress(token, 7)

    def fields(snapshot: ProcessSnapshot) -> dict[str, Any]:
        return {"recordsWritten": snapshot.processed, "executor": "thread"}

    app = _app(registry, IMPORT_ABORT_STATUS_FIELDS=fields)
    body = _validated(app, app.test_client().get(f"{PREFIX}/{token}", headers=AUTH)).get_json()

    assert (body["recordsWritten"], body["executor"], body["progress"]) == (
        7,
        "thread",
        "processing",
    )


def test_host_fields_are_serialized_by_the_apps_json_provider_as_jsonify_does() -> None:
    registry = InMemoryImportRegistry()
    token = registry.add(ImportState.PROCESSING)
    fields = {
        "checkedAt": datetime(2026, 12, 7, 4, 5, 6, tzinfo=timezone.utc),
        "cost": Decimal("12.50"),
        "batchId": UUID("12345678-1234-5678-1234-567812345678"),
    }
    app = _app(registry, IMPORT_ABORT_STATUS_FIELDS=lambda snapshot: fields)

    body = _validated(app, app.test_client().get(f"{PREFIX}/{token}", headers=AUTH)).get_json()

    with app.app_context():
        expected = jsonify(fields).get_json()
    assert {name: body[name] for name in fields} == expected
    assert expected["batchId"] == "12345678-1234-5678-1234-567812345678"


@pytest.mark.parametrize(
    ("answer", "said"), [({"progress": "succeeded"}, "progress"), (["x"], "list")]
)
def test_a_hook_that_would_replace_the_packages_fields_is_a_logged_500(
    answer: Any, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = InMemoryImportRegistry()
    token = registry.add(ImportState.PROCESSING)
    app = _app(registry, IMPORT_ABORT_STATUS_FIELDS=lambda snapshot: answer)

    with caplog.at_level(logging.ERROR, "flask_import_abort"):
        response = app.test_client().get(f"{PREFIX}/{token}", headers=AUTH)

    assert_error_model(response, 500)
    assert said in caplog.text
    assert "IMPORT_ABORT_STATUS_FIELDS" in caplog.text


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"IMPORT_ABORT_STATUS_ROUTE": "true"}, TypeError),
        ({"IMPORT_ABORT_STATUS_ROUTE": 1}, TypeError),
        ({"IMPORT_ABORT_STATUS_FIELDS": "no.such.module:hook"}, ValueError),
        ({"IMPORT_ABORT_STATUS_FIELDS": 42}, TypeError),
    ],
)
def test_the_settings_are_checked_by_type(config: dict[str, Any], error: type[Exception]) -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], **config)
    with pytest.raises(error, match=next(iter(config))):
        ImportAbort(app, registry=InMemoryImportRegistry())


def test_a_registry_that_cannot_read_a_process_cannot_serve_it() -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], IMPORT_ABORT_STATUS_ROUTE=True)
    with pytest.raises(ValueError, match="snapshot"):
        ImportAbort(app, registry=SpyRegistry())


def test_a_host_api_documents_both_operations_with_occs_names() -> None:
    app = Flask("host")
    app.config.update(
        API_TITLE="Host",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        IMPORT_ABORT_BEARER_TOKENS=[SECRET],
        IMPORT_ABORT_STATUS_ROUTE=True,
    )
    api = Api(app)
    ImportAbort(app, registry=InMemoryImportRegistry(), api=api)
    document = api.spec.to_dict()

    status = document["paths"][f"{PREFIX}/{{token}}"]["get"]
    assert status["operationId"] == "getImportProcess"
    assert status["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/getImportProcess_response"
    }
    operations = [
        operation["operationId"]
        for path in document["paths"].values()
        for method, operation in path.items()
        if method in ("get", "post")
    ]
    assert sorted(operations) == ["abortImportProcess", "getImportProcess"]


def test_an_authorizers_bare_forbidden_says_reading_is_not_allowed() -> None:
    from werkzeug.exceptions import Forbidden

    def authorize(request: Any) -> bool:
        raise Forbidden()

    registry = InMemoryImportRegistry()
    token = registry.add(ImportState.PROCESSING)
    client = _app(
        registry, IMPORT_ABORT_AUTHORIZE=authorize, IMPORT_ABORT_BEARER_TOKENS=None
    ).test_client()

    read = client.get(f"{PREFIX}/{token}")
    aborted = client.post(abort_url(token))

    assert assert_error_model(read, 403, "30016")["message"] == (
        "You are not allowed to read import processes."
    )
    assert assert_error_model(aborted, 403, "30006")["message"] == (
        "You are not allowed to abort import processes."
    )


# A parallel import.


def test_a_parallel_import_reads_as_one_process_summed_with_its_chunks_listed(
    database_url: str,
) -> None:
    from ..databases import sql_registry

    with sql_registry(database_url) as registry:
        parallel = registry.register_chunks(3, totals=[100, 100, 200])
        for chunk, written in zip(parallel.chunks, [100, 40, 0], strict=True):
            registry.start(chunk)
            registry.report_progress(chunk, written)
        registry.finish(parallel.chunks[0], ImportState.SUCCEEDED)
        app = _app(registry)
        client = app.test_client()

        running = _validated(app, client.get(f"{PREFIX}/{parallel.token}", headers=AUTH))
        registry.finish(parallel.chunks[1], ImportState.FAILED)
        registry.finish(parallel.chunks[2], ImportState.ABORTED)
        failed = _validated(app, client.get(f"{PREFIX}/{parallel.token}", headers=AUTH))
        chunk = _validated(app, client.get(f"{PREFIX}/{parallel.chunks[1]}", headers=AUTH))

    body = running.get_json()
    assert (body["progress"], body["completedPercentage"]) == ("processing", 35)
    assert [(c["processId"], c["progress"], c["recordsWritten"]) for c in body["chunks"]] == [
        (parallel.chunks[0], "succeeded", 100),
        (parallel.chunks[1], "processing", 40),
        (parallel.chunks[2], "processing", 0),
    ]
    body = failed.get_json()
    assert body["progress"] == "failed"
    assert body["error"]["title"] == f"Chunk {parallel.chunks[1]} of the import failed."
    assert "other chunks were stopped" in body["error"]["detail"]
    assert (body["chunks"][2]["progress"], body["chunks"][2]["endReason"]) == (
        "aborted",
        "chunk_failed",
    )  # stopped by the failure of its sibling
    assert chunk.get_json()["parentProcessId"] == parallel.token
    assert "chunks" not in chunk.get_json()


def test_an_abort_of_a_chunks_token_through_the_endpoint_aborts_its_import() -> None:
    registry = InMemoryImportRegistry()
    parallel = registry.register_chunks(2)
    registry.start(parallel.chunks[0])
    client = _app(registry).test_client()

    answer = client.post(abort_url(parallel.chunks[1]), json={"reason": "wrong"}, headers=AUTH)

    assert answer.get_json() == {"success": True}
    status = client.get(f"{PREFIX}/{parallel.token}", headers=AUTH).get_json()
    assert (status["abortRequested"], status["abortReason"]) == (True, "wrong")
    assert registry.should_stop(parallel.chunks[0])
    assert registry.state(parallel.chunks[1]) is ImportState.ABORTED
