"""gunicorn settings for the tests that serve an app: log the plugin's lines, not each request."""

worker_class = "gthread"
graceful_timeout = 5
logconfig_dict = {
    "root": {"level": "INFO", "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "propagate": True},
        "gunicorn.access": {"level": "WARNING", "propagate": True},
    },
}


def post_worker_init(worker: object) -> None:
    """Say when a worker has loaded the app, so a test starts once every worker can answer."""
    worker.log.info("worker ready to answer")  # type: ignore[attr-defined]
