"""Internal: who may call the endpoint: a host authorizer, configured bearer tokens, or anyone."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable

from flask import Request

from .errors import ImportAbortError, NotAuthenticated

#: A host's check: exactly True lets the request through; anything else (False, None, an
#: object it meant to raise) leaves it to the other ways in, and to a 401 when none lets it
#: through. Raising ``werkzeug.exceptions.Forbidden`` answers 403.
Authorizer = Callable[[Request], object]

#: What the view calls: None when the request may go on, else the error to answer with.
Check = Callable[[Request], ImportAbortError | None]


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


class BearerTokens:
    """A set of bearer tokens, matched in time that depends on neither their values nor lengths.

    The scheme is matched without regard to case (``Bearer``, ``bearer``), as RFC 9110 says
    of every authentication scheme.
    """

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


#: The 401 answers, made once: to a request without credentials, and to one with wrong ones.
NO_CREDENTIALS = NotAuthenticated(
    more_info="Send Authorization: Bearer <access token>.",
    headers=[("WWW-Authenticate", "Bearer")],
)
WRONG_CREDENTIALS = NotAuthenticated(
    more_info="Send Authorization: Bearer <access token>.",
    headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
)


def build_check(
    authorizer: Authorizer | None, bearer_tokens: Iterable[str], allow_anonymous: bool
) -> Check | None:
    """Fold the configured ways in into one check; None when anyone may call."""
    if allow_anonymous:
        return None
    tokens = BearerTokens(bearer_tokens)

    def check(request: Request) -> ImportAbortError | None:
        authorization = request.environ.get("HTTP_AUTHORIZATION")
        if tokens.match(authorization):
            return None
        if authorizer is not None and authorizer(request) is True:
            return None
        return WRONG_CREDENTIALS if authorization else NO_CREDENTIALS

    return check
