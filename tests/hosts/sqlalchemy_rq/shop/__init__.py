"""A shop on Flask-SQLAlchemy whose product imports run on RQ workers, and can be aborted."""

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column

from flask_import_abort import ImportAbort
from flask_import_abort.processes.sql import SQLImportRegistry

db = SQLAlchemy()
registry = SQLImportRegistry(db)  # its tables join db.metadata: db.create_all() makes them


class Product(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str]
    name: Mapped[str]


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.from_prefixed_env()  # FLASK_SQLALCHEMY_DATABASE_URI, FLASK_IMPORT_ABORT_...
    db.init_app(app)
    ImportAbort(app, registry=registry)

    from . import views

    app.register_blueprint(views.bp)

    @app.cli.command("init-db")
    def init_db() -> None:
        """Create the shop's tables, the import processes' among them."""
        db.create_all()

    return app
