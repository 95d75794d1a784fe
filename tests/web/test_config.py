"""Configuration through app.config and constructor arguments, and its failures at init_app."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask_smorest import Api

from flask_import_abort import AbortOutcome, ImportAbort, InMemoryImportRegistry, blp
from flask_import_abort._config import DEFAULTS, Config
from flask_import_abort.endpoint._settings import settings_of

from ..helpers import AUTH, SECRET, SpyRegistry, abort_url, assert_answers_every_outcome

#: A registry that config can name by import string.
shared_spy = SpyRegistry()


def _app(**config: Any) -> Flask:
    app = Flask("host")
    app.config.update(**config)
    return app


def test_defaults_are_set_on_app_config_where_missing() -> None:
    app = _app(IMPORT_ABORT_TOKEN_MAX_LENGTH=10)
    ImportAbort(app, registry=SpyRegistry())

    assert app.config["IMPORT_ABORT_TOKEN_MAX_LENGTH"] == 10
    for key, default in DEFAULTS.items():
        if key != Config.TOKEN_MAX_LENGTH.name:
            assert app.config[key] == default, key


def test_registry_from_config_object() -> None:
    spy = SpyRegistry()
    app = _app(IMPORT_ABORT_REGISTRY=spy, IMPORT_ABORT_BEARER_TOKENS=[SECRET])
    ImportAbort(app)

    assert app.test_client().post(abort_url("t1"), headers=AUTH).status_code == 200
    assert spy.calls == ["t1"]


def test_registry_from_config_import_string() -> None:
    shared_spy.calls.clear()
    app = _app(
        IMPORT_ABORT_REGISTRY="tests.web.test_config:shared_spy",
        IMPORT_ABORT_BEARER_TOKENS=[SECRET],
    )
    ImportAbort(app)

    assert app.test_client().post(abort_url("t9"), headers=AUTH).status_code == 200
    assert shared_spy.calls == ["t9"]


def test_init_app_argument_wins_over_constructor_and_config() -> None:
    config_spy, constructor_spy, argument_spy = SpyRegistry(), SpyRegistry(), SpyRegistry()
    app = _app(IMPORT_ABORT_REGISTRY=config_spy, IMPORT_ABORT_ALLOW_ANONYMOUS=True)
    ImportAbort(registry=constructor_spy).init_app(app, registry=argument_spy)

    app.test_client().post(abort_url("t1"))

    assert (config_spy.calls, constructor_spy.calls, argument_spy.calls) == ([], [], ["t1"])


def test_constructor_arguments_win_over_config() -> None:
    spy = SpyRegistry()
    app = _app(
        IMPORT_ABORT_BEARER_TOKENS=["from-config"],
        IMPORT_ABORT_URL_PREFIX="/config",
        IMPORT_ABORT_TOKEN_MAX_LENGTH=3,
    )
    ImportAbort(
        app,
        registry=spy,
        bearer_tokens=["from-argument"],
        url_prefix="/argument",
        token_max_length=5,
    )
    client = app.test_client()
    argument_auth = {"Authorization": "Bearer from-argument"}

    assert client.post("/argument/12345/abort", headers=argument_auth).status_code == 200
    assert (
        client.post(
            "/argument/12345/abort", headers={"Authorization": "Bearer from-config"}
        ).status_code
        == 401
    )
    assert client.post("/config/123/abort", headers=argument_auth).status_code == 404
    assert client.post("/argument/123456/abort", headers=argument_auth).status_code == 400
    assert spy.calls == ["12345"]


def test_no_registry_fails_at_init_app_with_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"needs an import registry.*IMPORT_ABORT_REGISTRY"):
        ImportAbort(_app())


class NoAbort:
    def cancel(self, token: str) -> AbortOutcome:
        return AbortOutcome.REQUESTED


@pytest.mark.parametrize(
    ("registry", "message"),
    [
        (NoAbort(), "must have an abort\\(token\\) method; NoAbort has none"),
        (object(), "must have an abort\\(token\\) method"),
        (SpyRegistry, "is the class SpyRegistry; give an instance"),
        ("tests.web.test_config:NoAbort", "is the class NoAbort"),
    ],
)
def test_registry_without_abort_fails_at_init_app(registry: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        ImportAbort(_app(), registry=registry)


@pytest.mark.parametrize("key", ["IMPORT_ABORT_REGISTRY", "IMPORT_ABORT_AUTHORIZE"])
@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "is an empty string"),
        ("   ", "is an empty string"),
        ("tests.no_such_module:registry", "does not import: ModuleNotFoundError"),
        ("tests.web.test_config:no_such_name", "does not import"),
        ("not a module path", "does not import"),
    ],
)
def test_an_import_string_that_does_not_import_fails_at_init_app_naming_the_key(
    key: str, value: str, says: str
) -> None:
    app = (
        _app(**{key: value}, IMPORT_ABORT_REGISTRY=SpyRegistry())
        if key.endswith("AUTHORIZE")
        else _app(**{key: value})
    )

    with pytest.raises(ValueError, match=f"{key}.*{says}"):
        ImportAbort(app)
    assert "import_abort" not in app.extensions


def test_second_init_app_on_the_same_app_is_a_clear_error() -> None:
    app = _app()
    extension = ImportAbort(registry=SpyRegistry())
    extension.init_app(app)

    with pytest.raises(RuntimeError, match="already set up on this app"):
        extension.init_app(app)
    with pytest.raises(RuntimeError, match="already set up on this app"):
        ImportAbort(app, registry=SpyRegistry())


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("IMPORT_ABORT_TOKEN_MAX_LENGTH", 0, ValueError),
        ("IMPORT_ABORT_TOKEN_MAX_LENGTH", "256", ValueError),
        ("IMPORT_ABORT_TOKEN_MAX_LENGTH", True, ValueError),
        ("IMPORT_ABORT_MAX_BODY_BYTES", -1, ValueError),
        ("IMPORT_ABORT_URL_PREFIX", "ccadmin", ValueError),
        ("IMPORT_ABORT_OPENAPI_URL", "openapi.json", ValueError),
        ("IMPORT_ABORT_BEARER_TOKENS", ["ok", ""], ValueError),
        ("IMPORT_ABORT_BEARER_TOKENS", [None], ValueError),
        ("IMPORT_ABORT_AUTHORIZE", 42, TypeError),
    ],
)
def test_settings_of_the_wrong_kind_fail_at_init_app_naming_the_key(
    key: str, value: Any, error: type[Exception]
) -> None:
    app = _app(**{key: value})

    with pytest.raises(error, match=key):
        ImportAbort(app, registry=SpyRegistry())
    assert "import_abort" not in app.extensions


def test_extension_keeps_no_app() -> None:
    extension = ImportAbort(registry=SpyRegistry())
    extension.init_app(_app())

    assert not any(isinstance(value, Flask) for value in vars(extension).values())


# The blueprint registered by hand


def test_blueprint_registered_by_hand_behaves_as_the_extension(
    registry: InMemoryImportRegistry,
) -> None:
    by_hand = _app(IMPORT_ABORT_REGISTRY=registry, IMPORT_ABORT_BEARER_TOKENS=[SECRET])
    by_hand.register_blueprint(blp)
    client = by_hand.test_client()

    assert_answers_every_outcome(client, running="pending_1", finished="succeeded_1")
    assert client.get("/import-abort/openapi.json").get_json()["paths"]


def test_blueprint_registered_by_hand_under_another_prefix_and_in_a_host_api() -> None:
    spy = SpyRegistry()
    app = _app(
        IMPORT_ABORT_REGISTRY=spy,
        IMPORT_ABORT_ALLOW_ANONYMOUS=True,
        API_TITLE="Host",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
    )
    api = Api(app)
    api.register_blueprint(blp, url_prefix="/v2/imports")

    assert app.test_client().post("/v2/imports/t1/abort").status_code == 200
    assert spy.calls == ["t1"]
    assert "/v2/imports/{token}/abort" in api.spec.to_dict()["paths"]
    assert "errorModel" in api.spec.to_dict()["components"]["schemas"]


def test_blueprint_registered_by_hand_without_registry_fails_clearly() -> None:
    with pytest.raises(RuntimeError, match="needs an import registry"):
        _app().register_blueprint(blp)


def test_blueprint_by_hand_then_extension_is_a_clear_error() -> None:
    app = _app(IMPORT_ABORT_REGISTRY=SpyRegistry())
    app.register_blueprint(blp)

    with pytest.raises(RuntimeError, match="already set up"):
        ImportAbort(app)


def test_anonymous_setting_is_read_once_at_init_app(caplog: pytest.LogCaptureFixture) -> None:
    spy = SpyRegistry()
    app = _app(IMPORT_ABORT_ALLOW_ANONYMOUS=False)
    with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
        ImportAbort(app, registry=spy)
    app.config["IMPORT_ABORT_ALLOW_ANONYMOUS"] = True

    assert app.test_client().post(abort_url("t1")).status_code == 401
    assert spy.calls == []


def test_settings_from_the_environment_are_read_through_from_prefixed_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLASK_IMPORT_ABORT_REGISTRY", "tests.web.test_config:shared_spy")
    monkeypatch.setenv("FLASK_IMPORT_ABORT_BEARER_TOKENS", '["one", "two"]')
    monkeypatch.setenv("FLASK_IMPORT_ABORT_URL_PREFIX", "/env/imports")
    monkeypatch.setenv("FLASK_IMPORT_ABORT_TOKEN_MAX_LENGTH", "8")
    shared_spy.calls.clear()
    app = _app()
    app.config.from_prefixed_env()
    ImportAbort(app)
    client = app.test_client()

    assert (
        client.post("/env/imports/t1/abort", headers={"Authorization": "Bearer two"}).status_code
        == 200
    )
    assert (
        client.post(
            "/env/imports/123456789/abort", headers={"Authorization": "Bearer one"}
        ).status_code
        == 400
    )
    assert shared_spy.calls == ["t1"]


def test_a_number_as_bearer_tokens_from_the_environment_fails_naming_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLASK_IMPORT_ABORT_BEARER_TOKENS", "12345")
    app = _app()
    app.config.from_prefixed_env()

    with pytest.raises(TypeError, match="IMPORT_ABORT_BEARER_TOKENS must be a string, a list"):
        ImportAbort(app, registry=SpyRegistry())


@pytest.mark.parametrize("prefix", ["/t/<tenant>", "/t/<int:tenant>/imports"])
def test_a_url_prefix_with_a_converter_is_refused_at_init_app(prefix: str) -> None:
    with pytest.raises(ValueError, match=r"IMPORT_ABORT_URL_PREFIX.*converter"):
        ImportAbort(_app(IMPORT_ABORT_URL_PREFIX=prefix), registry=SpyRegistry())


def test_the_blueprint_registered_a_second_time_under_another_name_is_a_clear_error() -> None:
    app = _app(IMPORT_ABORT_REGISTRY=SpyRegistry())
    app.register_blueprint(blp)

    with pytest.raises(RuntimeError, match="registered on this app already"):
        app.register_blueprint(blp, name="import_abort_again")
    abort_rules = [rule for rule in app.url_map.iter_rules() if rule.rule.endswith("/abort")]
    assert {rule.endpoint.partition(".")[0] for rule in abort_rules} == {"import_abort"}


def test_the_extension_then_the_blueprint_again_is_a_clear_error() -> None:
    app = _app()
    ImportAbort(app, registry=SpyRegistry())

    with pytest.raises(RuntimeError, match="registered on this app already"):
        app.register_blueprint(blp, name="second", url_prefix="/second")


def test_a_blueprint_registered_by_hand_mounts_under_the_configured_prefix() -> None:
    spy = SpyRegistry()
    app = _app(
        IMPORT_ABORT_REGISTRY=spy,
        IMPORT_ABORT_BEARER_TOKENS=[SECRET],
        IMPORT_ABORT_URL_PREFIX="/configured",
    )
    app.register_blueprint(blp)
    client = app.test_client()

    assert client.post("/configured/t1/abort", headers=AUTH).status_code == 200
    assert client.post(abort_url("t1"), headers=AUTH).status_code == 404
    assert spy.calls == ["t1"]


def test_a_register_blueprint_prefix_becomes_the_setting_when_none_is_configured() -> None:
    app = _app(IMPORT_ABORT_REGISTRY=SpyRegistry())
    app.register_blueprint(blp, url_prefix="/admin/imports/")

    assert app.extensions["import_abort"].url_prefix == "/admin/imports"
    assert app.config["IMPORT_ABORT_URL_PREFIX"] == "/ccadmin/v1/importProcess"  # the default


def test_a_register_blueprint_prefix_that_disagrees_with_the_configured_one_fails() -> None:
    app = _app(IMPORT_ABORT_REGISTRY=SpyRegistry(), IMPORT_ABORT_URL_PREFIX="/configured")

    with pytest.raises(ValueError, match=r"url_prefix='/other'.*IMPORT_ABORT_URL_PREFIX"):
        app.register_blueprint(blp, url_prefix="/other")
    assert not any(rule.rule.endswith("/abort") for rule in app.url_map.iter_rules())


def test_a_host_api_that_is_not_initialised_fails_early_and_clearly() -> None:
    app = _app(API_TITLE="Host", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    api = Api()

    with pytest.raises(RuntimeError, match=r"not initialised on this app: call Api\(app\)"):
        ImportAbort(app, registry=SpyRegistry(), api=api)
    assert "import_abort" not in app.extensions


def test_the_settings_of_an_app_hold_its_registry() -> None:
    spy = SpyRegistry()
    app = _app(IMPORT_ABORT_ALLOW_ANONYMOUS=True)
    ImportAbort(app, registry=spy)

    assert settings_of(app).registry is spy
    assert app.extensions["import_abort"].registry is spy
