"""The served OpenAPI document, as third-party tools read it: validators, linters, clients.

The linters are the npm packages of ``tools/openapi`` (``make test`` installs them there).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import marshmallow as ma
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_smorest import Api, Blueprint
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from werkzeug.exceptions import Forbidden, Unauthorized

from flask_import_abort import ImportAbort, ImportState, InMemoryImportRegistry
from flask_import_abort.access.oidc import OIDCAuthorizer
from flask_import_abort.errors import RegistryUnavailable

from ..helpers import AUTH, SECRET, SpyRegistry, abort_url
from ..servers import demo

pytestmark = pytest.mark.slow  # real servers, workers or tools: run once, on the newest Python

ROOT = Path(__file__).parents[2]
TOOLS = ROOT / "tools" / "openapi"
PATH = "/ccadmin/v1/importProcess/{token}/abort"
HOST_INFO = {
    "description": "The host's admin API.",
    "contact": {"name": "Host team", "url": "https://host.invalid/support"},
    "license": {"name": "Proprietary", "url": "https://host.invalid/license"},
}


def own_document(app: Flask) -> dict[str, Any]:
    response = app.test_client().get(app.config["IMPORT_ABORT_OPENAPI_URL"])
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def own_app(registry: Any = None, **config: Any) -> Flask:
    app = Flask("own")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], **config)
    ImportAbort(app, registry=registry if registry is not None else InMemoryImportRegistry())
    return app


def host_app(*, with_plugin: bool = True, openapi_version: str = "3.0.3") -> tuple[Flask, Api]:
    """A host with a flask-smorest ``Api`` of its own, whose document is complete by the
    linters' rules: info, servers, a route of its own, the plugin joined to it."""
    app = Flask("host")
    app.config.update(
        API_TITLE="Host",
        API_VERSION="1",
        OPENAPI_VERSION=openapi_version,
        API_SPEC_OPTIONS={"info": HOST_INFO}
        if openapi_version == "2.0"
        else {"info": HOST_INFO, "servers": [{"url": "/", "description": "This server"}]},
        IMPORT_ABORT_BEARER_TOKENS=[SECRET],
    )
    api = Api(app)
    # The host's own scheme, which the plugin's operation shares by its name.
    api.spec.components.security_scheme(
        "bearerAuth",
        {"type": "apiKey", "in": "header", "name": "Authorization"}
        if openapi_version == "2.0"
        else {"type": "http", "scheme": "bearer"},
    )
    products = Blueprint("products", __name__, description="The host's products.")

    class Query(ma.Schema):
        limit = ma.fields.Integer(metadata={"description": "How many products, at most."})

    class Product(ma.Schema):
        id = ma.fields.String(metadata={"description": "The product's id."})

    @products.get("/products")
    @products.arguments(Query, location="query")
    @products.response(200, Product(many=True), description="The products.")
    @products.doc(
        operationId="listProducts",
        summary="List products",
        description="The host's products.",
        security=[{"bearerAuth": []}],
    )
    def list_products(query: dict[str, Any]) -> list[dict[str, str]]:
        return []

    if with_plugin:  # registered first: the document's tags stay in alphabetical order
        ImportAbort(app, registry=InMemoryImportRegistry(), api=api)
    api.register_blueprint(products)
    return app, api


def _linter(name: str) -> Path:
    found = TOOLS / "node_modules" / ".bin" / name
    assert found.exists(), f"{found} is missing: `make test` installs it (npm ci in {TOOLS})"
    return found


def redocly(document: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    """Redocly CLI's problems with ``document`` under its recommended rules."""
    source = tmp_path / "redocly-openapi.json"
    source.write_text(json.dumps(document))
    done = subprocess.run(
        [
            _linter("redocly"),
            "lint",
            "--config",
            TOOLS / "redocly.yaml",
            "--format",
            "json",
            source,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"},
    )
    report = json.loads(done.stdout[done.stdout.index("{") :])
    problems: list[dict[str, Any]] = report["problems"]
    assert done.returncode == (1 if any(p["severity"] == "error" for p in problems) else 0)
    return [{"rule": p["ruleId"], "message": p["message"]} for p in problems]


def spectral(document: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    """Spectral's problems with ``document`` under every rule of ``spectral:oas``."""
    source = tmp_path / "spectral-openapi.json"
    source.write_text(json.dumps(document))
    done = subprocess.run(
        [
            *(_linter("spectral"), "lint", "--ruleset", TOOLS / "spectral.yaml"),
            *("--format", "json", "--fail-severity", "hint", "--quiet", source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    problems = json.loads(done.stdout or "[]")
    assert done.returncode == (1 if problems else 0), done.stderr
    return [{"rule": p["code"], "path": ".".join(map(str, p["path"]))} for p in problems]


#: What each linter says of a document without servers, the declared tag, and a full info.
LACKS = {
    "redocly": {"no-empty-servers", "info-license"},
    "spectral": {"oas3-api-servers", "operation-tag-defined", "info-contact", "info-license"},
}
LINTERS: dict[str, Callable[[dict[str, Any], Path], list[dict[str, Any]]]] = {
    "redocly": redocly,
    "spectral": spectral,
}


# -- validators and linters ------------------------------------------------------------------


def test_every_document_is_valid_to_openapi_spec_validator() -> None:
    for settings in DOCUMENTED_SETTINGS.values():
        validate(own_document(own_app(**settings)))
    validate(
        own_document(own_app(IMPORT_ABORT_URL_PREFIX="/admin", IMPORT_ABORT_TOKEN_MAX_LENGTH=64))
    )
    validate(host_app()[1].spec.to_dict())
    validate(host_app(openapi_version="2.0")[1].spec.to_dict())


#: Settings that change the document: the operations it lists, and how they are authorized.
DOCUMENTED_SETTINGS = {
    "abort": {},
    "abort and status": {"IMPORT_ABORT_STATUS_ROUTE": True},
    "anonymous": {"IMPORT_ABORT_ALLOW_ANONYMOUS": True, "IMPORT_ABORT_STATUS_ROUTE": True},
    "sign-in": {
        "IMPORT_ABORT_APPLICATION_KEYS": {"ci": "an-application-key"},
        "IMPORT_ABORT_SIGNING_KEYS": {"k1": "k" * 32},
        "IMPORT_ABORT_STATUS_ROUTE": True,
    },
    "exports": {"IMPORT_ABORT_EXPORTS": True, "IMPORT_ABORT_STATUS_ROUTE": True},
    "exports, aliases": {
        "IMPORT_ABORT_EXPORTS": True,
        "IMPORT_ABORT_EXPORT_URL_PREFIX": [
            "/ccadmin/v1/exportProcess",
            "/ccadminui/v1/exportProcess",
        ],
    },
    "an identity provider": {
        "IMPORT_ABORT_EXPORTS": True,
        "IMPORT_ABORT_AUTHORIZE": OIDCAuthorizer(
            issuer="https://login.example.com",
            audience="urn:imports",
            jwks_url="https://login.example.com/jwks",
            token_url="https://login.example.com/token",
        ),
        "IMPORT_ABORT_STATUS_ROUTE": True,
    },
}


@pytest.mark.parametrize("settings", DOCUMENTED_SETTINGS)
@pytest.mark.parametrize("linter", LINTERS)
def test_the_plugins_own_document_has_no_problem(
    linter: str, settings: str, tmp_path: Path
) -> None:
    document = own_document(own_app(**DOCUMENTED_SETTINGS[settings]))
    assert LINTERS[linter](document, tmp_path) == []


@pytest.mark.parametrize("linter", LINTERS)
def test_joining_a_hosts_document_adds_no_problem(linter: str, tmp_path: Path) -> None:
    """The host's document has the problems flask-smorest gives it (an unused
    ``PaginationMetadata`` schema); with the plugin joined, it has those and no other."""
    alone = LINTERS[linter](host_app(with_plugin=False)[1].spec.to_dict(), tmp_path)
    joined = LINTERS[linter](host_app()[1].spec.to_dict(), tmp_path)

    assert joined == alone
    assert all("PaginationMetadata" in json.dumps(problem) for problem in joined)


@pytest.mark.parametrize("linter", LINTERS)
def test_the_linters_find_what_the_document_once_lacked(linter: str, tmp_path: Path) -> None:
    """They do run their rules: without servers, the declared tag and info, they complain."""
    document = own_document(own_app())
    del document["servers"], document["tags"]
    document["info"] = {"title": document["info"]["title"], "version": "1"}
    rules = {problem["rule"] for problem in LINTERS[linter](document, tmp_path)}

    assert rules >= LACKS[linter]


def test_the_token_schema_follows_the_settings() -> None:
    document = own_document(own_app(IMPORT_ABORT_TOKEN_MAX_LENGTH=64))
    (token,) = document["paths"][PATH]["parameters"]
    schema = token["schema"]

    assert (schema["minLength"], schema["maxLength"]) == (1, 64)
    pattern = re.compile(schema["pattern"])
    assert pattern.search("ezzPxcPRmJIlXYCyOTQNT9HMacA_10000")
    for refused in ["%02s", "a/b", "a b", ".", "..", "é"]:
        assert not pattern.search(refused), refused


def test_405_is_described_for_the_methods_it_answers_not_under_post() -> None:
    path = own_document(own_app())["paths"][PATH]

    assert "405" not in path["post"]["responses"]
    assert "405" in path["description"]
    assert "Allow: OPTIONS, POST" in path["description"]


# -- every answer, validated against the document by openapi-core ----------------------------

FINISHED, RUNNING = "finished_1", "running_1"


def _registry() -> InMemoryImportRegistry:
    registry = InMemoryImportRegistry()
    registry.add(ImportState.PROCESSING, token=RUNNING)
    registry.add(ImportState.SUCCEEDED, token=FINISHED)
    return registry


def _forbid(request: Any) -> bool:
    raise Forbidden()


def _unauthorized(request: Any) -> bool:
    raise Unauthorized()


#: Each status the endpoint answers: the app's settings and registry, and the request.
ANSWERS: dict[str, tuple[dict[str, Any], Any, Callable[[FlaskClient], Any]]] = {
    "200": ({}, None, lambda client: client.post(abort_url(RUNNING), headers=AUTH)),
    "200 reason": (
        {},
        None,
        lambda client: client.post(abort_url(RUNNING), headers=AUTH, json={"reason": "Wrong"}),
    ),
    "400 token": ({}, None, lambda client: client.post(abort_url("a%20b"), headers=AUTH)),
    "400 body": (
        {},
        None,
        lambda client: client.post(
            abort_url(RUNNING), headers=AUTH, data="{", content_type="application/json"
        ),
    ),
    "401": ({}, None, lambda client: client.post(abort_url(RUNNING))),
    "401 wrong": (
        {},
        None,
        lambda client: client.post(abort_url(RUNNING), headers={"Authorization": "Bearer no"}),
    ),
    "401 authorizer": (
        {"IMPORT_ABORT_BEARER_TOKENS": [], "IMPORT_ABORT_AUTHORIZE": _unauthorized},
        None,
        lambda client: client.post(abort_url(RUNNING)),
    ),
    "403": (
        {"IMPORT_ABORT_BEARER_TOKENS": [], "IMPORT_ABORT_AUTHORIZE": _forbid},
        None,
        lambda client: client.post(abort_url(RUNNING)),
    ),
    "404": ({}, None, lambda client: client.post(abort_url("no_such"), headers=AUTH)),
    "404 German": (
        {},
        None,
        lambda client: client.post(
            abort_url("no_such"), headers={**AUTH, "Accept-Language": "de-DE"}
        ),
    ),
    "409": ({}, None, lambda client: client.post(abort_url(FINISHED), headers=AUTH)),
    "413": (
        {"IMPORT_ABORT_MAX_BODY_BYTES": 8},
        None,
        lambda client: client.post(abort_url(RUNNING), headers=AUTH, json={"reason": "x" * 20}),
    ),
    "415": (
        {},
        None,
        lambda client: client.post(
            abort_url(RUNNING), headers=AUTH, data="stop", content_type="text/plain"
        ),
    ),
    "500": (
        {},
        SpyRegistry(RuntimeError("the registry broke")),
        lambda client: client.post(abort_url(RUNNING), headers=AUTH),
    ),
    "503": (
        {},
        SpyRegistry(RegistryUnavailable(retry_after=7)),
        lambda client: client.post(abort_url(RUNNING), headers=AUTH),
    ),
}


@pytest.mark.parametrize("document", ["own", "host"])
@pytest.mark.parametrize("answer", ANSWERS)
def test_every_answer_is_valid_against_the_document(
    answer: str, document: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings, registry, send = ANSWERS[answer]
    app = Flask(document)
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET])
    app.config.update(settings)
    registry = registry if registry is not None else _registry()
    if document == "own":
        ImportAbort(app, registry=registry)
        spec = own_document(app)
    else:
        app.config.update(API_TITLE="Host", API_VERSION="1", OPENAPI_VERSION="3.0.3")
        api = Api(app)
        ImportAbort(app, registry=registry, api=api)
        spec = api.spec.to_dict()

    response = send(app.test_client())

    assert response.status_code == int(answer[:3])
    # The view has read the body; on Python before 3.12 openapi-core reads it again (its
    # isinstance check on a Protocol evaluates every property), so rewind what was sent.
    response.request.environ["wsgi.input"].seek(0)
    OpenAPI.from_dict(spec).validate_response(
        WerkzeugOpenAPIRequest(response.request), WerkzeugOpenAPIResponse(response)
    )


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head", "trace"])
def test_the_405_of_other_methods_is_what_the_document_describes(method: str) -> None:
    app = own_app(_registry())
    document = own_document(app)
    error_model = _resolved(document, document["components"]["schemas"]["errorModel"])

    response = app.test_client().open(abort_url(RUNNING), method=method.upper(), headers=AUTH)

    assert response.status_code == 405
    assert response.headers["Allow"] == "OPTIONS, POST"
    assert response.headers["Content-Language"] == "en"
    if method != "head":
        OAS30Validator(error_model).validate(response.get_json())
        assert response.get_json()["errorCode"] == "30009"


def _resolved(document: dict[str, Any], node: Any) -> Any:
    """``node`` with every ``$ref`` of the document replaced by what it points at."""
    if isinstance(node, dict):
        if "$ref" in node:
            kind, name = node["$ref"].split("/")[-2:]
            return _resolved(document, document["components"][kind][name])
        return {key: _resolved(document, value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolved(document, value) for value in node]
    return copy.deepcopy(node)


def test_options_answers_the_allowed_methods() -> None:
    response = own_app(_registry()).test_client().options(abort_url(RUNNING))

    assert response.status_code == 200
    assert response.headers["Allow"] == "OPTIONS, POST"


# -- schemathesis's own CLI, every check -----------------------------------------------------


def test_schemathesis_cli_with_every_check_passes_against_the_example(tmp_path: Path) -> None:
    """``st run -c all`` against the example app served for real, with and without
    credentials: every generated request gets an answer the document describes."""
    env = {
        "DEMO_BEARER_TOKEN": SECRET,
        "FLASK_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'imports.db'}",
    }
    st = Path(sys.executable).with_name("st")
    with demo(tmp_path / "demo.log", env) as server:
        url = f"http://{server.host}/import-abort/openapi.json"
        for headers in (["-H", f"Authorization: Bearer {SECRET}"], []):
            done = subprocess.run(
                [st, "run", url, "-c", "all", "--max-examples", "200", "--seed", "15", *headers],
                capture_output=True,
                text=True,
                timeout=300,
                cwd=tmp_path,  # where the CLI keeps its cache
            )
            assert done.returncode == 0, done.stdout[-4000:]
            generated = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
            assert generated is not None, done.stdout[-2000:]
            assert generated[1] == generated[2]
            assert int(generated[1]) >= 200
