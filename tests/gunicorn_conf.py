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
