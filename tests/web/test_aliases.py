"""`IMPORT_ABORT_URL_PREFIX` as a list: the route under each prefix (OCC serves its admin API
under `/ccadmin/v1` and `/ccadminui/v1`), every answer the same, the first alone documented."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask_smorest import Api

from flask_import_abort import ImportAbort, ImportState, InMemoryImportRegistry, blp

from ..helpers import AUTH, SECRET, SpyRegistry, assert_answers_every_outcome

PREFIXES = ["/ccadmin/v1/importProcess", "/ccadminui/v1/importProcess"]
JSON = "application/json"


def _app(registry: Any, **config: Any) -> Flask:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], IMPORT_ABORT_URL_PREFIX=PREFIXES)
    app.config.update(config)
    ImportAbort(app, registry=registry)
    return app


def _running(registry: InMemoryImportRegistry) -> str:
    token = registry.register()
    registry.start(token)
    return token


#: Requests of every kind of answer, as (method, token, body, content type, headers).
REQUESTS = [
    ("POST", "known", None, None, AUTH),  # 200
    ("POST", "known", b"{}", JSON, AUTH),  # 200, the harmless repeat
    ("POST", "done", None, None, AUTH),  # 409
    ("POST", "no_such_import", None, None, AUTH),  # 404
    ("POST", "known", None, None, {}),  # 401
    ("POST", "known", None, None, {"Authorization": "Bearer wrong"}),  # 401
    ("POST", "a b", None, None, AUTH),  # 400 token
    ("POST", "known", b"[", JSON, AUTH),  # 400 malformed
    ("POST", "known", b"[]", JSON, AUTH),  # 400 not an object
    ("POST", "known", b'{"reason": "a\\nb"}', JSON, AUTH),  # 400 reason
    ("POST", "known", b"x" * 70_000, JSON, AUTH),  # 413
    ("POST", "known", b"a=b", "application/x-www-form-urlencoded", AUTH),  # 415
    ("GET", "known", None, None, AUTH),  # 405
    ("DELETE", "known", None, None, AUTH),  # 405
    ("OPTIONS", "known", None, None, AUTH),  # 405
]


@pytest.mark.parametrize("order", [PREFIXES, PREFIXES[::-1]], ids=["ccadmin first", "ui first"])
def test_every_answer_is_the_same_under_each_prefix(order: list[str]) -> None:
    answers: dict[str, list[tuple[int, Any, list[tuple[str, str]]]]] = {}
    for prefix in order:
        registry = InMemoryImportRegistry()
        known, done = _running(registry), _running(registry)
        registry.finish(done, ImportState.SUCCEEDED)
        client = _app(registry).test_client()
        tokens = {"known": known, "done": done}
        answers[prefix] = []
        for method, token, body, content_type, headers in REQUESTS:
            response = client.open(
                f"{prefix}/{tokens.get(token, token)}/abort",
                method=method,
                data=body,
                content_type=content_type,
                headers=headers,
            )
            kept = sorted((k, v) for k, v in response.headers.items() if k != "Content-Length")
            answers[prefix].append((response.status_code, response.get_json(), kept))
        assert registry.snapshot(known).abort_requested

    first, second = (answers[prefix] for prefix in order)
    assert first == second
    assert sorted({status for status, _, _ in first}) == [200, 400, 401, 404, 405, 409, 413, 415]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_contract_holds_under_each_prefix(prefix: str) -> None:
    registry = InMemoryImportRegistry()
    running, finished = _running(registry), _running(registry)
    registry.finish(finished, ImportState.SUCCEEDED)
    client = _app(registry).test_client()

    class UnderPrefix:
        """The test client, its abort URLs moved under ``prefix``."""

        def __getattr__(self, name: str) -> Any:
            call = getattr(client, name)
            default = PREFIXES[0]
            return lambda url, **kwargs: call(url.replace(default, prefix, 1), **kwargs)

    assert_answers_every_outcome(UnderPrefix(), running, finished)  # type: ignore[arg-type]


def test_the_openapi_document_has_the_first_prefix_alone() -> None:
    app = _app(SpyRegistry())
    document = app.test_client().get("/import-abort/openapi.json").get_json()

    assert list(document["paths"]) == ["/ccadmin/v1/importProcess/{token}/abort"]
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert [op["operationId"] for op in operations if "operationId" in op] == ["abortImportProcess"]


def test_a_hosts_api_documents_the_first_prefix_alone_and_the_blueprint_once() -> None:
    app = Flask("host")
    app.config.update(
        API_TITLE="host",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        IMPORT_ABORT_BEARER_TOKENS=[SECRET],
        IMPORT_ABORT_URL_PREFIX=PREFIXES,
        IMPORT_ABORT_REGISTRY=SpyRegistry(),
    )
    api = Api(app)
    api.register_blueprint(blp)

    assert list(app.blueprints) == ["import_abort"]
    paths = api.spec.to_dict()["paths"]
    assert [path for path in paths if "abort" in path] == [
        "/ccadmin/v1/importProcess/{token}/abort"
    ]
    assert app.test_client().post(
        "/ccadminui/v1/importProcess/t1/abort", headers=AUTH
    ).get_json() == {"success": True}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([], "empty list"),
        (["/a", "/a/"], "one prefix twice"),
        (["/a", "/t/<tenant>"], "converter"),
        (["/a", "b"], "starts with '/'"),
        (["/a", 7], "starts with '/'"),
    ],
)
def test_a_list_of_prefixes_that_makes_no_sense_fails_at_init_app(value: Any, says: str) -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_URL_PREFIX=value, IMPORT_ABORT_BEARER_TOKENS=[SECRET])

    with pytest.raises(ValueError, match=f"IMPORT_ABORT_URL_PREFIX.*{says}"):
        ImportAbort(app, registry=SpyRegistry())


def test_a_list_from_the_environment_is_read_as_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_IMPORT_ABORT_URL_PREFIX", '["/ccadmin/v1/x", "/ccadminui/v1/x"]')
    app = Flask("host")
    app.config.from_prefixed_env()
    app.config["IMPORT_ABORT_BEARER_TOKENS"] = [SECRET]
    ImportAbort(app, registry=SpyRegistry())

    assert app.test_client().post("/ccadminui/v1/x/t1/abort", headers=AUTH).status_code == 200
