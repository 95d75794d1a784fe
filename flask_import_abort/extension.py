"""The ImportAbort extension, the one-line way to mount the endpoint on an app."""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask_smorest import Api

from . import _openapi, cli  # noqa: F401  (wire the CLI and the document on registration)
from ._auth import Authorizer
from ._settings import Config, install
from ._views import blp
from .processes.contract import ImportRegistry
from .processes.reaping import ForceStop

__all__ = ["ImportAbort"]


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET


class ImportAbort:
    """Adds OCC's ``POST {prefix}/{token}/abort`` to a Flask app.

    ``ImportAbort(app, registry=...)``, or ``ext = ImportAbort(...)`` then
    ``ext.init_app(app, registry=...)`` for app factories. One instance may serve several
    apps: each keeps its own settings in ``app.extensions["import_abort"]``. A keyword argument
    wins over the matching ``IMPORT_ABORT_*`` key of ``app.config``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        registry: ImportRegistry | str | None = None,
        api: Api | None = None,
        url_prefix: str | _Unset = UNSET,
        authorize: Authorizer | str | _Unset | None = UNSET,
        bearer_tokens: Iterable[str] | str | _Unset = UNSET,
        allow_anonymous: bool | _Unset = UNSET,
        token_max_length: int | _Unset = UNSET,
        max_body_bytes: int | _Unset = UNSET,
        openapi_url: str | _Unset | None = UNSET,
        stop_deadline: float | _Unset | None = UNSET,
        force_stop: ForceStop | str | _Unset | None = UNSET,
        force_stop_timeout: float | _Unset = UNSET,
        default_locale: str | _Unset = UNSET,
        translations: str | os.PathLike[str] | _Unset | None = UNSET,
    ) -> None:
        self._registry = registry
        self._api = api
        given = {
            Config.URL_PREFIX: url_prefix,
            Config.AUTHORIZE: authorize,
            Config.BEARER_TOKENS: bearer_tokens,
            Config.ALLOW_ANONYMOUS: allow_anonymous,
            Config.TOKEN_MAX_LENGTH: token_max_length,
            Config.MAX_BODY_BYTES: max_body_bytes,
            Config.OPENAPI_URL: openapi_url,
            Config.STOP_DEADLINE: stop_deadline,
            Config.FORCE_STOP: force_stop,
            Config.FORCE_STOP_TIMEOUT: force_stop_timeout,
            Config.DEFAULT_LOCALE: default_locale,
            Config.TRANSLATIONS: translations,
        }
        self._overrides: dict[str, Any] = {
            key: value for key, value in given.items() if value is not UNSET
        }
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

        Reads, once, with these defaults set on ``app.config`` where missing:

        - ``IMPORT_ABORT_REGISTRY``: the registry, or a ``"module:attribute"`` string naming it.
        - ``IMPORT_ABORT_URL_PREFIX`` (``/ccadmin/v1/importProcess``): where the route mounts.
        - ``IMPORT_ABORT_AUTHORIZE`` (None): a callable taking the request, or its import string.
        - ``IMPORT_ABORT_BEARER_TOKENS`` (none): accepted ``Authorization: Bearer`` tokens.
        - ``IMPORT_ABORT_ALLOW_ANONYMOUS`` (False): let every caller through; a real bool.
        - ``IMPORT_ABORT_TOKEN_MAX_LENGTH`` (256): longer tokens are refused with 400.
        - ``IMPORT_ABORT_MAX_BODY_BYTES`` (65536): larger bodies are refused with 413.
        - ``IMPORT_ABORT_OPENAPI_URL`` (``/import-abort/openapi.json``): where the plugin serves
          its OpenAPI document when no host ``Api`` is given; None turns it off.
        - ``IMPORT_ABORT_STOP_DEADLINE`` (None): seconds an abort may go unheeded before
          reaping forces its end.
        - ``IMPORT_ABORT_FORCE_STOP`` (None): a callable taking the token, called once per
          forced end; ``IMPORT_ABORT_FORCE_STOP_TIMEOUT`` (10) bounds the wait for it.
        - ``IMPORT_ABORT_DEFAULT_LOCALE`` (``en``): the language of error messages when the
          request asks for none the catalogs have.
        - ``IMPORT_ABORT_TRANSLATIONS`` (None): a folder of the host's gettext catalogs
          (``<locale>/LC_MESSAGES/messages.mo``) that add languages or override messages.

        With ``api`` (a host ``flask_smorest.Api``, initialised on ``app`` first) the operation
        joins that API's document. Raises ``RuntimeError`` on a second call for the same app,
        when no registry is configured or when ``api`` is not initialised on ``app``, and
        ``TypeError`` or ``ValueError`` naming the key of a setting that is wrong.
        """
        api = api if api is not None else self._api
        if api is not None and getattr(api, "_app", None) is not app:
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
