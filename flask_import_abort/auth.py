"""Who may call the endpoint: a host authorizer, configured bearer tokens, or anyone."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable

from flask import Request

from .errors import NotAuthenticated

#: A host's check: True lets the request through; False leaves it to the other ways in (and
#: to a 401 when none lets it through); raising ``werkzeug.exceptions.Forbidden`` answers 403.
Authorizer = Callable[[Request], bool]

#: What the view calls: returns when the request may go on, raises an error otherwise.
Check = Callable[[Request], None]


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


class BearerTokens:
    """A set of bearer tokens, matched in time that depends on neither their values nor lengths."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = tuple(_digest(token.encode()) for token in tokens)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def match(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value is ``Bearer`` with one of the tokens."""
        if not authorization:
            return False
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            return False
        # WSGI hands header values over as latin-1: this gives back the bytes on the wire.
        presented = _digest(credentials.encode("latin-1", "replace"))
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(digest, presented)
        return matched


def _not_authenticated(authorization: str | None) -> NotAuthenticated:
    challenge = 'Bearer error="invalid_token"' if authorization else "Bearer"
    return NotAuthenticated(
        more_info="Send Authorization: Bearer <access token>.",
        headers=[("WWW-Authenticate", challenge)],
    )


def build_check(
    authorizer: Authorizer | None, bearer_tokens: Iterable[str], allow_anonymous: bool
) -> Check | None:
    """Fold the configured ways in into one check; None when anyone may call."""
    if allow_anonymous:
        return None
    tokens = BearerTokens(bearer_tokens)

    def check(request: Request) -> None:
        authorization = request.environ.get("HTTP_AUTHORIZATION")
        if tokens.match(authorization):
            return
        if authorizer is not None and authorizer(request):
            return
        raise _not_authenticated(authorization)

    return check
