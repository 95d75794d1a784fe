"""Hostile requests: each gets its expected answer, and none goes further than it may."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_import_abort import AbortOutcome, ImportAbort

from ..helpers import AUTH, PREFIX, SECRET, SpyRegistry, assert_error_model, host

VALID = "import_1"
JSON = "application/json"
CHUNKED = (("HTTP_TRANSFER_ENCODING", "chunked"), ("wsgi.input_terminated", True))


@dataclass(frozen=True)
class Hostile:
    name: str
    status: int
    #: The errorCode of the answer; None where the host answers (its own 404 page).
    code: str | None
    #: The token's path segment exactly as sent, percent-encoding and all.
    segment: str = VALID
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = tuple(AUTH.items())
    body: bytes | None = None
    content_type: str | None = None
    environ: tuple[tuple[str, Any], ...] = ()
    #: The token the registry is asked about; None where it must not be called at all.
    reaches: str | None = None
    #: The language of the errorModel's message (its Content-Language).
    language: str = "en"


def _nested(depth: int, opening: str, closing: str) -> bytes:
    return (opening * depth + "1" + closing * depth).encode()


CORPUS = [
    # Tokens.
    Hostile("token of 10 KB", 400, "30001", segment="a" * 10_240),
    Hostile("token one past the limit", 400, "30001", segment="a" * 257),
    Hostile("NUL", 400, "30001", segment="%00"),
    Hostile("NUL inside", 400, "30001", segment="abc%00def"),
    Hostile("line feed", 400, "30001", segment="%0a"),
    Hostile("CRLF header injection", 400, "30001", segment="x%0d%0aSet-Cookie:%20evil=1"),
    Hostile("CRLF then a page", 400, "30001", segment="%0d%0a%0d%0a%3Chtml%3E"),
    Hostile("log line forgery", 400, "30001", segment="t%0aINFO%20abort%20ok"),
    Hostile("dot dot", 400, "30001", segment="%2e%2e"),
    Hostile("dot", 400, "30001", segment="%2e"),
    Hostile("encoded slash", 404, None, segment="a%2Fb"),
    Hostile("path traversal", 404, None, segment="..%2F..%2Fetc%2Fpasswd"),
    Hostile("quotes", 404, "30007", segment="%27%22", reaches="'\""),
    Hostile("script tag", 404, "30007", segment="%3Cscript%3Ealert(1)", reaches="<script>alert(1)"),
    Hostile("SQL with spaces", 400, "30001", segment="x%27%20OR%20%271%27=%271"),
    Hostile("SQL without spaces", 404, "30007", segment="1%27;DROP--", reaches="1';DROP--"),
    Hostile("emoji", 404, "30007", segment="%F0%9F%98%80", reaches="\U0001f600"),
    Hostile("right-to-left mark", 400, "30001", segment="abc%E2%80%8F"),
    Hostile("right-to-left override", 400, "30001", segment="%E2%80%AEcba"),
    Hostile("zero-width space", 400, "30001", segment="a%E2%80%8Bb"),
    Hostile("next-line control", 400, "30001", segment="a%C2%85b"),
    Hostile("overlong UTF-8 dot", 400, "30001", segment="%C0%AE%C0%AE"),
    Hostile("overlong UTF-8 slash", 400, "30001", segment="%C0%AF"),
    Hostile("byte that is never UTF-8", 400, "30001", segment="a%FFb"),
    Hostile("space", 400, "30001", segment="a%20b"),
    Hostile("tab", 400, "30001", segment="a%09b"),
    # Bodies.
    Hostile("array", 400, "30003", body=b"[]", content_type=JSON),
    Hostile("string", 400, "30003", body=b'"abort"', content_type=JSON),
    Hostile("number", 400, "30003", body=b"42", content_type=JSON),
    Hostile("null", 400, "30003", body=b"null", content_type=JSON),
    Hostile("true", 400, "30003", body=b"true", content_type=JSON),
    Hostile(
        "10,000 nested objects", 400, "30002", body=_nested(10_000, '{"a":', "}"), content_type=JSON
    ),
    Hostile(
        "10,000 nested arrays", 400, "30002", body=_nested(10_000, "[", "]"), content_type=JSON
    ),
    Hostile(
        "duplicate keys", 404, "30007", body=b'{"a": 1, "a": 2}', content_type=JSON, reaches=VALID
    ),
    Hostile("invalid UTF-8", 400, "30002", body=b'{"a": "\xff\xfe"}', content_type=JSON),
    Hostile("truncated JSON", 400, "30002", body=b'{"a": ', content_type=JSON),
    Hostile("UTF-16", 400, "30002", body='{"a": 1}'.encode("utf-16"), content_type=JSON),
    Hostile(
        "UTF-16 without a BOM", 400, "30002", body='{"a":1}'.encode("utf-16-le"), content_type=JSON
    ),
    Hostile("UTF-32", 400, "30002", body='{"a": 1}'.encode("utf-32"), content_type=JSON),
    # Reasons that valid JSON carries and no log line, terminal or database should.
    *(
        Hostile(name, 400, "30013", body=json.dumps({"reason": reason}).encode(), content_type=JSON)
        for name, reason in [
            ("reason with a lone surrogate", "\ud800 abort"),
            ("reason with a low surrogate", "abort \udfff"),
            ("reason with a line separator", "one\u2028two"),
            ("reason with a paragraph separator", "one\u2029two"),
            ("reason with a right-to-left override", "txt.\u202eexe"),
            ("reason with a left-to-right isolate", "a\u2066b\u2069"),
            ("reason with an Arabic letter mark", "a\u061cb"),
            ("reason with a right-to-left mark", "a\u200fb"),
        ]
    ),
    Hostile(
        "100 MB declared, a few bytes sent",
        413,
        "30005",
        body=b"{}",
        content_type=JSON,
        environ=(("CONTENT_LENGTH", str(100 * 1024 * 1024)),),
    ),
    Hostile(
        "chunked object",
        404,
        "30007",
        body=b"{}",
        content_type=JSON,
        environ=CHUNKED,
        reaches=VALID,
    ),
    Hostile(
        "chunked, past the limit",
        413,
        "30005",
        body=b" " * 70_000 + b"{}",
        content_type=JSON,
        environ=CHUNKED,
    ),
    Hostile("past the limit", 413, "30005", body=b" " * 65_536 + b"{}", content_type=JSON),
    Hostile("text body", 415, "30004", body=b"abort", content_type="text/plain"),
    Hostile(
        "form body", 415, "30004", body=b"a=1", content_type="application/x-www-form-urlencoded"
    ),
    # Reasons.
    Hostile(
        "reason of 501 characters",
        400,
        "30013",
        body=b'{"reason": "' + b"x" * 501 + b'"}',
        content_type=JSON,
    ),
    Hostile(
        "reason of 100 KB",
        413,
        "30005",
        body=b'{"reason": "' + b"x" * 100_000 + b'"}',
        content_type=JSON,
    ),
    Hostile("reason as a number", 400, "30013", body=b'{"reason": 42}', content_type=JSON),
    Hostile("reason as null", 400, "30013", body=b'{"reason": null}', content_type=JSON),
    Hostile("reason as an object", 400, "30013", body=b'{"reason": {"a": 1}}', content_type=JSON),
    Hostile("reason with a NUL", 400, "30013", body=b'{"reason": "a\\u0000b"}', content_type=JSON),
    Hostile(
        "reason with a line feed",
        400,
        "30013",
        body=b'{"reason": "a\\nINFO forged"}',
        content_type=JSON,
    ),
    Hostile(
        "reason with an escape sequence",
        400,
        "30013",
        body=b'{"reason": "\\u001b[2J cleared"}',
        content_type=JSON,
    ),
    Hostile(
        "reason with a C1 control", 400, "30013", body=b'{"reason": "a\\u0085b"}', content_type=JSON
    ),
    Hostile(
        "reason twice, the last one bad",
        400,
        "30013",
        body=b'{"reason": "fine", "reason": "bad\\n"}',
        content_type=JSON,
    ),
    Hostile(
        "reason in many scripts",
        404,
        "30007",
        body=json.dumps({"reason": "Prix erronés 価格 \U0001f600"}).encode(),
        content_type=JSON,
        reaches=VALID,
    ),
    # Credentials.
    Hostile("no Authorization", 401, "00001000", headers=()),
    Hostile("empty Authorization", 401, "00001000", headers=(("Authorization", ""),)),
    Hostile("Bearer without a token", 401, "00001000", headers=(("Authorization", "Bearer"),)),
    Hostile("Bearer and a space", 401, "00001000", headers=(("Authorization", "Bearer "),)),
    Hostile("another scheme", 401, "00001000", headers=(("Authorization", "Basic dGVzdDp0ZXN0"),)),
    Hostile(
        "the secret as Basic", 401, "00001000", headers=(("Authorization", f"Basic {SECRET}"),)
    ),
    Hostile(
        "a 64 KB token", 401, "00001000", headers=(("Authorization", "Bearer " + "A" * 65_536),)
    ),
    Hostile(
        "the secret and more", 401, "00001000", headers=(("Authorization", f"Bearer {SECRET} x"),)
    ),
    Hostile("two Authorization headers", 401, "00001000", headers=tuple(AUTH.items()) * 2),
    # Methods.
    Hostile(
        "GET overridden to POST",
        405,
        "30009",
        method="GET",
        headers=(*AUTH.items(), ("X-HTTP-Method-Override", "POST")),
    ),
    Hostile(
        "POST overridden to GET",
        404,
        "30007",
        headers=(*AUTH.items(), ("X-HTTP-Method-Override", "GET")),
        reaches=VALID,
    ),
    Hostile(
        "POST overridden to DELETE",
        404,
        "30007",
        headers=(*AUTH.items(), ("X-HTTP-Method-Override", "DELETE")),
        reaches=VALID,
    ),
    Hostile("PUT", 405, "30009", method="PUT"),
    Hostile("TRACE", 405, "30009", method="TRACE"),
    # Languages: a long but well-formed header is read; a bad one falls back to the default,
    # never an error.
    *(
        Hostile(
            name,
            404,
            "30007",
            headers=(*AUTH.items(), (header, value)),
            reaches=VALID,
            language=language,
        )
        for name, header, value, language in [
            ("Accept-Language of many tags", "Accept-Language", "x-private," * 100 + "de", "de"),
            (
                "X-CCAsset-Language of 9 subtags",
                "X-CCAsset-Language",
                "de-" + "-".join("a" * 9),
                "de",
            ),
        ]
    ),
    *(
        Hostile(
            name,
            404,
            "30007",
            headers=(*AUTH.items(), (header, value)),
            reaches=VALID,
        )
        for name, header, value in [
            ("Accept-Language of 10 KB", "Accept-Language", "de-DE," * 1700),
            ("Accept-Language malformed", "Accept-Language", ";;;q=abc,,,=de"),
            ("Accept-Language unknown", "Accept-Language", "tlh, x-klingon;q=0.9, sjn"),
            ("Accept-Language with a q past 1", "Accept-Language", "de;q=2, fr;q=nan"),
            ("Accept-Language as a script tag", "Accept-Language", "<script>alert(1)</script>"),
            ("Accept-Language of Traditional Chinese", "Accept-Language", "zh-TW, zh-Hant"),
            ("X-CCAsset-Language of 10 KB", "X-CCAsset-Language", "de" * 5120),
            ("X-CCAsset-Language as a path", "X-CCAsset-Language", "../../../etc/passwd"),
            ("X-CCAsset-Language with a NUL", "X-CCAsset-Language", "de\x00ja"),
            ("X-CCAsset-Language empty", "X-CCAsset-Language", ""),
        ]
    ),
    Hostile(
        "Accept-Language with a CRLF, from a server that lets it through",
        404,
        "30007",
        environ=(("HTTP_ACCEPT_LANGUAGE", "de\r\nSet-Cookie: evil=1"),),
        reaches=VALID,
    ),
]


@pytest.fixture
def spy() -> SpyRegistry:
    return SpyRegistry(AbortOutcome.NOT_FOUND)


@pytest.fixture
def client(spy: SpyRegistry) -> FlaskClient:
    return host(registry=spy).test_client()


def send(client: FlaskClient, case: Hostile) -> Any:
    return client.open(
        f"{PREFIX}/{case.segment}/abort",
        method=case.method,
        headers=list(case.headers),
        data=case.body,
        content_type=case.content_type,
        environ_overrides=dict(case.environ),
    )


def test_the_corpus_is_large_and_every_case_named_once() -> None:
    assert len(CORPUS) >= 40
    assert len({case.name for case in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_hostile_request_gets_its_answer_and_reaches_the_registry_only_when_it_may(
    client: FlaskClient, spy: SpyRegistry, case: Hostile, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = send(client, case)

    if case.code is None:
        assert response.status_code == case.status
        assert response.mimetype == "text/html"  # the host's own page, as without the plugin
    else:
        assert_error_model(response, case.status, case.code)
        assert response.headers["Content-Language"] == case.language
    assert spy.calls == ([] if case.reaches is None else [case.reaches])

    body = response.get_data(as_text=True)
    assert len(body) < 1024
    for sent in [case.segment, *(value for _, value in case.headers)]:
        if len(sent) > 8:  # no echo of what was sent, not even of a part of it
            assert sent[:100] not in body
            assert sent[-100:] not in body
    for record in caplog.records:
        message = record.getMessage()
        assert "\n" not in message
        assert "\r" not in message
        assert len(message) < 400


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_hostile_request_to_the_export_route_gets_the_same_answer(
    spy: SpyRegistry, case: Hostile
) -> None:
    """The export route answers the corpus as the import route does: the same statuses and
    codes, the host's own page where the import route gives it, its registry reached only
    when it may."""
    config = {"IMPORT_ABORT_EXPORTS": True, "IMPORT_ABORT_EXPORT_REGISTRY": spy}
    imports = SpyRegistry(AbortOutcome.NOT_FOUND)
    client = host(config, registry=imports).test_client()

    response = client.open(
        f"/ccadmin/v1/exportProcess/{case.segment}/abort",
        method=case.method,
        headers=list(case.headers),
        data=case.body,
        content_type=case.content_type,
        environ_overrides=dict(case.environ),
    )

    if case.code is None:
        assert response.status_code == case.status
        assert response.mimetype == "text/html"
    else:
        assert_error_model(response, case.status, case.code)
    assert spy.calls == ([] if case.reaches is None else [case.reaches])
    assert imports.calls == []


@dataclass(frozen=True)
class HostileSetting:
    """A setting as an environment, a secrets file or a typo gives it: refused at init_app."""

    name: str
    key: str
    value: Any
    error: type[Exception]


SETTINGS_CORPUS = [
    HostileSetting("anonymous as the string false", "ALLOW_ANONYMOUS", "false", TypeError),
    HostileSetting("anonymous as the string False", "ALLOW_ANONYMOUS", "False", TypeError),
    HostileSetting("anonymous as the string 0", "ALLOW_ANONYMOUS", "0", TypeError),
    HostileSetting("anonymous as the number 1", "ALLOW_ANONYMOUS", 1, TypeError),
    HostileSetting("token with a trailing newline", "BEARER_TOKENS", [f"{SECRET}\n"], ValueError),
    HostileSetting("token with a leading space", "BEARER_TOKENS", [f" {SECRET}"], ValueError),
    HostileSetting("one token string with a newline", "BEARER_TOKENS", f"{SECRET}\n", ValueError),
    HostileSetting("token with a space inside", "BEARER_TOKENS", ["two words"], ValueError),
    HostileSetting("token as a number", "BEARER_TOKENS", 12345, TypeError),
    HostileSetting("tokens as a number in a list", "BEARER_TOKENS", [12345], ValueError),
    HostileSetting("an empty registry string", "REGISTRY", "", ValueError),
    HostileSetting("a registry that does not import", "REGISTRY", "no.such:thing", ValueError),
    HostileSetting("exports as the string true", "EXPORTS", "true", TypeError),
    HostileSetting("exports as the number 1", "EXPORTS", 1, TypeError),
    HostileSetting("an export prefix with a converter", "EXPORT_URL_PREFIX", "/t/<x>", ValueError),
    HostileSetting("a relative export prefix", "EXPORT_URL_PREFIX", "ccadmin", ValueError),
    HostileSetting("export webhook as a number", "WEBHOOK_EXPORT_URLS", 443, TypeError),
    HostileSetting("an export registry that does not import", "EXPORT_REGISTRY", "a:b", ValueError),
    HostileSetting("a prefix with a converter", "URL_PREFIX", "/t/<tenant>", ValueError),
    HostileSetting("a prefix with a typed converter", "URL_PREFIX", "/t/<int:id>", ValueError),
    HostileSetting("a relative prefix", "URL_PREFIX", "ccadmin", ValueError),
    HostileSetting("a zero token length", "TOKEN_MAX_LENGTH", 0, ValueError),
    HostileSetting("a token length as a string", "TOKEN_MAX_LENGTH", "256", ValueError),
    HostileSetting(
        "a token name past the column", "BEARER_TOKENS", {"n" * 256: SECRET}, ValueError
    ),
    HostileSetting(
        "a token name with a direction control", "BEARER_TOKENS", {"ops\u202e": SECRET}, ValueError
    ),
    HostileSetting("a stop deadline of 1e999", "STOP_DEADLINE", 1e999, ValueError),
    HostileSetting("a stop deadline of 1e14", "STOP_DEADLINE", 1e14, ValueError),
    HostileSetting("a stop deadline of NaN", "STOP_DEADLINE", float("nan"), ValueError),
    HostileSetting("a stop deadline as a string", "STOP_DEADLINE", "30", ValueError),
    HostileSetting("a force-stop timeout of 1e999", "FORCE_STOP_TIMEOUT", 1e999, ValueError),
    HostileSetting(
        "an application key of one character", "APPLICATION_KEYS", {"ci": "x"}, ValueError
    ),
    HostileSetting(
        "an application key of 15 characters", "APPLICATION_KEYS", ["fifteen-chars-x"], ValueError
    ),
]


@pytest.mark.parametrize("case", SETTINGS_CORPUS, ids=[case.name for case in SETTINGS_CORPUS])
def test_hostile_setting_fails_at_init_app_naming_its_key_and_mounts_nothing(
    case: HostileSetting,
) -> None:
    app = Flask("host")
    app.config[f"IMPORT_ABORT_{case.key}"] = case.value
    registry = None if case.key == "REGISTRY" else SpyRegistry()

    with pytest.raises(case.error, match=f"IMPORT_ABORT_{case.key}"):
        ImportAbort(app, registry=registry)
    assert "import_abort" not in app.extensions
    assert not any(rule.rule.endswith("/abort") for rule in app.url_map.iter_rules())


# Sign-in: hostile requests to /login and /refresh, each answered OAuth's error, the body read
# no further than the limit and 64 KiB.

APPLICATION_KEY = "hostile-tests-application-key"
SIGNING = {"IMPORT_ABORT_SIGNING_KEYS": {"k1": "s" * 32}}
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class HostileSignIn:
    name: str
    path: str
    status: int
    error: str
    headers: tuple[tuple[str, str], ...] = (("Authorization", f"Bearer {APPLICATION_KEY}"),)
    body: bytes = b"grant_type=client_credentials"
    content_type: str = FORM
    environ: tuple[tuple[str, Any], ...] = ()


def _a_token_of_a_replaced_key() -> str:
    old = host(
        {"IMPORT_ABORT_APPLICATION_KEYS": {"ci": "the-key-before-rotation"}, **SIGNING},
        registry=SpyRegistry(),
    )
    answer = old.test_client().post(
        "/ccadmin/v1/login",
        data=b"grant_type=client_credentials",
        content_type=FORM,
        headers={"Authorization": "Bearer the-key-before-rotation"},
    )
    return str(answer.get_json()["access_token"])


SIGN_IN_CORPUS = [
    HostileSignIn(
        "login: 100 MiB in chunks",
        "/ccadmin/v1/login",
        413,
        "invalid_request",
        body=b"grant_type=" + b"a" * (1024 * 1024),
        environ=CHUNKED,
    ),
    HostileSignIn(
        "login: 100 MiB declared",
        "/ccadmin/v1/login",
        413,
        "invalid_request",
        environ=(("CONTENT_LENGTH", str(100 * 1024 * 1024)),),
    ),
    HostileSignIn(
        "refresh: a body past the limit in chunks",
        "/ccadminui/v1/refresh",
        413,
        "invalid_request",
        body=b"x" * 200_000,
        environ=CHUNKED,
    ),
    HostileSignIn(
        "login: a form of bytes past ASCII",
        "/ccadmin/v1/login",
        400,
        "invalid_request",
        body=b"\xff\xfe",
    ),
    HostileSignIn(
        "login: a percent-encoded byte that is not UTF-8",
        "/ccadmin/v1/login",
        400,
        "invalid_request",
        body=b"grant_type=%ff",
    ),
    HostileSignIn(
        "login: grant_type twice, the first wrong",
        "/ccadmin/v1/login",
        400,
        "invalid_request",
        body=b"grant_type=password&grant_type=client_credentials",
    ),
    HostileSignIn(
        "login: a one-character key",
        "/ccadmin/v1/login",
        401,
        "invalid_client",
        headers=(("Authorization", "Bearer h"),),
    ),
    HostileSignIn(
        "refresh: a token of a replaced application key",
        "/ccadmin/v1/refresh",
        401,
        "invalid_token",
        headers=(("Authorization", "Bearer {replaced}"),),
    ),
]


@pytest.mark.parametrize("case", SIGN_IN_CORPUS, ids=[case.name for case in SIGN_IN_CORPUS])
def test_hostile_sign_in_gets_oauths_error_and_reads_no_further_than_the_limit(
    case: HostileSignIn,
) -> None:
    app = host(
        {"IMPORT_ABORT_APPLICATION_KEYS": {"ci": APPLICATION_KEY}, **SIGNING},
        registry=SpyRegistry(),
    )
    replaced = _a_token_of_a_replaced_key()
    headers = {name: value.format(replaced=replaced) for name, value in case.headers}
    stream = io.BytesIO(case.body)

    response = app.test_client().post(
        case.path,
        input_stream=stream,
        content_type=case.content_type,
        headers=headers,
        environ_overrides=dict(case.environ),
    )

    assert response.status_code == case.status
    assert response.get_json()["error"] == case.error
    assert "access_token" not in response.get_json()
    assert stream.tell() <= 65_536 + 64 * 1024
    assert len(response.get_data()) < 1024
