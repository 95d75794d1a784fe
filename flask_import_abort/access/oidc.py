"""An authorizer for hosts behind an OpenID Connect identity provider (extra ``[jwt]``, on PyJWT):
its JWT access tokens, checked against its published keys, with a scope for each operation.

.. code-block:: python

    app.config["IMPORT_ABORT_AUTHORIZE"] = OIDCAuthorizer(
        issuer="https://login.example.com/",
        audience="urn:imports",
        jwks_url="https://login.example.com/jwks",
    )
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import math
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Request

from ..errors import IdentityProviderUnavailable, NotAllowed, NotAuthenticated, ReadNotAllowed
from ._auth import OPERATION_KEY, Identity, identity_problem
from ._signin import ASYMMETRIC, jwt_module

__all__ = ["OIDCAuthorizer"]

log = logging.getLogger("flask_import_abort.oidc")

#: The methods that read, and need the read scope; every other one needs the abort's.
READING = frozenset({"GET", "HEAD"})
#: The verified tokens kept, so that a call with a token seen before skips the signature.
VERIFIED_KEPT = 1024
#: The name of the security scheme in the OpenAPI document.
SCHEME = "oidcAuth"
SEND_TOKEN = "Send Authorization: Bearer <access token> from the identity provider."  # noqa: S105
#: The most of a key set that is read.
MAX_KEY_SET_BYTES = 512 * 1024
#: The key type (``kty``) each family of algorithms signs with.
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
#: The keys whose odd tokens were logged, so that each is logged once.
WARNED_KEPT = 256


class _Unreachable(Exception):
    """The key set could not be fetched (the provider is down, slow, or answers no key set)."""


def _invalid(description: str) -> NotAuthenticated:
    """The 401 of a bearer token that did not verify, saying why to the developer."""
    return NotAuthenticated(
        more_info=SEND_TOKEN,
        dev_message=description,
        headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
    )


class OIDCAuthorizer:
    """Lets a call through with a valid JWT access token of the identity provider.

    - The token's signature is checked with the provider's keys, fetched from ``jwks_url``:
      fetched again in the background after ``lifespan`` seconds, and on a ``kid`` it does not
      know at most once per ``refetch_interval`` seconds. A fetch ends within ``fetch_timeout``
      seconds in all, however slowly the provider answers. A token whose key is cached never
      waits on a fetch. While the provider cannot be reached, a token whose key is not cached
      answers 503 at once for ``refetch_interval`` seconds, never a wait.
    - ``iss`` must be ``issuer`` and ``aud`` hold ``audience``; the algorithm is one of
      ``algorithms``, never the token's own choice, and suits the key's type; ``exp``, ``nbf``
      and ``iat`` allow ``leeway`` seconds of clock difference; ``exp`` is checked on every
      call.
    - The token's scopes (``scope``, space-separated, or ``scp``, a list) must hold ``scope`` to
      abort, ``read_scope`` to read (GET). A missing scope, or a scope claim of another type,
      answers 403 with RFC 6750's ``insufficient_scope`` challenge.
    - The identity recorded as the actor is the ``identity_claim`` (``sub`` by default).

    A request without a bearer token is left to the other ways in (and to the 401); a bad
    token answers the 401 with ``error="invalid_token"``.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str,
        algorithms: Iterable[str] = ("RS256",),
        scope: str = "import:abort",
        read_scope: str = "import:read",
        export_scope: str = "export:abort",
        export_read_scope: str = "export:read",
        identity_claim: str = "sub",
        fetch_timeout: float = 2.0,
        lifespan: float = 300.0,
        refetch_interval: float = 30.0,
        token_url: str | None = None,
        leeway: float = 5.0,
    ) -> None:
        self._jwt = jwt_module()
        self.algorithms = list(algorithms)
        refused = [one for one in self.algorithms if one not in ASYMMETRIC]
        if not self.algorithms or refused:
            raise ValueError(
                f"OIDCAuthorizer(algorithms=...) takes the provider's asymmetric algorithms "
                f"({', '.join(sorted(ASYMMETRIC))}); got {refused or 'none'}."
            )
        scopes = {"scope": scope, "export_scope": export_scope}
        _names(issuer=issuer, audience=audience, export_read_scope=export_read_scope, **scopes)
        self.issuer = issuer
        self.audience = audience
        self.scope = scope
        self.read_scope = read_scope
        self.export_scope = export_scope
        self.export_read_scope = export_read_scope
        #: The scope each of the plugin's operations needs.
        self.scopes = {
            "abortImportProcess": scope,
            "getImportProcess": read_scope,
            "abortExportProcess": export_scope,
            "getExportProcess": export_read_scope,
        }
        self.identity_claim = identity_claim
        self.refetch_interval = refetch_interval
        if isinstance(leeway, bool) or not isinstance(leeway, int | float) or not leeway >= 0:
            raise ValueError(f"OIDCAuthorizer(leeway=...) is seconds, 0 or more; got {leeway!r}.")
        self.leeway = float(leeway)
        self.keys = ProviderKeys(
            jwks_url,
            fetch_timeout=fetch_timeout,
            lifespan=lifespan,
            refetch_interval=refetch_interval,
        )
        #: OpenAPI 3's description of how callers get a token: the provider's token URL for
        #: the client-credentials flow, else its discovery document.
        self.security_schemes = {SCHEME: _scheme(issuer, token_url, self.scopes)}
        self._verified: OrderedDict[str, tuple[float, str, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()
        self._warned: OrderedDict[object, None] = OrderedDict()

    def security_requirement(self, operation: str) -> Mapping[str, list[str]]:
        """The scope each operation needs, as the OpenAPI document says it."""
        return {SCHEME: [self.scopes.get(operation, self.scope)]}

    def _needed(self, request: Request) -> str:
        """The scope ``request`` needs: its operation's, on the plugin's routes; on a host's
        route (``access_required``), the read scope to read and the abort's otherwise."""
        operation = request.environ.get(OPERATION_KEY)
        if operation in self.scopes:
            return self.scopes[operation]
        return self.read_scope if request.method in READING else self.scope

    def __call__(self, request: Request) -> Identity | bool:
        """Let the request through when it carries a provider's access token that verifies:
        its identity the token's ``identity_claim``. No bearer token leaves it to the other
        checks; a token without the operation's scope is a 403 naming the scope."""
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        identity, scopes = self._verified_token(token)
        needed = self._needed(request)
        if needed not in scopes:
            refusal = ReadNotAllowed if request.method in READING else NotAllowed
            raise refusal(
                more_info=f"The access token lacks the scope {needed}.",
                headers=[
                    (
                        "WWW-Authenticate",
                        f'Bearer error="insufficient_scope", scope="{needed}"',
                    )
                ],
            )
        return Identity(identity)

    def _verified_token(self, token: str) -> tuple[str, frozenset[str]]:
        """The identity and the scopes of ``token``, verified once and then kept until it
        expires (the most recent :data:`VERIFIED_KEPT` tokens); a 401 when it does not
        verify."""
        now = time.time()
        with self._lock:
            kept = self._verified.get(token)
        if kept is not None:
            expires, identity, scopes = kept
            if now >= expires + self.leeway:
                raise _invalid("The access token has expired.")
            return identity, scopes
        claims, kid = self._claims(token)
        claimed = claims.get(self.identity_claim)
        if identity_problem(claimed) is not None:
            raise _invalid(f"The access token's {self.identity_claim} is not a name.")
        identity = str(claimed)
        scopes = self._scopes(claims, kid)
        with self._lock:
            self._verified[token] = (float(claims["exp"]), identity, scopes)
            if len(self._verified) > VERIFIED_KEPT:
                self._verified.popitem(last=False)
        return identity, scopes

    def _scopes(self, claims: Mapping[str, Any], kid: str) -> frozenset[str]:
        """The token's scopes: ``scope``, space-separated, or ``scp``, a list of strings; none
        when the claim is of another type (logged once for its key)."""
        found = claims.get("scope", claims.get("scp"))
        if isinstance(found, str):
            return frozenset(found.split())
        if isinstance(found, list) and all(isinstance(one, str) for one in found):
            return frozenset(found)
        if found is not None:
            self._warn_once(
                ("scope", kid),
                "tokens of the identity provider's key %r carry a scope that is a %s: "
                "refused as without scopes",
                kid[:64],
                type(found).__name__,
            )
        return frozenset()

    def _warn_once(self, about: object, message: str, *arguments: object) -> None:
        """Log a WARNING of a key's odd tokens once, however many of them are sent."""
        with self._lock:
            if about in self._warned:
                return
            self._warned[about] = None
            if len(self._warned) > WARNED_KEPT:
                self._warned.popitem(last=False)
        log.warning(message, *arguments)

    def _claims(self, token: str) -> tuple[dict[str, Any], str]:
        """A valid token's claims, and the ``kid`` of its key."""
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("The access token is not a JWT.") from None
        kid, algorithm = header.get("kid"), header.get("alg")
        if not isinstance(kid, str):
            raise _invalid("The access token names no key (kid).")
        if algorithm not in self.algorithms:
            raise _invalid("The access token's algorithm is not the identity provider's.")
        key = self._key(kid)
        if KEY_TYPES.get(algorithm[:2]) != key.key_type:
            self._warn_once(
                ("kid", kid),
                "a token signed %s names the identity provider's key %r, of type %s: refused",
                algorithm,
                kid[:64],
                key.key_type,
            )
            raise _invalid("The access token's algorithm does not suit its key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],  # one of ours, and of the key's type
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise _invalid(f"The access token is not valid: {type(error).__name__}.") from None
        except (TypeError, ValueError) as error:  # a key the algorithm cannot use after all
            self._warn_once(("kid", kid), "a token for the key %r is refused: %s", kid[:64], error)
            raise _invalid("The access token's algorithm does not suit its key.") from None
        return claims, kid

    def _key(self, kid: str) -> Any:
        """The provider's public key of ``kid`` (a ``PyJWK``): cached, or fetched."""
        try:
            return self.keys.key(kid)
        except KeyError:
            raise _invalid("The access token's key is not the identity provider's.") from None
        except _Unreachable:
            raise IdentityProviderUnavailable(max(1, round(self.refetch_interval))) from None


class ProviderKeys:
    """The identity provider's signing keys, by ``kid``, from its key set at ``url``.

    A fetch ends within ``fetch_timeout`` seconds in all: connecting, sending, and reading
    however slowly the answer comes. The keys are fetched again in the background once they are
    ``lifespan`` seconds old, so that a token whose key is cached never waits; a ``kid`` not
    cached fetches them at once, no more than once per ``refetch_interval`` seconds, and while
    the provider cannot be reached no call waits on it for ``refetch_interval`` seconds.
    """

    def __init__(
        self, url: str, *, fetch_timeout: float, lifespan: float, refetch_interval: float
    ) -> None:
        self._jwt = jwt_module()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OIDCAuthorizer(jwks_url=...) is an http(s) URL; got {url!r:.80}.")
        self.url = url
        self.fetch_timeout = fetch_timeout
        self.lifespan = lifespan
        self.refetch_interval = refetch_interval
        self._keys: Mapping[str, Any] = {}
        self._fetched_at = -math.inf  # the last fetch that got a key set
        self._tried_at = -math.inf  # the last fetch that ended, however
        self._unreachable_until = -math.inf
        self._fetching = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def key(self, kid: str) -> Any:
        """The key ``kid``; ``KeyError`` when the provider has none of that ``kid``,
        ``_Unreachable`` when its key set cannot be fetched now."""
        found = self._keys.get(kid)
        now = time.monotonic()
        if found is not None:
            if now - self._fetched_at >= self.lifespan:
                self._fetch_behind()
            return found
        if now < self._unreachable_until:
            raise _Unreachable
        if now - self._tried_at < self.refetch_interval:
            raise KeyError(kid)  # fetched lately: the kid is not the provider's
        if not self._fetching.acquire(timeout=self.fetch_timeout):
            raise _Unreachable  # another call's fetch did not end in time
        try:
            found = self._keys.get(kid)
            if found is None and time.monotonic() - self._tried_at >= self.refetch_interval:
                self._fetch()
                found = self._keys.get(kid)
        finally:
            self._fetching.release()
        if found is None:
            raise KeyError(kid)
        return found

    def _fetch_behind(self) -> None:
        """Fetch the key set again in a thread of its own, unless a fetch runs already or the
        provider could not be reached lately."""
        if time.monotonic() < self._unreachable_until:
            return
        if not self._fetching.acquire(blocking=False):
            return

        def fetch() -> None:
            try:
                self._fetch()
            except _Unreachable:
                pass  # the keys cached still verify; logged by the fetch
            finally:
                self._fetching.release()

        threading.Thread(target=fetch, name="flask-import-abort-jwks", daemon=True).start()

    def _fetch(self) -> None:
        """Fetch the key set (the caller holds ``_fetching``)."""
        try:
            document = json.loads(self._get())
            found = self._jwt.PyJWKSet.from_dict(document).keys
        except (_Unreachable, ValueError, TypeError, AttributeError, self._jwt.PyJWTError) as error:
            self._tried_at = time.monotonic()
            self._unreachable_until = self._tried_at + self.refetch_interval
            log.warning("the identity provider's key set could not be fetched: %s", error)
            raise _Unreachable from None
        self._keys = {
            one.key_id: one
            for one in found
            if one.key_id is not None and one.public_key_use in (None, "sig")
        }
        self._fetched_at = self._tried_at = time.monotonic()

    def _get(self) -> bytes:
        """The body of a GET of the key set's URL, within ``fetch_timeout`` seconds in all."""
        parts = urlsplit(self.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            connection = http.client.HTTPSConnection(
                str(parts.hostname), parts.port, timeout=self.fetch_timeout, context=self._tls
            )
        else:
            connection = http.client.HTTPConnection(
                str(parts.hostname), parts.port, timeout=self.fetch_timeout
            )
        deadline = time.monotonic() + self.fetch_timeout
        opened: list[socket.socket] = []
        cut = threading.Timer(self.fetch_timeout, _cut, args=(opened,))
        cut.daemon = True
        cut.start()
        try:
            connection.connect()
            opened.append(connection.sock)  # the answer reads it after the connection lets go
            if time.monotonic() >= deadline:
                _cut(opened)
            connection.request("GET", target, headers={"Accept": "application/json"})
            answer = connection.getresponse()
            body = answer.read(MAX_KEY_SET_BYTES + 1)
            status = answer.status
        except (OSError, http.client.HTTPException) as error:
            if time.monotonic() >= deadline:
                raise _Unreachable(f"no key set within {self.fetch_timeout:g} s") from None
            raise _Unreachable(type(error).__name__) from None
        finally:
            cut.cancel()
            connection.close()
        if time.monotonic() >= deadline:
            raise _Unreachable(f"no key set within {self.fetch_timeout:g} s")
        if status != 200:
            raise _Unreachable(f"the key set's URL answered {status}")
        if len(body) > MAX_KEY_SET_BYTES:
            raise _Unreachable(f"the key set is longer than {MAX_KEY_SET_BYTES} bytes")
        return body


def _cut(opened: list[socket.socket]) -> None:
    """End a fetch whose deadline passed: its socket is shut down, so that a read returns."""
    for sock in opened:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _scheme(issuer: str, token_url: str | None, scopes: Mapping[str, str]) -> dict[str, Any]:
    """The OpenAPI security scheme of the provider: OAuth 2's client-credentials flow at its
    ``token_url`` with every scope an operation needs, else its discovery document."""
    if not token_url:
        discovery = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        return {"type": "openIdConnect", "openIdConnectUrl": discovery}
    said = {
        "abortImportProcess": "Abort import processes.",
        "getImportProcess": "Read import processes.",
        "abortExportProcess": "Abort export processes.",
        "getExportProcess": "Read export processes.",
    }
    flow_scopes = {scope: said[operation] for operation, scope in scopes.items()}
    return {
        "type": "oauth2",
        "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": flow_scopes}},
    }


def _names(**named: str) -> None:
    """Each of ``named`` a name that can be compared as given; else a ``ValueError`` naming
    the argument."""
    for name, value in named.items():
        problem = identity_problem(value)
        if problem is not None:
            raise ValueError(f"OIDCAuthorizer({name}=...): {problem}.")
