"""Internal: an app's settings read once, each room reading its own keys, and kept on the app."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from flask.sansio.app import App

from ._config import EXTENSION_KEY, KEYS, Config, boolean, optional_seconds, path, whole_number
from ._config import prefixes as read_prefixes
from .access._settings import read_access, warn_of_access
from .endpoint._settings import Settings, abort_call, check_schema, read_registry
from .languages import _catalogs as i18n
from .languages._settings import read_localizer
from .occ._settings import read_occ_version, read_status
from .operators._settings import read_dispatcher, read_force_stop
from .processes.contract import ImportRegistry
from .processes.lifecycle import Listing, Reapable, Snapshots

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
    prefix, *aliases = read_prefixes(setting[prefix_key], prefix_key)
    resolved = read_registry(registry if registry is not None else setting[Config.REGISTRY.name])
    stop_deadline = optional_seconds(setting, Config.STOP_DEADLINE.name)
    force_stop, force_stop_timeout = read_force_stop(setting)
    localizer = read_localizer(setting, app.extensions)
    status_route, status_fields = read_status(setting, resolved)
    settings = Settings(
        registry=resolved,
        abort=abort_call(resolved, stop_deadline),
        check=access.check,
        access_tokens=access.access_tokens,
        takes_bearer=access.takes_bearer,
        authorizer=access.authorizer,
        occ_discovery=boolean(setting, Config.OCC_DISCOVERY.name),
        occ_version=read_occ_version(setting[Config.OCC_VERSION.name]),
        token_max_length=whole_number(setting, Config.TOKEN_MAX_LENGTH.name, minimum=1),
        max_body_bytes=whole_number(setting, Config.MAX_BODY_BYTES.name, minimum=0),
        url_prefix=prefix,
        url_aliases=tuple(aliases),
        status_route=status_route,
        status_fields=status_fields,
        url_prefix_configured=prefix_configured,
        openapi_url=path(setting[Config.OPENAPI_URL.name], Config.OPENAPI_URL.name) or None,
        stop_deadline=stop_deadline,
        force_stop=force_stop,
        force_stop_timeout=force_stop_timeout,
        snapshots=resolved if isinstance(resolved, Snapshots) else None,
        listing=resolved if isinstance(resolved, Listing) else None,
        reapable=resolved if isinstance(resolved, Reapable) else None,
        dispatcher=read_dispatcher(setting, resolved, prefix),
    )
    warn_of_access(access, settings.url_prefix)
    app.extensions[EXTENSION_KEY] = settings
    app.extensions[i18n.EXTENSION_KEY] = localizer
    check_schema(app, resolved)
    return settings


def _not_yet_installed(app: App) -> None:
    if EXTENSION_KEY in app.extensions:
        raise RuntimeError(
            "flask-import-abort is already set up on this app: call ImportAbort.init_app, "
            "or register its blueprint, once per app."
        )
