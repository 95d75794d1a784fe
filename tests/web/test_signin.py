"""OCC's sign-in (extra `[jwt]`): application keys exchanged at `/login` for signed, short-lived JWT
access tokens that the abort, the status and a host's own routes accept; `/refresh`; key rotation;
and every bad token refused with the 401 errorModel and `invalid_token`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask

from flask_import_abort import (
    ImportAbort,
    ImportState,
    InMemoryImportRegistry,
    access_required,
    occ_operation,
)

from ..helpers import AUTH, PREFIX, SECRET, ExplodingStream, abort_url, assert_error_model

APP_KEY = "ci-application-key"
HS_KEY = "k" * 32
LOGIN = "/ccadmin/v1/login"
UI_LOGIN = "/ccadminui/v1/login"
FORM = {"grant_type": "client_credentials"}
INVALID = 'Bearer error="invalid_token"'


def _app(registry: Any = None, **config: Any) -> Flask:
    app = Flask("host")
    app.config.update(
        IMPORT_ABORT_BEARER_TOKENS={"ops": SECRET},
        IMPORT_ABORT_APPLICATION_KEYS={"ci": APP_KEY},
        IMPORT_ABORT_SIGNING_KEYS={"k1": HS_KEY},
        IMPORT_ABORT_STATUS_ROUTE=True,
    )
    app.config.update(config)
    ImportAbort(app, registry=registry if registry is not None else InMemoryImportRegistry())

    @app.post("/host/imports")
    @occ_operation("executeImport")
    @access_required
    def execute_import() -> dict[str, str]:
        return {"processId": "new"}

    return app


def _login(client: Any, key: str = APP_KEY, path: str = LOGIN) -> Any:
    return client.post(path, data=FORM, headers={"Authorization": f"Bearer {key}"})


def _token(app: Flask) -> str:
    answer = _login(app.test_client())
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _claims(token: str) -> dict[str, Any]:
    """The payload, decoded as an OCC client decodes it: base64url JSON, no key."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def _running(registry: InMemoryImportRegistry) -> str:
    token = registry.register()
    registry.start(token)
    return token


# -- sign-in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [LOGIN, UI_LOGIN])
def test_an_application_key_signs_in_for_a_short_lived_signed_token(path: str) -> None:
    before = int(time.time())
    answer = _login(_app().test_client(), path=path)

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", 300)
    claims = _claims(body["access_token"])
    assert set(claims) == {"iss", "aud", "exp", "iat", "sub", "jti", "auth_time", "akh"}
    assert (claims["sub"], claims["iss"], claims["aud"]) == ("ci", "flask-import-abort", "ccadmin")
    assert before <= claims["iat"] <= claims["exp"] - 300 <= int(time.time())
    assert claims["auth_time"] == claims["iat"]
    assert claims["akh"] == _key_claim(APP_KEY)
    assert jwt.get_unverified_header(body["access_token"]) == {
        "alg": "HS256",
        "kid": "k1",
        "typ": "JWT",
    }


def test_the_token_aborts_reads_and_reaches_the_hosts_own_routes_as_its_application() -> None:
    registry = InMemoryImportRegistry()
    running = _running(registry)
    app = _app(registry)
    client = app.test_client()
    token = _token(app)

    assert client.post(abort_url(running), headers=_bearer(token)).get_json() == {"success": True}
    status = client.get(f"{PREFIX}/{running}", headers=_bearer(token)).get_json()
    assert status["abortedBy"] == "ci"
    assert client.post("/host/imports", headers=_bearer(token)).get_json() == {"processId": "new"}
    assert_error_model(client.post("/host/imports"), 401, "00001000")


def test_static_bearer_tokens_keep_working_beside_signed_ones() -> None:
    registry = InMemoryImportRegistry()
    running = _running(registry)
    client = _app(registry).test_client()

    assert client.post(abort_url(running), headers=AUTH).get_json() == {"success": True}
    assert registry.snapshot(running).aborted_by == "ops"


@pytest.mark.parametrize(
    ("data", "headers", "status", "error"),
    [
        (FORM, {"Authorization": "Bearer wrong-key"}, 401, "invalid_client"),
        (FORM, {}, 401, "invalid_client"),
        (FORM, {"Authorization": f"Basic {APP_KEY}"}, 401, "invalid_client"),
        (FORM, AUTH, 401, "invalid_client"),  # a static token is no application key
        ({}, {"Authorization": f"Bearer {APP_KEY}"}, 400, "invalid_request"),
        (
            {"grant_type": "password"},
            {"Authorization": f"Bearer {APP_KEY}"},
            400,
            "unsupported_grant_type",
        ),
    ],
)
def test_a_failed_sign_in_answers_oauths_error_and_its_description(
    data: dict[str, str], headers: dict[str, str], status: int, error: str
) -> None:
    answer = _app().test_client().post(LOGIN, data=data, headers=headers)

    assert answer.status_code == status
    body = answer.get_json()
    assert body["error"] == error
    assert body["error_description"]
    assert "access_token" not in body
    if status == 401:
        assert answer.headers["WWW-Authenticate"] == f'Bearer error="{error}"'


def test_a_sign_in_must_be_a_form() -> None:
    answer = (
        _app().test_client().post(LOGIN, json=FORM, headers={"Authorization": f"Bearer {APP_KEY}"})
    )
    assert (answer.status_code, answer.get_json()["error"]) == (400, "invalid_request")


# -- bad tokens ------------------------------------------------------------------------------


def _signed(
    claims: dict[str, Any], key: Any = HS_KEY, algorithm: str = "HS256", kid: str = "k1"
) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def _key_claim(application_key: str, secret: str = HS_KEY) -> str:
    """What a token says of its application key: 16 bytes of an HMAC-SHA256 of the key under
    the signing key, base64url."""
    message = b"application-key\x00" + application_key.encode()
    return _b64(hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16])


def _valid_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "flask-import-abort",
        "aud": "ccadmin",
        "sub": "ci",
        "iat": now,
        "exp": now + 300,
        "auth_time": now,
        "akh": _key_claim(APP_KEY),
        "jti": "j-1",
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def _forged(token: str) -> str:
    header, _payload, signature = token.split(".")
    claims = _claims(token)
    claims["sub"] = "someone-else"
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac_by_hand(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """The old confusion attack, which PyJWT will not sign: HS256 keyed with a public key."""
    header = _b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _unsigned(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})


def _refused_everywhere(client: Any, running: str, token: str) -> None:
    """The abort, the status and the host's own route each refuse ``token``: the 401
    errorModel with ``invalid_token``."""
    for response in (
        client.post(abort_url(running), headers=_bearer(token)),
        client.get(f"{PREFIX}/{running}", headers=_bearer(token)),
        client.post("/host/imports", headers=_bearer(token)),
    ):
        assert_error_model(response, 401, "00001000")
        assert response.headers["WWW-Authenticate"] == INVALID


BAD_TOKENS = {
    "expired": lambda app: _signed(
        _valid_claims(iat=int(time.time()) - 900, exp=int(time.time()) - 600)
    ),
    "forged": lambda app: _forged(_token(app)),
    "alg none": lambda app: _unsigned(_valid_claims()),
    "wrong key": lambda app: _signed(_valid_claims(), key="w" * 32),
    "unknown kid": lambda app: _signed(_valid_claims(), kid="k9"),
    "wrong audience": lambda app: _signed(_valid_claims(aud="storefront")),
    "wrong issuer": lambda app: _signed(_valid_claims(iss="someone")),
    "no jti": lambda app: _signed(_valid_claims(jti=None)),
    "no exp": lambda app: _signed(_valid_claims(exp=None)),
    "unknown application": lambda app: _signed(_valid_claims(sub="gone")),
    "no auth_time": lambda app: _signed(_valid_claims(auth_time=None)),
    "no application key named": lambda app: _signed(_valid_claims(akh=None)),
    "another application key's": lambda app: _signed(
        _valid_claims(akh=_key_claim("another-application-key"))
    ),
    "the key named by a plain hash": lambda app: _signed(
        _valid_claims(akh=_b64(hashlib.sha256(APP_KEY.encode()).digest()[:16]))
    ),
    "an algorithm other than the pinned one": lambda app: _signed(
        _valid_claims(), algorithm="HS512", key="k" * 64
    ),
    "not a JWT": lambda app: "a.b.c",
}


@pytest.mark.parametrize("bad", BAD_TOKENS)
def test_every_bad_token_is_the_401_errormodel_with_invalid_token(bad: str) -> None:
    registry = InMemoryImportRegistry()
    running = _running(registry)
    app = _app(registry)
    client = app.test_client()
    token = BAD_TOKENS[bad](app)

    _refused_everywhere(client, running, token)
    assert not registry.snapshot(running).abort_requested


def test_exp_is_checked_on_every_call_of_a_token_verified_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = InMemoryImportRegistry()
    running = _running(registry)
    app = _app(registry)
    client = app.test_client()
    token = _token(app)
    assert client.get(f"{PREFIX}/{running}", headers=_bearer(token)).status_code == 200

    import flask_import_abort.access._signin as signin

    later = time.time() + 301 + signin.LEEWAY
    monkeypatch.setattr(signin.time, "time", lambda: later)

    response = client.post(abort_url(running), headers=_bearer(token))
    assert_error_model(response, 401, "00001000")
    assert not registry.snapshot(running).abort_requested


# -- refresh, rotation, machines -------------------------------------------------------------


def test_refresh_renews_a_valid_token_and_refuses_an_expired_one() -> None:
    app = _app()
    client = app.test_client()
    token = _token(app)

    renewed = client.post("/ccadminui/v1/refresh", headers=_bearer(token))
    assert renewed.status_code == 200
    new = renewed.get_json()["access_token"]
    assert _claims(new)["sub"] == "ci"
    assert _claims(new)["jti"] != _claims(token)["jti"]

    expired = BAD_TOKENS["expired"](app)
    refused = client.post("/ccadmin/v1/refresh", headers=_bearer(expired))
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "invalid_token"
    assert refused.headers["WWW-Authenticate"] == INVALID


def test_refresh_refuses_a_token_whose_application_key_was_removed() -> None:
    token = _token(_app())
    restarted = _app(IMPORT_ABORT_APPLICATION_KEYS={"other": "other-application-key"})

    refused = restarted.test_client().post("/ccadmin/v1/refresh", headers=_bearer(token))

    assert (refused.status_code, refused.get_json()["error"]) == (401, "invalid_token")


def test_signing_keys_rotate_new_tokens_with_the_first_old_ones_still_accepted() -> None:
    registry = InMemoryImportRegistry()
    running = _running(registry)
    old = _token(_app(registry))
    rotated = _app(registry, IMPORT_ABORT_SIGNING_KEYS={"k2": "n" * 32, "k1": HS_KEY})
    new = _token(rotated)

    assert jwt.get_unverified_header(new)["kid"] == "k2"
    client = rotated.test_client()
    assert client.get(f"{PREFIX}/{running}", headers=_bearer(old)).status_code == 200
    assert client.get(f"{PREFIX}/{running}", headers=_bearer(new)).status_code == 200
    retired = _app(registry, IMPORT_ABORT_SIGNING_KEYS={"k2": "n" * 32})
    assert retired.test_client().get(f"{PREFIX}/{running}", headers=_bearer(old)).status_code == 401


def test_every_worker_given_the_configuration_accepts_the_others_tokens() -> None:
    registry = InMemoryImportRegistry()
    running = _running(registry)
    one, other = _app(registry), _app(registry)

    token = _token(one)

    assert other.test_client().post(abort_url(running), headers=_bearer(token)).status_code == 200


def _pem(key: Any) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.mark.parametrize(
    ("algorithm", "make"),
    [
        ("RS256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
    ],
)
def test_an_asymmetric_algorithm_signs_with_a_private_key_and_a_public_one_still_verifies(
    algorithm: str, make: Any
) -> None:
    registry = InMemoryImportRegistry()
    running = _running(registry)
    old_private, old_public = _pem(make())
    new_private, _ = _pem(make())
    old = _token(
        _app(
            registry,
            IMPORT_ABORT_SIGNING_ALGORITHM=algorithm,
            IMPORT_ABORT_SIGNING_KEYS={"old": old_private},
        )
    )
    app = _app(
        registry,
        IMPORT_ABORT_SIGNING_ALGORITHM=algorithm,
        IMPORT_ABORT_SIGNING_KEYS={"new": new_private, "old": old_public},
    )
    new = _token(app)

    assert jwt.get_unverified_header(new)["alg"] == algorithm
    client = app.test_client()
    for token in (old, new):
        assert client.get(f"{PREFIX}/{running}", headers=_bearer(token)).status_code == 200
    hmac_forgery = _hmac_by_hand(_valid_claims(), old_public.encode(), kid="old")
    assert client.get(f"{PREFIX}/{running}", headers=_bearer(hmac_forgery)).status_code == 401


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "error", "says"),
    [
        ({"IMPORT_ABORT_SIGNING_KEYS": None}, TypeError, "IMPORT_ABORT_SIGNING_KEYS"),
        ({"IMPORT_ABORT_SIGNING_KEYS": {"k1": "short"}}, ValueError, "32 or more"),
        ({"IMPORT_ABORT_SIGNING_ALGORITHM": "none"}, ValueError, "IMPORT_ABORT_SIGNING_ALGORITHM"),
        ({"IMPORT_ABORT_SIGNING_ALGORITHM": "RS256"}, ValueError, "IMPORT_ABORT_SIGNING_KEYS"),
        ({"IMPORT_ABORT_APPLICATION_KEYS": {"ci": SECRET}}, ValueError, "share a key"),
        (
            {"IMPORT_ABORT_APPLICATION_KEYS": {"ci": 12345}},
            ValueError,
            "IMPORT_ABORT_APPLICATION_KEYS",
        ),
        ({"IMPORT_ABORT_APPLICATION_KEYS": {"ci": " key "}}, ValueError, "whitespace"),
        ({"IMPORT_ABORT_ACCESS_TOKEN_LIFETIME": "300"}, ValueError, "LIFETIME"),
        ({"IMPORT_ABORT_TOKEN_AUDIENCE": ""}, ValueError, "IMPORT_ABORT_TOKEN_AUDIENCE"),
    ],
)
def test_the_sign_in_settings_are_checked_at_init_app(
    config: dict[str, Any], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says) as raised:
        _app(**config)
    assert "k" * 32 not in str(raised.value)
    assert SECRET not in str(raised.value)


def test_no_sign_in_route_without_application_keys() -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET])
    ImportAbort(app, registry=InMemoryImportRegistry())

    assert app.test_client().post(LOGIN, data=FORM).status_code == 404


def test_a_host_route_on_login_already_is_an_error_at_init_app() -> None:
    app = Flask("host")
    app.config.update(
        IMPORT_ABORT_APPLICATION_KEYS={"ci": APP_KEY}, IMPORT_ABORT_SIGNING_KEYS={"k1": HS_KEY}
    )

    @app.post("/ccadminui/v1/login")
    def hosts_login() -> str:
        return "host"

    with pytest.raises(ValueError, match=r"IMPORT_ABORT_APPLICATION_KEYS.*hosts_login"):
        ImportAbort(app, registry=InMemoryImportRegistry())


def test_the_process_ending_reads_the_same_after_a_signed_abort() -> None:
    registry = InMemoryImportRegistry()
    running = _running(registry)
    app = _app(registry)
    app.test_client().post(abort_url(running), headers=_bearer(_token(app)))
    registry.finish(running, ImportState.ABORTED)

    assert registry.snapshot(running).aborted_by == "ci"


def _segment(value: object) -> str:
    return _b64(json.dumps(value).encode())


@pytest.mark.parametrize(
    "token",
    [
        f"{_segment({'alg': 'HS256', 'kid': ['k1']})}.{_segment({})}.x",
        f"{_segment({'alg': 'HS256', 'kid': {'k': 1}})}.e30.x",
        f"{_segment([1, 2])}.e30.x",
        f"{_segment({'alg': 'HS256', 'kid': 'k1'})}.{_segment([])}.x",
        "..",
        "€.€.€",
        "a" * 5000 + ".b.c",
    ],
    ids=[
        "kid a list",
        "kid an object",
        "header a list",
        "payload a list",
        "empty",
        "not ASCII",
        "long",
    ],
)
def test_a_malformed_token_is_a_401_never_a_500(token: str) -> None:
    client = _app().test_client()
    headers = {"Authorization": f"Bearer {token}".encode().decode("latin-1")}

    answer = client.post(abort_url("any"), headers=headers)
    refreshed = client.post("/ccadmin/v1/refresh", headers=headers)

    assert_error_model(answer, 401, "00001000")
    assert answer.headers["WWW-Authenticate"] == INVALID
    assert (refreshed.status_code, refreshed.get_json()["error"]) == (401, "invalid_token")


# -- under attack ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [LOGIN, "/ccadmin/v1/refresh"])
@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "declared"])
def test_a_body_past_the_limit_is_413_after_at_most_the_limit_and_64_kib(
    path: str, chunked: bool
) -> None:
    app = _app(IMPORT_ABORT_MAX_BODY_BYTES=1024)
    counted = ExplodingStream(allowed=1024 + 64 * 1024)  # read further, the test fails
    if chunked:
        environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}
    else:
        environ = {"CONTENT_LENGTH": str(100 * 1024 * 1024)}
    token = _token(app)
    key = APP_KEY if path == LOGIN else token

    answer = app.test_client().post(
        path,
        input_stream=counted,
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": f"Bearer {key}"},
        environ_overrides=environ,
    )

    assert answer.status_code == 413
    assert answer.get_json()["error"] == "invalid_request"
    assert counted.read_bytes <= counted.allowed


def test_a_sign_in_form_within_the_limit_still_signs_in_in_chunks() -> None:
    answer = (
        _app()
        .test_client()
        .post(
            LOGIN,
            input_stream=io.BytesIO(b"grant_type=client_credentials"),
            content_type="application/x-www-form-urlencoded",
            headers={"Authorization": f"Bearer {APP_KEY}"},
            environ_overrides={"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True},
        )
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "keys", [{"ci": "a-new-application-key"}, {"other": "other-application-key"}]
)
def test_a_replaced_or_removed_application_key_ends_its_tokens_everywhere(
    keys: dict[str, str],
) -> None:
    registry = InMemoryImportRegistry()
    running = _running(registry)
    token = _token(_app(registry))
    restarted = _app(registry, IMPORT_ABORT_APPLICATION_KEYS=keys)
    client = restarted.test_client()

    _refused_everywhere(client, running, token)
    refused = client.post("/ccadmin/v1/refresh", headers=_bearer(token))
    assert (refused.status_code, refused.get_json()["error"]) == (401, "invalid_token")
    assert not registry.snapshot(running).abort_requested


def test_a_refresh_chain_ends_with_its_session() -> None:
    app = _app(IMPORT_ABORT_ACCESS_TOKEN_LIFETIME=1, IMPORT_ABORT_SESSION_LIFETIME=2)
    client = app.test_client()
    token = _token(app)
    signed_in = _claims(token)["auth_time"]

    renewed = client.post("/ccadmin/v1/refresh", headers=_bearer(token))
    assert renewed.status_code == 200, renewed.get_json()
    token = renewed.get_json()["access_token"]
    claims = _claims(token)
    assert claims["auth_time"] == signed_in  # the sign-in's time, carried on
    assert claims["exp"] <= signed_in + 2  # no token outlives its session

    time.sleep(max(0.0, signed_in + 2 - time.time()) + 0.05)
    refused = client.post("/ccadmin/v1/refresh", headers=_bearer(token))
    assert (refused.status_code, refused.get_json()["error"]) == (401, "invalid_token")
    assert "sign in again" in refused.get_json()["error_description"]
    assert _login(client).status_code == 200


def test_the_session_lifetime_is_eight_hours_by_default_and_checked() -> None:
    claims = _claims(_token(_app()))
    assert claims["exp"] - claims["auth_time"] == 300
    with pytest.raises(ValueError, match="IMPORT_ABORT_SESSION_LIFETIME"):
        _app(IMPORT_ABORT_SESSION_LIFETIME="28800")
    with pytest.raises(ValueError, match="IMPORT_ABORT_SESSION_LIFETIME"):
        _app(IMPORT_ABORT_SESSION_LIFETIME=60)  # shorter than a token's 300 s
    from flask_import_abort._config import Config

    assert Config.SESSION_LIFETIME.default == 8 * 3600


@pytest.mark.parametrize("short", ["Z", "fifteen-chars-x"])
def test_an_application_key_shorter_than_16_characters_is_refused_by_name(short: str) -> None:
    with pytest.raises(ValueError, match=r"IMPORT_ABORT_APPLICATION_KEYS\['robot'\].*16") as raised:
        _app(IMPORT_ABORT_APPLICATION_KEYS={"ci": APP_KEY, "robot": short})
    assert short not in str(raised.value)
    _app(IMPORT_ABORT_APPLICATION_KEYS={"robot": "sixteen-chars-xy"})  # 16 is enough
