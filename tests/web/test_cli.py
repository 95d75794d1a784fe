"""``flask import-abort``: list, show, abort in bulk, reap, create the table; exit codes."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from flask_import_abort import AbortRequest, ImportAbort, ImportState, InMemoryImportRegistry
from flask_import_abort.processes import WorkerRegistry
from flask_import_abort.processes.sql import SQLImportRegistry

from ..databases import database_clock
from ..helpers import LEASE, SECRET, Clock, SpyRegistry
from ..servers import ROOT, demo, free_port


def _app(registry: Any, **config: Any) -> Flask:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], **config)
    ImportAbort(app, registry=registry)
    return app


def _cli(registry: Any, **config: Any) -> FlaskCliRunner:
    return _app(registry, **config).test_cli_runner()


def _running(registry: WorkerRegistry) -> str:
    token = registry.register()
    registry.start(token)
    return token


ACTOR = f"cli:{pwd.getpwuid(os.getuid()).pw_name}"


def test_the_group_is_added_by_init_app_and_lists_its_commands() -> None:
    result = _cli(InMemoryImportRegistry()).invoke(args=["import-abort", "--help"])

    assert result.exit_code == 0
    for command in ("list", "show", "abort", "reap", "create-table"):
        assert command in result.output


def test_a_command_of_the_hosts_own_name_is_left_alone() -> None:
    import click

    app = Flask("host")

    @app.cli.command("import-abort")
    def own() -> None:
        click.echo("the host's own")

    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET])
    ImportAbort(app, registry=InMemoryImportRegistry())

    assert app.test_cli_runner().invoke(args=["import-abort"]).output == "the host's own\n"


def test_list_shows_the_latest_processes_and_filters_them(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    old = _running(clocked_registry)
    clock.advance(3 * 3600)
    young, done = _running(clocked_registry), _running(clocked_registry)
    clocked_registry.finish(done, ImportState.SUCCEEDED)
    cli = _cli(clocked_registry)

    everything = cli.invoke(args=["import-abort", "list", "--json"])
    running_old = cli.invoke(
        args=["import-abort", "list", "--state", "processing", "--older-than", "2h", "--json"]
    )
    lines = cli.invoke(args=["import-abort", "list", "--limit", "2"])

    assert everything.exit_code == running_old.exit_code == lines.exit_code == 0
    assert {item["token"] for item in json.loads(everything.output)} == {old, young, done}
    assert [item["token"] for item in json.loads(running_old.output)] == [old]
    assert len(lines.output.splitlines()) == 2


def test_list_chooses_a_kind_and_show_names_an_export(worker_registry: WorkerRegistry) -> None:
    imported, exported = _running(worker_registry), worker_registry.register(kind="export")
    cli = _cli(worker_registry)

    exports = cli.invoke(args=["import-abort", "list", "--kind", "export", "--json"])
    imports = cli.invoke(args=["import-abort", "list", "--kind", "import"])
    shown = cli.invoke(args=["import-abort", "show", exported])
    as_json = cli.invoke(args=["import-abort", "show", imported, "--json"])

    assert [(item["token"], item["kind"]) for item in json.loads(exports.output)] == [
        (exported, "export")
    ]
    assert [line.split()[0] for line in imports.output.splitlines()] == [imported]
    assert shown.output.startswith(f"{exported}  export, pending  0%")
    assert json.loads(as_json.output)["kind"] == "import"


def test_a_kind_is_refused_where_the_registry_records_none() -> None:
    class Listing(SpyRegistry):
        def recent(self, limit: int = 50, **_: Any) -> list[Any]:
            return []

        def count_by_state(self) -> dict[ImportState, int]:
            return {}

    result = _cli(Listing()).invoke(args=["import-abort", "list", "--kind", "export"])

    assert result.exit_code == 1
    assert "records no kinds" in result.output


def test_show_gives_one_process_with_who_aborted_it(worker_registry: WorkerRegistry) -> None:
    token = _running(worker_registry)
    cli = _cli(worker_registry)
    cli.invoke(args=["import-abort", "abort", token, "--reason", "wrong file"])

    shown = cli.invoke(args=["import-abort", "show", token, "--json"])
    line = cli.invoke(args=["import-abort", "show", token])

    assert shown.exit_code == 0
    described = json.loads(shown.output)
    assert (described["aborted_by"], described["abort_reason"]) == (ACTOR, "wrong file")
    assert f"aborted by {ACTOR}: wrong file" in line.output


def test_abort_of_tokens_reports_each_on_its_own_line_and_exits_1_when_one_was_refused(
    worker_registry: WorkerRegistry,
) -> None:
    running, finished = _running(worker_registry), _running(worker_registry)
    worker_registry.finish(finished, ImportState.SUCCEEDED)
    cli = _cli(worker_registry)

    result = cli.invoke(
        args=["import-abort", "abort", running, finished, "no_such", "--yes", "--reason", "x"]
    )

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{running}: abort requested",
        f"{finished}: already finished: not aborted",
        "no_such: not found",
    ]
    snapshot = worker_registry.snapshot(running)
    assert (snapshot.aborted_by, snapshot.abort_reason) == (ACTOR, "x")
    assert worker_registry.snapshot(finished).state is ImportState.SUCCEEDED
    again = cli.invoke(args=["import-abort", "abort", running])
    assert (again.exit_code, again.output) == (0, f"{running}: abort already requested\n")


def test_a_token_a_registry_makes_never_starts_with_a_dash(
    worker_registry: WorkerRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = iter(["-" + "a" * 42, "-" + "b" * 42, "c" * 43])
    monkeypatch.setattr(
        "flask_import_abort.processes.tokens.secrets.token_urlsafe", lambda _: next(made)
    )

    token = worker_registry.register()

    assert token == "c" * 43  # a command line would have read the first two as options
    result = _cli(worker_registry).invoke(args=["import-abort", "abort", token])
    assert (result.exit_code, result.output) == (0, f"{token}: abort requested\n")


def test_a_hosts_token_that_starts_with_a_dash_is_aborted_after_a_double_dash(
    worker_registry: WorkerRegistry,
) -> None:
    token = worker_registry.register(token="-nightly")
    worker_registry.start(token)

    result = _cli(worker_registry).invoke(args=["import-abort", "abort", "--yes", "--", token])

    assert (result.exit_code, result.output) == (0, f"{token}: abort requested\n")
    assert worker_registry.snapshot(token).abort_requested


def test_a_bulk_abort_asks_first_and_a_dry_run_lists_exactly_what_a_real_run_aborts(
    clocked_registry: WorkerRegistry, clock: Clock
) -> None:
    old_running, old_pending = _running(clocked_registry), clocked_registry.register()
    old_done = _running(clocked_registry)
    clocked_registry.finish(old_done, ImportState.FAILED)
    clock.advance(2 * 3600 + 1)
    young = _running(clocked_registry)
    cli = _cli(clocked_registry)
    bulk = ["import-abort", "abort", "--older-than", "2h"]

    before = {token: clocked_registry.snapshot(token) for token in (old_running, young)}
    dry = cli.invoke(args=[*bulk, "--dry-run"])
    after_dry = {token: clocked_registry.snapshot(token) for token in before}
    declined = cli.invoke(args=bulk, input="n\n")
    after_declined = clocked_registry.snapshot(old_running)
    real = cli.invoke(args=[*bulk, "--yes"])

    assert dry.exit_code == 0
    would = {line.split(":")[0] for line in dry.output.splitlines()}
    assert would == {old_running, old_pending}
    assert all(": would abort" in line for line in dry.output.splitlines())
    assert after_dry == before
    assert (declined.exit_code, declined.output.splitlines()[-1]) == (0, "Nothing was aborted.")
    assert "Aborted!" not in declined.output
    assert not after_declined.abort_requested
    assert real.exit_code == 0
    assert {line.split(":")[0] for line in real.output.splitlines()} == would
    assert clocked_registry.snapshot(old_running).aborted_by == ACTOR
    assert clocked_registry.snapshot(old_pending).state is ImportState.ABORTED
    assert not clocked_registry.snapshot(young).abort_requested


@pytest.mark.parametrize(
    "arguments",
    [
        ["abort"],
        ["abort", "t1", "--state", "processing"],
        ["abort", "--older-than", "two hours"],
        ["abort", "--older-than", "2x"],
        ["list", "--older-than", ""],
        ["list", "--state", "running"],
        ["abort", "t1", "--reason", "line\nbreak"],
        ["abort", "t1", "--reason", "x" * 501],
        ["abort", "--older-than", "1000000000d"],
        ["abort", "--older-than", "999999999d"],
        ["list", "--older-than", "36501d"],
        ["abort", "t1", "--reason", "bidi\u202eoverride"],
    ],
    ids=[
        "nothing",
        "both",
        "words",
        "unit",
        "empty",
        "state",
        "control",
        "long",
        "overflowing duration",
        "duration past any date",
        "over a century",
        "direction control",
    ],
)
def test_usage_errors_exit_2_with_one_clear_line_and_change_nothing(arguments: list[str]) -> None:
    spy = SpyRegistry()

    result = _cli(spy).invoke(args=["import-abort", *arguments])

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "Error:" in result.output
    assert spy.calls == []


def test_a_registry_that_cannot_list_says_so_in_one_line() -> None:
    result = _cli(SpyRegistry()).invoke(args=["import-abort", "list"])

    assert result.exit_code == 1
    assert "cannot list its processes: it has no recent()" in result.output
    assert "Traceback" not in result.output


def test_a_database_that_is_down_is_one_line_and_exit_1(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    with SQLImportRegistry(url, request_timeout=2) as registry:
        cli = _cli(registry)

        results = [
            cli.invoke(args=["import-abort", *arguments])
            for arguments in (["list"], ["show", "t1"], ["abort", "t1"], ["reap"])
        ]

    for result in results:
        assert result.exit_code == 1, result.output
        assert len(result.output.strip().splitlines()) == 1
        assert result.output.startswith("error: ")
        assert "Traceback" not in result.output


def test_reap_ends_lost_processes_and_its_dry_run_only_lists_them(clock: Clock) -> None:
    registry = InMemoryImportRegistry(lease=LEASE, clock=clock)
    lost = _running(registry)
    clock.advance(LEASE + 1)
    cli = _cli(registry)

    dry = cli.invoke(args=["import-abort", "reap", "--dry-run"])
    assert registry.snapshot(lost).state is ImportState.PROCESSING
    real = cli.invoke(args=["import-abort", "reap"])
    nothing = cli.invoke(args=["import-abort", "reap"])

    assert dry.output.startswith(f"{lost}: would end")
    assert real.output.startswith(f"{lost}: ended")
    assert registry.snapshot(lost).state is ImportState.FAILED
    assert nothing.output == "no process is lost or overdue\n"


def test_create_table_creates_the_sql_registrys_table(tmp_path: Path) -> None:
    with SQLImportRegistry(f"sqlite:///{tmp_path / 'imports.db'}") as registry:
        result = _cli(registry).invoke(args=["import-abort", "create-table"])
        token = registry.register()
        state = registry.snapshot(token).state

    assert result.exit_code == 0
    assert state is ImportState.PENDING
    assert _cli(SpyRegistry()).invoke(args=["import-abort", "create-table"]).exit_code == 1


@pytest.mark.slow
def test_the_flask_command_against_the_running_example_app_lists_then_aborts_the_same(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'imports.db'}"
    env = {
        "DEMO_BEARER_TOKEN": "cli-test",
        "FLASK_DEMO_DATABASE_URL": database,
        "FLASK_DEMO_BATCH_PAUSE": "0.5",
        "FLASK_DEMO_REAP_INTERVAL": "0",
        "FLASK_DEMO_MAX_RUNNING_IMPORTS": "4",
    }
    three_hours_ago = Clock()
    three_hours_ago.now = datetime.now(timezone.utc) - timedelta(hours=3)
    with demo(tmp_path / "demo.log", env) as server, SQLImportRegistry(database) as registry:
        before = SQLImportRegistry(database)
        with before, database_clock(before, three_hours_ago):
            tokens = [before.register(), before.register()]  # waiting since three hours ago
            before.start(tokens[1])  # and running
        young = _start(server.host)  # an import running now
        flask = [sys.executable, "-m", "flask", "--app", "example_app", "import-abort"]
        cli_env = {**os.environ, **env}
        bulk = [*flask, "abort", "--older-than", "2h"]

        dry = subprocess.run(
            [*bulk, "--dry-run"], cwd=ROOT, env=cli_env, capture_output=True, text=True
        )
        untouched = [registry.snapshot(token).abort_requested for token in tokens]
        real = subprocess.run(
            [*bulk, "--yes", "--reason", "a test"],
            cwd=ROOT,
            env=cli_env,
            capture_output=True,
            text=True,
        )
        young_after = registry.snapshot(young)
        ended = [registry.snapshot(token) for token in tokens]

    assert (dry.returncode, real.returncode) == (0, 0), dry.stderr + real.stderr
    listed = {line.split(":")[0] for line in dry.stdout.splitlines()}
    assert listed == set(tokens)
    assert untouched == [False, False]
    assert {line.split(":")[0] for line in real.stdout.splitlines()} == listed
    assert all(s.aborted_by == ACTOR and s.abort_reason == "a test" for s in ended)
    assert not young_after.abort_requested


def _start(host: str) -> str:
    import http.client

    connection = http.client.HTTPConnection(host, timeout=10)
    try:
        body = {
            "fileName": "products.json",
            "mode": "standalone",
            "id": "Products",
            "format": "json",
        }
        headers = {"Authorization": "Bearer cli-test", "Content-Type": "application/json"}
        connection.request("POST", "/ccadmin/v1/importProcess", json.dumps(body), headers)
        token: str = json.loads(connection.getresponse().read())["processId"]
    finally:
        connection.close()
    return token


@pytest.mark.slow
def test_ctrl_c_in_a_bulk_abort_reports_exactly_what_was_committed(tmp_path: Path) -> None:
    database = tmp_path / "imports.db"
    registry = SQLImportRegistry(f"sqlite:///{database}")
    registry.create_table()
    tokens = [_running(registry) for _ in range(200)]
    environ = {**os.environ, "CLI_TEST_DATABASE": str(database), "CLI_TEST_ABORT_SECONDS": "0.02"}
    command = [sys.executable, "-m", "flask", "--app", "tests.cli_app", "import-abort", "abort"]
    process = subprocess.Popen(
        [*command, "--state", "processing", "--yes"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    said = [process.stdout.readline() for _ in range(20)]
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=30)
    said += rest.splitlines()

    reported = [line for line in said if line.strip().endswith(": abort requested")]
    committed = [token for token in tokens if registry.snapshot(token).abort_requested]
    assert process.returncode == 130, errors
    assert 20 <= len(reported) < len(tokens)
    assert sorted(line.split(":")[0] for line in reported) == sorted(committed)
    assert errors.strip().splitlines()[-1] == (
        f"Interrupted: {len(committed)} aborted, {len(tokens) - len(committed)} not asked "
        f"(of {len(tokens)})."
    )
    registry.close()


def test_the_actor_is_the_processs_user_by_its_uid_never_logname(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = InMemoryImportRegistry()
    token = _running(registry)
    monkeypatch.setenv("LOGNAME", "alice")
    monkeypatch.setenv("USER", "alice")

    assert _cli(registry).invoke(args=["import-abort", "abort", token]).exit_code == 0
    assert registry.snapshot(token).aborted_by == ACTOR != "cli:alice"


def test_a_uid_with_no_name_is_the_actor_by_its_number(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = InMemoryImportRegistry()
    token = _running(registry)

    def no_name(uid: int) -> Any:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_name)
    result = _cli(registry).invoke(args=["import-abort", "abort", token])

    assert result.exit_code == 0, result.output
    assert registry.snapshot(token).aborted_by == f"cli:{os.getuid()}"


def test_what_the_registry_holds_reaches_the_terminal_escaped() -> None:
    registry = InMemoryImportRegistry()
    token = _running(registry)
    hostile = "\x1b[2J\x1b[31mwiped\nINFO import ok\u2028\u202egnp.exe"
    registry.abort(token, AbortRequest(actor=f"cli:{hostile}", reason=hostile))
    cli = _cli(registry)

    for arguments in (["list"], ["show", token]):
        result = cli.invoke(args=["import-abort", *arguments])
        assert result.exit_code == 0
        assert len(result.output.splitlines()) == 1
        for raw in ("\x1b", "\u2028", "\u202e"):
            assert raw not in result.output
        assert "\\x1b[31mwiped\\nINFO import ok\\u2028\\u202egnp.exe" in result.output


def test_show_lists_a_parallel_imports_chunks_under_it() -> None:
    from flask_import_abort import InMemoryImportRegistry

    registry = InMemoryImportRegistry()
    parallel = registry.register_chunks(2, totals=[10, 10])
    registry.start(parallel.chunks[0])
    registry.report_progress(parallel.chunks[0], 5)
    app = Flask("host")
    ImportAbort(app, registry=registry)

    shown = app.test_cli_runner().invoke(args=["import-abort", "show", parallel.token])
    as_json = app.test_cli_runner().invoke(args=["import-abort", "show", parallel.token, "--json"])

    lines = shown.output.splitlines()
    assert lines[0].startswith(f"{parallel.token}  processing  25%")
    assert lines[1].startswith(f"  chunk 1 of 2: {parallel.chunks[0]}  processing  50%")
    assert lines[2].startswith(f"  chunk 2 of 2: {parallel.chunks[1]}  pending  0%")
    described = json.loads(as_json.output)
    assert [chunk["token"] for chunk in described["chunks"]] == list(parallel.chunks)
    assert described["chunks"][0]["parent"] == parallel.token
