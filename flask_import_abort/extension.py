"""The ImportAbort extension: configuration, and the wiring of the blueprint into an app."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask
from flask.sansio.app import App
from flask.sansio.blueprints import BlueprintSetupState
from flask_smorest import Api
from werkzeug.utils import import_string

from . import openapi
from .auth import Authorizer, build_check
from .registry import ImportRegistry
from .state import EXTENSION_KEY, EndpointState
from .views import DEFAULT_URL_PREFIX, blp

log = logging.getLogger("flask_import_abort")


class Config:
    """The configuration keys, each with its default in :data:`DEFAULTS`."""

    REGISTRY = "IMPORT_ABORT_REGISTRY"
    URL_PREFIX = "IMPORT_ABORT_URL_PREFIX"
    AUTHORIZE = "IMPORT_ABORT_AUTHORIZE"
    BEARER_TOKENS = "IMPORT_ABORT_BEARER_TOKENS"
    ALLOW_ANONYMOUS = "IMPORT_ABORT_ALLOW_ANONYMOUS"
    TOKEN_MAX_LENGTH = "IMPORT_ABORT_TOKEN_MAX_LENGTH"  # noqa: S105 (a key, not a secret)
    MAX_BODY_BYTES = "IMPORT_ABORT_MAX_BODY_BYTES"
    OPENAPI_URL = "IMPORT_ABORT_OPENAPI_URL"


DEFAULTS: Mapping[str, Any] = {
    Config.REGISTRY: None,
    Config.URL_PREFIX: DEFAULT_URL_PREFIX,
    Config.AUTHORIZE: None,
    Config.BEARER_TOKENS: (),
    Config.ALLOW_ANONYMOUS: False,
    Config.TOKEN_MAX_LENGTH: 256,
    Config.MAX_BODY_BYTES: 64 * 1024,
    Config.OPENAPI_URL: "/import-abort/openapi.json",
}


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET


class ImportAbort:
    """Adds OCC's ``POST {prefix}/{token}/abort`` to a Flask app.

    ``ImportAbort(app, registry=...)``, or ``ext = ImportAbort(...)`` then
    ``ext.init_app(app, registry=...)`` for app factories. One instance may serve several
    apps: each keeps its own state in ``app.extensions["import_abort"]``. A keyword argument
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
        }
        self._overrides = {key: value for key, value in given.items() if value is not UNSET}
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
        - ``IMPORT_ABORT_ALLOW_ANONYMOUS`` (False): let every caller through.
        - ``IMPORT_ABORT_TOKEN_MAX_LENGTH`` (256): longer tokens are refused with 400.
        - ``IMPORT_ABORT_MAX_BODY_BYTES`` (65536): larger bodies are refused with 413.
        - ``IMPORT_ABORT_OPENAPI_URL`` (``/import-abort/openapi.json``): where the plugin serves
          its OpenAPI document when no host ``Api`` is given; None turns it off.

        With ``api`` (a host ``flask_smorest.Api``) the operation joins that API's document.
        Raises ``RuntimeError`` on a second call for the same app or when no registry is
        configured, ``TypeError`` or ``ValueError`` for a setting of the wrong kind.
        """
        state = self._install(app, registry if registry is not None else self._registry)
        api = api if api is not None else self._api
        if api is not None:
            api.register_blueprint(blp, url_prefix=state.url_prefix)
        else:
            app.register_blueprint(blp, url_prefix=state.url_prefix)

    def _install(self, app: App, registry: ImportRegistry | str | None) -> EndpointState:
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "flask-import-abort is already set up on this app: call ImportAbort.init_app, "
                "or register its blueprint, once per app."
            )
        for key, default in DEFAULTS.items():
            app.config.setdefault(key, default)
        setting = {key: self._overrides.get(key, app.config[key]) for key in DEFAULTS}

        authorize = _resolve_authorizer(setting[Config.AUTHORIZE])
        bearer_tokens = _bearer_tokens(setting[Config.BEARER_TOKENS])
        allow_anonymous = bool(setting[Config.ALLOW_ANONYMOUS])
        if not (authorize or bearer_tokens or allow_anonymous):
            log.warning(
                "flask-import-abort: no access is configured, so every abort request is refused "
                "with 401. Set %s, %s, or %s = True.",
                Config.BEARER_TOKENS,
                Config.AUTHORIZE,
                Config.ALLOW_ANONYMOUS,
            )
        state = EndpointState(
            registry=_resolve_registry(
                registry if registry is not None else setting[Config.REGISTRY]
            ),
            check=build_check(authorize, bearer_tokens, allow_anonymous),
            token_max_length=_positive_int(setting, Config.TOKEN_MAX_LENGTH, minimum=1),
            max_body_bytes=_positive_int(setting, Config.MAX_BODY_BYTES, minimum=0),
            url_prefix=_path(setting[Config.URL_PREFIX], Config.URL_PREFIX).rstrip("/"),
            openapi_url=_path(setting[Config.OPENAPI_URL], Config.OPENAPI_URL) or None,
        )
        app.extensions[EXTENSION_KEY] = state
        return state


def _on_register(setup: BlueprintSetupState) -> None:
    """Wire the app the first time the blueprint is registered on it, by ImportAbort or by hand."""
    app = setup.app
    state = app.extensions.get(EXTENSION_KEY) or ImportAbort()._install(app, None)
    host_api = app.extensions.get("flask-smorest", {}).get("blp_name_to_api", {}).get(setup.name)
    if host_api is not None:
        openapi.add_components(host_api.spec)
    elif state.openapi_url:
        app.add_url_rule(
            state.openapi_url, endpoint=openapi.OPENAPI_ENDPOINT, view_func=openapi.serve_spec
        )


blp.record_once(_on_register)


def _resolve_registry(value: ImportRegistry | str | None) -> ImportRegistry:
    if value is None:
        raise RuntimeError(
            "flask-import-abort needs an import registry: pass ImportAbort(app, registry=...) "
            f"or set {Config.REGISTRY} to a registry or its 'module:attribute' import string."
        )
    registry = import_string(value) if isinstance(value, str) else value
    if isinstance(registry, type):
        raise TypeError(
            f"{Config.REGISTRY} is the class {registry.__name__}; give an instance of it."
        )
    if not isinstance(registry, ImportRegistry) or not callable(registry.abort):
        raise TypeError(
            f"{Config.REGISTRY} must have an abort(token) method; "
            f"{type(registry).__name__} has none."
        )
    return registry


def _resolve_authorizer(value: Authorizer | str | None) -> Authorizer | None:
    authorizer = import_string(value) if isinstance(value, str) else value
    if authorizer is not None and not callable(authorizer):
        raise TypeError(f"{Config.AUTHORIZE} must be a callable taking the request.")
    return authorizer


def _bearer_tokens(value: Iterable[str] | str | None) -> tuple[str, ...]:
    tokens = (value,) if isinstance(value, str) else tuple(value or ())
    if not all(isinstance(token, str) and token.strip() for token in tokens):
        raise ValueError(f"{Config.BEARER_TOKENS} must hold non-empty strings.")
    return tokens


def _positive_int(setting: Mapping[str, Any], key: str, *, minimum: int) -> int:
    value = setting[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be a whole number of at least {minimum}; got {value!r}.")
    return value


def _path(value: str | None, key: str) -> str:
    if not value:
        return ""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"{key} must be a path that starts with '/'; got {value!r}.")
    return value
