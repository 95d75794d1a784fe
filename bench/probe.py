"""One version's side of ``python -m bench --against REF``: a process that imports the
package from the checkout it is given, and measures on command.

It is run as a script (``python bench/probe.py CHECKOUT``), one process a version, and reads
one JSON command a line on stdin, answering one JSON line on stdout. It imports nothing of the
bench and only what every version since 0.2.0 has: ``ImportAbort``, ``InMemoryImportRegistry``,
``BearerTokens``, ``AbortRequest``, ``AbortOutcome`` and ``ImportState`` from the root, and
``SQLImportRegistry`` (``registries.sql`` until 0.2, ``processes.sql`` since). So the same
commands measure any two versions, each in a process of its own, on the same interpreter and
the same dependencies, in rounds the parent interleaves.

Commands:

- ``{"op": "fill", "key", "url", "table", "rows"}``: a registry on a fresh table holding
  ``rows`` running processes, each made as a host makes one (``register(total=10)``, then
  ``start``); the newest are aborted first. As in a host, where workers start imports and the
  web process aborts them, the processes are made through a registry (and connections) of
  their own: on PostgreSQL, a connection updating rows it has just written itself is slower
  (10 to 25 % here, with the raw driver alone), which is no host's case.
- ``{"op": "abort", "key", "calls"}``: that many aborts of running processes, µs each.
- ``{"op": "floor", "key", "calls"}``: that many pairs, alternating which goes first, of the
  registry's abort and the simplest durable abort any code could write on the same table
  (``UPDATE <table> SET abort_requested_at = ... WHERE token = ...`` and ``COMMIT``, through the
  raw driver): µs of each.
- ``{"op": "inprocess", "calls"}``: µs per request of the plugin's abort and of a hand-written
  Flask view (the same bearer check, the same registry call, an empty body), in turn.
- ``{"op": "drop"}``: drops every table it made.
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def _own_checkout(checkout: str) -> None:
    """Import the package from ``checkout``, whatever the environment has installed: an
    editable install's import hook would otherwise answer for the package's modules."""
    sys.meta_path[:] = [
        finder for finder in sys.meta_path if "__editable__" not in type(finder).__module__
    ]
    sys.path.insert(0, checkout)


def _registry_class() -> Any:
    try:
        from flask_import_abort.processes.sql import SQLImportRegistry
    except ImportError:  # 0.2
        from flask_import_abort.registries.sql import SQLImportRegistry
    return SQLImportRegistry


class Probe:
    #: A running process stays running through the whole bench: no heartbeat goes stale.
    LEASE = 24 * 3600.0

    def __init__(self) -> None:
        self.stores: dict[str, dict[str, Any]] = {}

    def fill(self, key: str, url: str, table: str, rows: int) -> dict[str, Any]:
        registry_class = _registry_class()
        registry = registry_class(url, table_name=table, lease=self.LEASE)
        registry.table.metadata.drop_all(registry.engine)
        registry.create_table()
        started = time.perf_counter()
        tokens = []
        workers = registry_class(url, table_name=table, lease=self.LEASE)
        for _ in range(rows):
            token = workers.register(total=10)
            workers.start(token)
            tokens.append(token)
        workers.engine.dispose()
        self.stores[key] = {
            "registry": registry,
            "tokens": tokens,
            "raw": _raw_connection(registry.engine.url),
        }
        return {"seconds": time.perf_counter() - started}

    def abort(self, key: str, calls: int) -> dict[str, Any]:
        store = self.stores[key]
        return {"us": [_timed(store["registry"].abort, self._next(store)) for _ in range(calls)]}

    def floor(self, key: str, calls: int) -> dict[str, Any]:
        store = self.stores[key]
        registry, raw = store["registry"], store["raw"]
        sqlite = isinstance(raw, sqlite3.Connection)
        sql = f"UPDATE {registry.table.name} SET abort_requested_at = " + (
            "? WHERE token = ?" if sqlite else "%s WHERE token = %s"
        )

        def write(token: str) -> None:
            now = datetime.now(timezone.utc)
            if sqlite:  # stored as SQLAlchemy stores a DateTime
                now = now.replace(tzinfo=None)
            cursor = raw.cursor()
            cursor.execute(sql, (now.isoformat(sep=" "), token))
            cursor.close()
            raw.commit()

        ours, theirs = [], []
        for call in range(calls):
            pair = [(registry.abort, ours), (write, theirs)]
            for operation, times in pair if call % 2 else pair[::-1]:
                times.append(_timed(operation, self._next(store)))
        return {"registry_us": ours, "raw_us": theirs}

    def inprocess(self, calls: int) -> dict[str, Any]:
        if "apps" not in self.stores:
            self.stores["apps"] = _apps()
        measured = self.stores["apps"]
        return {name: _per_request(wsgi, environ, calls) for name, (wsgi, environ) in measured}

    def drop(self) -> dict[str, Any]:
        for store in self.stores.values():
            if isinstance(store, dict) and "registry" in store:
                store["raw"].close()
                store["registry"].table.metadata.drop_all(store["registry"].engine)
                store["registry"].engine.dispose()
        self.stores.clear()
        return {}

    @staticmethod
    def _next(store: dict[str, Any]) -> str:
        if not store["tokens"]:
            raise RuntimeError("every running process of the table is aborted: fill more rows")
        return str(store["tokens"].pop())


def _timed(operation: Any, token: str) -> float:
    started = time.perf_counter_ns()
    answer = operation(token)
    elapsed = (time.perf_counter_ns() - started) / 1000
    if answer is not None and getattr(answer, "name", "REQUESTED") != "REQUESTED":
        raise AssertionError(f"abort of {token}: {answer}, not REQUESTED")
    return elapsed


def _raw_connection(url: Any) -> Any:
    if url.get_backend_name() == "sqlite":
        return sqlite3.connect(url.database or "", timeout=5)
    import psycopg

    return psycopg.connect(url.set(drivername="postgresql").render_as_string(False))


SECRET = "bench-admin-token"
RUNNING = "bench_running_1"
RULE = "/ccadmin/v1/importProcess/<token>/abort"


def _apps() -> list[tuple[str, tuple[Any, dict[str, Any]]]]:
    """The plugin's abort and the hand-written view, on one in-memory registry."""
    from flask import Flask, jsonify, request
    from werkzeug.test import EnvironBuilder

    from flask_import_abort import (
        AbortOutcome,
        AbortRequest,
        BearerTokens,
        ImportAbort,
        ImportState,
        InMemoryImportRegistry,
    )

    registry = InMemoryImportRegistry()
    registry.add(ImportState.PROCESSING, token=RUNNING)
    plugin = Flask("plugin")
    plugin.config["IMPORT_ABORT_BEARER_TOKENS"] = [SECRET]
    ImportAbort(plugin, registry=registry)

    bare = Flask("bare")
    tokens = BearerTokens([SECRET])

    @bare.post(RULE)
    def abort_import_process(token: str) -> Any:
        authorization = request.headers.get("Authorization")
        actor = tokens.match(authorization)
        if actor is None:
            return jsonify(status="401"), 401, {"WWW-Authenticate": "Bearer"}
        body = request.get_json(silent=True) if request.content_length else None
        reason = body.get("reason") if isinstance(body, dict) else None
        outcome = registry.abort(token, AbortRequest(actor=actor, reason=reason))
        if outcome is AbortOutcome.NOT_FOUND:
            return jsonify(status="404"), 404
        return jsonify(success=True)

    environ = EnvironBuilder(
        path=RULE.replace("<token>", RUNNING),
        method="POST",
        headers={"Authorization": f"Bearer {SECRET}"},
    ).get_environ()
    return [("plugin", (plugin.wsgi_app, environ)), ("bare", (bare.wsgi_app, environ))]


def _per_request(wsgi: Any, base: dict[str, Any], calls: int) -> float:
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    started = time.perf_counter_ns()
    for _ in range(calls):
        environ = base.copy()
        environ["wsgi.input"] = io.BytesIO(b"")
        body = wsgi(environ, start_response)
        b"".join(body)
        if hasattr(body, "close"):
            body.close()
    elapsed = (time.perf_counter_ns() - started) / calls / 1000
    if any(not status.startswith("200") for status in statuses):
        raise AssertionError(f"expected 200, got {set(statuses)}")
    return elapsed


def main() -> None:
    _own_checkout(str(Path(sys.argv[1]).resolve()))
    import flask_import_abort

    probe = Probe()
    print(json.dumps({"version": flask_import_abort.__version__}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        operation = getattr(probe, command.pop("op"))
        print(json.dumps(operation(**command)), flush=True)


if __name__ == "__main__":
    main()
