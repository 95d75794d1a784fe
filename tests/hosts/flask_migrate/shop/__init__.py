"""A shop whose tables, the import processes' among them, are made by Flask-Migrate."""

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column

from flask_import_abort import ImportAbort
from flask_import_abort.processes.sql import SQLImportRegistry

db = SQLAlchemy()
migrate = Migrate()
registry = SQLImportRegistry(db)  # its tables join db.metadata: a migration makes them


class Product(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.from_prefixed_env()  # FLASK_SQLALCHEMY_DATABASE_URI, FLASK_IMPORT_ABORT_...
    db.init_app(app)
    migrate.init_app(app, db)
    ImportAbort(app, registry=registry)
    return app
