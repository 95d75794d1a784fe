"""Who may call: configured bearer tokens, a host authorizer, or explicit anonymous access."""

from __future__ import annotations

import asyncio
import logging
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Request, session
from werkzeug.exceptions import Forbidden

from flask_import_abort import Identity, ImportAbort
from flask_import_abort.access._auth import BearerTokens

from ..helpers import AUTH, SECRET, SpyRegistry, abort_url, assert_error_model


def _host(spy: SpyRegistry, **config: Any) -> Flask:
    app = Flask("host")
    app.config.update(TESTING=True, **config)
    ImportAbort(app, registry=spy)
    return app


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {SECRET}x"},
        {"Authorization": f"Bearer {SECRET[:-1]}"},
        {"Authorization": f"Basic {SECRET}"},
        {"Authorization": f"Token {SECRET}"},
        {"Authorization": f"{SECRET}"},
        {"Authorization": "Bearer " + "A" * 65536},
        {"Authorization": f"Bearer {SECRET}, Bearer other"},  # two headers, as WSGI joins them
    ],
)
def test_missing_or_wrong_credentials_are_401_occ_error_and_registry_not_called(
    spy_client: Any, spy: SpyRegistry, headers: dict[str, str]
) -> None:
    response = spy_client.post(abort_url("t1"), headers=headers)

    body = assert_error_model(response, 401, "00001000")
    assert body["message"] == "The user is not authenticated."
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert SECRET not in response.get_data(as_text=True)
    assert spy.calls == []


def test_challenge_says_invalid_token_only_when_credentials_were_sent(spy_client: Any) -> None:
    without = spy_client.post(abort_url("t1"))
    wrong = spy_client.post(abort_url("t1"), headers={"Authorization": "Bearer nope"})

    assert without.headers["WWW-Authenticate"] == "Bearer"
    assert wrong.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_scheme_is_case_insensitive(spy_client: Any, spy: SpyRegistry, scheme: str) -> None:
    response = spy_client.post(abort_url("t1"), headers={"Authorization": f"{scheme} {SECRET}"})

    assert response.status_code == 200
    assert spy.calls == ["t1"]


def test_any_of_several_bearer_tokens_is_accepted(spy: SpyRegistry) -> None:
    client = _host(spy, IMPORT_ABORT_BEARER_TOKENS=["first", "second"]).test_client()

    for token in ("first", "second"):
        assert (
            client.post(abort_url("t1"), headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
    assert (
        client.post(abort_url("t1"), headers={"Authorization": "Bearer third"}).status_code == 401
    )
    assert spy.calls == ["t1", "t1"]


def test_a_single_string_is_one_bearer_token_not_its_characters(spy: SpyRegistry) -> None:
    client = _host(spy, IMPORT_ABORT_BEARER_TOKENS="abc").test_client()

    assert client.post(abort_url("t1"), headers={"Authorization": "Bearer a"}).status_code == 401
    assert client.post(abort_url("t1"), headers={"Authorization": "Bearer abc"}).status_code == 200


def test_bearer_tokens_compare_digests_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = __import__("hmac").compare_digest

    def spy_compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("flask_import_abort.access._auth.hmac.compare_digest", spy_compare)
    tokens = BearerTokens(["one", "two", "three"])

    assert tokens.match("Bearer one")
    # Every configured token is compared, as 32-byte digests whatever the lengths.
    assert len(compared) == 3
    assert {len(a) for pair in compared for a in pair} == {32}


def test_authorizer_that_accepts_lets_the_request_through(spy: SpyRegistry) -> None:
    seen: list[Request] = []

    def authorize(request: Request) -> bool:
        seen.append(request)
        return request.headers.get("X-Role") == "admin"

    client = _host(spy, IMPORT_ABORT_AUTHORIZE=authorize).test_client()

    assert client.post(abort_url("t1"), headers={"X-Role": "admin"}).status_code == 200
    assert_error_model(client.post(abort_url("t2"), headers={"X-Role": "guest"}), 401, "00001000")
    assert [request.path for request in seen] == [abort_url("t1"), abort_url("t2")]
    assert spy.calls == ["t1"]


def test_authorizer_may_answer_403(spy: SpyRegistry) -> None:
    def authorize(request: Request) -> bool:
        raise Forbidden("Only the catalog team may abort imports.")

    client = _host(spy, IMPORT_ABORT_AUTHORIZE=authorize).test_client()

    body = assert_error_model(client.post(abort_url("t1")), 403, "30006")
    assert body["message"] == "Only the catalog team may abort imports."
    assert spy.calls == []


def test_authorizer_given_as_import_string(spy: SpyRegistry) -> None:
    client = _host(spy, IMPORT_ABORT_AUTHORIZE="tests.web.test_auth:only_header_x").test_client()

    assert client.post(abort_url("t1"), headers={"X": "1"}).status_code == 200
    assert client.post(abort_url("t1")).status_code == 401


def only_header_x(request: Request) -> bool:
    return "X" in request.headers


def test_authorizer_failure_is_500_logged_and_registry_not_called(
    spy: SpyRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    def authorize(request: Request) -> bool:
        raise KeyError("session store down")

    client = _host(spy, IMPORT_ABORT_AUTHORIZE=authorize).test_client()

    with caplog.at_level(logging.ERROR, logger="flask_import_abort"):
        response = client.post(abort_url("t1"))

    assert_error_model(response, 500, "30010")
    assert "session store down" not in response.get_data(as_text=True)
    assert len(caplog.records) == 1
    assert spy.calls == []


def test_bearer_token_or_authorizer_either_suffices(spy: SpyRegistry) -> None:
    client = _host(
        spy, IMPORT_ABORT_BEARER_TOKENS=[SECRET], IMPORT_ABORT_AUTHORIZE=only_header_x
    ).test_client()

    assert client.post(abort_url("t1"), headers=AUTH).status_code == 200
    assert client.post(abort_url("t1"), headers={"X": "1"}).status_code == 200
    assert client.post(abort_url("t1")).status_code == 401


def test_anonymous_access_when_explicitly_allowed(spy: SpyRegistry) -> None:
    client = _host(spy, IMPORT_ABORT_ALLOW_ANONYMOUS=True).test_client()

    assert client.post(abort_url("t1")).status_code == 200
    assert spy.calls == ["t1"]


def test_nothing_configured_refuses_every_call_and_warns_how_to_configure(
    spy: SpyRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
        client = _host(spy).test_client()

    warning = caplog.records[0].getMessage()
    for key in (
        "IMPORT_ABORT_BEARER_TOKENS",
        "IMPORT_ABORT_AUTHORIZE",
        "IMPORT_ABORT_ALLOW_ANONYMOUS",
    ):
        assert key in warning
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
        assert_error_model(client.post(abort_url("t1"), headers=headers), 401, "00001000")
    assert spy.calls == []


def test_configured_access_does_not_warn(
    spy: SpyRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
        _host(spy, IMPORT_ABORT_BEARER_TOKENS=[SECRET])

    assert caplog.records == []


def test_authorization_runs_before_token_and_body_checks(spy_client: Any, spy: SpyRegistry) -> None:
    response = spy_client.post(abort_url("a%0Ab"), data="[", content_type="text/plain")

    assert_error_model(response, 401, "00001000")
    assert spy.calls == []


class NotAllowedAnswer:
    """What an authorizer might return when it meant to raise."""


@pytest.mark.parametrize(
    "answer",
    [
        False,
        None,
        1,
        NotAllowedAnswer(),
        Forbidden(),
        [True],
        # a string is never a yes, whatever it says
        "no",
        "false",
        "None",
        "0",
        "denied",
        "forbidden: viewer role",
        "jane@example.com",
        "",
    ],
    ids=repr,
)
def test_an_authorizer_lets_a_call_through_only_by_answering_true_or_an_identity(
    spy: SpyRegistry, answer: object
) -> None:
    client = _host(spy, IMPORT_ABORT_AUTHORIZE=lambda request: answer).test_client()

    assert_error_model(client.post(abort_url("t1")), 401, "00001000")
    assert spy.calls == []


@pytest.mark.parametrize(
    "name", ["", " ops ", "a\nb", "x" * 256, "right\u202eleft", "line\u2028break", 7]
)
def test_an_identity_that_could_not_be_recorded_is_refused_where_it_is_made(name: object) -> None:
    with pytest.raises(ValueError, match="Identity"):
        Identity(name)  # type: ignore[arg-type]


def test_an_authorizer_answering_true_lets_the_call_through(spy: SpyRegistry) -> None:
    client = _host(spy, IMPORT_ABORT_AUTHORIZE=lambda request: True).test_client()

    assert client.post(abort_url("t1")).status_code == 200
    assert spy.calls == ["t1"]


@pytest.mark.parametrize(
    "raised", [asyncio.CancelledError(), GeneratorExit()], ids=lambda error: type(error).__name__
)
def test_an_authorizer_raising_a_library_base_exception_is_a_500_error_model(
    spy: SpyRegistry, raised: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    def authorize(request: Request) -> bool:
        raise raised

    client = _host(spy, IMPORT_ABORT_AUTHORIZE=authorize).test_client()
    with caplog.at_level(logging.ERROR, logger="flask_import_abort"):
        response = client.post(abort_url("t1"))

    assert_error_model(response, 500, "30010")
    assert len(caplog.records) == 1
    assert spy.calls == []


def test_anonymous_access_logs_one_warning_at_start_up(
    spy: SpyRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
        _host(spy, IMPORT_ABORT_ALLOW_ANONYMOUS=True)

    assert len(caplog.records) == 1
    assert "IMPORT_ABORT_ALLOW_ANONYMOUS is on" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    ("environ", "status"), [("false", 401), ("true", 200)], ids=["false", "true"]
)
def test_anonymous_access_from_the_environment_is_what_the_variable_says(
    spy: SpyRegistry, monkeypatch: pytest.MonkeyPatch, environ: str, status: int
) -> None:
    monkeypatch.setenv("FLASK_IMPORT_ABORT_ALLOW_ANONYMOUS", environ)
    app = Flask("host")
    app.config.from_prefixed_env()
    ImportAbort(app, registry=spy)

    assert app.test_client().post(abort_url("t1")).status_code == status


@pytest.mark.parametrize("value", ["false", "False", "true", "no", "0", "", 0, 1, None])
def test_anonymous_access_that_is_not_a_boolean_fails_at_init_app_naming_the_key(
    spy: SpyRegistry, value: object
) -> None:
    app = Flask("host")
    app.config["IMPORT_ABORT_ALLOW_ANONYMOUS"] = value

    with pytest.raises(TypeError, match="IMPORT_ABORT_ALLOW_ANONYMOUS must be True or False"):
        ImportAbort(app, registry=spy)
    assert "import_abort" not in app.extensions


def _readme_recipe(section: str) -> str:
    """The first Python block of the documentation's section ``## section``."""
    pages = sorted((Path(__file__).parents[2] / "docs").glob("*.md"))
    docs = "".join(page.read_text() for page in pages)
    found = re.search(rf"^##? {section}\n.*?```python\n(.*?)```", docs, re.M | re.S)
    assert found, section
    return textwrap.dedent(found[1])


def test_the_readmes_csrf_recipe_refuses_a_cross_site_form_and_lets_json_through(
    spy: SpyRegistry,
) -> None:
    app = Flask("host")
    app.config.update(TESTING=True, SECRET_KEY="test-only")
    exec(_readme_recipe("Deploying"), {"app": app})  # noqa: S102 - the README's own lines
    ImportAbort(app, registry=spy)

    @app.post("/sign-in")
    def sign_in() -> str:
        session["is_admin"] = True
        return "signed in"

    client = app.test_client()
    assert client.post(abort_url("t1"), content_type="application/json").status_code == 401
    client.post("/sign-in")
    forged = [
        client.post(abort_url("t1"), content_type=kind)
        for kind in ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
    ]
    allowed = client.post(abort_url("t2"), content_type="application/json")

    for response in forged:
        assert_error_model(response, 401, "00001000")
    assert allowed.get_json() == {"success": True}
    assert spy.calls == ["t2"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Strict"
