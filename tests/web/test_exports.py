"""OCC's exports beside its imports: abortExportProcess and getExportProcess, opt-in with
``IMPORT_ABORT_EXPORTS``, under their own prefix; a token of one kind is unknown to the other
kind's routes."""

from __future__ import annotations

import pytest
from flask import Flask

from flask_import_abort import (
    AbortOutcome,
    AbortRequest,
    ImportAbort,
    ImportState,
    InMemoryImportRegistry,
)
from flask_import_abort.processes import ProcessKind

from ..helpers import AUTH, SECRET, SpyRegistry, abort_url, assert_error_model, host

EXPORTS = "/ccadmin/v1/exportProcess"
ON = {"IMPORT_ABORT_EXPORTS": True, "IMPORT_ABORT_STATUS_ROUTE": True}


def export_url(token: str, prefix: str = EXPORTS) -> str:
    return abort_url(token, prefix)


@pytest.fixture
def both() -> InMemoryImportRegistry:
    """A registry with a running import and a running export, and one ended of each."""
    registry = InMemoryImportRegistry()
    registry.add(ImportState.PROCESSING, token="import_1")
    registry.add(ImportState.PROCESSING, token="export_1", kind="export")
    registry.add(ImportState.SUCCEEDED, token="import_done")
    registry.add(ImportState.SUCCEEDED, token="export_done", kind="export")
    return registry


def test_an_export_is_aborted_by_abort_export_process(both: InMemoryImportRegistry) -> None:
    client = host(ON, registry=both).test_client()

    answer = client.post(export_url("export_1"), headers=AUTH, json={"reason": "wrong catalog"})

    assert (answer.status_code, answer.get_json()) == (200, {"success": True})
    snapshot = both.snapshot("export_1")
    assert (snapshot.abort_requested, snapshot.abort_reason) == (True, "wrong catalog")
    assert not both.snapshot("import_1").abort_requested


def test_a_token_of_one_kind_is_unknown_to_the_other_kinds_routes(
    both: InMemoryImportRegistry,
) -> None:
    client = host(ON, registry=both).test_client()

    body = assert_error_model(client.post(export_url("import_1"), headers=AUTH), 404, "30007")
    assert "export" in body["message"]
    assert_error_model(client.post(abort_url("export_1"), headers=AUTH), 404, "30007")
    assert_error_model(client.get(f"{EXPORTS}/import_1", headers=AUTH), 404, "30007")
    assert_error_model(client.get("/ccadmin/v1/importProcess/export_1", headers=AUTH), 404)
    # an ended process of the other kind is not found either, rather than finished
    assert_error_model(client.post(export_url("import_done"), headers=AUTH), 404, "30007")
    assert_error_model(client.post(abort_url("export_done"), headers=AUTH), 404, "30007")
    assert not both.snapshot("import_1").abort_requested
    assert not both.snapshot("export_1").abort_requested


def test_the_export_routes_answer_as_the_import_routes_do(both: InMemoryImportRegistry) -> None:
    client = host(ON, registry=both).test_client()

    body = assert_error_model(client.post(export_url("export_done"), headers=AUTH), 409, "30008")
    assert "export" in body["message"]
    assert_error_model(client.post(export_url("export_1")), 401, "00001000")
    assert_error_model(client.post(export_url("a b"), headers=AUTH), 400)
    method = assert_error_model(client.get(export_url("export_1"), headers=AUTH), 405, "30009")
    assert "export" in method["message"]
    options = client.options(export_url("export_1"))
    assert (options.status_code, options.headers["Allow"]) == (200, "OPTIONS, POST")
    answer = client.post(export_url("export_1"), headers=AUTH, data="[1]", content_type="text/x")
    assert_error_model(answer, 415)
    assert not both.snapshot("export_1").abort_requested


def test_the_messages_of_the_export_routes_are_translated(both: InMemoryImportRegistry) -> None:
    client = host(ON, registry=both).test_client()
    german = {**AUTH, "Accept-Language": "de"}

    body = assert_error_model(client.post(export_url("nope"), headers=german), 404, "30007")

    assert body["message"] == "Es gibt keinen Exportvorgang mit diesem Token."


def test_get_export_process_links_the_file_once_the_export_has_succeeded() -> None:
    registry = InMemoryImportRegistry()
    link = "https://files.example.com/exports/products.json"
    token = registry.register(kind="export", metadata={"format": "json", "fileLink": link})
    client = host(ON, registry=registry).test_client()
    registry.start(token)

    running = client.get(f"{EXPORTS}/{token}", headers=AUTH).get_json()
    assert [item["rel"] for item in running["links"]] == ["self", "abort"]
    assert running["links"][0]["href"] == f"{EXPORTS}/{token}"

    registry.finish(token, ImportState.SUCCEEDED)
    done = client.get(f"{EXPORTS}/{token}", headers=AUTH).get_json()
    assert done["progress"] == "succeeded"
    assert done["links"] == [
        {"rel": "self", "href": f"{EXPORTS}/{token}"},
        {"rel": "file", "href": link},
    ]


def test_the_export_routes_are_off_unless_turned_on(both: InMemoryImportRegistry) -> None:
    client = host({"IMPORT_ABORT_STATUS_ROUTE": True}, registry=both).test_client()

    assert client.post(export_url("export_1"), headers=AUTH).status_code == 404
    assert client.get(f"{EXPORTS}/export_1", headers=AUTH).status_code == 404
    assert not both.snapshot("export_1").abort_requested


def test_get_export_process_is_served_only_with_the_status_route(
    both: InMemoryImportRegistry,
) -> None:
    client = host({"IMPORT_ABORT_EXPORTS": True}, registry=both).test_client()

    assert client.post(export_url("export_1"), headers=AUTH).status_code == 200
    assert client.get(f"{EXPORTS}/export_1", headers=AUTH).status_code == 404


def test_the_export_prefix_is_a_list_whose_first_is_documented(
    both: InMemoryImportRegistry,
) -> None:
    prefixes = ["/ccadmin/v1/exportProcess", "/ccadminui/v1/exportProcess"]
    app = host({**ON, "IMPORT_ABORT_EXPORT_URL_PREFIX": prefixes}, registry=both)
    client = app.test_client()

    assert client.post(export_url("export_1", prefixes[1]), headers=AUTH).status_code == 200
    assert client.get(f"{prefixes[1]}/export_1", headers=AUTH).status_code == 200
    paths = client.get("/import-abort/openapi.json").get_json()["paths"]
    assert f"{prefixes[0]}/{{token}}/abort" in paths
    assert not any(path.startswith(prefixes[1]) for path in paths)


def test_a_registry_that_records_no_kinds_needs_one_for_exports() -> None:
    spy = SpyRegistry(AbortOutcome.REQUESTED)
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], IMPORT_ABORT_EXPORTS=True)

    with pytest.raises(ValueError, match="IMPORT_ABORT_EXPORT_REGISTRY"):
        ImportAbort(app, registry=spy)


class Recorder:
    """A host's registry that knows no kinds: it records each abort and what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, AbortRequest]] = []

    def abort(self, token: str, request: AbortRequest) -> AbortOutcome:
        self.calls.append((token, request))
        return AbortOutcome.REQUESTED


def test_a_registry_of_exports_alone_is_called_naming_no_kind() -> None:
    imports, exports = Recorder(), Recorder()
    config = {"IMPORT_ABORT_EXPORTS": True, "IMPORT_ABORT_EXPORT_REGISTRY": exports}
    client = host(config, registry=imports).test_client()

    assert client.post(export_url("e1"), headers=AUTH).status_code == 200
    assert client.post(abort_url("i1"), headers=AUTH).status_code == 200

    assert [(token, request.kind) for token, request in exports.calls] == [("e1", None)]
    assert [(token, request.kind) for token, request in imports.calls] == [
        ("i1", ProcessKind.IMPORT)
    ]


def test_export_prefixes_that_are_the_imports_are_refused(both: InMemoryImportRegistry) -> None:
    app = Flask("host")
    app.config.update(
        IMPORT_ABORT_BEARER_TOKENS=[SECRET],
        IMPORT_ABORT_EXPORTS=True,
        IMPORT_ABORT_EXPORT_URL_PREFIX="/ccadmin/v1/importProcess",
    )

    with pytest.raises(ValueError, match="prefixes of their own"):
        ImportAbort(app, registry=both)


@pytest.mark.parametrize("value", ["true", 1, None])
def test_exports_is_a_real_boolean(value: object, both: InMemoryImportRegistry) -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], IMPORT_ABORT_EXPORTS=value)

    with pytest.raises(TypeError, match="IMPORT_ABORT_EXPORTS must be True or False"):
        ImportAbort(app, registry=both)


def test_discovery_lists_the_export_operations_when_exports_are_on(
    both: InMemoryImportRegistry,
) -> None:
    config = {**ON, "IMPORT_ABORT_OCC_DISCOVERY": True}
    on = host(config, registry=both).test_client()
    off = host({"IMPORT_ABORT_OCC_DISCOVERY": True}, registry=both).test_client()

    listed = on.get("/ccadmin/v1/registry").get_json()["endpointMap"]
    assert (listed["abortExportProcess"]["url"], listed["abortExportProcess"]["method"]) == (
        f"{EXPORTS}/{{}}/abort",
        "POST",
    )
    assert (listed["getExportProcess"]["url"], listed["getExportProcess"]["method"]) == (
        f"{EXPORTS}/{{}}",
        "GET",
    )
    unlisted = off.get("/ccadmin/v1/registry").get_json()["endpointMap"]
    assert "abortExportProcess" not in unlisted
    assert "getExportProcess" not in unlisted


def test_the_document_lists_both_kinds_operations(both: InMemoryImportRegistry) -> None:
    document = host(ON, registry=both).test_client().get("/import-abort/openapi.json").get_json()
    operations = {
        operation["operationId"]
        for path in document["paths"].values()
        for method, operation in path.items()
        if isinstance(operation, dict) and "operationId" in operation
    }

    assert operations == {
        "abortImportProcess",
        "getImportProcess",
        "abortExportProcess",
        "getExportProcess",
    }


def test_a_failed_exports_error_speaks_of_an_export(both: InMemoryImportRegistry) -> None:
    client = host(ON, registry=both).test_client()
    both.finish("export_1", ImportState.FAILED)
    both.finish("import_1", ImportState.FAILED)

    exported = client.get(f"{EXPORTS}/export_1", headers=AUTH).get_json()["error"]
    imported = client.get("/ccadmin/v1/importProcess/import_1", headers=AUTH).get_json()["error"]

    assert (exported["title"], exported["detail"]) == (
        "The export failed.",
        "The export process reported a failure and stopped.",
    )
    assert imported["title"] == "The import failed."
