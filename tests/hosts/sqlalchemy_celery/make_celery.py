"""The Celery worker's app: ``celery -A make_celery worker``."""

from shop import create_app, tasks

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
__all__ = ["celery_app", "tasks"]
