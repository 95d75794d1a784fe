"""Mounting the plugin changes nothing else in the host app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Blueprint, Flask, jsonify
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from werkzeug.exceptions import HTTPException

from flask_import_abort import ImportAbort, ImportState, InMemoryImportRegistry

from ..helpers import (
    AUTH,
    SECRET,
    abort_url,
    assert_answers_every_outcome,
    assert_error_model,
)

#: Requests a host answers on its own, including URLs next to the plugin's.
HOST_REQUESTS = [
    ("GET", "/hello"),
    ("POST", "/hello"),  # the host's own 405
    ("GET", "/no/such/page"),  # the host's own 404
    ("GET", "/boom"),  # the host's own 500
    ("GET", "/ccadmin/v1/importProcess/known_1"),  # the host's getImportProcess
    ("GET", "/ccadmin/v1/importProcess/unknown"),
    ("POST", "/ccadmin/v1/importProcess"),  # the host's executeImport
    ("GET", "/ccadmin/v1/importProcess"),
    ("POST", "/ccadmin/v1/importProcess/known_1/abort/extra"),
    ("POST", "/ccadmin/v1/importProcess/known_1/pause"),
    ("POST", "/ccadmin/v1/importProcess//abort"),
    ("POST", "/ccadmin/v1/importProcess/a%2Fb/abort"),
    ("GET", "/import-abort/openapi.jsonx"),
]


def _host_routes(app: Flask) -> None:
    @app.get("/hello")
    def hello() -> str:
        return "<h1>hello</h1>"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("host bug")

    @app.get("/ccadmin/v1/importProcess/<token>")
    def get_import_process(token: str) -> Any:
        if token != "known_1":
            return jsonify(message="not found"), 404
        return jsonify(progress="processing", completed=False)

    @app.post("/ccadmin/v1/importProcess")
    def execute_import() -> Any:
        return jsonify(processId="new_1", status="submitted")


def plain_host() -> Flask:
    """(a) A plain Flask host with its own HTML error pages."""
    app = Flask("plain_host")
    _host_routes(app)

    @app.errorhandler(404)
    def not_found(error: HTTPException) -> tuple[str, int]:
        return "<html><body>Nothing here, sorry.</body></html>", 404

    @app.errorhandler(500)
    def server_error(error: Exception) -> tuple[str, int]:
        return "<html><body>Our fault.</body></html>", 500

    return app


def smorest_host() -> tuple[Flask, Api]:
    """(b) A host with its own flask-smorest Api and blueprints."""
    app = Flask("smorest_host")
    app.config.update(API_TITLE="Host API", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    api = Api(app)
    pets = SmorestBlueprint("pets", __name__, url_prefix="/pets")

    @pets.route("/<int:pet_id>")
    @pets.response(200)
    def get_pet(pet_id: int) -> dict[str, int]:
        return {"id": pet_id}

    api.register_blueprint(pets)
    plain = Blueprint("plain", __name__)
    plain.add_url_rule("/hello", view_func=lambda: "<h1>hello</h1>")
    plain.add_url_rule("/boom", view_func=_boom)
    app.register_blueprint(plain)
    return app, api


def _boom() -> str:
    raise RuntimeError("host bug")


def handler_host(before_plugin: bool) -> Callable[[Callable[[Flask], None]], Flask]:
    """(c) A host with its own HTTPException and 404 handlers, set before or after mounting."""

    def build(mount: Callable[[Flask], None]) -> Flask:
        app = Flask("handler_host")
        _host_routes(app)

        def register_handlers() -> None:
            @app.errorhandler(HTTPException)
            def any_http_error(error: HTTPException) -> Any:
                return jsonify(hostError=error.code, name=error.name), error.code

            @app.errorhandler(404)
            def not_found(error: HTTPException) -> Any:
                return jsonify(hostError=404, name="host 404"), 404

        if before_plugin:
            register_handlers()
        mount(app)
        if not before_plugin:
            register_handlers()
        return app

    return build


def _registry() -> InMemoryImportRegistry:
    registry = InMemoryImportRegistry()
    registry.add(ImportState.PROCESSING, token="known_1")
    registry.add(ImportState.SUCCEEDED, token="done_1")
    return registry


def _mount(app: Flask, **kwargs: Any) -> None:
    app.config["IMPORT_ABORT_BEARER_TOKENS"] = [SECRET]
    ImportAbort(app, registry=_registry(), **kwargs)


def _answer(app: Flask, method: str, url: str) -> tuple[int, list[tuple[str, str]], bytes]:
    response = app.test_client().open(url, method=method)
    return response.status_code, sorted(response.headers.items()), response.data


def _assert_same_host_answers(without: Flask, with_plugin: Flask, requests: list[Any]) -> None:
    for method, url in requests:
        assert _answer(with_plugin, method, url) == _answer(without, method, url), (method, url)


def _assert_plugin_answers_in_error_model(app: Flask) -> None:
    assert_answers_every_outcome(app.test_client(), running="known_1", finished="done_1")


def test_plain_host_keeps_its_routes_and_html_error_pages() -> None:
    without, with_plugin = plain_host(), plain_host()
    _mount(with_plugin)

    _assert_same_host_answers(without, with_plugin, HOST_REQUESTS)
    assert b"Nothing here" in with_plugin.test_client().get("/no/such/page").data
    _assert_plugin_answers_in_error_model(with_plugin)


def test_smorest_host_keeps_its_routes_error_format_and_doc() -> None:
    (without, _), (with_plugin, api) = smorest_host(), smorest_host()
    _mount(with_plugin, api=api)

    requests = [*HOST_REQUESTS, ("GET", "/pets/1"), ("GET", "/pets/x"), ("DELETE", "/pets/1")]
    _assert_same_host_answers(without, with_plugin, requests)
    assert with_plugin.test_client().get("/pets/x").get_json()["status"] == "Not Found"
    _assert_plugin_answers_in_error_model(with_plugin)


def test_smorest_host_gets_no_second_openapi_url() -> None:
    app, api = smorest_host()
    _mount(app, api=api)

    assert app.test_client().get("/import-abort/openapi.json").status_code == 404


@pytest.mark.parametrize("before_plugin", [True, False], ids=["handlers-first", "plugin-first"])
def test_host_with_its_own_http_exception_handler_keeps_it(before_plugin: bool) -> None:
    build = handler_host(before_plugin)
    without, with_plugin = build(lambda app: None), build(_mount)

    _assert_same_host_answers(without, with_plugin, HOST_REQUESTS)
    assert with_plugin.test_client().get("/no/such/page").get_json() == {
        "hostError": 404,
        "name": "host 404",
    }
    _assert_plugin_answers_in_error_model(with_plugin)


@pytest.mark.parametrize("host_kind", ["plain", "smorest"])
@pytest.mark.parametrize(
    ("body", "status", "error_code"),
    [
        (b'{"reason": 42}', 400, "30013"),  # the schema refuses it (webargs)
        (b'{"reason": "x"', 400, "30002"),  # not JSON
        (b"[1]", 400, "30003"),
        (b"reason=x", 415, "30004"),
    ],
    ids=["schema", "malformed", "not an object", "not json"],
)
def test_a_body_the_plugin_refuses_never_reaches_the_hosts_error_handlers(
    host_kind: str, body: bytes, status: int, error_code: str
) -> None:
    called: list[int] = []
    if host_kind == "plain":
        app = plain_host()
        _mount(app)
    else:
        app, api = smorest_host()
        _mount(app, api=api)
    for code in (400, 415, 422):
        app.register_error_handler(code, lambda error, code=code: (called.append(code), "host")[1])
    content_type = "text/plain" if body == b"reason=x" else "application/json"

    answer = app.test_client().post(
        abort_url("known_1"), data=body, content_type=content_type, headers=AUTH
    )

    assert_error_model(answer, status, error_code)
    assert called == []


def test_an_unauthenticated_call_with_a_body_the_schema_refuses_is_a_401() -> None:
    app = plain_host()
    _mount(app)

    answer = app.test_client().post(abort_url("known_1"), json={"reason": 42})

    assert_error_model(answer, 401, "00001000")


def test_plugin_adds_no_app_wide_error_handlers_or_hooks_and_one_cli_group() -> None:
    without, with_plugin = plain_host(), plain_host()
    _mount(with_plugin)

    assert _handled(with_plugin) == _handled(without)
    assert with_plugin.before_request_funcs == without.before_request_funcs
    assert with_plugin.after_request_funcs == without.after_request_funcs
    assert with_plugin.teardown_request_funcs == without.teardown_request_funcs
    assert list(with_plugin.cli.commands) == [*without.cli.commands, "import-abort"]
    assert "flask-smorest" not in with_plugin.extensions


def _handled(app: Flask) -> dict[Any, dict[Any, list[str]]]:
    """Which exceptions have handlers, for every blueprint and the app."""
    return {
        name: {code: sorted(cls.__name__ for cls in handlers) for code, handlers in by_code.items()}
        for name, by_code in app.error_handler_spec.items()
        if any(by_code.values())
    }


def test_two_apps_in_one_process_keep_their_own_registries() -> None:
    first, second = Flask("first"), Flask("second")
    first_registry, second_registry = InMemoryImportRegistry(), InMemoryImportRegistry()
    first_registry.add(ImportState.PROCESSING, token="shared_token")
    second_registry.add(ImportState.SUCCEEDED, token="shared_token")
    extension = ImportAbort(bearer_tokens=[SECRET])
    extension.init_app(first, registry=first_registry)
    extension.init_app(second, registry=second_registry)

    assert first.test_client().post(abort_url("shared_token"), headers=AUTH).status_code == 200
    assert_error_model(
        second.test_client().post(abort_url("shared_token"), headers=AUTH), 409, "30008"
    )
    assert first_registry.should_stop("shared_token")
    assert not second_registry.snapshot("shared_token").abort_requested
    assert second_registry.state("shared_token") is ImportState.SUCCEEDED
