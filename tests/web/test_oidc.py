"""The identity provider's authorizer (`flask_import_abort.access.oidc.OIDCAuthorizer`, extra
`[jwt]`), against a real OpenID provider: npm's `oidc-provider` (installed in `tools/oidc` by
`make test`), started here as PostgreSQL is, issuing client-credentials JWT access tokens for one
resource."""

from __future__ import annotations

import http.server
import json
import logging
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from flask_import_abort import ImportAbort, InMemoryImportRegistry
from flask_import_abort.access.oidc import OIDCAuthorizer

from ..helpers import AUTH, PREFIX, SECRET, abort_url, assert_error_model
from ..servers import free_port, wait_for_port

pytestmark = pytest.mark.slow  # a real identity provider: run once, on the newest Python

ROOT = Path(__file__).parents[2]
PROVIDER = (Path(__file__).parents[1] / "oidc") / "provider.mjs"
RESOURCE = "urn:flask-import-abort:imports"
EXPORTS = "/ccadmin/v1/exportProcess"
INVALID = 'Bearer error="invalid_token"'


def _key(kid: str) -> tuple[dict[str, Any], Any]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(private)), "kid": kid, "use": "sig", "alg": "RS256"}
    return jwk, private


KEYS = {kid: _key(kid) for kid in ("a", "b")}


def _node() -> str:
    found = shutil.which("node")
    assert found, "Node.js is missing: make test installs it (Debian's nodejs, beside npm)"
    return found


@dataclass
class Provider:
    """The running provider: its issuer, and each request it served."""

    issuer: str
    log: Path

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def fetches(self) -> int:
        lines = self.log.read_text().splitlines()
        return sum('"path":"/jwks"' in line for line in lines)

    def token(self, scope: str = "import:abort import:read", client: str = "importer") -> str:
        request = urllib.request.Request(
            f"{self.issuer}/token",
            data=urllib.parse.urlencode(
                {"grant_type": "client_credentials", "scope": scope}
            ).encode(),
            headers={
                "Authorization": "Basic " + b64encode(f"{client}:{client}-secret".encode()).decode()
            },
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return str(json.load(answer)["access_token"])


@contextmanager
def provider(tmp_path: Path, kids: list[str], port: int | None = None) -> Iterator[Provider]:
    """oidc-provider on ``port`` (a free one by default), signing with the first of ``kids``."""
    port = port or free_port()
    keys = tmp_path / f"keys-{'-'.join(kids)}.json"
    keys.write_text(json.dumps({"keys": [KEYS[kid][0] for kid in kids]}))
    log = tmp_path / f"provider-{port}-{'-'.join(kids)}.log"
    node_modules = ROOT / "tools" / "oidc" / "node_modules" / "oidc-provider"
    assert node_modules.exists(), "oidc-provider is missing: make test installs it (tools/oidc)"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [_node(), str(PROVIDER), str(port), str(keys)],
            stdout=sink,
            stderr=subprocess.DEVNULL,
        )
    try:
        wait_for_port(port, process)  # type: ignore[arg-type]
        yield Provider(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    with provider(tmp_path_factory.mktemp("idp"), ["a"]) as running:
        yield running


def _app(authorizer: OIDCAuthorizer, **config: Any) -> Flask:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_AUTHORIZE=authorizer, IMPORT_ABORT_STATUS_ROUTE=True, **config)
    ImportAbort(app, registry=InMemoryImportRegistry())
    return app


def _authorizer(issuer: str, jwks_url: str | None = None, **options: Any) -> OIDCAuthorizer:
    return OIDCAuthorizer(
        issuer=issuer, audience=RESOURCE, jwks_url=jwks_url or f"{issuer}/jwks", **options
    )


def _running(app: Flask) -> str:
    registry: InMemoryImportRegistry = app.extensions["import_abort"].registry
    token = registry.register()
    registry.start(token)
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_providers_token_aborts_and_reads_as_its_subject(idp: Provider) -> None:
    app = _app(_authorizer(idp.issuer))
    client = app.test_client()
    running = _running(app)
    token = idp.token()

    assert client.post(abort_url(running), headers=_bearer(token)).get_json() == {"success": True}
    assert client.get(f"{PREFIX}/{running}", headers=_bearer(token)).get_json()["abortedBy"] == (
        "importer"
    )


def test_a_missing_scope_is_the_403_errormodel_with_insufficient_scope(idp: Provider) -> None:
    app = _app(_authorizer(idp.issuer))
    client = app.test_client()
    running = _running(app)

    reader = idp.token("import:read", client="reader")
    refused = client.post(abort_url(running), headers=_bearer(reader))
    assert_error_model(refused, 403, "30006")
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="import:abort"'
    )
    assert client.get(f"{PREFIX}/{running}", headers=_bearer(reader)).status_code == 200

    aborter = idp.token("import:abort")
    unread = client.get(f"{PREFIX}/{running}", headers=_bearer(aborter))
    assert assert_error_model(unread, 403, "30016")["message"] == (
        "You are not allowed to read import processes."
    )
    assert 'scope="import:read"' in unread.headers["WWW-Authenticate"]
    assert not app.extensions["import_abort"].registry.snapshot(running).abort_requested


def _signed(claims: dict[str, Any], kid: str = "a", key: Any = None, alg: str = "RS256") -> str:
    return jwt.encode(claims, key or KEYS["a"][1], algorithm=alg, headers={"kid": kid})


def _claims(issuer: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": RESOURCE,
        "sub": "importer",
        "iat": now,
        "exp": now + 300,
        "scope": "import:abort import:read",
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


BAD = {
    "expired": lambda issuer: _signed(_claims(issuer, exp=int(time.time()) - 60)),
    "forged": lambda issuer: _signed(_claims(issuer), key=_key("a")[1]),
    "alg none": lambda issuer: jwt.encode(
        _claims(issuer), None, algorithm="none", headers={"kid": "a"}
    ),
    "wrong audience": lambda issuer: _signed(_claims(issuer, aud="urn:else")),
    "wrong issuer": lambda issuer: _signed(_claims(issuer, iss="https://else.invalid")),
    "an algorithm not pinned": lambda issuer: _signed(_claims(issuer), alg="RS512"),
    "no kid": lambda issuer: jwt.encode(_claims(issuer), KEYS["a"][1], algorithm="RS256"),
    "no exp": lambda issuer: _signed(_claims(issuer, exp=None)),
    "not a JWT": lambda issuer: "opaque-token",
}


@pytest.mark.parametrize("bad", BAD)
def test_every_bad_token_is_the_401_errormodel_with_invalid_token(idp: Provider, bad: str) -> None:
    app = _app(_authorizer(idp.issuer))
    client = app.test_client()
    running = _running(app)
    assert client.get(f"{PREFIX}/{running}", headers=_bearer(idp.token())).status_code == 200

    response = client.post(abort_url(running), headers=_bearer(BAD[bad](idp.issuer)))

    assert_error_model(response, 401, "00001000")
    assert response.headers["WWW-Authenticate"] == INVALID
    assert not app.extensions["import_abort"].registry.snapshot(running).abort_requested


def test_static_bearer_tokens_keep_working_beside_the_providers(idp: Provider) -> None:
    app = _app(_authorizer(idp.issuer), IMPORT_ABORT_BEARER_TOKENS={"ops": SECRET})
    running = _running(app)

    assert app.test_client().post(abort_url(running), headers=AUTH).status_code == 200


def test_the_key_set_is_fetched_once_under_load(tmp_path: Path) -> None:
    with provider(tmp_path, ["a"]) as idp:
        app = _app(_authorizer(idp.issuer))
        running = _running(app)
        tokens = [idp.token() for _ in range(20)]

        def call(number: int) -> int:
            client = app.test_client()
            return client.get(
                f"{PREFIX}/{running}", headers=_bearer(tokens[number % 20])
            ).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(call, range(400)))

        assert statuses == [200] * 400
        assert idp.fetches() == 1


def test_a_rotated_key_is_fetched_once_and_the_old_one_still_verifies(tmp_path: Path) -> None:
    port = free_port()
    with provider(tmp_path, ["a"], port) as idp:
        app = _app(_authorizer(idp.issuer, refetch_interval=0.5))
        running = _running(app)
        old = idp.token()
        client = app.test_client()
        assert client.get(f"{PREFIX}/{running}", headers=_bearer(old)).status_code == 200
    with provider(tmp_path, ["b", "a"], port) as rotated:
        new = rotated.token()
        assert jwt.get_unverified_header(new)["kid"] == "b"
        time.sleep(0.6)  # past the refetch interval that the first fetch started

        answers = [client.get(f"{PREFIX}/{running}", headers=_bearer(new)) for _ in range(5)]
        assert [answer.status_code for answer in answers] == [200] * 5
        assert client.get(f"{PREFIX}/{running}", headers=_bearer(old)).status_code == 200
        assert rotated.fetches() == 1  # the unknown kid fetched the set again, once


def test_a_provider_that_is_down_answers_503_at_once_and_cached_keys_still_verify(
    tmp_path: Path,
) -> None:
    with provider(tmp_path, ["a"]) as idp:
        app = _app(_authorizer(idp.issuer, refetch_interval=2))
        running = _running(app)
        client = app.test_client()
        kept = idp.token()
        assert client.get(f"{PREFIX}/{running}", headers=_bearer(kept)).status_code == 200
    unknown = _signed(_claims(idp.issuer), kid="c", key=_key("c")[1])
    # within the refetch interval, a kid the cached set lacks is not worth a fetch: not theirs
    assert client.post(abort_url(running), headers=_bearer(unknown)).status_code == 401
    time.sleep(2.1)

    for _ in range(3):  # the first tries the provider, and the others do not wait for it again
        started = time.monotonic()
        refused = client.post(abort_url(running), headers=_bearer(unknown))
        assert time.monotonic() - started < 1.0
        assert_error_model(refused, 503, "30015")
        assert refused.headers["Retry-After"] == "2"
    assert client.post(abort_url(running), headers=_bearer(kept)).status_code == 200


def test_a_provider_that_hangs_holds_a_request_no_longer_than_the_fetch_timeout() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, and never answers
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    try:
        port = listener.getsockname()[1]
        issuer = f"http://127.0.0.1:{port}"
        app = _app(_authorizer(issuer, fetch_timeout=1.0))
        token = _signed(_claims(issuer))

        started = time.monotonic()
        response = app.test_client().post(abort_url("any"), headers=_bearer(token))
        elapsed = time.monotonic() - started

        assert_error_model(response, 503, "30015")
        assert 0.9 < elapsed < 3.0
    finally:
        for one in accepted:
            one.close()
        listener.close()


def test_exports_take_scopes_of_their_own(idp: Provider) -> None:
    """An importer's token neither aborts nor reads an export; an exporter's does both, and
    reaches no import."""
    app = _app(_authorizer(idp.issuer), IMPORT_ABORT_EXPORTS=True)
    client = app.test_client()
    registry: InMemoryImportRegistry = app.extensions["import_abort"].registry
    imported, exported = _running(app), registry.register(kind="export")
    importer, exporter = idp.token(), idp.token("export:abort export:read", client="exporter")
    export_url = f"{EXPORTS}/{exported}"

    refused = client.post(f"{export_url}/abort", headers=_bearer(importer))
    assert_error_model(refused, 403, "30006")
    assert 'scope="export:abort"' in refused.headers["WWW-Authenticate"]
    unread = client.get(export_url, headers=_bearer(importer))
    assert_error_model(unread, 403, "30016")
    assert 'scope="export:read"' in unread.headers["WWW-Authenticate"]
    assert_error_model(client.post(abort_url(imported), headers=_bearer(exporter)), 403, "30006")

    assert client.get(export_url, headers=_bearer(exporter)).status_code == 200
    aborted = client.post(f"{export_url}/abort", headers=_bearer(exporter))
    assert aborted.get_json() == {"success": True}
    assert registry.snapshot(exported).aborted_by == "exporter"
    assert not registry.snapshot(imported).abort_requested


def test_the_document_names_the_providers_scheme_and_scopes(idp: Provider) -> None:
    app = _app(_authorizer(idp.issuer, token_url=f"{idp.issuer}/token"))
    document = app.test_client().get("/import-abort/openapi.json").get_json()

    scheme = document["components"]["securitySchemes"]["oidcAuth"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == f"{idp.issuer}/token"
    assert document["paths"][f"{PREFIX}/{{token}}/abort"]["post"]["security"] == [
        {"oidcAuth": ["import:abort"]}
    ]
    assert document["paths"][f"{PREFIX}/{{token}}"]["get"]["security"] == [
        {"oidcAuth": ["import:read"]}
    ]
    flow = scheme["flows"]["clientCredentials"]["scopes"]
    assert set(flow) == {"import:abort", "import:read", "export:abort", "export:read"}


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"algorithms": ["HS256"]}, "asymmetric"),
        ({"algorithms": []}, "asymmetric"),
        ({"audience": ""}, "audience"),
    ],
)
def test_the_authorizer_refuses_settings_that_would_weaken_it(
    options: dict[str, Any], says: str
) -> None:
    arguments = {
        "issuer": "https://idp.invalid",
        "audience": RESOURCE,
        "jwks_url": "https://idp.invalid/jwks",
        **options,
    }
    with pytest.raises(ValueError, match=says):
        OIDCAuthorizer(**arguments)


# -- under attack and faults: a key server of the test's own ---------------------------------


class KeyServer:
    """Serves a key set at ``/jwks``; ``drip`` seconds between its bytes once set."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.body = json.dumps({"keys": keys}).encode()
        self.drip = 0.0
        self.fetches = 0
        self.dripping = threading.Event()
        self.dripped = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                if not server.drip:
                    self.wfile.write(server.body)
                    return
                server.dripping.set()
                with suppress(OSError):
                    for byte in server.body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(server.drip)
                server.dripped.set()

            def log_message(self, *arguments: Any) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def keys() -> Iterator[KeyServer]:
    ec_private = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = {**json.loads(ECAlgorithm.to_jwk(ec_private.public_key())), "kid": "e", "use": "sig"}
    rsa_jwk = {
        **json.loads(RSAAlgorithm.to_jwk(KEYS["a"][1].public_key())),
        "kid": "a",
        "use": "sig",
    }
    server = KeyServer([rsa_jwk, ec_jwk])
    yield server
    server.close()


@pytest.mark.parametrize("ahead", [{"iat": 2}, {"nbf": 2}, {"iat": 2, "nbf": 2}])
def test_a_token_a_second_or_two_ahead_passes_within_the_leeway(
    keys: KeyServer, ahead: dict[str, int]
) -> None:
    later = {claim: int(time.time()) + seconds for claim, seconds in ahead.items()}
    token = _signed(_claims(keys.issuer, **later))

    allowed = _app(_authorizer(keys.issuer, jwks_url=f"{keys.issuer}/jwks"))
    strict = _app(_authorizer(keys.issuer, jwks_url=f"{keys.issuer}/jwks", leeway=0))

    assert (
        allowed.test_client()
        .get(f"{PREFIX}/{_running(allowed)}", headers=_bearer(token))
        .status_code
        == 200
    )
    refused = strict.test_client().get(f"{PREFIX}/{_running(strict)}", headers=_bearer(token))
    assert_error_model(refused, 401, "00001000")
    with pytest.raises(ValueError, match="leeway"):
        _authorizer(keys.issuer, leeway=-1)


def test_a_dripping_key_server_holds_a_call_within_the_timeout_and_cached_keys_never_wait(
    keys: KeyServer,
) -> None:
    app = _app(
        _authorizer(
            keys.issuer, jwks_url=f"{keys.issuer}/jwks", fetch_timeout=1.0, refetch_interval=0.2
        )
    )
    running = _running(app)
    cached = _signed(_claims(keys.issuer))
    assert app.test_client().get(f"{PREFIX}/{running}", headers=_bearer(cached)).status_code == 200
    keys.drip = 0.4  # the whole set would take minutes
    time.sleep(0.3)  # past the refetch interval
    unknown = _signed(_claims(keys.issuer), kid="c", key=_key("c")[1])
    answers: dict[str, Any] = {}

    def call_unknown() -> None:
        started = time.monotonic()
        answers["unknown"] = app.test_client().post(abort_url(running), headers=_bearer(unknown))
        answers["unknown took"] = time.monotonic() - started

    waiting = threading.Thread(target=call_unknown)
    waiting.start()
    assert keys.dripping.wait(10), "the unknown kid fetched no key set"
    for _ in range(3):  # while the fetch drips on
        answer = app.test_client().get(f"{PREFIX}/{running}", headers=_bearer(cached))
        assert answer.status_code == 200
    assert "unknown" not in answers  # the cached key's calls did not wait for the fetch
    waiting.join(10)

    assert_error_model(answers["unknown"], 503, "30015")
    assert answers["unknown took"] < 2 * 1.0 + 1


def test_a_key_set_past_its_lifespan_is_fetched_behind_the_calls(keys: KeyServer) -> None:
    app = _app(_authorizer(keys.issuer, jwks_url=f"{keys.issuer}/jwks", lifespan=0.3))
    running = _running(app)
    client = app.test_client()
    assert (
        client.get(
            f"{PREFIX}/{running}", headers=_bearer(_signed(_claims(keys.issuer)))
        ).status_code
        == 200
    )
    keys.drip = 0.4
    time.sleep(0.4)  # past the lifespan

    fresh = _signed(_claims(keys.issuer, jti="fresh"))  # a token not verified before
    assert client.get(f"{PREFIX}/{running}", headers=_bearer(fresh)).status_code == 200
    assert keys.dripping.wait(10)  # the fetch runs behind the call, which did not wait for it
    assert not keys.dripped.is_set()
    assert keys.fetches == 2


def test_a_token_whose_algorithm_does_not_suit_its_key_is_a_401_logged_once(
    keys: KeyServer, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(_authorizer(keys.issuer, jwks_url=f"{keys.issuer}/jwks"))
    client = app.test_client()
    running = _running(app)

    for number in range(3):  # RS256, naming the provider's EC key
        token = _signed(_claims(keys.issuer, jti=f"t{number}"), kid="e")
        refused = client.post(abort_url(running), headers=_bearer(token))
        assert_error_model(refused, 401, "00001000")
        assert refused.headers["WWW-Authenticate"] == INVALID

    assert not [record for record in caplog.records if record.levelno > logging.WARNING]
    assert len([record for record in caplog.records if record.levelno == logging.WARNING]) == 1


@pytest.mark.parametrize("scope", [None, 3, {"import:abort": True}, ["import:abort", 1]])
def test_a_scope_claim_of_another_type_is_the_403_with_insufficient_scope(
    keys: KeyServer, caplog: pytest.LogCaptureFixture, scope: Any
) -> None:
    app = _app(_authorizer(keys.issuer, jwks_url=f"{keys.issuer}/jwks"))
    client = app.test_client()
    running = _running(app)

    for number in range(2):
        claims = {**_claims(keys.issuer, jti=f"t{number}"), "scope": scope}
        refused = client.post(abort_url(running), headers=_bearer(_signed(claims)))
        assert_error_model(refused, 403, "30006")
        assert "insufficient_scope" in refused.headers["WWW-Authenticate"]

    assert not [record for record in caplog.records if record.levelno > logging.WARNING]
    assert len([record for record in caplog.records if record.levelno == logging.WARNING]) <= 1
    assert not app.extensions["import_abort"].registry.snapshot(running).abort_requested
