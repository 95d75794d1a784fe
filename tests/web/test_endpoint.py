"""The abort endpoint, row by row of its contract."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException, ServiceUnavailable, TooManyRequests

from flask_import_abort import AbortOutcome, ImportState, InMemoryImportRegistry
from flask_import_abort.endpoint._checks import DISCARD_BYTES
from flask_import_abort.endpoint._schemas import AbortImportProcessRequest
from flask_import_abort.errors import ImportAbortError

from ..helpers import AUTH, ExplodingStream, SpyRegistry, abort_url, assert_error_model

RUNNING = "ezzPxcPRmJIlXYCyOTQNT9HMacA_10000"


# Outcomes of the registry


def test_abort_of_running_import_is_200_success_and_sets_its_abort_flag(
    client: FlaskClient, registry: InMemoryImportRegistry
) -> None:
    response = client.post(abort_url(RUNNING), headers=AUTH)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"success": True}
    assert registry.should_stop(RUNNING)
    assert registry.state(RUNNING) is ImportState.PROCESSING  # it stops after its batch


def test_abort_of_pending_import_ends_it_aborted_at_once(
    client: FlaskClient, registry: InMemoryImportRegistry
) -> None:
    response = client.post(abort_url("pending_1"), headers=AUTH)

    assert response.get_json() == {"success": True}
    assert registry.state("pending_1") is ImportState.ABORTED


def test_repeated_abort_is_200_success_and_harmless(
    client: FlaskClient, registry: InMemoryImportRegistry
) -> None:
    first = client.post(abort_url(RUNNING), headers=AUTH)
    again = client.post(abort_url(RUNNING), headers=AUTH)

    assert first.status_code == again.status_code == 200
    assert again.get_json() == {"success": True}
    assert registry.snapshot(RUNNING).state is ImportState.PROCESSING


@pytest.mark.parametrize("outcome", [AbortOutcome.REQUESTED, AbortOutcome.ALREADY_REQUESTED])
def test_requested_and_already_requested_answer_success(
    spy_client: FlaskClient, spy: SpyRegistry, outcome: AbortOutcome
) -> None:
    spy.outcome = outcome

    response = spy_client.post(abort_url("t1"), headers=AUTH)

    assert response.status_code == 200
    assert response.get_json() == {"success": True}
    assert spy.calls == ["t1"]


def test_unknown_token_is_404_error_model(client: FlaskClient) -> None:
    body = assert_error_model(client.post(abort_url("no_such_import"), headers=AUTH), 404, "30007")

    assert body["o:errorPath"] == "token"
    assert "no_such_import" not in str(body)


@pytest.mark.parametrize("token", ["succeeded_1", "failed_1"])
def test_abort_of_finished_import_is_409_and_changes_nothing(
    client: FlaskClient, registry: InMemoryImportRegistry, token: str
) -> None:
    before = registry.snapshot(token)

    assert_error_model(client.post(abort_url(token), headers=AUTH), 409, "30008")

    assert registry.snapshot(token) == before


# Bodies that are valid requests


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (None, None),
        ("", None),
        ("", "application/json"),
        ("", "application/x-www-form-urlencoded"),  # curl -d ''
        ("", "text/plain"),
        ("{}", "application/json"),
        ("{}", None),
        ('{"reason": "wrong file", "nested": {"a": [1, 2]}}', "application/json"),
        ('{"a": 1}', "application/json; charset=utf-8"),
        ('{"a": 1}', "application/vnd.occ+json"),
    ],
)
def test_valid_bodies_reach_the_registry(
    spy_client: FlaskClient, spy: SpyRegistry, data: str | None, content_type: str | None
) -> None:
    response = spy_client.post(abort_url("t1"), headers=AUTH, data=data, content_type=content_type)

    assert response.status_code == 200
    assert response.get_json() == {"success": True}
    assert spy.calls == ["t1"]


@pytest.mark.parametrize(
    ("data", "loads"), [(None, 0), ("", 0), ("{}", 1), ('{"reason": "wrong file"}', 1)]
)
def test_the_body_schema_loads_only_a_body_that_was_sent(
    spy_client: FlaskClient,
    spy: SpyRegistry,
    monkeypatch: pytest.MonkeyPatch,
    data: str | None,
    loads: int,
) -> None:
    loaded: list[object] = []
    load = AbortImportProcessRequest.load

    def counted(schema: AbortImportProcessRequest, *args: Any, **kwargs: Any) -> Any:
        loaded.append(args)
        return load(schema, *args, **kwargs)

    monkeypatch.setattr(AbortImportProcessRequest, "load", counted)
    response = spy_client.post(
        abort_url("t1"), headers=AUTH, data=data, content_type="application/json"
    )

    assert response.status_code == 200
    assert len(loaded) == loads
    assert spy.calls == ["t1"]


CHUNKED = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}


@pytest.mark.parametrize(("data", "status"), [(b'{"from": "a chunked body"}', 200), (b"[1]", 400)])
def test_chunked_body_without_content_length_is_read_and_checked(
    spy_client: FlaskClient, spy: SpyRegistry, data: bytes, status: int
) -> None:
    response = spy_client.post(
        abort_url("t1"),
        headers=AUTH,
        input_stream=io.BytesIO(data),
        content_type="application/json",
        environ_overrides=CHUNKED,
    )

    assert response.status_code == status
    assert spy.calls == (["t1"] if status == 200 else [])


# Bodies that are refused before the registry is called


@pytest.mark.parametrize(
    ("data", "content_type", "dev_message"),
    [
        ("{", "application/json", "line 1, column 2"),
        ("{'a': 1}", "application/json", "double quotes"),
        ("{", None, "line 1, column 2"),
        (b"\xff\xfe\x00", "application/json", "not UTF-8"),
        ("[" * 10_000 + "]" * 10_000, "application/json", "nested too deeply"),
        ("   ", "application/json", "line 1"),
        ('{"n": ' + "9" * 5_000 + "}", "application/json", "number"),
    ],
)
def test_malformed_json_is_400_and_registry_not_called(
    spy_client: FlaskClient,
    spy: SpyRegistry,
    data: str | bytes,
    content_type: str | None,
    dev_message: str,
) -> None:
    response = spy_client.post(abort_url("t1"), headers=AUTH, data=data, content_type=content_type)

    body = assert_error_model(response, 400, "30002")
    assert dev_message in body["devMessage"]
    assert body["o:errorPath"] == "body"
    assert spy.calls == []


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ("[]", "array"),
        ('"abort"', "string"),
        ("42", "number"),
        ("null", "null"),
        ("true", "boolean"),
    ],
)
def test_json_that_is_not_an_object_is_400_and_registry_not_called(
    spy_client: FlaskClient, spy: SpyRegistry, data: str, kind: str
) -> None:
    response = spy_client.post(
        abort_url("t1"), headers=AUTH, data=data, content_type="application/json"
    )

    body = assert_error_model(response, 400, "30003")
    assert body["devMessage"] == f"The body is a JSON {kind}."
    assert spy.calls == []


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{}", "text/plain"),
        ("reason=wrong", "application/x-www-form-urlencoded"),
        ("<abort/>", "application/xml"),
        ("--x\r\n", "multipart/form-data; boundary=x"),
    ],
)
def test_non_empty_body_of_another_type_is_415_and_registry_not_called(
    spy_client: FlaskClient, spy: SpyRegistry, data: str, content_type: str
) -> None:
    response = spy_client.post(abort_url("t1"), headers=AUTH, data=data, content_type=content_type)

    assert_error_model(response, 415, "30004")
    assert spy.calls == []


def test_body_over_the_limit_is_413_without_reading_it(
    spy_client: FlaskClient, spy: SpyRegistry
) -> None:
    stream = ExplodingStream(allowed=0)

    response = spy_client.post(
        abort_url("t1"),
        headers=AUTH,
        input_stream=stream,
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": str(100 * 1024 * 1024)},
    )

    body = assert_error_model(response, 413, "30005")
    assert "65536" in body["devMessage"]
    assert stream.read_bytes == 0
    assert spy.calls == []


def test_chunked_body_over_the_limit_is_413_and_read_no_further_than_the_discard_bound(
    make_app: Any, spy: SpyRegistry
) -> None:
    client = make_app(registry=spy, max_body_bytes=1024).test_client()
    stream = ExplodingStream(allowed=2 * DISCARD_BYTES)  # endless, unless the reading stops

    response = client.post(
        abort_url("t1"),
        headers=AUTH,
        input_stream=stream,
        content_type="application/json",
        environ_overrides=CHUNKED,
    )

    assert_error_model(response, 413, "30005")
    assert stream.read_bytes == 1024 + DISCARD_BYTES  # at wsgi.input: the limit, 64 KiB more
    assert spy.calls == []


@pytest.mark.parametrize("length", [65_537, 65_536 + DISCARD_BYTES])
def test_a_refused_body_of_moderate_size_is_read_to_its_end_so_the_connection_can_stay_open(
    spy_client: FlaskClient, spy: SpyRegistry, length: int
) -> None:
    stream = io.BytesIO(b" " * length + b"next request")

    response = spy_client.post(
        abort_url("t1"),
        headers=AUTH,
        input_stream=stream,
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": str(length)},
    )

    assert_error_model(response, 413, "30005")
    assert stream.tell() == length  # all of it, and not a byte of what follows
    assert spy.calls == []


def test_body_at_the_limit_is_accepted(make_app: Any, spy: SpyRegistry) -> None:
    client = make_app(registry=spy, config={"IMPORT_ABORT_MAX_BODY_BYTES": 20}).test_client()
    exactly = '{"pad": "' + "x" * 9 + '"}'
    assert len(exactly) == 20

    assert client.post(abort_url("t1"), headers=AUTH, data=exactly).status_code == 200
    assert_error_model(client.post(abort_url("t1"), headers=AUTH, data=exactly + " "), 413, "30005")
    assert spy.calls == ["t1"]


def test_hosts_lower_max_content_length_also_answers_413_error_model(
    make_app: Any, spy: SpyRegistry
) -> None:
    client = make_app(registry=spy, config={"MAX_CONTENT_LENGTH": 10}).test_client()

    response = client.post(abort_url("t1"), headers=AUTH, json={"reason": "much too long"})

    assert_error_model(response, 413, "30005")
    assert spy.calls == []


# Tokens


@pytest.mark.parametrize(
    "token",
    [
        "x" * 257,
        "a%0Ab",  # newline
        "a%0D%0Ab",  # header/log injection
        "a%00b",
        "a%09b",  # tab
        "a%20b",  # space
        "a%C2%A0b",  # no-break space
        "a%E2%80%8Fb",  # right-to-left mark
        "a%7Fb",  # DEL
        "a%C0%AFb",  # overlong UTF-8, not decodable
    ],
)
def test_invalid_token_is_400_and_registry_not_called(
    spy_client: FlaskClient, spy: SpyRegistry, token: str
) -> None:
    body = assert_error_model(spy_client.post(abort_url(token), headers=AUTH), 400, "30001")

    assert body["o:errorPath"] == "token"
    assert spy.calls == []


def test_token_at_the_length_limit_reaches_the_registry(
    spy_client: FlaskClient, spy: SpyRegistry
) -> None:
    assert spy_client.post(abort_url("x" * 256), headers=AUTH).status_code == 200
    assert spy.calls == ["x" * 256]


@pytest.mark.parametrize("token", ["a.b-c~d", "%C3%A9t%C3%A9", "%F0%9F%93%A6", "%3Cscript%3E"])
def test_printable_tokens_of_a_hosts_own_form_reach_the_registry(
    spy_client: FlaskClient, spy: SpyRegistry, token: str
) -> None:
    assert spy_client.post(abort_url(token), headers=AUTH).status_code == 200
    assert len(spy.calls) == 1


def test_token_max_length_is_configurable(make_app: Any, spy: SpyRegistry) -> None:
    client = make_app(registry=spy, config={"IMPORT_ABORT_TOKEN_MAX_LENGTH": 8}).test_client()

    assert client.post(abort_url("12345678"), headers=AUTH).status_code == 200
    body = assert_error_model(client.post(abort_url("123456789"), headers=AUTH), 400, "30001")
    assert "at most 8" in body["devMessage"]
    assert spy.calls == ["12345678"]


# Methods


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "TRACE"])
def test_other_methods_are_405_error_model_with_allow_post(
    spy_client: FlaskClient, spy: SpyRegistry, method: str
) -> None:
    response = spy_client.open(abort_url("t1"), method=method, headers=AUTH)

    assert_error_model(response, 405, "30009")
    assert "POST" in response.headers["Allow"]
    assert spy.calls == []


def test_head_is_405_with_allow_post_and_no_body(spy_client: FlaskClient, spy: SpyRegistry) -> None:
    response = spy_client.head(abort_url("t1"))

    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert response.data == b""
    assert spy.calls == []


def test_options_lists_the_allowed_methods(spy_client: FlaskClient, spy: SpyRegistry) -> None:
    response = spy_client.options(abort_url("t1"))

    assert response.status_code == 200
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    assert spy.calls == []


def test_method_override_header_is_ignored(spy_client: FlaskClient, spy: SpyRegistry) -> None:
    response = spy_client.post(abort_url("t1"), headers={**AUTH, "X-HTTP-Method-Override": "GET"})

    assert response.status_code == 200
    assert spy.calls == ["t1"]


# Registry failures


def test_registry_exception_is_500_generic_error_model_logged_once_with_token(
    spy_client: FlaskClient, spy: SpyRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    spy.outcome = RuntimeError("database password is hunter2")

    with caplog.at_level(logging.INFO, logger="flask_import_abort"):
        response = spy_client.post(abort_url("tok_500"), headers=AUTH)

    body = assert_error_model(response, 500, "30010")
    text = response.get_data(as_text=True)
    for leak in ("hunter2", "RuntimeError", "Traceback", "tok_500"):
        assert leak not in text
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "tok_500" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert errors[0].exc_info[1] is spy.outcome
    assert body["message"] == ImportAbortError.message


@pytest.mark.parametrize("answer", [None, True, "requested", 1, AbortOutcome.REQUESTED.value])
def test_registry_answer_that_is_not_an_abort_outcome_is_500_and_logged(
    spy_client: FlaskClient, spy: SpyRegistry, caplog: pytest.LogCaptureFixture, answer: Any
) -> None:
    spy.outcome = answer

    with caplog.at_level(logging.INFO, logger="flask_import_abort"):
        response = spy_client.post(abort_url("t1"), headers=AUTH)

    assert_error_model(response, 500, "30010")
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "not an AbortOutcome" in errors[0].getMessage()


def test_registry_http_exception_keeps_status_and_headers(
    spy_client: FlaskClient, spy: SpyRegistry
) -> None:
    spy.outcome = ServiceUnavailable("The import database is restarting.", retry_after=30)

    response = spy_client.post(abort_url("t1"), headers=AUTH)

    body = assert_error_model(response, 503, "30011")
    assert response.headers["Retry-After"] == "30"
    assert body["message"] == "The import database is restarting."
    assert body["type"] == "https://www.rfc-editor.org/rfc/rfc9110#status.503"


def test_registry_http_exception_without_description_gets_its_status_phrase(
    spy_client: FlaskClient, spy: SpyRegistry
) -> None:
    spy.outcome = TooManyRequests(retry_after=5)
    spy.outcome.description = None

    body = assert_error_model(spy_client.post(abort_url("t1"), headers=AUTH), 429)

    assert body["message"] == "Too Many Requests"
    assert body["type"] == "https://www.rfc-editor.org/rfc/rfc6585#section-4"


def test_bare_http_exception_from_registry_is_500(
    spy_client: FlaskClient, spy: SpyRegistry
) -> None:
    spy.outcome = HTTPException()

    assert_error_model(spy_client.post(abort_url("t1"), headers=AUTH), 500, "30010")


@pytest.mark.parametrize(
    "raised", [asyncio.CancelledError(), GeneratorExit()], ids=lambda error: type(error).__name__
)
def test_a_library_base_exception_from_the_registry_is_a_500_error_model_logged_once(
    spy_client: FlaskClient, spy: SpyRegistry, caplog: pytest.LogCaptureFixture, raised: Any
) -> None:
    spy.outcome = raised

    with caplog.at_level(logging.ERROR, logger="flask_import_abort"):
        response = spy_client.post(abort_url("t1"), headers=AUTH)

    assert_error_model(response, 500, "30010")
    assert [record.exc_info[1] for record in caplog.records if record.exc_info] == [raised]


@pytest.mark.parametrize(
    "raised", [KeyboardInterrupt(), SystemExit(3)], ids=lambda error: type(error).__name__
)
def test_a_servers_own_stop_from_the_registry_goes_on_unanswered(
    spy_client: FlaskClient, spy: SpyRegistry, raised: BaseException
) -> None:
    spy.outcome = raised

    with pytest.raises(type(raised)) as stopped:
        spy_client.post(abort_url("t1"), headers=AUTH)
    assert stopped.value is raised


def test_next_request_after_a_registry_fault_succeeds(
    spy_client: FlaskClient, spy: SpyRegistry
) -> None:
    spy.outcome = RuntimeError("transient")
    assert spy_client.post(abort_url("t1"), headers=AUTH).status_code == 500

    spy.outcome = AbortOutcome.REQUESTED
    assert spy_client.post(abort_url("t1"), headers=AUTH).get_json() == {"success": True}


# Log line and signal


def test_each_answered_abort_logs_one_line_with_token_actor_and_outcome(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="flask_import_abort"):
        client.post(abort_url(RUNNING), headers=AUTH)

    lines = [r.getMessage() for r in caplog.records if r.name == "flask_import_abort"]
    assert lines == [f"abort of import process '{RUNNING}' by bearer-1: requested"]


def test_abort_answered_signal_carries_app_token_and_outcome(app: Any, client: FlaskClient) -> None:
    from flask_import_abort.signals import abort_answered

    received: list[tuple[Any, str, AbortOutcome]] = []

    def receiver(sender: Any, token: str, outcome: AbortOutcome) -> None:
        received.append((sender, token, outcome))

    with abort_answered.connected_to(receiver, app):
        client.post(abort_url(RUNNING), headers=AUTH)
        client.post(abort_url("succeeded_1"), headers=AUTH)
        client.post(abort_url("nothing_here"))  # unauthenticated: never reaches the registry

    assert received == [
        (app, RUNNING, AbortOutcome.REQUESTED),
        (app, "succeeded_1", AbortOutcome.FINISHED),
    ]


@pytest.mark.parametrize(
    "raised", [RuntimeError("receiver bug"), asyncio.CancelledError()], ids=repr
)
def test_a_signal_receiver_that_raises_is_logged_and_the_answer_stays_the_registrys(
    app: Any, client: FlaskClient, caplog: pytest.LogCaptureFixture, raised: BaseException
) -> None:
    from flask_import_abort.signals import abort_answered

    def receiver(sender: Any, **kwargs: Any) -> None:
        raise raised

    with (
        abort_answered.connected_to(receiver, app),
        caplog.at_level(logging.ERROR, logger="flask_import_abort"),
    ):
        made = client.post(abort_url(RUNNING), headers=AUTH)
        finished = client.post(abort_url("succeeded_1"), headers=AUTH)

    assert made.status_code == 200
    assert made.get_json() == {"success": True}
    assert_error_model(finished, 409, "30008")
    assert [record.exc_info[1] for record in caplog.records if record.exc_info] == [raised] * 2
    assert all("a receiver of abort_answered failed" in r.getMessage() for r in caplog.records)


# URL


def test_url_prefix_is_configurable_and_default_url_is_left_to_the_host(
    make_app: Any, spy: SpyRegistry
) -> None:
    client = make_app(
        registry=spy, config={"IMPORT_ABORT_URL_PREFIX": "/admin/imports/"}
    ).test_client()

    assert client.post(abort_url("t1", prefix="/admin/imports"), headers=AUTH).status_code == 200
    assert client.post(abort_url("t1"), headers=AUTH).status_code == 404
    assert spy.calls == ["t1"]


# Catalog errors raised elsewhere


def test_catalog_errors_render_as_error_model_wherever_they_are_raised(app: Any) -> None:
    from flask_import_abort.errors import ImportNotFound, NotAuthenticated

    @app.post("/host/imports/<token>/cancel")
    def cancel(token: str) -> str:
        raise NotAuthenticated(headers=[("WWW-Authenticate", "Bearer")])

    response = app.test_client().post("/host/imports/t1/cancel")

    assert_error_model(response, 401, "00001000")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    outside_any_app = ImportNotFound().get_response()
    assert outside_any_app.status_code == 404
    assert outside_any_app.get_json()["errorCode"] == "30007"
