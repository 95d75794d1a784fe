"""Internal: the checks of the token and the body, made before the registry is called."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

import marshmallow as ma
from flask import Request
from marshmallow import missing
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import LimitedStream, get_content_length

from .. import errors
from ..processes.tokens import token_problem

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


def check_token(token: str, max_length: int) -> None:
    """Refuse a token no process could have (see ``tokens.token_problem``)."""
    problem = token_problem(token, max_length)
    if problem is not None:
        raise errors.InvalidToken(dev_message=problem, error_path="token")


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


#: A body refused as too large is still read and thrown away to this many bytes past the limit,
#: so that the server can keep the connection open for the client's next request; a longer one
#: is left unread, and the server closes the connection. No body is read further than
#: ``limit + DISCARD_BYTES`` bytes, whether its length is declared or sent in chunks.
DISCARD_BYTES = 64 * 1024


def sends_no_body(environ: WSGIEnvironment) -> bool:
    """Whether a request has no body, as :func:`read_body` would find: a ``Content-Length`` of
    0 (werkzeug's reading: one beside ``Transfer-Encoding: chunked`` does not count), or none
    and no chunks."""
    length = get_content_length(environ)
    if length is None:
        return not bool(environ.get("wsgi.input_terminated"))
    return length == 0


def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past ``limit`` bytes without keeping more than ``limit + 1``
    or reading more than ``limit + DISCARD_BYTES``."""
    length = request.content_length
    if length is not None and length > limit:
        if length <= limit + DISCARD_BYTES:
            _discard(LimitedStream(request.environ["wsgi.input"], length), length)
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
            _discard(request.stream, DISCARD_BYTES - 1)
        raise errors.BodyTooLarge(
            dev_message=f"The body is longer than the {limit} bytes accepted.", error_path="body"
        )
    return data


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes | None: ...


def _discard(stream: _Readable, left: int) -> None:
    """Read and drop ``left`` bytes more of a refused body, or what is left of it if less."""
    try:
        while left > 0 and (chunk := stream.read(min(left, 16 * 1024))):
            left -= len(chunk)
    except (OSError, ValueError, RequestEntityTooLarge, ClientDisconnected):
        pass  # the answer is 413 all the same; the server closes the connection


def load_body(request: Request, limit: int) -> Any:
    """The body as the endpoint takes it: ``missing`` for none (or an empty one, whatever its
    type), else a JSON object of at most ``limit`` bytes; anything else is refused."""
    data = read_body(request, limit)
    if not data:
        return missing
    # The header as most clients send it needs no parsing.
    plain = request.environ.get("CONTENT_TYPE") in (None, "", "application/json")
    mimetype = "" if plain else request.mimetype
    if mimetype and not _is_json(mimetype):
        raise errors.UnsupportedBodyType(
            more_info="Send Content-Type: application/json, or no body at all.",
            error_path="body",
        )
    try:
        # UTF-8 only (RFC 8259): json.loads would take UTF-16 and UTF-32 bytes too. A UTF-8
        # byte order mark is let by, as the RFC allows a reader to.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise errors.MalformedJson(
            dev_message=f"The body is not UTF-8 (byte {error.start} is not).", error_path="body"
        ) from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise errors.MalformedJson(
            dev_message="The JSON is nested too deeply.", error_path="body"
        ) from None
    except json.JSONDecodeError as error:
        raise errors.MalformedJson(
            dev_message=f"{error.msg} at line {error.lineno}, column {error.colno}.",
            error_path="body",
        ) from None
    except ValueError:  # a number with too many digits
        raise errors.MalformedJson(
            dev_message="The body holds a number too long to read.",
            error_path="body",
        ) from None
    if not isinstance(value, dict):
        raise errors.BodyNotAnObject(
            dev_message=f"The body is a JSON {json_type(value)}.", error_path="body"
        )
    return value


def invalid_reason(error: ma.ValidationError) -> errors.InvalidReason:
    """The errorModel of the body's refused ``reason``, saying why in its ``devMessage``."""
    messages: Any = error.normalized_messages()  # type: ignore[no-untyped-call]
    path = "reason"
    while isinstance(messages, dict) and messages:
        path, messages = next(iter(messages.items()))
    message = messages[0] if isinstance(messages, list) and messages else str(messages)
    return errors.InvalidReason(dev_message=str(message), error_path=str(path))


def json_type(value: object) -> str:
    """What JSON calls the type of ``value``."""
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
