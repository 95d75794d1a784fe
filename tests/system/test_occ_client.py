"""An OCC client written in Node.js (`tests/occ_client/occ-client.mjs`), as OCC teams' scripting
clients are written, against the example app under gunicorn: with only its address and an
application key it verifies, reads the registry, signs in, refreshes, calls operations by id,
aborts an import and reads it `aborted`, and shows an error as `OCC Error {errorCode}: {message}`
in the language it asks for."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ..helpers import SECRET
from ..servers import Server, gunicorn

pytestmark = pytest.mark.slow  # a real server and a Node.js client: run once, on the newest Python

CLIENT = (Path(__file__).parents[1] / "occ_client") / "occ-client.mjs"
APPLICATION_KEY = "an-occ-application-key"


def _node() -> str:
    found = shutil.which("node")
    assert found, "Node.js is missing: make test installs it (Debian's nodejs, beside npm)"
    return found


def _client(server: Server, *arguments: str, key: str = APPLICATION_KEY) -> list[dict[str, Any]]:
    """The client's steps, one JSON object each, as it printed them."""
    done = subprocess.run(
        [_node(), str(CLIENT), f"http://{server.host}", key, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    steps = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert steps, done.stderr
    return steps


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("occ-client")
    env = {
        "DEMO_BEARER_TOKEN": SECRET,
        "FLASK_DEMO_DATABASE_URL": f"sqlite:///{folder / 'imports.db'}",
        "FLASK_DEMO_APPLICATION_KEY": APPLICATION_KEY,
        "FLASK_DEMO_BATCH_PAUSE": "0.3",
        # every worker signs and checks with the same key, as the example's gunicorn_conf does
        "FLASK_IMPORT_ABORT_SIGNING_KEYS": json.dumps({"k1": secrets.token_urlsafe(48)}),
    }
    with gunicorn(
        "example_app:create_app()", folder / "gunicorn.log", workers=2, env=env
    ) as server:
        yield server


def test_it_connects_signs_in_and_refreshes_with_only_an_address_and_a_key(example: Server) -> None:
    connect, login, refresh = _client(example, "connect")

    assert connect["version"]
    for operation in [
        "abortImportProcess",
        "getImportProcess",
        "abortExportProcess",
        "getExportProcess",
        "executeExport",
        "executeImport",
        "login",
        "refresh",
    ]:
        assert operation in connect["operations"]
    assert login["expiresIn"] == 300
    # a third of the remaining life: about 100 s of a 300 s token
    assert 95 <= login["refreshIn"] <= 100
    assert refresh["renewed"] is True
    assert 95 <= refresh["refreshIn"] <= 100


def test_it_starts_an_import_aborts_it_by_id_and_reads_it_aborted(example: Server) -> None:
    steps = {step["step"]: step for step in _client(example, "abort", "products.json")}

    assert "failed" not in steps, steps.get("failed")
    assert steps["executeImport"]["status"] == "submitted"
    assert steps["running"]["progress"] == "processing"
    assert steps["abortImportProcess"]["success"] is True
    status = steps["getImportProcess"]
    assert (status["progress"], status["completed"]) == ("aborted", True)
    assert status["abortedBy"] == "demo-client"
    assert 0 < status["recordsWritten"] < status["recordsTotal"]


def test_it_exports_aborts_the_export_by_id_and_reads_it_aborted(example: Server) -> None:
    steps = {step["step"]: step for step in _client(example, "export", "products.json")}

    assert "failed" not in steps, steps.get("failed")
    assert steps["executeExport"]["status"] == "submitted"
    assert steps["exporting"]["progress"] == "processing"
    assert steps["abortExportProcess"]["success"] is True
    status = steps["getExportProcess"]
    assert (status["progress"], status["completed"]) == ("aborted", True)
    assert status["abortedBy"] == "demo-client"
    assert 0 < status["recordsWritten"] < status["recordsTotal"]
    assert [link["rel"] for link in status["links"]] == ["self"]
    # an export's token, on the import's operation: unknown there
    assert steps["crossed"]["status"] == 404
    assert steps["crossed"]["shown"].startswith("OCC Error 30007:")


def test_it_shows_an_error_as_occ_error_in_the_language_it_asks_for(example: Server) -> None:
    *_, shown = _client(example, "error", "de", "abortImportProcess", "no_such_import")

    assert shown["status"] == 404
    assert shown["shown"] == "OCC Error 30007: Es gibt keinen Importvorgang mit diesem Token."


def test_a_wrong_application_key_fails_at_sign_in_with_its_description(example: Server) -> None:
    *_, failed = _client(example, "connect", key="not-the-key")

    assert failed == {
        "step": "failed",
        "error": "sign-in failed: The application key is not valid.",
    }
