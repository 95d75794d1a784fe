"""A registry whose import processes live in a SQL database, shared by every process reaching it.

Needs the ``[sql]`` extra (SQLAlchemy 2). SQLite (one file, WAL mode) serves the processes of
one machine; PostgreSQL serves several machines. Every time it stores or compares is the
database's own clock.
"""

try:
    import sqlalchemy  # noqa: F401
except ImportError as missing:
    raise ImportError(
        "flask_import_abort.processes.sql needs SQLAlchemy 2: pip install 'flask-import-abort[sql]'"
    ) from missing

from ._registry import FlaskSQLAlchemyLike, SQLImportRegistry
from ._schema import DEFAULT_TABLE_NAME, TOKEN_LENGTH, create_tables, import_process_table

__all__ = [
    "DEFAULT_TABLE_NAME",
    "TOKEN_LENGTH",
    "FlaskSQLAlchemyLike",
    "SQLImportRegistry",
    "create_tables",
    "import_process_table",
]
