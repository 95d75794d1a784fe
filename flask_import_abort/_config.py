"""Internal: every configuration key, declared once with its default and its meaning, and the
checks of a value's type that the rooms' settings share.

Each room reads and checks its own keys (``endpoint/_settings.py``, ``access/_settings.py``,
``occ/_settings.py``, ``operators/_settings.py``, ``languages/_settings.py``); adding a key
touches this declaration and the room that reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.utils import import_string

from .processes.lifecycle import checked_seconds
from .processes.reaping import DEFAULT_FORCE_STOP_TIMEOUT
from .processes.tokens import DEFAULT_MAX_LENGTH

__all__ = ["ARGUMENTS", "DEFAULTS", "EXTENSION_KEY", "KEYS", "Config", "Key"]

#: Where an app's settings live: ``app.extensions[EXTENSION_KEY]``.
EXTENSION_KEY = "import_abort"
DEFAULT_URL_PREFIX = "/ccadmin/v1/importProcess"
DEFAULT_EXPORT_URL_PREFIX = "/ccadmin/v1/exportProcess"
#: The language of the answers when the request asks for none the catalogs have.
DEFAULT_LOCALE = "en"


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
    EXPORTS = Key(
        "IMPORT_ABORT_EXPORTS",
        False,
        "`False`",
        "Also serve OCC's abortExportProcess, `POST {export prefix}/{token}/abort`, and, with "
        "the status route on, getExportProcess, `GET {export prefix}/{token}`. A real `bool`. "
        "The registry must record kinds (the shipped ones do), or exports have a registry of "
        "their own (the next-but-one key). See [Exports](exports.md).",
    )
    EXPORT_URL_PREFIX = Key(
        "IMPORT_ABORT_EXPORT_URL_PREFIX",
        DEFAULT_EXPORT_URL_PREFIX,
        f"`{DEFAULT_EXPORT_URL_PREFIX}`",
        "Where the export routes are mounted; a list mounts them under each, the first "
        "documented, the others aliases (`/ccadminui/v1/exportProcess`), as for imports.",
    )
    EXPORT_REGISTRY = Key(
        "IMPORT_ABORT_EXPORT_REGISTRY",
        None,
        "`None`: the registry above",
        "A registry of exports alone (or its import string), for a host whose own registry "
        "knows no kinds: the export routes call it, naming no kind.",
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
    WEBHOOK_EXPORT_URLS = Key(
        "IMPORT_ABORT_WEBHOOK_EXPORT_URLS",
        None,
        "`None` (off)",
        "Where OCC's Export Complete webhook (`dataExport`) announces every end of an export: "
        "a URL or a list of them, checked as the import's. An export's notice goes to these "
        "alone; the secret, headers and timeout are the import's. See [Exports](exports.md).",
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
        DEFAULT_LOCALE,
        f"`{DEFAULT_LOCALE}`",
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


def imported(value: str, key: str) -> Any:
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


def callable_of(value: object, key: str, taking: str) -> Any:
    """A callable, or its import string, or None; a ``TypeError`` naming ``key`` otherwise."""
    found = imported(value, key) if isinstance(value, str) else value
    if found is not None and not callable(found):
        raise TypeError(f"{key} must be a callable taking {taking}; got {found!r}.")
    return found


def kind(value: object) -> str:
    """What ``value`` is, without what it says: an empty string, or of which type."""
    return "an empty string" if value == "" else f"of type {type(value).__name__}"


def boolean(setting: Mapping[str, Any], key: str) -> bool:
    value = setting[key]
    if not isinstance(value, bool):
        raise TypeError(
            f"{key} must be True or False; got {value!r} ({type(value).__name__}). From the "
            f"environment, FLASK_{key}=true or false gives a boolean through "
            "app.config.from_prefixed_env()."
        )
    return value


def seconds(setting: Mapping[str, Any], key: str) -> float:
    try:
        return checked_seconds(setting[key], key)
    except TypeError as error:  # one kind of refusal for each setting that is not a number
        raise ValueError(str(error)) from None


def optional_seconds(setting: Mapping[str, Any], key: str) -> float | None:
    return None if setting[key] is None else seconds(setting, key)


def whole_number(setting: Mapping[str, Any], key: str, *, minimum: int) -> int:
    value = setting[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be a whole number of at least {minimum}; got {value!r}.")
    return value


def prefixes(value: object, key: str) -> list[str]:
    """One prefix, or a list of them: each a path, none twice."""
    values = list(value) if isinstance(value, list | tuple) else [value]
    if not values:
        raise ValueError(f"{key} is an empty list: give one prefix at least.")
    prefixes = [path(one, key).rstrip("/") for one in values]
    if len(set(prefixes)) != len(prefixes):
        raise ValueError(f"{key} names one prefix twice: {values!r}.")
    return prefixes


def path(value: object, key: str) -> str:
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
