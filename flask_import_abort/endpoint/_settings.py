"""Internal: the configuration keys, their defaults and validation, and each app's settings."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask.sansio.app import App
from werkzeug.utils import import_string

from ..access._auth import Authorizer, Check, build_check, identity_problem
from ..access._signin import (
    ASYMMETRIC,
    MIN_APPLICATION_KEY_LENGTH,
    MIN_SECRET_BYTES,
    SYMMETRIC,
    AccessTokens,
)
from ..languages import _catalogs as i18n
from ..processes.contract import AbortOutcome, AbortRequest, ImportRegistry, failures
from ..processes.lifecycle import Listing, Reapable, Snapshots, checked_seconds
from ..processes.notices import Outbox
from ..processes.reaping import DEFAULT_FORCE_STOP_TIMEOUT, ForceStop
from ..processes.tokens import DEFAULT_MAX_LENGTH
from ..processes.webhooks import WebhookDispatcher, checked_url

__all__ = ["DEFAULTS", "EXTENSION_KEY", "KEYS", "Config", "Key", "Settings", "settings_of"]

log = logging.getLogger("flask_import_abort")

#: Where an app's settings live: ``app.extensions[EXTENSION_KEY]``.
EXTENSION_KEY = "import_abort"
DEFAULT_URL_PREFIX = "/ccadmin/v1/importProcess"


@dataclass(frozen=True)
class Key:
    """One configuration key: its name in ``app.config``, its default, and what it means (the
    table of the Configuration page, ``docs/configuration.md``, is checked against these)."""

    name: str
    default: Any
    #: The default as the documentation writes it.
    shown: str
    meaning: str

    @property
    def argument(self) -> str:
        """The ``ImportAbort(...)`` keyword argument that wins over the key."""
        return self.name.removeprefix("IMPORT_ABORT_").lower()


class Config:
    """Every configuration key, each declared here once."""

    REGISTRY = Key(
        "IMPORT_ABORT_REGISTRY",
        None,
        "none: required",
        'The `ImportRegistry`, or a `"module:attribute"` import string naming it.',
    )
    URL_PREFIX = Key(
        "IMPORT_ABORT_URL_PREFIX",
        DEFAULT_URL_PREFIX,
        f"`{DEFAULT_URL_PREFIX}`",
        "Where the route is mounted: `POST {prefix}/{token}/abort`. A list mounts it under "
        'each (`["/ccadmin/v1/importProcess", "/ccadminui/v1/importProcess"]`, OCC\'s two '
        "roots): the first is the documented operation, the others are aliases the OpenAPI "
        "document leaves out.",
    )
    STATUS_ROUTE = Key(
        "IMPORT_ABORT_STATUS_ROUTE",
        False,
        "`False`",
        "Also serve OCC's getImportProcess, `GET {prefix}/{token}`, under every prefix: the "
        "registry's snapshot in OCC's fields, who aborted it and why. A real `bool`; the "
        "registry must have `snapshot(token)`. A host route already on that path is an error.",
    )
    STATUS_FIELDS = Key(
        "IMPORT_ABORT_STATUS_FIELDS",
        None,
        "`None`",
        "A callable taking the `ProcessSnapshot` (or its import string) that returns a mapping "
        "of the host's own fields for getImportProcess's answer (`recordsWritten`, ...).",
    )
    BEARER_TOKENS = Key(
        "IMPORT_ABORT_BEARER_TOKENS",
        (),
        "none",
        "Tokens accepted in `Authorization: Bearer ...`: a mapping of name to token (the name "
        "is the abort's actor), a list, or one string. Visible ASCII, no whitespace around "
        "them, no token twice.",
    )
    APPLICATION_KEYS = Key(
        "IMPORT_ABORT_APPLICATION_KEYS",
        None,
        "none (sign-in off)",
        "OCC's sign-in (extra `[jwt]`): application keys by name, exchanged at `POST "
        "/ccadmin/v1/login` (and `/ccadminui/v1/login`) for signed access tokens whose `sub` "
        "is the name; `/refresh` renews one. Checked as the bearer tokens are. See "
        "[OCC's sign-in](occ-clients.md#occs-sign-in).",
    )
    SIGNING_KEYS = Key(
        "IMPORT_ABORT_SIGNING_KEYS",
        None,
        "none: required with application keys",
        "The access tokens' keys by `kid`: HMAC secrets of 32 bytes or more for `HS256`, PEM "
        "private keys for an asymmetric algorithm. The first signs, every one verifies: rotate "
        "by putting a new key first. The same on every worker and machine.",
    )
    SIGNING_ALGORITHM = Key(
        "IMPORT_ABORT_SIGNING_ALGORITHM",
        "HS256",
        "`HS256`",
        "The access tokens' algorithm, pinned: `HS256`, `HS384`, `HS512`, `RS256`, `PS256`, "
        "`ES256`, `EdDSA`, ...",
    )
    ACCESS_TOKEN_LIFETIME = Key(
        "IMPORT_ABORT_ACCESS_TOKEN_LIFETIME",
        300,
        "`300`",
        "Seconds an access token lives (OCC's application-key tokens live 5 minutes).",
    )
    SESSION_LIFETIME = Key(
        "IMPORT_ABORT_SESSION_LIFETIME",
        8 * 3600,
        "`28800` (8 hours)",
        "Seconds from a sign-in within which `/refresh` renews its tokens; past it the "
        "client signs in again with its application key, and no token outlives it.",
    )
    TOKEN_ISSUER = Key(
        "IMPORT_ABORT_TOKEN_ISSUER",
        "flask-import-abort",
        "`flask-import-abort`",
        "The access tokens' `iss`, checked on every call.",
    )
    TOKEN_AUDIENCE = Key(
        "IMPORT_ABORT_TOKEN_AUDIENCE",
        "ccadmin",
        "`ccadmin`",
        "The access tokens' `aud`, checked on every call.",
    )
    OCC_DISCOVERY = Key(
        "IMPORT_ABORT_OCC_DISCOVERY",
        False,
        "`False`",
        "Serve OCC's discovery under `/ccadmin/v1` and `/ccadminui/v1`: `GET .../verify` with "
        "the version header, and `GET .../registry`, the `endpointMap` of the app's routes "
        "that carry an OCC operation id. A real `bool`.",
    )
    OCC_VERSION = Key(
        "IMPORT_ABORT_OCC_VERSION",
        None,
        "the package's version",
        "What `verify` answers in its `OracleCommerceCloud-Version` header.",
    )
    AUTHORIZE = Key(
        "IMPORT_ABORT_AUTHORIZE",
        None,
        "none",
        "A callable taking the `Request` (or its import string): `True` or an `Identity` lets "
        "the call through; anything else (`False`, `None`, any string, an object it meant to "
        "raise) leaves it to the bearer tokens, and to a 401; raising "
        "`werkzeug.exceptions.Forbidden` answers 403.",
    )
    ALLOW_ANONYMOUS = Key(
        "IMPORT_ABORT_ALLOW_ANONYMOUS",
        False,
        "`False`",
        "Let every call through. A real `bool`; a WARNING is logged at start-up while it is on.",
    )
    TOKEN_MAX_LENGTH = Key(
        "IMPORT_ABORT_TOKEN_MAX_LENGTH",
        DEFAULT_MAX_LENGTH,
        f"`{DEFAULT_MAX_LENGTH}`",
        "Longer tokens are refused with 400.",
    )
    MAX_BODY_BYTES = Key(
        "IMPORT_ABORT_MAX_BODY_BYTES",
        64 * 1024,
        "`65536`",
        "Larger bodies are refused with 413, from `Content-Length` when there is one; the "
        "registry is not called.",
    )
    OPENAPI_URL = Key(
        "IMPORT_ABORT_OPENAPI_URL",
        "/import-abort/openapi.json",
        "`/import-abort/openapi.json`",
        "Where the operation's own OpenAPI document is served when no host `Api` documents "
        "it; `None` turns it off.",
    )
    STOP_DEADLINE = Key(
        "IMPORT_ABORT_STOP_DEADLINE",
        None,
        "`None` (off)",
        "Seconds an import has to honour an abort; past them, reaping records it `aborted` "
        "(forced) and calls the hook below. See "
        "[Liveness and stop deadlines](liveness.md#liveness-and-stop-deadlines).",
    )
    FORCE_STOP = Key(
        "IMPORT_ABORT_FORCE_STOP",
        None,
        "`None`",
        "A callable taking the token (or its import string) that stops the import's worker by "
        "force: called once per forced end, by whichever process reaps it.",
    )
    FORCE_STOP_TIMEOUT = Key(
        "IMPORT_ABORT_FORCE_STOP_TIMEOUT",
        DEFAULT_FORCE_STOP_TIMEOUT,
        f"`{DEFAULT_FORCE_STOP_TIMEOUT:g}`",
        "Seconds reaping waits for the `force_stop` calls before it goes on without them (the "
        "ends are recorded first).",
    )
    WEBHOOK_URLS = Key(
        "IMPORT_ABORT_WEBHOOK_URLS",
        None,
        "`None` (off)",
        "Where OCC's Import Complete webhook announces every end of an import: a URL or a list "
        "of them, each `https` (`http` only to this machine, or with the next-but-one key). "
        "The registry must write notices (`webhooks=True`). See [Webhooks](webhooks.md).",
    )
    WEBHOOK_SECRET = Key(
        "IMPORT_ABORT_WEBHOOK_SECRET",
        None,
        "`None`: required with URLs",
        "The secret key the notices are signed with (`X-Oracle-CC-WebHook-Signature`, base64 "
        "of HMAC-SHA512 over the body), as OCC signs its webhooks. Never logged.",
    )
    WEBHOOK_ALLOW_HTTP = Key(
        "IMPORT_ABORT_WEBHOOK_ALLOW_HTTP",
        False,
        "`False`",
        "Let `http` URLs to other machines through, for development. A real `bool`.",
    )
    WEBHOOK_BASIC_AUTH = Key(
        "IMPORT_ABORT_WEBHOOK_BASIC_AUTH",
        None,
        "`None`",
        "A `(user, password)` pair sent as basic authentication with every notice.",
    )
    WEBHOOK_HEADERS = Key(
        "IMPORT_ABORT_WEBHOOK_HEADERS",
        None,
        "`None`",
        "More headers sent with every notice, a mapping of names to strings (OCC's extra "
        "header properties): names are RFC 9110 tokens, values visible ASCII.",
    )
    WEBHOOK_STANDARD_HEADERS = Key(
        "IMPORT_ABORT_WEBHOOK_STANDARD_HEADERS",
        True,
        "`True`",
        "Send Standard Webhooks' `webhook-id`, `webhook-timestamp` and `webhook-signature` "
        "beside OCC's signature, so that a receiver can refuse a notice replayed later. "
        "`True` or `False`.",
    )
    WEBHOOK_BASE_URL = Key(
        "IMPORT_ABORT_WEBHOOK_BASE_URL",
        None,
        "`None`",
        "The app's public address (`https://admin.example.com`): the notices link to the "
        "process's getImportProcess under it. Without it, they carry no status link.",
    )
    WEBHOOK_TIMEOUT = Key(
        "IMPORT_ABORT_WEBHOOK_TIMEOUT",
        10.0,
        "`10`",
        "Seconds one attempt of one URL may take in all, whatever the receiver does.",
    )
    WEBHOOK_RETENTION = Key(
        "IMPORT_ABORT_WEBHOOK_RETENTION",
        7 * 24 * 3600.0,
        "`604800` (a week)",
        "Seconds a delivered notice is kept (`flask import-abort show` lists it) before it is "
        "removed.",
    )
    DEFAULT_LOCALE = Key(
        "IMPORT_ABORT_DEFAULT_LOCALE",
        i18n.DEFAULT_LOCALE,
        f"`{i18n.DEFAULT_LOCALE}`",
        "The language of errorModel's `message` when the request asks for none the catalogs "
        "have: a tag such as `de` or `pt-BR` that one of them answers. See "
        "[Languages](languages.md).",
    )
    TRANSLATIONS = Key(
        "IMPORT_ABORT_TRANSLATIONS",
        None,
        "`None`",
        "A folder of the host's own gettext catalogs, `<locale>/LC_MESSAGES/messages.mo` (what "
        "`pybabel compile` makes), that add languages or override messages.",
    )


#: Every key, in the order the documentation lists them.
KEYS: tuple[Key, ...] = tuple(value for value in vars(Config).values() if isinstance(value, Key))
#: Each key's default, by name.
DEFAULTS: Mapping[str, Any] = {key.name: key.default for key in KEYS}
#: The keys by their ``ImportAbort(...)`` argument.
ARGUMENTS: Mapping[str, Key] = {key.argument: key for key in KEYS}


@dataclass(frozen=True)
class Settings:
    """What the endpoint needs on each request, resolved once per app: its
    ``app.extensions["import_abort"]``."""

    registry: ImportRegistry
    #: What the view calls: the registry's ``abort``, given the ``AbortRequest`` when it takes
    #: one, the token alone otherwise.
    abort: Callable[[str, AbortRequest], AbortOutcome]
    #: None when anonymous access is allowed.
    check: Check | None
    token_max_length: int
    max_body_bytes: int
    #: Where the route is mounted; "" for the root.
    url_prefix: str
    #: The other prefixes it answers under, the same in all but the OpenAPI document.
    url_aliases: tuple[str, ...]
    #: Whether bearer tokens are taken (static ones, or OCC's access tokens), and the host's
    #: authorizer: what the OpenAPI document says of the operations' security.
    takes_bearer: bool
    authorizer: Authorizer | None
    #: OCC's sign-in: the access tokens issued at /login and checked on every call; None when
    #: no application key is configured.
    access_tokens: AccessTokens | None
    #: Whether OCC's /verify and /registry are served, and the version /verify answers.
    occ_discovery: bool
    occ_version: str
    #: Whether getImportProcess is served, and the host's hook that adds fields to it.
    status_route: bool
    status_fields: Callable[[Any], Any] | None
    #: Whether the URL prefix was configured (a key or an argument), rather than the default.
    url_prefix_configured: bool
    #: None when the plugin serves no OpenAPI document of its own.
    openapi_url: str | None
    #: Seconds an abort may go unheeded before its end is forced; None for never.
    stop_deadline: float | None
    #: The host's hook that stops a worker by force, called once per forced end.
    force_stop: ForceStop | None
    #: Seconds a reap waits for the ``force_stop`` calls before it goes on without them.
    force_stop_timeout: float
    #: The registry again where it has each optional capability (checked once), else None.
    snapshots: Snapshots | None = None
    listing: Listing | None = None
    reapable: Reapable | None = None
    #: What delivers the webhooks' notices; None while no URL is configured.
    dispatcher: WebhookDispatcher | None = None
    #: The job engines given to ``mirror_aborts``: a reap also ends what they cancelled.
    engines: list[Any] = field(default_factory=list, compare=False, repr=False)
    #: The plugin's own OpenAPI document, rendered on first request.
    openapi_cache: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)
    #: The OpenAPI documents (apispec ``APISpec`` s) of host ``Api`` s that document the route.
    documented: set[Any] = field(default_factory=set, compare=False, repr=False)


def settings_of(app: App) -> Settings:
    """The settings of an app the plugin is set up on."""
    settings: Settings = app.extensions[EXTENSION_KEY]
    return settings


def setup(app: App, *, url_prefix: str | None = None) -> Settings:
    """The settings of ``app``, read from its config now if ``ImportAbort`` did not; the one
    place where a blueprint's ``url_prefix`` is held against the configured one."""
    found: Settings | None = app.extensions.get(EXTENSION_KEY)
    if found is None:
        found = install(app)
    if url_prefix is None:
        return found
    registered = _path(url_prefix, "register_blueprint(url_prefix=...)").rstrip("/")
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

    authorize = _authorizer(setting[Config.AUTHORIZE.name])
    bearer_tokens = _bearer_tokens(setting[Config.BEARER_TOKENS.name])
    access_tokens = _access_tokens(setting, bearer_tokens)
    allow_anonymous = _boolean(setting, Config.ALLOW_ANONYMOUS.name)
    prefix, *aliases = _prefixes(setting[prefix_key], prefix_key)
    resolved = _registry(registry if registry is not None else setting[Config.REGISTRY.name])
    stop_deadline = _optional_seconds(setting, Config.STOP_DEADLINE.name)
    force_stop = _callable(setting[Config.FORCE_STOP.name], Config.FORCE_STOP.name, "the token")
    localizer = _localizer(setting, app.extensions)
    status_route, status_fields = _status(setting, resolved)
    settings = Settings(
        registry=resolved,
        abort=_abort_call(resolved, stop_deadline),
        check=build_check(authorize, bearer_tokens, allow_anonymous, access_tokens),
        access_tokens=access_tokens,
        takes_bearer=bool(bearer_tokens) or access_tokens is not None,
        authorizer=authorize,
        occ_discovery=_boolean(setting, Config.OCC_DISCOVERY.name),
        occ_version=_occ_version(setting[Config.OCC_VERSION.name]),
        token_max_length=_whole_number(setting, Config.TOKEN_MAX_LENGTH.name, minimum=1),
        max_body_bytes=_whole_number(setting, Config.MAX_BODY_BYTES.name, minimum=0),
        url_prefix=prefix,
        url_aliases=tuple(aliases),
        status_route=status_route,
        status_fields=status_fields,
        url_prefix_configured=prefix_configured,
        openapi_url=_path(setting[Config.OPENAPI_URL.name], Config.OPENAPI_URL.name) or None,
        stop_deadline=stop_deadline,
        force_stop=force_stop,
        force_stop_timeout=_seconds(setting, Config.FORCE_STOP_TIMEOUT.name),
        snapshots=resolved if isinstance(resolved, Snapshots) else None,
        listing=resolved if isinstance(resolved, Listing) else None,
        reapable=resolved if isinstance(resolved, Reapable) else None,
        dispatcher=_dispatcher(setting, resolved, prefix),
    )
    _warn_of_access(settings, allow_anonymous)
    app.extensions[EXTENSION_KEY] = settings
    app.extensions[i18n.EXTENSION_KEY] = localizer
    _check_schema(app, resolved)
    return settings


def _not_yet_installed(app: App) -> None:
    if EXTENSION_KEY in app.extensions:
        raise RuntimeError(
            "flask-import-abort is already set up on this app: call ImportAbort.init_app, "
            "or register its blueprint, once per app."
        )


def _status(
    setting: Mapping[str, Any], registry: ImportRegistry
) -> tuple[bool, Callable[[Any], Any] | None]:
    """The status route's settings: whether it is on (only for a registry that reads
    snapshots), and the host's own fields of its answer."""
    status_route = _boolean(setting, Config.STATUS_ROUTE.name)
    if status_route and not isinstance(registry, Snapshots):
        raise ValueError(
            f"{Config.STATUS_ROUTE.name} is on, but {type(registry).__name__} has no "
            "snapshot(token) method to read a process from."
        )
    fields = _callable(
        setting[Config.STATUS_FIELDS.name], Config.STATUS_FIELDS.name, "a ProcessSnapshot"
    )
    return status_route, fields


def _warn_of_access(settings: Settings, allow_anonymous: bool) -> None:
    """One WARNING line at start-up when anyone may abort, or no one can."""
    if allow_anonymous:
        log.warning(
            "flask-import-abort: %s is on, so anyone who reaches %s/<token>/abort may abort "
            "any import.",
            Config.ALLOW_ANONYMOUS.name,
            settings.url_prefix,
        )
    elif not (settings.authorizer or settings.takes_bearer):
        log.warning(
            "flask-import-abort: no access is configured, so every abort request is refused "
            "with 401. Set %s, %s, or %s = True.",
            Config.BEARER_TOKENS.name,
            Config.AUTHORIZE.name,
            Config.ALLOW_ANONYMOUS.name,
        )


def _check_schema(app: App, registry: ImportRegistry) -> None:
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


def _dispatcher(
    setting: Mapping[str, Any], registry: ImportRegistry, prefix: str
) -> WebhookDispatcher | None:
    """The webhooks' dispatcher, from the app's settings; None while no URL is set. Each
    setting that is wrong is a ``TypeError`` or ``ValueError`` naming its key."""
    configured = _webhook_urls(setting)
    if configured is None:
        return None
    listed, allow_http = configured
    secret = setting[Config.WEBHOOK_SECRET.name]
    if not isinstance(secret, str) or not secret:
        raise ValueError(
            f"{Config.WEBHOOK_SECRET.name} is required with {Config.WEBHOOK_URLS.name}: the "
            f"secret key the notices are signed with, a string ({_kind(secret)} given)."
        )
    if not isinstance(registry, Outbox) or getattr(registry, "webhooks", None) is not True:
        raise ValueError(
            f"{Config.WEBHOOK_URLS.name} is set, but {type(registry).__name__} writes no "
            "notices: make it with webhooks=True (SQLImportRegistry(..., webhooks=True)), so "
            "that every end is written with its notice."
        )
    base_url = setting[Config.WEBHOOK_BASE_URL.name]
    if base_url is not None and (
        not isinstance(base_url, str) or urlsplit(base_url).scheme not in ("https", "http")
    ):
        raise ValueError(
            f"{Config.WEBHOOK_BASE_URL.name} is the app's public address, such as "
            f"'https://admin.example.com'; got {base_url!r}."
        )
    try:
        return WebhookDispatcher(
            registry,
            listed,
            secret,
            base_url=base_url,
            path=prefix,
            timeout=_seconds(setting, Config.WEBHOOK_TIMEOUT.name),
            retention=_seconds(setting, Config.WEBHOOK_RETENTION.name),
            allow_http=allow_http,
            standard_headers=_boolean(setting, Config.WEBHOOK_STANDARD_HEADERS.name),
            basic_auth=setting[Config.WEBHOOK_BASIC_AUTH.name],
            headers=setting[Config.WEBHOOK_HEADERS.name],
        )
    except TypeError as error:  # basic_auth or headers: the message says which
        raise TypeError(
            f"{Config.WEBHOOK_BASIC_AUTH.name} / {Config.WEBHOOK_HEADERS.name}: {error}"
        ) from None
    except ValueError as error:
        raise ValueError(f"{Config.WEBHOOK_HEADERS.name}: {error}") from None


def _webhook_urls(setting: Mapping[str, Any]) -> tuple[list[str], bool] | None:
    """The webhooks' URLs, each checked, and whether ``http`` is allowed; None while no URL
    is set."""
    urls = setting[Config.WEBHOOK_URLS.name]
    if urls is None or urls == []:
        return None
    listed = [urls] if isinstance(urls, str) else urls
    if not isinstance(listed, list | tuple) or not listed:
        raise TypeError(f"{Config.WEBHOOK_URLS.name} is a URL or a list of them; got {urls!r}.")
    allow_http = _boolean(setting, Config.WEBHOOK_ALLOW_HTTP.name)
    for url in listed:
        try:
            checked_url(url, allow_http=allow_http)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{Config.WEBHOOK_URLS.name}: {error}") from None
    return list(listed), allow_http


def _localizer(setting: Mapping[str, Any], extensions: Mapping[str, Any]) -> i18n.Localizer:
    """The app's languages: the package's catalogs, the host's folder over them, its default."""
    default = setting[Config.DEFAULT_LOCALE.name]
    if not isinstance(default, str):
        raise TypeError(
            f"{Config.DEFAULT_LOCALE.name} is a language tag such as 'en' or 'pt-BR'; "
            f"got {type(default).__name__}."
        )
    folder = setting[Config.TRANSLATIONS.name]
    if folder is not None:
        if not isinstance(folder, str | os.PathLike) or not str(folder).strip():
            raise TypeError(
                f"{Config.TRANSLATIONS.name} is the path of a folder of gettext catalogs; "
                f"got {folder!r}."
            )
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"{Config.TRANSLATIONS.name} = {str(folder)!r} is not a folder.")
    try:
        return i18n.Localizer(default, folder, extensions)
    except ValueError as error:
        raise ValueError(f"{Config.DEFAULT_LOCALE.name} = {default!r}: {error}") from None


def _imported(value: str, key: str) -> Any:
    """The object a ``"module:attribute"`` string names; a failure names the key."""
    if not value.strip():
        raise ValueError(f"{key} is an empty string; give the object or its 'module:attribute'.")
    try:
        return import_string(value)
    except ImportError as error:  # werkzeug's ImportStringError is one
        cause = getattr(error, "exception", error)
        raise ValueError(
            f"{key} = {value!r} does not import: {type(cause).__name__}: {cause}"
        ) from error


def _registry(value: object) -> ImportRegistry:
    if value is None:
        raise RuntimeError(
            "flask-import-abort needs an import registry: pass ImportAbort(app, registry=...) "
            f"or set {Config.REGISTRY.name} to a registry or its 'module:attribute' import string."
        )
    registry = _imported(value, Config.REGISTRY.name) if isinstance(value, str) else value
    if isinstance(registry, type):
        raise TypeError(
            f"{Config.REGISTRY.name} is the class {registry.__name__}; give an instance of it."
        )
    if not isinstance(registry, ImportRegistry) or not callable(registry.abort):
        raise TypeError(
            f"{Config.REGISTRY.name} must have an abort(token) method; "
            f"{type(registry).__name__} has none."
        )
    return registry


def _authorizer(value: object) -> Authorizer | None:
    authorizer: Authorizer | None = _callable(value, Config.AUTHORIZE.name, "the request")
    return authorizer


def _callable(value: object, key: str, taking: str) -> Any:
    """A callable, or its import string, or None; a ``TypeError`` naming ``key`` otherwise."""
    found = _imported(value, key) if isinstance(value, str) else value
    if found is not None and not callable(found):
        raise TypeError(f"{key} must be a callable taking {taking}; got {found!r}.")
    return found


def _abort_call(
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


def _bearer_tokens(
    value: object, key: str = Config.BEARER_TOKENS.name
) -> dict[str, str] | tuple[str, ...]:
    """The tokens, by name when a mapping names them; each checked, and no token twice."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        for name in value:
            problem = identity_problem(name)
            if problem is not None:
                raise ValueError(f"{key} names a token {name!r:.60}: {problem}.")
        tokens: tuple[object, ...] = tuple(value.values())
    elif isinstance(value, str):
        tokens = (value,)
    elif isinstance(value, list | tuple | set | frozenset):
        tokens = tuple(value)
    else:
        raise TypeError(
            f"{key} must be a string, a list of strings, or a mapping of names to tokens; got "
            f"{type(value).__name__}. From the environment, quote a number: "
            f"FLASK_{key}='\"12345\"'."
        )
    for token in tokens:
        if not isinstance(token, str) or not token:
            # never the value itself: it is a secret
            raise ValueError(f"{key} must hold non-empty strings; one is {_kind(token)}.")
        if token != token.strip():
            raise ValueError(
                f"{key} holds a token with whitespace around it (a secrets file's trailing "
                "newline?): it could never match. Strip it."
            )
        if not (token.isascii() and token.isprintable()) or " " in token:
            raise ValueError(
                f"{key} holds a token with spaces, control or non-ASCII characters: an "
                "Authorization header could never carry it."
            )
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"{key} holds one token twice: each caller needs a token of its own.")
    return dict(value) if isinstance(value, Mapping) else tokens  # type: ignore[return-value]


def _access_tokens(
    setting: Mapping[str, Any], bearer_tokens: Mapping[str, str] | tuple[str, ...]
) -> AccessTokens | None:
    """OCC's sign-in, when application keys are configured: each key checked as the bearer
    tokens are, and the signing keys for the algorithm."""
    key = Config.APPLICATION_KEYS.name
    keys = _bearer_tokens(setting[key], key)
    if not keys:
        return None
    named = (
        dict(keys)
        if isinstance(keys, Mapping)
        else {f"application-{place}": one for place, one in enumerate(keys, start=1)}
    )
    static = set(bearer_tokens.values() if isinstance(bearer_tokens, Mapping) else bearer_tokens)
    if static.intersection(named.values()):
        raise ValueError(
            f"{key} and {Config.BEARER_TOKENS.name} share a key: an application key would "
            "abort without signing in. Give each its own."
        )
    algorithm = setting[Config.SIGNING_ALGORITHM.name]
    if algorithm not in SYMMETRIC | ASYMMETRIC:
        raise ValueError(
            f"{Config.SIGNING_ALGORITHM.name} must be one of "
            f"{', '.join(sorted(SYMMETRIC | ASYMMETRIC))}; got {algorithm!r}."
        )
    for name, one in named.items():
        if len(one) < MIN_APPLICATION_KEY_LENGTH:  # the name is said, never the key
            raise ValueError(
                f"{key}[{name!r}] is shorter than {MIN_APPLICATION_KEY_LENGTH} characters: "
                "such a key can be guessed (secrets.token_urlsafe(32) makes one)."
            )
    lifetime = _seconds(setting, Config.ACCESS_TOKEN_LIFETIME.name)
    if lifetime < 1:
        raise ValueError(f"{Config.ACCESS_TOKEN_LIFETIME.name} must be at least 1 second.")
    session = _seconds(setting, Config.SESSION_LIFETIME.name)
    if session < lifetime:
        raise ValueError(
            f"{Config.SESSION_LIFETIME.name} must be at least "
            f"{Config.ACCESS_TOKEN_LIFETIME.name} ({lifetime:g} s); got {session:g}."
        )
    claims = {}
    for claim in (Config.TOKEN_ISSUER.name, Config.TOKEN_AUDIENCE.name):
        problem = identity_problem(setting[claim])
        if problem is not None:
            raise ValueError(f"{claim}: {problem}.")
        claims[claim] = setting[claim]
    signing_keys = _signing_keys(setting[Config.SIGNING_KEYS.name], algorithm)
    try:
        return AccessTokens(
            named,
            signing_keys,
            algorithm=algorithm,
            lifetime=lifetime,
            session_lifetime=session,
            issuer=claims[Config.TOKEN_ISSUER.name],
            audience=claims[Config.TOKEN_AUDIENCE.name],
        )
    except ValueError as error:  # a PEM that does not load, never quoted: it is a secret
        raise ValueError(f"{Config.SIGNING_KEYS.name}: {error}") from None


def _signing_keys(value: object, algorithm: str) -> Mapping[str, str | bytes]:
    key = Config.SIGNING_KEYS.name
    if not isinstance(value, Mapping) or not value:
        raise TypeError(
            f"{key} is required with {Config.APPLICATION_KEYS.name}: a mapping of key ids "
            f"(kid) to keys; got {_kind(value) if value is not None else 'None'}."
        )
    for kid, secret in value.items():
        problem = identity_problem(kid)
        if problem is not None:
            raise ValueError(f"{key} names a key {kid!r:.60}: {problem}.")
        if not isinstance(secret, str | bytes) or not secret:
            raise ValueError(f"{key}[{kid!r}] must be a non-empty string; it is {_kind(secret)}.")
        least = MIN_SECRET_BYTES.get(algorithm)
        if least is not None and len(secret) < least:
            raise ValueError(
                f"{key}[{kid!r}] is {len(secret)} bytes long; {algorithm} needs {least} or "
                "more (secrets.token_urlsafe(48) makes one)."
            )
    return value


def _occ_version(value: object) -> str:
    if value is None:
        try:
            return version("flask-import-abort")
        except PackageNotFoundError:  # run from a checkout that was never installed
            return "0+unknown"
    if not isinstance(value, str) or not value.isprintable() or not value.strip():
        raise ValueError(f"{Config.OCC_VERSION.name} must be a printable string; got {value!r}.")
    return value


def _kind(value: object) -> str:
    """What ``value`` is, without what it says: an empty string, or of which type."""
    return "an empty string" if value == "" else f"of type {type(value).__name__}"


def _boolean(setting: Mapping[str, Any], key: str) -> bool:
    value = setting[key]
    if not isinstance(value, bool):
        raise TypeError(
            f"{key} must be True or False; got {value!r} ({type(value).__name__}). From the "
            f"environment, FLASK_{key}=true or false gives a boolean through "
            "app.config.from_prefixed_env()."
        )
    return value


def _seconds(setting: Mapping[str, Any], key: str) -> float:
    try:
        return checked_seconds(setting[key], key)
    except TypeError as error:  # one kind of refusal for each setting that is not a number
        raise ValueError(str(error)) from None


def _optional_seconds(setting: Mapping[str, Any], key: str) -> float | None:
    return None if setting[key] is None else _seconds(setting, key)


def _whole_number(setting: Mapping[str, Any], key: str, *, minimum: int) -> int:
    value = setting[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be a whole number of at least {minimum}; got {value!r}.")
    return value


def _prefixes(value: object, key: str) -> list[str]:
    """One prefix, or a list of them: each a path, none twice."""
    values = list(value) if isinstance(value, list | tuple) else [value]
    if not values:
        raise ValueError(f"{key} is an empty list: give one prefix at least.")
    prefixes = [_path(one, key).rstrip("/") for one in values]
    if len(set(prefixes)) != len(prefixes):
        raise ValueError(f"{key} names one prefix twice: {values!r}.")
    return prefixes


def _path(value: object, key: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"{key} must be a path that starts with '/'; got {value!r}.")
    if "<" in value or ">" in value:
        raise ValueError(
            f"{key} = {value!r} holds a URL converter (<...>); the plugin's routes take a "
            "fixed path."
        )
    return value
