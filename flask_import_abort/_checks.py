"""Internal: checks of the token and the body, made before the registry is called."""

from __future__ import annotations

import json
import re
from typing import Protocol

from flask import Request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import LimitedStream

from . import errors
from .processes.tokens import token_problem


def check_token(token: str, max_length: int) -> None:
    """Refuse a token no process could have (see ``tokens.token_problem``)."""
    problem = token_problem(token, max_length)
    if problem is not None:
        raise errors.InvalidToken(dev_message=problem, error_path="token")


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


#: A body refused as too large is still read and thrown away up to this many bytes, so that the
#: server can keep the connection open for the client's next request; past it, the server closes.
DISCARD_BYTES = 1024 * 1024


def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past ``limit`` bytes without keeping more than ``limit + 1``."""
    length = request.content_length
    if length is not None and length > limit:
        if length <= DISCARD_BYTES:
            _discard(LimitedStream(request.environ["wsgi.input"], length))
        raise errors.BodyTooLarge(
            dev_message=f"Content-Length is {length}; at most {limit} bytes are accepted.",
            error_path="body",
        )
    if length == 0 or (length is None and not request.environ.get("wsgi.input_terminated")):
        return b""
    try:
        data = request.stream.read(limit + 1)
    except RequestEntityTooLarge:
        data = None  # the host's MAX_CONTENT_LENGTH is lower than ours
    if data is None or len(data) > limit:
        if data is not None and length is None:
            _discard(request.stream)
        raise errors.BodyTooLarge(
            dev_message=f"The body is longer than the {limit} bytes accepted.", error_path="body"
        )
    return data


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes | None: ...


def _discard(stream: _Readable) -> None:
    """Read and drop what is left of a refused body, up to ``DISCARD_BYTES``."""
    left = DISCARD_BYTES
    try:
        while left > 0 and (chunk := stream.read(min(left, 64 * 1024))):
            left -= len(chunk)
    except (OSError, ValueError, RequestEntityTooLarge, ClientDisconnected):
        pass  # the answer is 413 all the same; the server closes the connection


#: The longest reason an abort may give.
REASON_MAX_LENGTH = 500
#: The characters a reason may not hold: the control characters (C0, DEL and C1).
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def check_body(request: Request, limit: int) -> str | None:
    """Accept no body, an empty one whatever its type, or a JSON object; refuse the rest.
    Return the object's ``reason`` (None when it gives none), refused unless it is a string of
    at most :data:`REASON_MAX_LENGTH` characters, none of them control characters."""
    data = read_body(request, limit)
    if not data:
        return None
    mimetype = request.mimetype
    if mimetype and not _is_json(mimetype):
        raise errors.UnsupportedBodyType(
            more_info="Send Content-Type: application/json, or no body at all.", error_path="body"
        )
    try:
        value = json.loads(data)
    except RecursionError:
        raise errors.MalformedJson(
            dev_message="The JSON is nested too deeply.", error_path="body"
        ) from None
    except json.JSONDecodeError as error:
        raise errors.MalformedJson(
            dev_message=f"{error.msg} at line {error.lineno}, column {error.colno}.",
            error_path="body",
        ) from None
    except ValueError:  # not UTF-8, or a number with too many digits
        raise errors.MalformedJson(
            dev_message="The body is not UTF-8, or holds a number too long to read.",
            error_path="body",
        ) from None
    if not isinstance(value, dict):
        raise errors.BodyNotAnObject(
            dev_message=f"The body is a JSON {_json_type(value)}.", error_path="body"
        )
    if "reason" not in value:
        return None
    return check_reason(value["reason"])


def check_reason(reason: object) -> str | None:
    """``reason`` when an abort may give it (None for an empty one); ``InvalidReason`` else."""
    if not isinstance(reason, str):
        raise errors.InvalidReason(
            dev_message=f"The reason is a JSON {_json_type(reason)}, not a string.",
            error_path="reason",
        )
    if len(reason) > REASON_MAX_LENGTH:
        raise errors.InvalidReason(
            dev_message=f"The reason is {len(reason)} characters long; at most "
            f"{REASON_MAX_LENGTH} are allowed.",
            error_path="reason",
        )
    if CONTROL_CHARACTERS.search(reason):
        raise errors.InvalidReason(
            dev_message="The reason holds control characters (a line break, a tab, ...).",
            error_path="reason",
        )
    return reason or None


def _json_type(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
