"""What a process token may be, how a new one is made, and how a log line quotes one."""

from __future__ import annotations

import secrets

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "new_token",
    "registrable_token",
    "token_for_log",
    "token_problem",
]

#: The longest token the endpoint accepts by default, and the SQL registry's column holds.
DEFAULT_MAX_LENGTH = 256


def new_token() -> str:
    """A token for a new import process: 256 random bits, URL-safe (43 characters).

    It never starts with ``-``, so that it can be given as it is to any command line (``flask
    import-abort abort TOKEN``, ``celery``, ``rq``) without being read as an option.
    """
    token = secrets.token_urlsafe(32)
    while token.startswith("-"):
        token = secrets.token_urlsafe(32)
    return token


def token_problem(token: str, max_length: int = DEFAULT_MAX_LENGTH) -> str | None:
    """Why the endpoint could never be asked about ``token``, or None when it could.

    A token is 1 to ``max_length`` characters, none of them whitespace, a control or format
    character, or ``/`` (a URL path segment cannot carry one), and is not a dot segment.
    """
    if not token:
        return "The token is empty."
    if len(token) > max_length:
        return f"The token is {len(token)} characters long; at most {max_length} are allowed."
    # str.isprintable is False for every control, format and separator character but " ".
    if not token.isprintable() or " " in token or "\ufffd" in token:
        return "The token holds whitespace, control characters, or bytes that are not UTF-8."
    if "/" in token:
        return "The token holds '/', which a URL path segment cannot carry."
    if token in (".", ".."):
        # A dot segment: proxies and clients resolve it away, so no real token is one.
        return "The token is a dot segment ('.' or '..')."
    return None


def registrable_token(token: str) -> str:
    """``token``, when the endpoint can be asked about it; a ``ValueError`` saying why not."""
    if not isinstance(token, str):
        raise TypeError(f"A token is a string; got {type(token).__name__}.")
    problem = token_problem(token)
    if problem is not None:
        raise ValueError(f"{problem} The endpoint could never abort {token_for_log(token)}.")
    return token


def token_for_log(token: str) -> str:
    """The token as a log line may carry it: quoted, non-printables escaped, at most 100 long."""
    return repr(token[:100]) + ("..." if len(token) > 100 else "")
