"""The webhooks on an app: configured through app.config, delivered by the app's reaper and by
`flask import-abort deliver`, counted in the metrics, and delivered after a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_import_abort import ImportAbort, ImportState, InMemoryImportRegistry, reaper
from flask_import_abort.processes.sql import SQLImportRegistry

from ..helpers import AUTH, abort_url
from ..helpers import SECRET as BEARER
from ..receiver import receiver, verified
from ..servers import ROOT

SECRET = "webhook-secret-of-the-tests"


def _app(registry: Any, **config: Any) -> Flask:
    app = Flask("host")
    app.config.update(
        IMPORT_ABORT_BEARER_TOKENS=[BEARER],
        IMPORT_ABORT_WEBHOOK_SECRET=SECRET,
        IMPORT_ABORT_WEBHOOK_TIMEOUT=2.0,
    )
    app.config.update(config)
    ImportAbort(app, registry=registry)
    return app


@pytest.mark.parametrize(
    ("config", "error", "says"),
    [
        (
            {"IMPORT_ABORT_WEBHOOK_SECRET": None},
            ValueError,
            "IMPORT_ABORT_WEBHOOK_SECRET is required",
        ),
        ({"IMPORT_ABORT_WEBHOOK_SECRET": ""}, ValueError, "an empty string given"),
        (
            {"IMPORT_ABORT_WEBHOOK_URLS": "http://hooks.example.com/in"},
            ValueError,
            "IMPORT_ABORT_WEBHOOK_URLS: .*https",
        ),
        ({"IMPORT_ABORT_WEBHOOK_URLS": 42}, TypeError, "IMPORT_ABORT_WEBHOOK_URLS is a URL"),
        (
            {"IMPORT_ABORT_WEBHOOK_ALLOW_HTTP": "false"},
            TypeError,
            "IMPORT_ABORT_WEBHOOK_ALLOW_HTTP must be True or False",
        ),
        ({"IMPORT_ABORT_WEBHOOK_TIMEOUT": "10"}, ValueError, "IMPORT_ABORT_WEBHOOK_TIMEOUT"),
        (
            {"IMPORT_ABORT_WEBHOOK_HEADERS": {"X-Oracle-CC-WebHook-Signature": "x"}},
            ValueError,
            "IMPORT_ABORT_WEBHOOK_HEADERS",
        ),
        (
            {"IMPORT_ABORT_WEBHOOK_HEADERS": {"X-Note": "café"}},
            ValueError,
            "IMPORT_ABORT_WEBHOOK_HEADERS: .*visible ASCII",
        ),
        (
            {"IMPORT_ABORT_WEBHOOK_HEADERS": {"X-Note": "a\nb"}},
            ValueError,
            "IMPORT_ABORT_WEBHOOK_HEADERS: .*visible ASCII",
        ),
        (
            {"IMPORT_ABORT_WEBHOOK_STANDARD_HEADERS": "false"},
            TypeError,
            "IMPORT_ABORT_WEBHOOK_STANDARD_HEADERS must be True or False",
        ),
        (
            {"IMPORT_ABORT_WEBHOOK_BASIC_AUTH": "user:pw"},
            TypeError,
            "IMPORT_ABORT_WEBHOOK_BASIC_AUTH",
        ),
        (
            {"IMPORT_ABORT_WEBHOOK_BASE_URL": "admin.example.com"},
            ValueError,
            "IMPORT_ABORT_WEBHOOK_BASE_URL",
        ),
    ],
)
def test_a_webhook_setting_that_makes_no_sense_fails_at_init_app_naming_its_key(
    config: dict[str, Any], error: type[Exception], says: str
) -> None:
    settings = {"IMPORT_ABORT_WEBHOOK_URLS": "https://hooks.example.com/in", **config}
    with pytest.raises(error, match=says):
        _app(InMemoryImportRegistry(webhooks=True), **settings)


def test_urls_with_a_registry_that_writes_no_notices_fail_at_init_app() -> None:
    with pytest.raises(ValueError, match="writes no notices: make it with webhooks=True"):
        _app(InMemoryImportRegistry(), IMPORT_ABORT_WEBHOOK_URLS="https://hooks.example.com/in")


def test_the_secret_is_never_in_an_error_or_the_settings_repr() -> None:
    with pytest.raises(ValueError, match="must be https") as refused:
        _app(
            InMemoryImportRegistry(webhooks=True),
            IMPORT_ABORT_WEBHOOK_URLS="http://hooks.example.com/in",
        )
    app = _app(
        InMemoryImportRegistry(webhooks=True), IMPORT_ABORT_WEBHOOK_URLS="https://h.example/in"
    )
    assert SECRET not in str(refused.value)
    assert SECRET not in repr(app.extensions["import_abort"])


def test_a_hanging_receiver_never_delays_a_reap() -> None:
    lease, interval, timeout = 0.5, 0.2, 1.0
    registry = InMemoryImportRegistry(lease=lease, webhooks=True)
    for _ in range(15):  # 15 notices due, to a receiver that never answers
        ended = registry.register()
        registry.start(ended)
        registry.finish(ended, ImportState.SUCCEEDED)
    with receiver(["hang"]) as hooks:
        app = _app(
            registry, IMPORT_ABORT_WEBHOOK_URLS=hooks.url, IMPORT_ABORT_WEBHOOK_TIMEOUT=timeout
        )
        with reaper(app, interval):
            _until(hooks.took)  # a delivery hangs now
            lost = registry.register()
            registry.start(lost)  # and its worker dies: no heartbeat after this one
            started = time.monotonic()
            _until(lambda: registry.snapshot(lost).state is ImportState.FAILED)
            took = time.monotonic() - started

    assert took <= 2 * (lease + 2 * interval) + 1
    assert registry.snapshot(lost).end_reason == "worker_lost"


def test_the_apps_reaper_delivers_an_abort_answered_by_the_endpoint(tmp_path: Path) -> None:
    registry = SQLImportRegistry(f"sqlite:///{tmp_path / 'imports.db'}", webhooks=True)
    registry.create_table()
    token = registry.register(metadata={"format": "json", "id": "Products"})
    with receiver([200]) as hooks:
        app = _app(
            registry,
            IMPORT_ABORT_WEBHOOK_URLS=hooks.url,
            IMPORT_ABORT_WEBHOOK_BASE_URL="https://admin.example.com",
        )
        answer = app.test_client().post(abort_url(token), json={"reason": "wrong"}, headers=AUTH)
        with reaper(app, 0.1):
            took = _until(hooks.took)
    registry.close()

    assert answer.get_json() == {"success": True}
    [request] = took
    body = json.loads(request.body)
    assert verified(request.body, request.headers["X-Oracle-CC-WebHook-Signature"], SECRET)
    assert (body["processId"], body["progress"], body["abortReason"]) == (token, "aborted", "wrong")
    assert body["abortedBy"] == "bearer-1"  # the bearer token by its place
    assert body["links"] == [
        {"rel": "status", "href": f"https://admin.example.com/ccadmin/v1/importProcess/{token}"}
    ]


def test_deliver_and_show_on_the_command_line_and_the_metrics_count(tmp_path: Path) -> None:
    from flask_import_abort.operators.metrics import ImportAbortMetrics

    registry = InMemoryImportRegistry(webhooks=True)
    token = registry.register()
    registry.start(token)
    registry.finish(token, ImportState.SUCCEEDED)
    with receiver([500, 200]) as hooks:
        app = _app(registry, IMPORT_ABORT_WEBHOOK_URLS=hooks.url)
        metrics = ImportAbortMetrics(app)
        runner = app.test_cli_runner()
        first = runner.invoke(args=["import-abort", "deliver"])
        settings_shown = repr(app.extensions["import_abort"])
        shown = runner.invoke(args=["import-abort", "show", token])
        time.sleep(2.1)  # the first wait
        second = runner.invoke(args=["import-abort", "deliver"])
        as_json = runner.invoke(args=["import-abort", "show", token, "--json"])

    assert first.output.strip() == "0 delivered, 1 to be tried again, 0 failed"
    assert first.exit_code == 1  # an attempt failed: a cron job's run says so
    assert second.exit_code == 0
    assert "  notice " in shown.output
    assert "pending, 1 attempt(s)" in shown.output
    assert "answered 500" in shown.output
    assert "/hooks/imports" not in shown.output + as_json.output + settings_shown
    assert "/…: answered 500" in shown.output
    assert second.output.strip() == "1 delivered, 0 to be tried again, 0 failed"
    [notice] = json.loads(as_json.output)["notices"]
    assert (notice["state"], notice["attempts"]) == ("delivered", 2)
    scraped = _scrape(app, metrics)
    assert 'import_abort_webhook_notices_total{result="retried"} 1.0' in scraped
    assert 'import_abort_webhook_notices_total{result="delivered"} 1.0' in scraped


def test_deliver_failed_tries_the_failed_ones_again_and_without_urls_says_so() -> None:
    registry = InMemoryImportRegistry(webhooks=True)
    token = registry.register()
    registry.abort(token)
    with receiver([404, 404, 404, 404, 404, 200]) as hooks:
        app = _app(registry, IMPORT_ABORT_WEBHOOK_URLS=hooks.url)
        dispatcher = app.extensions["import_abort.operators"].dispatcher
        dispatcher.first_wait = 0.001
        for _ in range(5):
            dispatcher.deliver()
            time.sleep(0.05)
        assert registry.notices(token)[0].state == "failed"
        again = app.test_cli_runner().invoke(args=["import-abort", "deliver", "--failed"])
    assert again.output.splitlines() == [
        "1 failed notice(s) made due again",
        "1 delivered, 0 to be tried again, 0 failed",
    ]
    plain = Flask("plain")
    plain.config["IMPORT_ABORT_BEARER_TOKENS"] = [BEARER]
    ImportAbort(plain, registry=InMemoryImportRegistry())
    refused = plain.test_cli_runner().invoke(args=["import-abort", "deliver"])
    assert refused.exit_code == 1
    assert "no webhook is configured" in refused.output


@pytest.mark.slow
def test_a_notice_whose_writer_was_killed_before_delivering_is_delivered_after(
    tmp_path: Path,
) -> None:
    database = tmp_path / "imports.db"
    own = SQLImportRegistry(f"sqlite:///{database}", webhooks=True)
    own.create_table()
    token = own.register(metadata={"format": "json", "id": "Products"})
    with receiver([200]) as hooks:
        environ = {
            **os.environ,
            "WEBHOOK_TEST_DATABASE": str(database),
            "WEBHOOK_TEST_URL": hooks.url,
        }
        writer = subprocess.Popen(
            [sys.executable, "-m", "tests.webhook_app", "end", token],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ended"
        os.kill(writer.pid, signal.SIGKILL)  # the end is written; nothing was delivered
        writer.wait(timeout=10)
        writer.stdout.close()
        assert hooks.took() == []
        assert [notice.state for notice in own.notices(token)] == ["pending"]

        restarted = subprocess.run(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "tests.webhook_app",
                "import-abort",
                "deliver",
            ],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
        took = hooks.took()
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.strip() == "1 delivered, 0 to be tried again, 0 failed"
    [request] = took
    assert json.loads(request.body)["processId"] == token
    assert [notice.state for notice in own.notices(token)] == ["delivered"]
    own.close()


def _until(read: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := read()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return found


def _scrape(app: Flask, metrics: Any) -> str:
    with app.test_request_context():
        return metrics.exposition().get_data(as_text=True)
