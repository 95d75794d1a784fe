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

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Request

from ._auth import Identity, identity_problem
from ._signin import ASYMMETRIC, jwt_module
from .errors import IdentityProviderUnavailable, NotAllowed, NotAuthenticated, ReadNotAllowed

__all__ = ["OIDCAuthorizer"]

#: The methods that read, and need the read scope; every other one needs the abort's.
READING = frozenset({"GET", "HEAD"})
#: The verified tokens kept, so that a call with a token seen before skips the signature.
VERIFIED_KEPT = 1024
#: The name of the security scheme in the OpenAPI document.
SCHEME = "oidcAuth"
SEND_TOKEN = "Send Authorization: Bearer <access token> from the identity provider."  # noqa: S105


def _invalid(description: str) -> NotAuthenticated:
    return NotAuthenticated(
        more_info=SEND_TOKEN,
        dev_message=description,
        headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
    )


class OIDCAuthorizer:
    """Lets a call through with a valid JWT access token of the identity provider.

    - The token's signature is checked with the provider's keys, fetched from ``jwks_url`` by
      PyJWT's ``PyJWKClient``: cached for ``lifespan`` seconds, fetched again on a ``kid`` it
      does not know at most once per ``refetch_interval`` seconds, each fetch bounded by
      ``fetch_timeout`` seconds. While the provider cannot be reached, a token whose key is not
      cached answers 503 at once for ``refetch_interval`` seconds, never a wait.
    - ``iss`` must be ``issuer`` and ``aud`` hold ``audience``; the algorithm is one of
      ``algorithms``, never the token's own choice; ``exp`` is checked on every call.
    - The token's scopes (``scope``, space-separated, or ``scp``) must hold ``scope`` to abort,
      ``read_scope`` to read (GET). A missing scope answers 403 with RFC 6750's
      ``insufficient_scope`` challenge.
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
        identity_claim: str = "sub",
        fetch_timeout: float = 2.0,
        lifespan: float = 300.0,
        refetch_interval: float = 30.0,
        token_url: str | None = None,
    ) -> None:
        self._jwt = jwt = jwt_module()
        self.algorithms = list(algorithms)
        refused = [one for one in self.algorithms if one not in ASYMMETRIC]
        if not self.algorithms or refused:
            raise ValueError(
                f"OIDCAuthorizer(algorithms=...) takes the provider's asymmetric algorithms "
                f"({', '.join(sorted(ASYMMETRIC))}); got {refused or 'none'}."
            )
        for name, value in (("issuer", issuer), ("audience", audience), ("scope", scope)):
            problem = identity_problem(value)
            if problem is not None:
                raise ValueError(f"OIDCAuthorizer({name}=...): {problem}.")
        self.issuer = issuer
        self.audience = audience
        self.scope = scope
        self.read_scope = read_scope
        self.identity_claim = identity_claim
        self.refetch_interval = refetch_interval
        self.keys = jwt.PyJWKClient(
            jwks_url,
            cache_jwk_set=True,
            lifespan=lifespan,
            timeout=fetch_timeout,
            cooldown_duration=refetch_interval,
        )
        #: OpenAPI 3's description of how callers get a token: the provider's token URL for
        #: the client-credentials flow, else its discovery document.
        flow_scopes = {scope: "Abort import processes.", read_scope: "Read import processes."}
        self.security_schemes = {
            SCHEME: {
                "type": "oauth2",
                "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": flow_scopes}},
            }
            if token_url
            else {
                "type": "openIdConnect",
                "openIdConnectUrl": f"{issuer.rstrip('/')}/.well-known/openid-configuration",
            }
        }
        self._verified: OrderedDict[str, tuple[float, str, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()
        self._unreachable_until = 0.0

    def security_requirement(self, operation: str) -> Mapping[str, list[str]]:
        """The scope each operation needs, as the OpenAPI document says it."""
        return {SCHEME: [self.read_scope if operation == "getImportProcess" else self.scope]}

    def __call__(self, request: Request) -> Identity | bool:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        identity, scopes = self._verified_token(token)
        needed = self.read_scope if request.method in READING else self.scope
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
        now = time.time()
        with self._lock:
            kept = self._verified.get(token)
        if kept is not None:
            expires, identity, scopes = kept
            if now >= expires:
                raise _invalid("The access token has expired.")
            return identity, scopes
        claims = self._claims(token)
        claimed = claims.get(self.identity_claim)
        if identity_problem(claimed) is not None:
            raise _invalid(f"The access token's {self.identity_claim} is not a name.")
        identity = str(claimed)
        found = claims.get("scope", claims.get("scp", ""))
        scopes = frozenset(found.split() if isinstance(found, str) else map(str, found))
        with self._lock:
            self._verified[token] = (float(claims["exp"]), identity, scopes)
            if len(self._verified) > VERIFIED_KEPT:
                self._verified.popitem(last=False)
        return identity, scopes

    def _claims(self, token: str) -> dict[str, Any]:
        jwt = self._jwt
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise _invalid("The access token is not a JWT.") from None
        key = self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,  # pinned: never the token's own
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise _invalid(f"The access token is not valid: {type(error).__name__}.") from None
        return claims

    def _key(self, kid: object) -> Any:
        """The provider's public key of ``kid``: from the cached key set, or fetched."""
        jwt = self._jwt
        if not isinstance(kid, str):
            raise _invalid("The access token names no key (kid).")
        if time.monotonic() < self._unreachable_until:
            cached = self.keys.jwk_set_cache.get() if self.keys.jwk_set_cache else None
            found = (
                None
                if cached is None
                else next((one for one in cached.keys if one.key_id == kid), None)
            )
            if found is None:
                raise IdentityProviderUnavailable(max(1, round(self.refetch_interval)))
            return found.key
        try:
            return self.keys.get_signing_key(kid).key
        except jwt.PyJWKClientConnectionError:
            self._unreachable_until = time.monotonic() + self.refetch_interval
            raise IdentityProviderUnavailable(max(1, round(self.refetch_interval))) from None
        except jwt.PyJWKClientError:
            raise _invalid("The access token's key is not the identity provider's.") from None
