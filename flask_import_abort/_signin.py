"""Internal: OCC's sign-in: named application keys exchanged for short-lived signed JWT access
tokens, and those tokens checked on every call (extra ``[jwt]``, on PyJWT)."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._auth import BearerTokens

#: The algorithms a signing key may use: HMAC with a shared secret, or a private key.
SYMMETRIC = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: The shortest HMAC secret taken, in bytes: RFC 7518 asks for one as long as the hash.
MIN_SECRET_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
#: The verified tokens kept, so that a call with a token seen before skips the signature.
VERIFIED_KEPT = 1024
#: Seconds of clock difference between machines allowed on ``iat``.
LEEWAY = 5.0


def jwt_module() -> Any:
    """PyJWT, or an ``ImportError`` that names the extra to install."""
    try:
        import jwt
    except ImportError as error:  # pragma: no cover - the test venvs install it
        raise ImportError(
            "OCC's sign-in and the identity provider's tokens need PyJWT: "
            "pip install 'flask-import-abort[jwt]'."
        ) from error
    return jwt


class SignInRefused(Exception):
    """A sign-in or a refresh that gets no token: OAuth's ``error`` and its description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass(frozen=True)
class SigningKey:
    """One key of the configuration: its ``kid``, what signs with it (None when it only
    verifies, an asymmetric public key kept for tokens it signed before) and what verifies."""

    kid: str
    signing: Any
    verifying: Any


class AccessTokens:
    """Issues and checks the access tokens of OCC's sign-in.

    ``application_keys`` maps each client's name to its application key; ``signing_keys`` maps
    a ``kid`` to a key: an HMAC secret of at least the hash's length for ``HS*``, a PEM private
    key for the others (a PEM public key only verifies). The first key signs; every key
    verifies, so that keys rotate: put the new one first, drop the old one after a lifetime.
    Every worker of every machine given the same configuration accepts the others' tokens.
    """

    def __init__(
        self,
        application_keys: Mapping[str, str],
        signing_keys: Mapping[str, Any],
        *,
        algorithm: str = "HS256",
        lifetime: float = 300.0,
        issuer: str = "flask-import-abort",
        audience: str = "ccadmin",
    ) -> None:
        self._jwt = jwt_module()
        self.algorithm = algorithm
        self.lifetime = int(lifetime)
        self.issuer = issuer
        self.audience = audience
        self._names = frozenset(application_keys)
        self._keys = BearerTokens(application_keys)
        self.keys = {kid: self._key(kid, key) for kid, key in signing_keys.items()}
        self._signer = next(iter(self.keys.values()))
        if self._signer.signing is None:
            raise ValueError(
                f"the first signing key ({self._signer.kid!r}) signs the tokens: give its "
                "private key, not its public one."
            )
        self._verified: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def _key(self, kid: str, key: Any) -> SigningKey:
        if self.algorithm in SYMMETRIC:
            secret = key.encode() if isinstance(key, str) else key
            return SigningKey(kid, secret, secret)
        from cryptography.hazmat.primitives import serialization

        pem = key.encode() if isinstance(key, str) else key
        if b"PRIVATE KEY" in pem:
            private = serialization.load_pem_private_key(pem, password=None)
            return SigningKey(kid, private, private.public_key())
        return SigningKey(kid, None, serialization.load_pem_public_key(pem))

    # -- sign-in --------------------------------------------------------------------------

    def application(self, authorization: str | None) -> str:
        """The name of the application key an ``Authorization: Bearer`` header carries;
        ``SignInRefused`` when it carries none of them."""
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise SignInRefused(
                401, "invalid_client", "Send the application key as Authorization: Bearer <key>."
            )
        name = self._keys.match(authorization)  # in time that depends on no key
        if name is None:
            raise SignInRefused(401, "invalid_client", "The application key is not valid.")
        return name

    def issue(self, name: str) -> dict[str, Any]:
        """A new access token for the application ``name``: OAuth's token answer."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": name,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        token = self._jwt.encode(
            claims,
            self._signer.signing,
            algorithm=self.algorithm,
            headers={"kid": self._signer.kid},
        )
        return {"access_token": token, "token_type": "bearer", "expires_in": self.lifetime}

    def refresh(self, authorization: str | None) -> dict[str, Any]:
        """A new token for the one an ``Authorization: Bearer`` header carries, while it is
        still valid and its application key still exists."""
        scheme, _, credentials = (authorization or "").partition(" ")
        name = self.name_of(credentials.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            raise SignInRefused(
                401, "invalid_token", "The access token is expired or not valid: sign in again."
            )
        return self.issue(name)

    # -- checking -------------------------------------------------------------------------

    def name_of(self, token: str) -> str | None:
        """The application name (``sub``) of a valid access token of ours; None for any other
        token: expired, forged, unsigned, of another key, issuer or audience, or of an
        application key that no longer exists. ``exp`` is checked on every call; the
        signature once per token (a bounded number of them are kept)."""
        if token.count(".") != 2:
            return None
        now = time.time()
        with self._lock:
            kept = self._verified.get(token)
        if kept is not None:
            expires, name = kept
            return name if now < expires + LEEWAY else None
        claims = self._claims(token)
        if claims is None:
            return None
        name = str(claims["sub"])
        with self._lock:
            self._verified[token] = (float(claims["exp"]), name)
            if len(self._verified) > VERIFIED_KEPT:
                self._verified.popitem(last=False)
        return name

    def _claims(self, token: str) -> dict[str, Any] | None:
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(token)
            key = self.keys.get(header.get("kid"))
            if key is None:
                return None
            claims: dict[str, Any] = jwt.decode(
                token,
                key.verifying,
                algorithms=[self.algorithm],  # pinned: never the token's own
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
            )
        except jwt.PyJWTError:
            return None
        if claims["sub"] not in self._names:
            return None
        return claims
