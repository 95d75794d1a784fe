"""Internal: who may call the endpoint, and who they are: bearer tokens, an authorizer, anyone."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from flask import Request

from ..errors import ImportAbortError, NotAuthenticated

#: A host's check: ``True`` lets the request through (its actor is ``authorizer``), and so does
#: an :class:`Identity` (the actor); every other answer, every string included (``"no"``,
#: ``"denied"``), leaves it to the other ways in, and to a 401 when none lets it through.
#: Raising ``werkzeug.exceptions.Forbidden`` answers 403.
Authorizer = Callable[[Request], object]

#: What the view calls: the actor when the request may go on, else the error to answer with.
Check = Callable[[Request], "str | ImportAbortError"]

#: The actor of a call let through by anonymous access, and of one an authorizer let through
#: with a plain True.
ANONYMOUS = "anonymous"
#: Where the plugin's routes put the OCC operation a request calls (``abortImportProcess``, ...)
#: in its WSGI environ, before they check it: an authorizer may need a scope for each.
OPERATION_KEY = "flask_import_abort.operation"
AUTHORIZER = "authorizer"
#: The longest identity kept whole: an OpenID Connect ``sub`` may be 255 characters.
IDENTITY_MAX_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an authorizer let through: ``return Identity(user.email)``. It is recorded as the
    abort's actor. A string alone is a refusal, whatever it says: an authorizer that answers
    ``"no"`` or ``"forbidden: viewer role"`` has not said who called.

    ``name`` is 1 to 255 printable characters with no whitespace around them; anything else
    is a ``ValueError`` here, in the authorizer, not a 500 later.
    """

    name: str

    def __post_init__(self) -> None:
        problem = identity_problem(self.name)
        if problem is not None:
            raise ValueError(f"Identity({self.name!r:.60}): {problem}")

    def __str__(self) -> str:
        return self.name


def identity_problem(name: object) -> str | None:
    """Why ``name`` cannot be an actor's name; None when it can."""
    if not isinstance(name, str):
        return f"a name is a string, not {type(name).__name__}"
    if not 0 < len(name) <= IDENTITY_MAX_LENGTH:
        return f"a name is 1 to {IDENTITY_MAX_LENGTH} characters long, not {len(name)}"
    if not name.isprintable() or name != name.strip():
        # isprintable() is False for control, format (the direction controls), separator
        # (U+2028, U+2029) and surrogate characters
        return "a name is printable, with no whitespace around it"
    return None


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


class BearerTokens:
    """Bearer tokens by name, matched in time that depends on neither their values nor lengths.

    ``tokens`` is a mapping of name to token, or tokens alone, which are named ``bearer-1``,
    ``bearer-2``, ... by their place. The scheme is matched without regard to case
    (``Bearer``, ``bearer``), as RFC 9110 says of every authentication scheme.
    """

    def __init__(self, tokens: Mapping[str, str] | Iterable[str]) -> None:
        named = (
            dict(tokens)
            if isinstance(tokens, Mapping)
            else {f"bearer-{place}": token for place, token in enumerate(tokens, start=1)}
        )
        self._names = tuple(named)
        self._digests = tuple(_digest(token.encode()) for token in named.values())

    def __bool__(self) -> bool:
        return bool(self._digests)

    def match(self, authorization: str | None) -> str | None:
        """The name of the token an ``Authorization`` header value carries as ``Bearer``, or
        None when it carries none of them."""
        if not authorization:
            return None
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            return None
        # WSGI hands header values over as latin-1: this gives back the bytes on the wire.
        presented = _digest(credentials.encode("latin-1", "replace"))
        found = -1
        for place, digest in enumerate(self._digests):  # every digest, whichever matches
            if hmac.compare_digest(digest, presented):
                found = place
        return None if found < 0 else self._names[found]


#: The 401 answers, made once: to a request without credentials, and to one with wrong ones.
#: Where bearer tokens are accepted they say how to send one; where only an authorizer lets
#: callers in, they do not guess at what it wants.
SEND_BEARER = "Send Authorization: Bearer <access token>."
SEND_CREDENTIALS = "Send the credentials this server accepts for aborting imports."
NO_CREDENTIALS = NotAuthenticated(more_info=SEND_BEARER, headers=[("WWW-Authenticate", "Bearer")])
WRONG_CREDENTIALS = NotAuthenticated(
    more_info=SEND_BEARER, headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')]
)
AUTHORIZER_REFUSED = NotAuthenticated(
    more_info=SEND_CREDENTIALS, headers=[("WWW-Authenticate", "Bearer")]
)


class SignedTokens(Protocol):
    """The access tokens of OCC's sign-in, as the check reads them."""

    def name_of(self, token: str) -> str | None:
        """The name of the application a valid token was issued to; else None."""
        ...


def build_check(
    authorizer: Authorizer | None,
    bearer_tokens: Mapping[str, str] | Iterable[str],
    allow_anonymous: bool,
    access_tokens: SignedTokens | None = None,
) -> Check | None:
    """Fold the configured ways in into one check; None when anyone may call. The order: the
    static bearer tokens, the access tokens of OCC's sign-in, then the authorizer."""
    if allow_anonymous:
        return None
    tokens = BearerTokens(bearer_tokens)
    takes_bearer = bool(tokens) or access_tokens is not None

    def check(request: Request) -> str | ImportAbortError:
        authorization = request.environ.get("HTTP_AUTHORIZATION")
        name = tokens.match(authorization)
        if name is not None:
            return name
        if access_tokens is not None and authorization:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() == "bearer":
                name = access_tokens.name_of(credentials.strip())
                if name is not None:
                    return name
        if authorizer is not None:
            answer = authorizer(request)
            if answer is True:
                return AUTHORIZER
            if isinstance(answer, Identity):
                return answer.name
        if not takes_bearer:
            return AUTHORIZER_REFUSED
        return WRONG_CREDENTIALS if authorization else NO_CREDENTIALS

    return check
