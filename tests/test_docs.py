"""The documentation's Python runs: every ```python block of every page (and of the README and
the package index's page), each page's blocks in order in one namespace, as a reader would type
them. ```py blocks are fragments of a deployment that needs its engine running (Celery, RQ) or
excerpts checked elsewhere; shell and configuration snippets are not Python."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_import_abort import ImportAbort, InMemoryImportRegistry
from flask_import_abort.processes.sql import SQLImportRegistry

ROOT = Path(__file__).parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r"^( *)```(python|py)\n(.*?)^\1```", re.M | re.S)


def blocks(page: Path) -> list[str]:
    """The page's ```python blocks, unindented, in order."""
    return [
        textwrap.dedent(found[3])
        for found in BLOCK.finditer(page.read_text())
        if found[2] == "python"
    ]


def _host() -> Flask:
    app = Flask("host")
    app.config.update(SECRET_KEY="docs-only", IMPORT_ABORT_BEARER_TOKENS=["change-me"])
    return app


def _mounted() -> Flask:
    app = _host()
    ImportAbort(app, registry=InMemoryImportRegistry())
    return app


def _worker_names() -> dict[str, Any]:
    registry = InMemoryImportRegistry()
    written: list[Any] = []
    return {
        "registry": registry,
        "token": registry.register(),
        "path": "products.json",
        "read_batches": lambda path: iter([[1, 2], [3, 4]]),
        "write": written.append,
    }


def _registry_names() -> dict[str, Any]:
    records = [{"sku": f"P{number}"} for number in range(1200)]
    return {
        "records": records,
        "batches_of": lambda items, size: (
            items[start : start + size] for start in range(0, len(items), size)
        ),
        "write_products": lambda batch: None,
    }


#: The names a page's prose says the reader already has (an app, a registry, their records).
PRELUDES: dict[str, Callable[[], dict[str, Any]]] = {
    "deploying.md": lambda: {"app": _host()},
    "languages.md": lambda: {"app": _mounted()},
    "operators.md": lambda: {"app": _mounted()},
    "registries.md": _registry_names,
    "workers.md": _worker_names,
}
#: The databases the pages name, made files of the test's own folder.
DATABASES = ("sqlite:////var/lib/myapp/imports.db", "postgresql+psycopg://app@db.internal/app")


@pytest.fixture
def in_a_folder_of_its_own(tmp_path: Path) -> Iterator[Path]:
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(previous)


def test_the_pages_hold_python_to_run() -> None:
    assert sum(len(blocks(page)) for page in PAGES) >= 12


@pytest.mark.parametrize("page", [page for page in PAGES if blocks(page)], ids=lambda p: p.name)
def test_each_pages_python_runs_in_order(page: Path, in_a_folder_of_its_own: Path) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem}"}
    namespace.update(PRELUDES.get(page.name, dict)())
    made: list[SQLImportRegistry] = []
    try:
        for number, block in enumerate(blocks(page), start=1):
            for database in DATABASES:
                block = block.replace(database, f"sqlite:///{in_a_folder_of_its_own}/imports.db")
            code = compile(block, f"{page.name}, block {number}", "exec")
            exec(code, namespace)  # noqa: S102 - the documentation's own lines
            made += [v for v in namespace.values() if isinstance(v, SQLImportRegistry)]
    finally:
        for registry in made:  # what a reader's process would close at its exit
            registry.close()
