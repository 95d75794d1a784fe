"""Tables made without the registry's own calls, as hosts make them: ``db.create_all()`` and a
Flask-Migrate (Alembic) migration that ``flask db migrate`` generated. Either way the table is at
the current schema version from the start: no ERROR at start-up or from any command, and
``upgrade-table`` finds nothing to do and changes nothing."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from flask_import_abort.processes.sql._versions import CURRENT

from .running import TOKEN, Host, host

pytestmark = pytest.mark.slow  # real commands in processes of their own


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'shop.db'}",
        "FLASK_IMPORT_ABORT_BEARER_TOKENS": json.dumps([TOKEN]),
    }


def _schema(database: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


def _versions(database: Path) -> list[int]:
    with closing(sqlite3.connect(database)) as connection:
        return [
            row[0] for row in connection.execute("SELECT version FROM import_processes_version")
        ]


def _assert_current(shop: Host, database: Path) -> None:
    """What a host sees of a table at the current version: quiet commands, and an upgrade with
    nothing to do that leaves every table as it was."""
    for command in (["--help"], ["list"]):
        said = shop.run("flask", "--app", "shop", "import-abort", *command).stdout
        assert "schema version" not in said, said
        assert "ERROR" not in said, said
    assert _versions(database) == [CURRENT]
    before = _schema(database)
    said = shop.run("flask", "--app", "shop", "import-abort", "upgrade-table").stdout
    assert said.strip() == f"the table is at schema version {CURRENT}: nothing to do", said
    assert _schema(database) == before
    assert _versions(database) == [CURRENT]


def test_tables_made_by_create_all_are_at_the_current_schema_version(tmp_path: Path) -> None:
    with host("sqlalchemy_rq", tmp_path, _env(tmp_path)) as shop:
        shop.run("flask", "--app", "shop", "init-db")  # db.create_all()
        _assert_current(shop, tmp_path / "shop.db")


def test_tables_made_by_a_flask_migrate_migration_are_at_the_current_schema_version(
    tmp_path: Path,
) -> None:
    with host("flask_migrate", tmp_path, _env(tmp_path)) as shop:
        shop.run("flask", "--app", "shop", "db", "init")
        generated = shop.run("flask", "--app", "shop", "db", "migrate", "-m", "shop").stdout
        assert "Detected added table 'import_processes'" in generated, generated
        assert "Detected added table 'import_processes_version'" in generated, generated
        shop.run("flask", "--app", "shop", "db", "upgrade")
        _assert_current(shop, tmp_path / "shop.db")
