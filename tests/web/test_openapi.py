"""The operation's OpenAPI description, alone or in a host's document."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask_smorest import Api

from flask_import_abort import ImportAbort, InMemoryImportRegistry

PATH = "/ccadmin/v1/importProcess/{token}/abort"
#: POST never answers 405: the other methods do, as the path's description says.
ERROR_STATUSES = ["400", "401", "403", "404", "409", "413", "415", "500", "503"]
ERROR_MODEL_DESCRIPTIONS = {
    "devMessage": "An optional non-localized message containing technical information for "
    "developers",
    "errorCode": "The numerical code identifying the error",
    "errors": "An optional list of errors if multiple errors were encountered",
    "message": "The localized message describing the error",
    "moreInfo": "An optional non-localized message with more information",
    "o:errorPath": "An optional machine readable description of where the error occurred",
    "status": "The HTTP status code",
    "type": "The URI to the HTTP state code definition",
}


def _own_spec(**config: Any) -> dict[str, Any]:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=["a-token"], **config)
    ImportAbort(app, registry=InMemoryImportRegistry())
    response = app.test_client().get("/import-abort/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()  # type: ignore[no-any-return]


def _host_spec(openapi_version: str = "3.0.3") -> dict[str, Any]:
    app = Flask("host")
    app.config.update(
        API_TITLE="Host",
        API_VERSION="1",
        OPENAPI_VERSION=openapi_version,
        IMPORT_ABORT_BEARER_TOKENS=["a-token"],
    )
    api = Api(app)
    ImportAbort(app, registry=InMemoryImportRegistry(), api=api)
    return api.spec.to_dict()  # type: ignore[no-any-return]


@pytest.fixture(params=["own", "host"])
def spec(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _own_spec() if request.param == "own" else _host_spec()


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = spec["components"][kind][name]
    return node


def test_operation_is_abort_import_process_with_its_summary(spec: dict[str, Any]) -> None:
    path = spec["paths"][PATH]
    operation = path["post"]

    assert operation["operationId"] == "abortImportProcess"
    assert operation["summary"] == "Abort Import Process"
    # The 405 rule is not an operation: the path's description tells of it.
    assert set(path) - {"parameters", "description"} == {"post"}
    token = next(p for p in path["parameters"] if p["name"] == "token")
    assert token["in"] == "path"
    assert token["required"] is True
    assert token["description"].startswith("Token corresponding to the import process.")


def test_request_and_success_bodies_use_the_reference_schema_names(spec: dict[str, Any]) -> None:
    operation = spec["paths"][PATH]["post"]
    body = operation["requestBody"]
    success = operation["responses"]["200"]["content"]["application/json"]

    assert body["required"] is False
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/abortImportProcess_request"
    }
    assert success["schema"] == {"$ref": "#/components/schemas/abortImportProcess_response"}
    response_schema = spec["components"]["schemas"]["abortImportProcess_response"]
    assert response_schema["properties"]["success"] == {
        "type": "boolean",
        "description": "Returns true if we pass abort command to import process.",
    }


def test_every_error_status_and_default_point_at_error_model(spec: dict[str, Any]) -> None:
    responses = spec["paths"][PATH]["post"]["responses"]

    assert set(responses) == {"200", "default", *ERROR_STATUSES}
    for status in [*ERROR_STATUSES, "default"]:
        response = _resolve(spec, responses[status])
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/errorModel"
        }, status
    assert _resolve(spec, responses["default"])["description"] == "The error response"


def test_error_model_fields_carry_the_reference_descriptions(spec: dict[str, Any]) -> None:
    properties = spec["components"]["schemas"]["errorModel"]["properties"]

    assert {name: field["description"] for name, field in properties.items()} == (
        ERROR_MODEL_DESCRIPTIONS
    )
    assert properties["errors"]["type"] == "array"
    assert {field["type"] for name, field in properties.items() if name != "errors"} == {"string"}


def test_operation_names_the_bearer_scheme(spec: dict[str, Any]) -> None:
    assert spec["paths"][PATH]["post"]["security"] == [{"bearerAuth": []}]
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }


class _OAuthAuthorizer:
    """An authorizer that says how it authorizes, as the identity provider's does."""

    security_schemes = {  # noqa: RUF012
        "idp": {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "https://idp.invalid/token",
                    "scopes": {"import:abort": "Abort imports.", "import:read": "Read them."},
                }
            },
        }
    }

    def security_requirement(self, operation: str) -> dict[str, list[str]]:
        return {"idp": ["import:read" if operation == "getImportProcess" else "import:abort"]}

    def __call__(self, request: Any) -> bool:
        return False


@pytest.mark.parametrize(
    ("config", "security", "schemes"),
    [
        ({"IMPORT_ABORT_ALLOW_ANONYMOUS": True}, [], set()),
        ({"IMPORT_ABORT_BEARER_TOKENS": ["a-token"]}, [{"bearerAuth": []}], {"bearerAuth"}),
        (
            {
                "IMPORT_ABORT_APPLICATION_KEYS": {"ci": "an-application-key"},
                "IMPORT_ABORT_SIGNING_KEYS": {"k1": "k" * 32},
            },
            [{"bearerAuth": []}],
            {"bearerAuth"},
        ),
        ({"IMPORT_ABORT_AUTHORIZE": lambda request: False}, None, set()),
        ({"IMPORT_ABORT_AUTHORIZE": _OAuthAuthorizer()}, [{"idp": ["import:abort"]}], {"idp"}),
        (
            {"IMPORT_ABORT_AUTHORIZE": _OAuthAuthorizer(), "IMPORT_ABORT_BEARER_TOKENS": ["t"]},
            [{"bearerAuth": []}, {"idp": ["import:abort"]}],
            {"bearerAuth", "idp"},
        ),
    ],
    ids=["anonymous", "bearer tokens", "sign-in", "a session authorizer", "oauth", "both"],
)
def test_the_document_describes_the_authorization_really_configured(
    config: dict[str, Any], security: Any, schemes: set[str]
) -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_STATUS_ROUTE=True, **config)
    ImportAbort(app, registry=InMemoryImportRegistry())
    spec = app.test_client().get("/import-abort/openapi.json").get_json()

    abort = spec["paths"][PATH]["post"]
    status = spec["paths"][PATH.removesuffix("/abort")]["get"]
    assert abort.get("security", None) == security
    if security:
        read = [
            {
                name: [scope.replace("abort", "read") for scope in scopes]
                for name, scopes in one.items()
            }
            for one in security
        ]
        assert status["security"] == read
    assert set(spec["components"].get("securitySchemes", {})) == schemes


def test_host_api_keeps_its_own_components_and_operations() -> None:
    spec = _host_spec()

    assert spec["info"]["title"] == "Host"
    assert "DEFAULT_ERROR" not in spec["paths"][PATH]["post"]["responses"]
    assert spec["tags"] == [
        {
            "name": "import_abort",
            "description": "Abort an import process (Oracle Commerce Cloud's abortImportProcess).",
        }
    ]


def test_openapi_2_host_document_is_valid_for_its_version() -> None:
    spec = _host_spec("2.0")
    responses = spec["paths"][PATH]["post"]["responses"]

    assert spec["swagger"] == "2.0"
    not_found = spec["responses"][responses["404"]["$ref"].removeprefix("#/responses/")]
    assert not_found["schema"] == {"$ref": "#/definitions/errorModel"}
    assert not_found["headers"]["Content-Language"] == {
        "description": "The language of `message`, such as `en`, `de` or `pt-BR`.",
        "type": "string",
    }
    assert responses["default"] == {"$ref": "#/responses/errorModel"}
    assert spec["responses"]["errorModel"]["schema"] == {"$ref": "#/definitions/errorModel"}
    assert spec["securityDefinitions"]["bearerAuth"]["type"] == "apiKey"


def test_own_document_follows_the_url_prefix() -> None:
    spec = _own_spec(IMPORT_ABORT_URL_PREFIX="/admin/imports")

    assert list(spec["paths"]) == ["/admin/imports/{token}/abort"]


def test_own_document_url_is_configurable_and_can_be_turned_off() -> None:
    app = Flask("host")
    app.config.update(
        IMPORT_ABORT_ALLOW_ANONYMOUS=True, IMPORT_ABORT_OPENAPI_URL="/docs/abort.json"
    )
    ImportAbort(app, registry=InMemoryImportRegistry())
    off = Flask("host")
    off.config.update(IMPORT_ABORT_ALLOW_ANONYMOUS=True, IMPORT_ABORT_OPENAPI_URL=None)
    ImportAbort(off, registry=InMemoryImportRegistry())

    assert app.test_client().get("/docs/abort.json").get_json()["openapi"] == "3.0.3"
    assert app.test_client().get("/import-abort/openapi.json").status_code == 404
    assert [rule.rule for rule in off.url_map.iter_rules() if "openapi" in rule.rule] == []


def test_own_document_is_rendered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from flask_import_abort.endpoint import _openapi as openapi

    app = Flask("host")
    app.config.update(IMPORT_ABORT_ALLOW_ANONYMOUS=True)
    ImportAbort(app, registry=InMemoryImportRegistry())
    builds: list[Flask] = []
    real_build = openapi.build_spec
    monkeypatch.setattr(
        openapi, "build_spec", lambda app, blp: builds.append(app) or real_build(app, blp)
    )
    client = app.test_client()

    first, second = (
        client.get("/import-abort/openapi.json"),
        client.get("/import-abort/openapi.json"),
    )

    assert first.data == second.data
    assert len(builds) == 1
