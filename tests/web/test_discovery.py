"""OCC's discovery, opt-in (`IMPORT_ABORT_OCC_DISCOVERY`): `verify` with the version header and
`registry` with an `endpointMap` of the app's routes that carry an OCC operation id, under both of
OCC's roots, whatever the abort's prefix."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_import_abort import ImportAbort, InMemoryImportRegistry, occ_operation

from ..helpers import SECRET

ROOTS = ["/ccadmin/v1", "/ccadminui/v1"]
FIELDS = {
    "id",
    "method",
    "url",
    "hasPathParams",
    "authRequired",
    "requestType",
    "responseType",
    "localeHint",
}


def _app(**config: Any) -> Flask:
    app = Flask("host")
    app.config.update(
        IMPORT_ABORT_BEARER_TOKENS=[SECRET],
        IMPORT_ABORT_OCC_DISCOVERY=True,
        IMPORT_ABORT_STATUS_ROUTE=True,
        IMPORT_ABORT_URL_PREFIX=[f"{root}/importProcess" for root in ROOTS],
    )
    app.config.update(config)

    @app.post("/ccadmin/v1/importProcess")
    @occ_operation("executeImport")
    def execute_import() -> dict[str, str]:
        return {}

    @app.get("/host/untold")
    def untold() -> dict[str, str]:
        return {}

    ImportAbort(app, registry=InMemoryImportRegistry())
    return app


@pytest.mark.parametrize("root", ROOTS)
def test_verify_answers_the_version_header(root: str) -> None:
    answer = _app(IMPORT_ABORT_OCC_VERSION="24.3.1").test_client().get(f"{root}/verify")

    assert answer.status_code == 200
    assert answer.headers["OracleCommerceCloud-Version"] == "24.3.1"


def test_verify_answers_the_packages_version_by_default() -> None:
    answer = _app().test_client().get("/ccadmin/v1/verify")
    assert answer.headers["OracleCommerceCloud-Version"]


@pytest.mark.parametrize("root", ROOTS)
def test_the_registry_maps_each_operation_id_to_how_it_is_called_under_that_root(root: str) -> None:
    answer = _app().test_client().get(f"{root}/registry")
    endpoints = answer.get_json()["endpointMap"]

    assert answer.status_code == 200
    assert {"abortImportProcess", "getImportProcess", "executeImport"} <= set(endpoints)
    assert all(set(entry) == FIELDS for entry in endpoints.values())
    assert endpoints["abortImportProcess"] == {
        "id": "abortImportProcess",
        "method": "POST",
        "url": f"{root}/importProcess/{{}}/abort",
        "hasPathParams": True,
        "authRequired": True,
        "requestType": "application/json",
        "responseType": "application/json",
        "localeHint": "assetLanguageOptional",
    }
    assert endpoints["getImportProcess"]["url"] == f"{root}/importProcess/{{}}"
    assert endpoints["getImportProcess"]["method"] == "GET"
    # the host's route, served under one root only, is listed where it is
    assert endpoints["executeImport"]["url"] == "/ccadmin/v1/importProcess"
    assert endpoints["executeImport"]["hasPathParams"] is False
    assert "untold" not in str(endpoints)


def test_login_is_listed_where_sign_in_is_on_for_clients_that_look_it_up_first() -> None:
    off = _app().test_client().get("/ccadminui/v1/registry").get_json()["endpointMap"]
    on = (
        _app(
            IMPORT_ABORT_APPLICATION_KEYS={"ci": "ci-application-key"},
            IMPORT_ABORT_SIGNING_KEYS={"k1": "k" * 32},
        )
        .test_client()
        .get("/ccadminui/v1/registry")
        .get_json()["endpointMap"]
    )

    assert "login" not in off
    assert "refresh" not in off
    assert on["login"]["url"] == "/ccadminui/v1/login"
    assert (on["login"]["method"], on["login"]["authRequired"]) == ("POST", False)
    assert on["login"]["requestType"] == "application/x-www-form-urlencoded"
    assert on["refresh"]["authRequired"] is True


def test_discovery_lives_under_occs_roots_whatever_the_aborts_prefix() -> None:
    client = _app(IMPORT_ABORT_URL_PREFIX="/admin/imports").test_client()
    endpoints = client.get("/ccadminui/v1/registry").get_json()["endpointMap"]

    assert endpoints["abortImportProcess"]["url"] == "/admin/imports/{}/abort"


def test_discovery_is_off_by_default() -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET])
    ImportAbort(app, registry=InMemoryImportRegistry())
    client = app.test_client()

    assert client.get("/ccadmin/v1/verify").status_code == 404
    assert client.get("/ccadminui/v1/registry").status_code == 404


def test_a_host_route_on_registry_already_is_an_error_at_init_app() -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], IMPORT_ABORT_OCC_DISCOVERY=True)

    @app.get("/ccadmin/v1/registry")
    def hosts_registry() -> str:
        return "host"

    with pytest.raises(ValueError, match=r"IMPORT_ABORT_OCC_DISCOVERY.*hosts_registry"):
        ImportAbort(app, registry=InMemoryImportRegistry())


@pytest.mark.parametrize("value", ["true", 1, None])
def test_the_switch_is_a_real_bool(value: object) -> None:
    with pytest.raises(TypeError, match="IMPORT_ABORT_OCC_DISCOVERY"):
        _app(IMPORT_ABORT_OCC_DISCOVERY=value)


def test_an_operation_id_is_a_name() -> None:
    with pytest.raises(ValueError, match="operation id"):
        occ_operation("execute import")
