"""The benchmarks' baseline does the plugin's work, and their tools read what they measure."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import pytest
from werkzeug.test import Client

import flask_import_abort
from bench import apps, endtoend, floor, versions
from flask_import_abort import AbortOutcome, ImportState, InMemoryImportRegistry
from flask_import_abort.processes.sql import SQLImportRegistry
from flask_import_abort.processes.sql._store import _Compiled


@pytest.mark.parametrize(
    ("token", "headers", "status"),
    [
        (apps.RUNNING, {"Authorization": apps.AUTH}, 200),
        (apps.UNKNOWN, {"Authorization": apps.AUTH}, 404),
        (apps.RUNNING, {}, 401),
        (apps.RUNNING, {"Authorization": "Bearer wrong"}, 401),
    ],
)
def test_the_bare_baseline_answers_as_the_plugin_does(
    token: str, headers: dict[str, str], status: int
) -> None:
    variants = apps.variants()
    plugin = Client(variants["plugin"]).post(apps.PATH.format(token=token), headers=headers)
    bare = Client(variants["bare"]).post(apps.PATH.format(token=token), headers=headers)

    assert plugin.status_code == bare.status_code == status
    assert json.loads(plugin.data) == json.loads(bare.data)
    assert plugin.headers.get("WWW-Authenticate") == bare.headers.get("WWW-Authenticate")


def test_the_plugin_and_the_baseline_share_one_registry() -> None:
    registry = InMemoryImportRegistry()
    first, second = (registry.add(ImportState.PENDING) for _ in range(2))
    variants = apps.variants(registry)
    auth = {"Authorization": apps.AUTH}

    Client(variants["bare"]).post(apps.PATH.format(token=first), headers=auth)
    Client(variants["plugin"]).post(apps.PATH.format(token=second), headers=auth)

    assert registry.state(first) is registry.state(second) is ImportState.ABORTED


def test_the_served_app_sends_each_prefix_to_its_variant() -> None:
    client = Client(apps.served())
    path = apps.PATH.format(token=apps.RUNNING)
    auth = {"Authorization": apps.AUTH}

    for variant in ("plugin", "bare", "smorest", "floor"):
        response = client.post(f"/{variant}{path}", headers=auth)
        assert (response.status_code, json.loads(response.data)) == (200, {"success": True})
    assert client.post(f"/plugin{path}").status_code == 401  # the plugin checks, the floor not
    assert client.post(f"/floor{path}").status_code == 200


WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:8000/plugin/x
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.51ms    1.10ms  14.02ms   90.12%
  Latency Distribution
     50%  850.00us
     75%    2.61ms
     90%    3.40ms
     99%    1.20s
  3201 requests in 2.00s, 512.20KB read
  Non-2xx or 3xx responses: 12
Requests/sec:   1600.50
Transfer/sec:    256.10KB
"""


def test_wrks_report_is_read_with_its_units(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(*args: object, **kwargs: object) -> object:
        return type("Done", (), {"stdout": WRK_OUTPUT})()

    monkeypatch.setattr(endtoend.subprocess, "run", fake_run)

    assert endtoend.wrk("http://x", None, 2, 4) == {
        "rps": 1600.5,
        "p50_ms": 0.85,
        "p99_ms": 1200.0,
        "requests": 3201,
        "non_2xx": 12,
        "socket_errors": None,
    }


def test_the_floor_sends_the_registrys_own_statements_and_changes_the_same_rows(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'floor.db'}"
    with SQLImportRegistry(url, table_name="floor_check") as registry:
        registry.create_table()
        dialect = registry.engine.dialect
        abort = _Compiled(registry._statements.abort_running, dialect)
        token = registry.register()
        registry.start(token)

        values = {"key": token, "stop_deadline": None, "actor": "raw"}
        values.update(reason=None, request_id=None, end_reason=None, of_kind=None)
        with closing(floor._raw_connection(url)) as raw:
            raw.execute(abort.sql, abort.parameters(values))
            raw.commit()

        assert abort.sql.startswith("UPDATE floor_check SET ")
        assert registry.snapshot(token).aborted_by == "raw"
        assert registry.abort(token) is AbortOutcome.ALREADY_REQUESTED


def test_a_versions_probe_imports_the_package_of_the_checkout_it_is_given(tmp_path: Path) -> None:
    """Not the one this environment installed (an editable install answers for its name)."""
    package = tmp_path / "flask_import_abort"
    package.mkdir()
    (package / "__init__.py").write_text('__version__ = "9.9.9"\n')

    probe = versions.Version("other", tmp_path)
    try:
        assert probe.version == "9.9.9"
    finally:
        probe.close()


def test_a_versions_probe_aborts_running_processes_and_writes_the_simplest_floor(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'versions.db'}"
    probe = versions.Version("this", versions.ROOT)
    try:
        assert probe.version == flask_import_abort.__version__
        probe.ask("fill", key="k", url=url, table="probe_check", rows=8)
        aborts = probe.ask("abort", key="k", calls=2)
        floors = probe.ask("floor", key="k", calls=2)
        with SQLImportRegistry(url, table_name="probe_check") as registry:
            states = [process.abort_requested for process in registry.recent(limit=10)]
        answer = probe.ask("inprocess", calls=3)
    finally:
        probe.close()

    assert len(aborts["us"]) == 2
    assert (len(floors["registry_us"]), len(floors["raw_us"])) == (2, 2)
    # 2 aborts, then 2 pairs: 2 by the registry, 2 by the raw driver
    assert sorted(states) == [False] * 2 + [True] * 6
    assert set(answer) == {"plugin", "bare"}
