"""The process layer stands without the web layer: a worker loads no Flask."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: What an import worker or a reaping script imports.
WORKER_MODULES = [
    "flask_import_abort.processes",
    "flask_import_abort.processes.sql",
    "flask_import_abort.processes.integrations.celery",
    "flask_import_abort.processes.integrations.rq",
]
WEB_MODULES = ("flask", "werkzeug", "flask_smorest", "marshmallow", "apispec")


def _loaded_after(statement: str) -> list[str]:
    script = (
        f"import sys\n{statement}\n"
        f"print(' '.join(sorted(m for m in {WEB_MODULES!r} if m in sys.modules)))"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    return found.stdout.split()


@pytest.mark.parametrize("module", WORKER_MODULES)
def test_importing_a_worker_module_loads_no_web_module(module: str) -> None:
    assert _loaded_after(f"import {module}") == []


def test_the_process_layer_loads_no_asyncio() -> None:
    """asyncio is about half of a cold import of the process layer; a worker of the in-memory
    registry or of a host's own has no use for it."""
    script = "import sys, flask_import_abort.processes; print('asyncio' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    assert found.stdout.split() == [b"False"]


def test_an_async_registrys_cancelled_task_is_a_failure_once_asyncio_is_loaded() -> None:
    """What ``except failures():`` catches, read when an exception is matched."""
    script = (
        "import sys\n"
        "from flask_import_abort.processes.contract import failures\n"
        "assert 'asyncio' not in sys.modules and len(failures()) == 2\n"
        "import asyncio\n"
        "try:\n"
        "    raise asyncio.CancelledError()\n"
        "except failures():\n"
        "    print('caught')\n"
    )
    found = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    assert found.stdout.split() == [b"caught"]


def test_a_worker_that_runs_an_import_on_the_sql_registry_loads_no_web_module() -> None:
    statement = (
        "from flask_import_abort.processes import ImportRun, ImportState\n"
        "from flask_import_abort.processes.sql import SQLImportRegistry\n"
        "registry = SQLImportRegistry('sqlite://')\n"
        "registry.create_table()\n"
        "token = registry.register(total=2)\n"
        "with ImportRun(registry, token) as run:\n"
        "    for batch in run.batches([[1], [2]]):\n"
        "        pass\n"
        "assert run.state is ImportState.SUCCEEDED, run.state"
    )
    assert _loaded_after(statement) == []


def test_the_root_loads_the_web_side_only_when_a_web_name_is_used() -> None:
    assert _loaded_after("import flask_import_abort; flask_import_abort.ImportRun") == []
    assert "flask" in _loaded_after("import flask_import_abort; flask_import_abort.ImportAbort")


def test_an_unknown_root_name_is_an_attribute_error() -> None:
    import flask_import_abort

    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        flask_import_abort.Nothing  # noqa: B018
