"""A shop on Flask-SQLAlchemy whose product imports run on Celery workers, and can be aborted."""

from celery import Celery, Task
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column

from flask_import_abort import ImportAbort
from flask_import_abort.processes.sql import SQLImportRegistry

db = SQLAlchemy()
registry = SQLImportRegistry(db)  # its tables join db.metadata: db.create_all() makes them
celery = Celery(__name__)


class Product(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str]
    name: Mapped[str]


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.from_prefixed_env()  # FLASK_SQLALCHEMY_DATABASE_URI, FLASK_CELERY, ...
    db.init_app(app)
    celery_init_app(app)
    ImportAbort(app, registry=registry)

    from . import views

    app.register_blueprint(views.bp)

    @app.cli.command("init-db")
    def init_db() -> None:
        """Create the shop's tables, the import processes' among them."""
        db.create_all()

    return app


def celery_init_app(app: Flask) -> Celery:
    """Flask's Celery pattern: every task runs inside the app's context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery.config_from_object(app.config["CELERY"])
    celery.Task = FlaskTask
    app.extensions["celery"] = celery
    return celery
