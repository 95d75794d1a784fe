"""Internal: who may call, as an app's settings say (the bearer tokens, OCC's application and
signing keys, the host's authorizer, anonymous access) and the check they make; read and checked
once per app, kept in ``app.extensions["import_abort.access"]``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask.sansio.app import App

from .._config import Config, boolean, callable_of, kind, seconds
from ._auth import Authorizer, Check, build_check, identity_problem
from ._signin import (
    ASYMMETRIC,
    MIN_APPLICATION_KEY_LENGTH,
    MIN_SECRET_BYTES,
    SYMMETRIC,
    AccessTokens,
)

log = logging.getLogger("flask_import_abort")

#: Where an app's access settings live.
ACCESS_KEY = "import_abort.access"


@dataclass(frozen=True)
class Access:
    """Who may call, as the app's settings say."""

    #: None when anonymous access is allowed.
    check: Check | None
    #: Whether bearer tokens are taken (static ones, or OCC's access tokens), and the host's
    #: authorizer: what the OpenAPI document says of the operations' security.
    takes_bearer: bool
    authorizer: Authorizer | None
    #: OCC's sign-in: the access tokens issued at /login and checked on every call; None when
    #: no application key is configured.
    access_tokens: AccessTokens | None
    allow_anonymous: bool


def access_of(app: App) -> Access:
    """The access settings of an app the plugin is set up on."""
    access: Access = app.extensions[ACCESS_KEY]
    return access


def read_access(setting: Mapping[str, Any]) -> Access:
    """The access keys of ``setting`` (the app's, by key name), each checked."""
    authorize = _authorizer(setting[Config.AUTHORIZE.name])
    bearer_tokens = _bearer_tokens(setting[Config.BEARER_TOKENS.name])
    access_tokens = _access_tokens(setting, bearer_tokens)
    allow_anonymous = boolean(setting, Config.ALLOW_ANONYMOUS.name)
    return Access(
        check=build_check(authorize, bearer_tokens, allow_anonymous, access_tokens),
        takes_bearer=bool(bearer_tokens) or access_tokens is not None,
        authorizer=authorize,
        access_tokens=access_tokens,
        allow_anonymous=allow_anonymous,
    )


def warn_of_access(access: Access, url_prefix: str) -> None:
    """One WARNING line at start-up when anyone may abort, or no one can."""
    if access.allow_anonymous:
        log.warning(
            "flask-import-abort: %s is on, so anyone who reaches %s/<token>/abort may abort "
            "any import.",
            Config.ALLOW_ANONYMOUS.name,
            url_prefix,
        )
    elif not (access.authorizer or access.takes_bearer):
        log.warning(
            "flask-import-abort: no access is configured, so every abort request is refused "
            "with 401. Set %s, %s, or %s = True.",
            Config.BEARER_TOKENS.name,
            Config.AUTHORIZE.name,
            Config.ALLOW_ANONYMOUS.name,
        )


def _authorizer(value: object) -> Authorizer | None:
    authorizer: Authorizer | None = callable_of(value, Config.AUTHORIZE.name, "the request")
    return authorizer


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
            raise ValueError(f"{key} must hold non-empty strings; one is {kind(token)}.")
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
    lifetime = seconds(setting, Config.ACCESS_TOKEN_LIFETIME.name)
    if lifetime < 1:
        raise ValueError(f"{Config.ACCESS_TOKEN_LIFETIME.name} must be at least 1 second.")
    session = seconds(setting, Config.SESSION_LIFETIME.name)
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
            f"(kid) to keys; got {kind(value) if value is not None else 'None'}."
        )
    for kid, secret in value.items():
        problem = identity_problem(kid)
        if problem is not None:
            raise ValueError(f"{key} names a key {kid!r:.60}: {problem}.")
        if not isinstance(secret, str | bytes) or not secret:
            raise ValueError(f"{key}[{kid!r}] must be a non-empty string; it is {kind(secret)}.")
        least = MIN_SECRET_BYTES.get(algorithm)
        if least is not None and len(secret) < least:
            raise ValueError(
                f"{key}[{kid!r}] is {len(secret)} bytes long; {algorithm} needs {least} or "
                "more (secrets.token_urlsafe(48) makes one)."
            )
    return value
