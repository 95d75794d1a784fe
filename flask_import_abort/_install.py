"""Internal: an app's settings read once, each room reading its own keys, and each room's kept on
the app: the one place that puts them together."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from flask.sansio.app import App

from ._config import EXTENSION_KEY, KEYS, Config, path
from .access._settings import ACCESS_KEY, read_access, warn_of_access
from .endpoint._settings import Settings, check_schema, read_settings
from .exports._settings import EXPORTS_KEY, read_exports
from .languages import _catalogs as i18n
from .languages._settings import read_localizer
from .occ._settings import OCC_KEY, read_occ
from .operators._settings import OPERATORS_KEY, read_operators
from .processes.contract import ImportRegistry

__all__ = ["install", "setup"]


def setup(app: App, *, url_prefix: str | None = None) -> Settings:
    """The settings of ``app``, read from its config now if ``ImportAbort`` did not; the one
    place where a blueprint's ``url_prefix`` is held against the configured one."""
    found: Settings | None = app.extensions.get(EXTENSION_KEY)
    if found is None:
        found = install(app)
    if url_prefix is None:
        return found
    registered = path(url_prefix, "register_blueprint(url_prefix=...)").rstrip("/")
    if registered == found.url_prefix:
        return found
    if found.url_prefix_configured:
        raise ValueError(
            f"register_blueprint(url_prefix={url_prefix!r}) disagrees with "
            f"{Config.URL_PREFIX.name} = {found.url_prefix!r}: set one of them."
        )
    found = app.extensions[EXTENSION_KEY] = replace(found, url_prefix=registered)
    return found


def install(
    app: App,
    *,
    overrides: Mapping[str, Any] | None = None,
    registry: ImportRegistry | str | None = None,
) -> Settings:
    """Read and check the settings of ``app`` once, and keep them on it.

    ``overrides`` (by key name) win over ``app.config``; ``registry`` wins over both. Raises
    ``RuntimeError`` when the app is set up already or has no registry, and ``TypeError`` or
    ``ValueError`` naming the key of a setting that is wrong.
    """
    _not_yet_installed(app)
    overrides = overrides or {}
    prefix_key = Config.URL_PREFIX.name
    prefix_configured = prefix_key in overrides or prefix_key in app.config
    for key in KEYS:
        app.config.setdefault(key.name, key.default)
    setting = {key.name: overrides.get(key.name, app.config[key.name]) for key in KEYS}

    access = read_access(setting)
    chosen = registry if registry is not None else setting[Config.REGISTRY.name]
    settings = read_settings(setting, chosen, url_prefix_configured=prefix_configured)
    occ = read_occ(setting, settings.registry)
    exports = read_exports(setting, settings, status_route=occ.status_route)
    export_prefix = exports.url_prefix
    operators = read_operators(setting, settings.registry, settings.url_prefix, export_prefix)
    localizer = read_localizer(setting, app.extensions)
    warn_of_access(access, settings.url_prefix)
    app.extensions[EXTENSION_KEY] = settings
    app.extensions[ACCESS_KEY] = access
    app.extensions[OCC_KEY] = occ
    app.extensions[EXPORTS_KEY] = exports
    app.extensions[OPERATORS_KEY] = operators
    app.extensions[i18n.EXTENSION_KEY] = localizer
    check_schema(app, settings.registry)
    return settings


def _not_yet_installed(app: App) -> None:
    if EXTENSION_KEY in app.extensions:
        raise RuntimeError(
            "flask-import-abort is already set up on this app: call ImportAbort.init_app, "
            "or register its blueprint, once per app."
        )
