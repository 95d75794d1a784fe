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

from . import _schema
from ._registry import SQLImportRegistry
from ._schema import create_tables, import_process_table
from ._store import FlaskSQLAlchemyLike

#: The registry's table unless ``table_name=`` names another: ``"import_processes"`` (its
#: version table and outbox are named after it).
DEFAULT_TABLE_NAME: str = _schema.DEFAULT_TABLE_NAME
#: The longest token the table holds, in characters: 256, the endpoint's default limit
#: (``IMPORT_ABORT_TOKEN_MAX_LENGTH``).
TOKEN_LENGTH: int = _schema.TOKEN_LENGTH

__all__ = [
    "DEFAULT_TABLE_NAME",
    "TOKEN_LENGTH",
    "FlaskSQLAlchemyLike",
    "SQLImportRegistry",
    "create_tables",
    "import_process_table",
]
