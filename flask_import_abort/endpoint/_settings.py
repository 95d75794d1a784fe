"""Internal: each app's settings, resolved once (``app.extensions["import_abort"]``), and the
endpoint's own keys read and checked: the registry, its abort call, the token and body limits."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask.sansio.app import App

from .._config import (
    EXTENSION_KEY,
    Config,
    imported,
    optional_seconds,
    path,
    prefixes,
    whole_number,
)
from ..processes.capabilities import Listing, Reapable, Snapshots
from ..processes.contract import AbortOutcome, AbortRequest, ImportRegistry, failures

__all__ = ["Settings", "settings_of"]

log = logging.getLogger("flask_import_abort")


@dataclass(frozen=True)
class Settings:
    """What the endpoint needs on each request, resolved once per app: its
    ``app.extensions["import_abort"]``. The other rooms keep theirs beside it (``access``,
    ``occ``, ``operators``, the languages)."""

    registry: ImportRegistry
    #: What the view calls: the registry's ``abort``, given the ``AbortRequest`` when it takes
    #: one, the token alone otherwise.
    abort: Callable[[str, AbortRequest], AbortOutcome]
    token_max_length: int
    max_body_bytes: int
    #: Where the route is mounted; "" for the root.
    url_prefix: str
    #: The other prefixes it answers under, the same in all but the OpenAPI document.
    url_aliases: tuple[str, ...]
    #: Whether the URL prefix was configured (a key or an argument), rather than the default.
    url_prefix_configured: bool
    #: None when the plugin serves no OpenAPI document of its own.
    openapi_url: str | None
    #: Seconds an abort may go unheeded before its end is forced; None for never.
    stop_deadline: float | None
    #: The registry again where it has each optional capability (checked once), else None.
    snapshots: Snapshots | None = None
    listing: Listing | None = None
    reapable: Reapable | None = None
    #: The plugin's own OpenAPI document, rendered on first request.
    openapi_cache: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)
    #: The OpenAPI documents (apispec ``APISpec`` s) of host ``Api`` s that document the route.
    documented: set[Any] = field(default_factory=set, compare=False, repr=False)


def read_settings(
    setting: Mapping[str, Any], registry: object, *, url_prefix_configured: bool
) -> Settings:
    """The endpoint's keys of ``setting`` (the app's, by key name), each checked; ``registry``
    is the registry, or its import string."""
    prefix_key = Config.URL_PREFIX.name
    prefix, *aliases = prefixes(setting[prefix_key], prefix_key)
    resolved = read_registry(registry)
    stop_deadline = optional_seconds(setting, Config.STOP_DEADLINE.name)
    return Settings(
        registry=resolved,
        abort=abort_call(resolved, stop_deadline),
        token_max_length=whole_number(setting, Config.TOKEN_MAX_LENGTH.name, minimum=1),
        max_body_bytes=whole_number(setting, Config.MAX_BODY_BYTES.name, minimum=0),
        url_prefix=prefix,
        url_aliases=tuple(aliases),
        url_prefix_configured=url_prefix_configured,
        openapi_url=path(setting[Config.OPENAPI_URL.name], Config.OPENAPI_URL.name) or None,
        stop_deadline=stop_deadline,
        snapshots=resolved if isinstance(resolved, Snapshots) else None,
        listing=resolved if isinstance(resolved, Listing) else None,
        reapable=resolved if isinstance(resolved, Reapable) else None,
    )


def settings_of(app: App) -> Settings:
    """The settings of an app the plugin is set up on."""
    settings: Settings = app.extensions[EXTENSION_KEY]
    return settings


def read_registry(value: object, key: str = Config.REGISTRY.name) -> ImportRegistry:
    """The registry ``value`` (or the one its import string names), set as ``key``; else a
    ``RuntimeError`` (none given) or a ``TypeError`` naming the key."""
    if value is None:
        raise RuntimeError(
            "flask-import-abort needs an import registry: pass ImportAbort(app, registry=...) "
            f"or set {key} to a registry or its 'module:attribute' import string."
        )
    registry = imported(value, key) if isinstance(value, str) else value
    if isinstance(registry, type):
        raise TypeError(f"{key} is the class {registry.__name__}; give an instance of it.")
    if not isinstance(registry, ImportRegistry) or not callable(registry.abort):
        raise TypeError(
            f"{key} must have an abort(token) method; {type(registry).__name__} has none."
        )
    return registry


def abort_call(
    registry: ImportRegistry, stop_deadline: float | None
) -> Callable[[str, AbortRequest], AbortOutcome]:
    """The registry's ``abort``, given the ``AbortRequest`` when it takes a second argument."""
    if _takes_a_request(registry.abort):
        return registry.abort  # type: ignore[return-value]
    if stop_deadline is not None:
        raise ValueError(
            f"{Config.STOP_DEADLINE.name} is set, but {type(registry).__name__}.abort takes the "
            "token alone, so no deadline could reach it: give abort a second parameter, an "
            "AbortRequest, or unset the deadline."
        )
    abort = registry.abort
    return lambda token, request: abort(token)


def _takes_a_request(method: Callable[..., Any]) -> bool:
    try:
        parameters = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):  # no signature to read: the token alone, as the contract
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(parameter.kind in positional for parameter in parameters) >= 2 or any(
        parameter.kind is inspect.Parameter.VAR_POSITIONAL for parameter in parameters
    )


def check_schema(app: App, registry: ImportRegistry) -> None:
    """Say at start-up, in one ERROR line, when the registry's store is of an older schema
    than this version needs (a registry with a ``check_schema()``, as the SQL one has)."""
    check = getattr(registry, "check_schema", None)
    if not callable(check):
        return
    try:
        with app.app_context():  # type: ignore[attr-defined]  # a Flask-SQLAlchemy db's engine
            check()
    except failures() as error:  # a store that cannot be reached yet is the abort's to answer
        log.debug("flask-import-abort: the registry's schema was not checked: %r", error)
