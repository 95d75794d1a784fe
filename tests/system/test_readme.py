"""The documentation's pages and tables say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import flask_import_abort
from bench.__main__ import TARGETS
from flask_import_abort import errors
from flask_import_abort._config import KEYS

from ..web import test_fuzz, test_hostile
from . import test_load

ROOT = Path(__file__).parents[2]
#: Every page of the documentation, one after the other, each ending where the next begins.
DOCS = "".join(
    f"{page.read_text()}\n## (end of {page.name})\n"
    for page in sorted((ROOT / "docs").glob("*.md"))
)
PACKAGE = ROOT / "flask_import_abort"
CATALOG = [
    cls
    for cls in vars(errors).values()
    if isinstance(cls, type)
    and issubclass(cls, errors.ImportAbortError)
    and not cls.__name__.startswith("_")
]


def _section(title: str) -> str:
    """The section ``## title`` (or the page ``# title``) of the documentation's pages, up to
    the next section."""
    match = re.search(rf"^##? {title}\n(.*?)(?=^##? )", DOCS, re.M | re.S)
    assert match, title
    return match.group(1)


def test_the_configuration_table_is_the_keys_as_the_package_declares_them() -> None:
    rows = re.findall(r"^\| `IMPORT_ABORT_.*$", _section("Configuration"), re.M)
    declared = [
        f"| `{key.name}` | `{key.argument}`"
        + (" (also of `init_app`)" if key.argument == "registry" else "")
        + f" | {key.shown} | {key.meaning} |"
        for key in KEYS
    ]

    assert rows == declared


@pytest.mark.parametrize("error", CATALOG, ids=lambda cls: cls.__name__)
def test_every_catalog_error_has_its_row_in_the_errors_table(
    error: type[errors.ImportAbortError],
) -> None:
    row = f"| {error.code} | `{error.error_code}` | {error.message} |"

    assert row in _section("Errors")


#: The export routes' errors, each answering with the code of its import twin.
TWINS = {
    errors.ExportNotFound: errors.ImportNotFound,
    errors.ExportMethodNotAllowed: errors.MethodNotAllowed,
    errors.ExportFinished: errors.ImportFinished,
}


def test_error_codes_are_unique_numeric_strings() -> None:
    own = [cls for cls in CATALOG if cls is not errors.ImportAbortError and cls not in TWINS]
    codes = [cls.error_code for cls in own]
    codes.append(errors.FOREIGN_ERROR_CODE)

    assert len(codes) == len(set(codes))
    for export, twin in TWINS.items():
        assert (export.code, export.error_code) == (twin.code, twin.error_code)
    assert all(code.isdigit() for code in codes)
    assert f"| any | `{errors.FOREIGN_ERROR_CODE}` |" in _section("Errors")


def test_the_security_section_states_the_sizes_the_tests_run() -> None:
    security = _section("Security")
    load = test_load.CONNECTIONS * (test_load.REQUESTS_PER_CONNECTION + 1)

    assert f"{4 * test_fuzz.CASES:,} generated requests" in security
    assert f"{len(test_hostile.CORPUS)} requests" in security
    assert f"{len(test_hostile.SETTINGS_CORPUS)} settings" in security
    assert f"{len(test_hostile.SIGN_IN_CORPUS)} sign-ins" in security
    assert f"{load:,} requests over {2 * test_load.CONNECTIONS} connections" in security


def test_the_benchmarks_page_states_the_benchmarks_targets() -> None:
    labels = {
        "inprocess": "In-process",
        "instructions": "Instructions",
        "endtoend": "End to end",
        "languages": "Languages",
    }
    section = (ROOT / "bench" / "README.md").read_text()
    for key, target in TARGETS.items():
        kind, _, path = key.partition(" ")
        if kind == "floor":
            database = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[path]
            pattern = rf"^\| Floor, {database}, \w+ \|.*\| ≥ ([\d.]+) \|$"
            rows = re.findall(pattern, section, re.M)
            assert [float(found) for found in rows] == [target] * 3
            continue
        if kind == "simplest":
            database = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[path]
            pattern = rf"^\| Floor, {database}, abort, simplest \|.*\| ≥ ([\d.]+) \|$"
            assert [float(found) for found in re.findall(pattern, section, re.M)] == [target]
            continue
        if kind == "versions":
            pattern = r"^\| Versions, \w+, [\d,]+ running \|.*\| ≤ ([\d.]+) \|$"
            rows = re.findall(pattern, section, re.M)
            assert [float(found) for found in rows] == [target] * 6
            continue
        if kind == "signin":
            row = re.search(r"^\| Sign-in, success: .*\| ≥ ([\d.]+) \|$", section, re.M)
            assert row, key
            assert float(row[1]) == target
            continue
        if kind == "webhooks":
            rows = re.findall(r"^\| Webhooks, end, \w+ \|.*\| ≥ ([\d.]+) \|$", section, re.M)
            assert [float(found) for found in rows] == [target, target]
            continue
        if kind == "parallel":
            row = re.search(r"^\| Parallel, heartbeat: .*\| ≤ ([\d.]+) \|$", section, re.M)
            assert row, key
            assert float(row[1]) == target
            continue
        if kind == "exports" and path.startswith("floor "):
            database = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[path.split()[1]]
            row = re.search(
                rf"^\| Exports, floor, {database}, abort \|.*\| ≥ ([\d.]+) \|$", section, re.M
            )
            assert row, key
            assert float(row[1]) == target
            continue
        if kind == "exports":
            row = re.search(rf"^\| Exports, {path}: .*\| ≥ ([\d.]+) \|$", section, re.M)
            assert row, key
            assert float(row[1]) == target
            continue
        if kind == "scaling":
            rows = re.findall(r"^\| Scaling, \w+ \|.*\| ≤ ([\d.]+) \|$", section, re.M)
            assert [float(found) for found in rows] == [target, target]
            continue
        for found_path in [path] if path else ["success", "404", "401"]:
            row = re.search(rf"^\| {labels[kind]}, {found_path}:.*\| ≥ ([\d.]+) \|$", section, re.M)
            assert row, key
            assert float(row[1]) == target


def test_the_api_section_names_every_public_name() -> None:
    api = _section("API")
    table = " ".join(re.findall(r"^\| (.*?) \|", api, re.M))

    for name in flask_import_abort.__all__:
        if name != "__version__":
            assert f"`{name}" in table, name


def test_the_api_section_draws_every_module_and_each_internal_one_says_so() -> None:
    api = _section("API")
    modules = sorted(PACKAGE.rglob("*.py"))

    for module in modules:
        assert module.name in api, module
        internal = module.name.startswith("_") and module.name != "__init__.py"
        docstring = module.read_text().split('"""')[1]
        assert docstring.startswith("Internal:") == internal, module


def test_every_public_module_is_in_the_api_tables() -> None:
    api = _section("API")
    for module in sorted(PACKAGE.rglob("*.py")):
        parts = module.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts) or len(parts) == 1:
            continue
        dotted = ".".join(parts)
        if parts[1] == "processes":
            public = len(parts) == 2 or dotted in PUBLIC_PROCESS_MODULES
        else:  # the web layer: its modules, and the rooms' own (a room's face is a docstring)
            public = module.name != "__init__.py" or dotted.count(".") > 1
        if public:
            assert f"`{dotted}`" in api, dotted


#: The process layer's modules a host imports by name; the others' names are re-exported.
PUBLIC_PROCESS_MODULES = {
    "flask_import_abort.processes.sql",
    "flask_import_abort.processes.webhooks",
    "flask_import_abort.processes.notices",
    "flask_import_abort.processes.integrations.celery",
    "flask_import_abort.processes.integrations.rq",
    "flask_import_abort.processes.integrations.options",
}


def test_the_api_reference_documents_every_public_name() -> None:
    import flask_import_abort.processes as processes

    reference = (ROOT / "docs" / "api.md").read_text().split("## Reference")[1]
    for module in (flask_import_abort, processes):
        for name in module.__all__:
            if name != "__version__":
                # By its name, or whole from the module that defines it (where its comment is).
                whole = rf"(flask_import_abort\.processes\.\w+\.)?{name}"
                assert re.search(rf"^\.\. auto\w+:: {whole}$", reference, re.M), name


def test_the_readme_stays_short_and_leads_into_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()

    assert len(readme.splitlines()) <= 200
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name not in ("index.md", "pypi.md", "changelog.md"):
            assert f"(docs/{page.name})" in readme, page.name
