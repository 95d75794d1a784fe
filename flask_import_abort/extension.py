"""The ImportAbort extension, the one-line way to mount the endpoint on an app."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api

from ._blueprint import blp
from ._config import ARGUMENTS
from ._install import install
from .processes.contract import ImportRegistry

__all__ = ["ImportAbort"]


class ImportAbort:
    """Adds OCC's ``POST {prefix}/{token}/abort`` to a Flask app.

    ``ImportAbort(app, registry=...)``, or ``ext = ImportAbort(...)`` then
    ``ext.init_app(app, registry=...)`` for app factories. One instance may serve several
    apps: each keeps its own settings in ``app.extensions["import_abort"]``.

    Every ``IMPORT_ABORT_*`` key of ``app.config`` has a keyword argument of the same name in
    lower case, without the prefix (``stop_deadline=30`` for ``IMPORT_ABORT_STOP_DEADLINE``),
    which wins over the key: see the Configuration page (``docs/configuration.md``).
    Registering the public ``blp`` yourself does the same as ``init_app`` without arguments.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        registry: ImportRegistry | str | None = None,
        api: Api | None = None,
        **options: Any,
    ) -> None:
        unknown = sorted(set(options) - set(ARGUMENTS))
        if unknown:
            raise TypeError(
                f"ImportAbort() got unknown settings {unknown}; the settings are "
                f"{sorted(ARGUMENTS)} (the IMPORT_ABORT_* keys, in lower case)."
            )
        self._registry = registry
        self._api = api
        self._overrides = {ARGUMENTS[argument].name: value for argument, value in options.items()}
        if app is not None:
            self.init_app(app)

    def init_app(
        self,
        app: Flask,
        *,
        registry: ImportRegistry | str | None = None,
        api: Api | None = None,
    ) -> None:
        """Mount the abort endpoint on ``app``.

        Reads every ``IMPORT_ABORT_*`` key once, setting the defaults on ``app.config`` where
        they are missing; the constructor's arguments win over them, and ``registry`` here
        over both. With ``api`` (a host ``flask_smorest.Api``, initialised on ``app`` first)
        the operation joins that API's document instead of the plugin's own. Raises
        ``RuntimeError`` on a second call for the same app, when no registry is configured or
        when ``api`` is not initialised on ``app``, and ``TypeError`` or ``ValueError`` naming
        the key of a setting that is wrong.
        """
        api = api if api is not None else self._api
        if api is not None and api.spec is None:
            raise RuntimeError(
                "The flask_smorest.Api given to flask-import-abort is not initialised on this "
                "app: call Api(app) or api.init_app(app) first, then ImportAbort."
            )
        settings = install(
            app,
            overrides=self._overrides,
            registry=registry if registry is not None else self._registry,
        )
        if api is not None:
            api.register_blueprint(blp, url_prefix=settings.url_prefix)
        else:
            app.register_blueprint(blp, url_prefix=settings.url_prefix)
