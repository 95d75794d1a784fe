"""What OCC's sign-in and an identity provider cost: a JWT-authorized abort against the static
token's, in instructions; and how often an identity provider's key set is fetched under load."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from base64 import b64encode
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from jwt.algorithms import RSAAlgorithm

from flask_import_abort import ImportAbort, InMemoryImportRegistry
from flask_import_abort.access.oidc import OIDCAuthorizer

from .instructions import count

ROOT = Path(__file__).parent.parent
PROVIDER = ROOT / "tests" / "oidc" / "provider.mjs"
RESOURCE = "urn:flask-import-abort:imports"


def run(
    calls: int = 500, requests: int = 4000, tokens: int = 50, lifespans: int = 3
) -> dict[str, Any]:
    static = count("plugin", "success", calls)
    signed = count("signed", "signed", calls)
    return {
        "instructions": {"static": static, "signed": signed, "ratio": static / signed},
        "jwks": jwks_fetches(requests, tokens, lifespans),
    }


def jwks_fetches(
    requests: int, tokens: int, lifespans: int, lifespan: float = 2.0
) -> dict[str, Any]:
    """Aborts with ``tokens`` new tokens of a real provider (npm's oidc-provider) in each of
    ``lifespans`` lifespans of the key set's cache, in 8 threads: how often the set is fetched.
    New tokens each lifespan, since a token verified once skips the key set after."""
    node = shutil.which("node")
    if node is None or not (ROOT / "tools" / "oidc" / "node_modules").exists():
        raise RuntimeError("Node.js and tools/oidc (make bench installs them) are missing")
    with tempfile.TemporaryDirectory() as folder:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = {**json.loads(RSAAlgorithm.to_jwk(private)), "kid": "a", "use": "sig", "alg": "RS256"}
        keys = Path(folder, "keys.json")
        keys.write_text(json.dumps({"keys": [jwk]}))
        log = Path(folder, "provider.log")
        with log.open("wb") as sink:
            provider = subprocess.Popen(
                [node, str(PROVIDER), str(_free_port()), str(keys)],
                stdout=sink,
                stderr=subprocess.DEVNULL,
            )
        try:
            issuer = _issuer(log, provider)
            app = Flask(__name__)
            app.config["IMPORT_ABORT_AUTHORIZE"] = OIDCAuthorizer(
                issuer=issuer, audience=RESOURCE, jwks_url=f"{issuer}/jwks", lifespan=lifespan
            )
            registry = InMemoryImportRegistry()
            ImportAbort(app, registry=registry)
            running = registry.register()
            registry.start(running)
            issued = [[_token(issuer) for _ in range(tokens)] for _ in range(lifespans)]
            before = _fetches(log)
            per_lifespan = requests // lifespans

            def call(job: tuple[int, int]) -> int:
                round_, number = job
                headers = {"Authorization": f"Bearer {issued[round_][number % tokens]}"}
                path = f"/ccadmin/v1/importProcess/{running}/abort"
                return app.test_client().post(path, headers=headers).status_code

            statuses: list[int] = []
            with ThreadPoolExecutor(max_workers=8) as pool:
                for round_ in range(lifespans):
                    statuses += pool.map(call, [(round_, n) for n in range(per_lifespan)])
                    # a lifespan since this round's fetch, so that the next one starts past it
                    time.sleep(lifespan + 0.1)
            fetched = _fetches(log) - before
        finally:
            provider.terminate()
            provider.wait(timeout=10)
    return {
        "requests": len(statuses),
        "ok": statuses.count(200),
        "tokens": tokens * lifespans,
        "lifespan_s": lifespan,
        "lifespans": lifespans,
        "fetches": fetched,
        "fetches_per_lifespan": fetched / lifespans,
    }


def _issuer(log: Path, provider: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if '"ready"' in line:
                return str(json.loads(line)["ready"])
        if provider.poll() is not None:
            raise RuntimeError("the identity provider exited")
        time.sleep(0.05)
    raise TimeoutError("the identity provider did not start")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fetches(log: Path) -> int:
    return sum('"path":"/jwks"' in line for line in log.read_text().splitlines())


def _token(issuer: str) -> str:
    request = urllib.request.Request(
        f"{issuer}/token",
        data=urllib.parse.urlencode(
            {"grant_type": "client_credentials", "scope": "import:abort import:read"}
        ).encode(),
        headers={"Authorization": "Basic " + b64encode(b"importer:importer-secret").decode()},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.load(answer)["access_token"])
