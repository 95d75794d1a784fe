"""The blueprint registered alone, on plain Flask and on a flask-smorest ``Api``, in processes that
never import the extension first: the same ``flask import-abort`` commands, the same OpenAPI
document and the same answers as its twin wired by ``ImportAbort``; and ``ImportAbort`` imported
once the blueprint is registered changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from .running import Host, host, port

pytestmark = pytest.mark.slow  # real servers in processes of their own

AUTH = {"Authorization": "Bearer change-me"}
PREFIX = "/ccadmin/v1/importProcess"
#: What each host is asked: the method, the path and the headers.
REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("POST", f"{PREFIX}/finished_1/abort", AUTH),
    ("POST", f"{PREFIX}/no_such_import/abort", AUTH),
    ("POST", f"{PREFIX}/running_1/abort", {}),
    ("GET", f"{PREFIX}/running_1/abort", AUTH),
    ("OPTIONS", f"{PREFIX}/running_1/abort", AUTH),
    ("POST", f"{PREFIX}/running_1/abort", {**AUTH, "Content-Type": "application/json"}),
    ("POST", f"{PREFIX}/running_1/abort", AUTH),  # the harmless repeat
    ("GET", "/no/such/page", {}),
]


def _seen(shop: Host, module: str, document: str) -> dict[str, Any]:
    """What a client and an operator see of the host ``module``: its commands' help, its
    OpenAPI document, the plugin's own document URL, and its answers."""
    commands = shop.run("flask", "--app", module, "import-abort", "--help").stdout
    web = port()
    client = shop.serve(module, "flask", "--app", module, "run", "--port", str(web), port=web)
    with client:
        answers = []
        for method, path, headers in REQUESTS:
            answer = client.request(method, path, headers=headers)
            answers.append(
                (method, path, answer.status_code, _body(answer), answer.headers.get("Allow"))
            )
        openapi = client.get(document)
        own = client.get("/import-abort/openapi.json")
    return {
        "commands": commands,
        "document": (openapi.status_code, openapi.json()),
        "own document": own.status_code,
        "answers": answers,
    }


def _body(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text


@pytest.mark.parametrize(
    ("module", "twin", "document"),
    [
        ("plain", "wired_plain", "/import-abort/openapi.json"),
        ("api", "wired_api", "/openapi.json"),
        ("late", "wired_plain", "/import-abort/openapi.json"),
    ],
)
def test_the_blueprint_registered_alone_behaves_as_importabort_wires_it(
    tmp_path: Path, module: str, twin: str, document: str
) -> None:
    with host("blueprint", tmp_path) as shop:
        alone = _seen(shop, module, document)
        shop.stop()
        wired = _seen(shop, twin, document)
    assert "upgrade-table" in wired["commands"]
    assert alone["commands"] == wired["commands"]
    status, found = wired["document"]
    assert status == 200
    assert "abortImportProcess" in str(found)
    assert alone["document"] == wired["document"]
    assert alone["own document"] == wired["own document"] == (404 if module == "api" else 200)
    assert alone["answers"] == wired["answers"]
