"""abortExportProcess, held to the import abort's targets: in process, the plugin's export route
against the same abort written by hand (time per request, interleaved rounds); in the database,
the SQL registry's export abort against its own statement sent through the raw driver."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.test import EnvironBuilder

from flask_import_abort import ImportAbort, ImportState, InMemoryImportRegistry
from flask_import_abort.processes import ProcessKind

from . import apps, floor
from .inprocess import caller
from .stats import interleaved, median, paired_ratio, spread

PATH = "/ccadmin/v1/exportProcess/{token}/abort"
#: path kind -> (token, Authorization, status)
PATHS = {
    "success": (apps.RUNNING, apps.AUTH, 200),
    "404": (apps.UNKNOWN, apps.AUTH, 404),
    "401": (apps.RUNNING, None, 401),
}


def variants() -> dict[str, Any]:
    """The plugin with exports on, and the export abort written by hand, on one registry that
    holds a running export, ``apps.RUNNING``."""
    registry = InMemoryImportRegistry()
    registry.add(ImportState.PROCESSING, token=apps.RUNNING, kind=ProcessKind.EXPORT)
    plugin = Flask(__name__)
    plugin.config.update(IMPORT_ABORT_BEARER_TOKENS=[apps.SECRET], IMPORT_ABORT_EXPORTS=True)
    ImportAbort(plugin, registry=registry)
    rule = PATH.replace("{token}", "<token>")
    bare = apps.bare_app(registry, rule=rule, kind=ProcessKind.EXPORT)
    return {"plugin": plugin.wsgi_app, "bare": bare.wsgi_app}


def _environ(token: str, authorization: str | None) -> dict[str, Any]:
    headers = {} if authorization is None else {"Authorization": authorization}
    built: dict[str, Any] = EnvironBuilder(
        path=PATH.format(token=token), method="POST", headers=headers
    ).get_environ()
    return built


def run(
    *, rounds: int = 15, calls: int = 2_000, floor_rounds: int = 15, floor_calls: int = 100
) -> dict[str, Any]:
    """Each export path in process, and the export abort's floor on each database."""
    wsgi = variants()
    results: dict[str, Any] = {"inprocess": {}}
    for kind, (token, authorization, status) in PATHS.items():
        request = _environ(token, authorization)
        measures = {name: caller(wsgi[name], request, status, calls) for name in wsgi}
        for measure in measures.values():  # warm up
            measure()
        samples = interleaved(measures, rounds)
        row: dict[str, Any] = {
            name: {"us_per_request": median(values), "spread": spread(values), "samples": values}
            for name, values in samples.items()
        }
        row.update(paired_ratio(samples["bare"], samples["plugin"]))
        results["inprocess"][kind] = row
    with floor._databases(["sqlite", "postgresql"]) as found:
        results["floor"] = {
            name: floor.measure(url, floor_rounds, floor_calls, kind="export")["abort"]
            for name, url in found
        }
    return results
