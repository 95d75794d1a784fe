"""The docs' recipe that limits OCC's sign-in with Flask-Limiter, run under ``flask run``: a
client guessing application keys gets 429 after ten tries a minute, on either root, and the
other routes are not limited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .running import host, port

pytestmark = pytest.mark.slow  # a real server in a process of its own

KEY = "ci-application-key-0001"
FORM = {"grant_type": "client_credentials"}


def test_ten_sign_ins_a_minute_then_429_on_both_roots(tmp_path: Path) -> None:
    env = {
        "FLASK_IMPORT_ABORT_APPLICATION_KEYS": json.dumps({"ci": KEY}),
        "FLASK_IMPORT_ABORT_SIGNING_KEYS": json.dumps({"k1": "s" * 32}),
    }
    with host("signin_limited", tmp_path, env) as shop:
        web = port()
        with shop.serve(
            "web", "flask", "--app", "shop", "run", "--port", str(web), port=web
        ) as client:
            guesses = [
                client.post(
                    f"/{root}/v1/login", data=FORM, headers={"Authorization": f"Bearer guess-{n}"}
                ).status_code
                for n, root in enumerate(["ccadmin", "ccadminui"] * 6)
            ]
            right_key = client.post(
                "/ccadmin/v1/login", data=FORM, headers={"Authorization": f"Bearer {KEY}"}
            )
            other = client.post("/ccadmin/v1/importProcess/any/abort")

    assert guesses == [401] * 10 + [429] * 2
    assert right_key.status_code == 429  # the address is limited, whatever it sends
    assert other.status_code == 401  # not limited: the abort's own 401
