"""The documentation's Python runs: every ```python block of every page (and of the README and
the package index's page), each page's blocks in order in one namespace, as a reader would type
them. ```py blocks are fragments of a deployment that needs its engine running (Celery, RQ) or
excerpts checked elsewhere; shell and configuration snippets are not Python."""

from __future__ import annotations

import importlib
import inspect
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

ROOT = Path(__file__).parents[2]
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
        "count": 4,
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


#: The files of tests/hosts that the docs show whole: each host is the docs' recipe.
RECIPES = {
    "docs/occ-clients.md": ["signin_limited/shop.py"],
    "docs/quickstart.md": ["blueprint/plain.py", "blueprint/api.py"],
    "docs/registries.md": ["flask_migrate/shop/__init__.py"],
    "docs/workers.md": [
        "sqlalchemy_rq/shop/__init__.py",
        "sqlalchemy_rq/shop/jobs.py",
        "sqlalchemy_rq/shop/views.py",
        "sqlalchemy_rq/shop/worker.py",
        "sqlalchemy_celery/shop/__init__.py",
        "sqlalchemy_celery/shop/tasks.py",
        "sqlalchemy_celery/shop/views.py",
        "sqlalchemy_celery/make_celery.py",
    ],
    "docs/webhooks.md": ["webhooks/shop.py", "webhooks/receiver.py"],
}
#: A block the docs mark as a host's file: ``<!-- tests/hosts/PATH -->`` on the line before.
SHOWN = re.compile(r"^<!-- tests/hosts/(\S+) -->\n```\w+\n(.*?)^```", re.M | re.S)


@pytest.mark.parametrize("page", sorted(RECIPES))
def test_a_pages_recipes_are_its_host_tests_files_line_for_line(page: str) -> None:
    shown = {found[1]: found[2] for found in SHOWN.finditer((ROOT / page).read_text())}
    assert sorted(shown) == sorted(RECIPES[page])
    for path, code in shown.items():
        host_file = (ROOT / "tests" / "hosts" / path).read_text()
        assert code.splitlines() == host_file.splitlines(), f"{page} shows {path} otherwise"


def test_every_host_file_a_user_would_write_is_shown_by_a_page() -> None:
    """What a host test runs is what the docs tell a user to write; the twins a test compares
    against, and the test modules, are the tests' own."""
    own = {"blueprint/imports.py", "blueprint/late.py", "blueprint/wired_api.py"}
    own |= {"blueprint/wired_plain.py", "running.py", "__init__.py"}
    hosts = ROOT / "tests" / "hosts"
    written = {
        str(path.relative_to(hosts))
        for path in hosts.rglob("*.py")
        if not path.name.startswith("test_") and "__pycache__" not in path.parts
    }
    assert written - own == {path for paths in RECIPES.values() for path in paths}


def _readme_headings() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return [line[3:].strip() for line in readme.splitlines() if line.startswith("## ")]


def _package_texts() -> dict[str, str]:
    """Every page, bench/README.md, and the package's and the example's sources (whose
    docstrings are the API reference)."""
    texts = {str(page.relative_to(ROOT)): page.read_text() for page in PAGES}
    texts["bench/README.md"] = (ROOT / "bench" / "README.md").read_text()
    for folder in ("flask_import_abort", "example_app"):
        for source in sorted((ROOT / folder).rglob("*.py")):
            texts[str(source.relative_to(ROOT))] = source.read_text()
    return texts


def test_a_reference_to_a_readme_section_names_one_that_exists() -> None:
    """ "the README's X" names one of the README's sections, as it is titled now."""
    headings = _readme_headings()
    broken = [
        f"{where}: README's {following[:40]!r}"
        for where, text in _package_texts().items()
        for following in re.findall(r"README['\u2019]s\s+([^\n]*)", text)
        if not any(following.startswith(heading) for heading in headings)
    ]
    assert broken == []


def test_a_link_to_a_readme_section_finds_it() -> None:
    anchors = {re.sub(r"[^\w\- ]", "", h).lower().replace(" ", "-") for h in _readme_headings()}
    broken = [
        f"{where}: README.md#{anchor}"
        for where, text in _package_texts().items()
        for anchor in re.findall(r"README\.md#([\w\-]+)", text)
        if anchor not in anchors
    ]
    assert broken == []


def _documented_constants() -> list[str]:
    """The names the API page documents with ``autodata``, whole, under the module directive
    above each."""
    found, module = [], ""
    for line in (ROOT / "docs" / "api.md").read_text().splitlines():
        if line.startswith((".. module:: ", ".. currentmodule:: ")):
            module = line.split("::")[1].strip()
        elif line.startswith(".. autodata:: "):
            name = line.split("::")[1].strip()
            found.append(name if name.startswith("flask_import_abort.") else f"{module}.{name}")
    return found


@pytest.mark.parametrize("name", _documented_constants())
def test_the_api_page_documents_each_constant_in_the_packages_own_words(name: str) -> None:
    """autodoc documents a constant by the ``#:`` comment above its assignment in the module
    it is documented from; without one, by its type's docstring: the package's own class's,
    or a built-in's (``str``, ``float``, ``frozenset``), which says nothing of it."""
    module_name, _, constant = name.rpartition(".")
    module = importlib.import_module(module_name)
    if type(getattr(module, constant)).__module__.startswith("flask_import_abort."):
        return  # its own class's docstring
    source = Path(inspect.getsourcefile(module) or "").read_text().splitlines()
    assigned = [n for n, line in enumerate(source) if re.match(rf"{constant}\b[^=(]*=", line)]
    assert assigned, f"{constant} is not assigned in {module_name}, so it has no comment there"
    assert source[assigned[0] - 1].lstrip().startswith("#:"), f"{name} has no #: comment"
