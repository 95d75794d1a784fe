"""Internal: OCC's sign-in: named application keys exchanged for short-lived signed JWT access
tokens, and those tokens checked on every call (extra ``[jwt]``, on PyJWT)."""

from __future__ import annotations

import base64
import hashlib
import hmac
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
#: The shortest application key taken, in characters: shorter ones can be guessed.
MIN_APPLICATION_KEY_LENGTH = 16
#: The claim that names the application key a token was issued for (see ``key_claim``).
KEY_CLAIM = "akh"


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
    #: The secret that names application keys in the tokens this key signs: the HMAC secret,
    #: or the private key's bytes; None for a key that only verifies.
    secret: bytes | None

    def key_claim(self, application_key: str) -> str:
        """What a token this key signs says of the application key it was issued for: a
        truncated HMAC of it under this key's secret, so that a token names its key without
        letting anyone who holds it test guesses of the key."""
        assert self.secret is not None  # noqa: S101 - only keys that sign make claims
        digest = hmac.new(
            self.secret, b"application-key\x00" + application_key.encode(), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


class AccessTokens:
    """Issues and checks the access tokens of OCC's sign-in.

    ``application_keys`` maps each client's name to its application key; ``signing_keys`` maps
    a ``kid`` to a key: an HMAC secret of at least the hash's length for ``HS*``, a PEM private
    key for the others (a PEM public key only verifies). The first key signs; every key
    verifies, so that keys rotate: put the new one first, drop the old one after a lifetime.
    Every worker of every machine given the same configuration accepts the others' tokens.

    A token names the application key it was issued for (:attr:`SigningKey.key_claim`) and
    the time of its sign-in (``auth_time``): it is refused once that key is removed or
    replaced, and ``/refresh`` renews it only within ``session_lifetime`` seconds of the
    sign-in. No token outlives its session.
    """

    def __init__(
        self,
        application_keys: Mapping[str, str],
        signing_keys: Mapping[str, Any],
        *,
        algorithm: str = "HS256",
        lifetime: float = 300.0,
        session_lifetime: float = 8 * 3600.0,
        issuer: str = "flask-import-abort",
        audience: str = "ccadmin",
    ) -> None:
        self._jwt = jwt_module()
        self.algorithm = algorithm
        self.lifetime = int(lifetime)
        self.session_lifetime = int(session_lifetime)
        self.issuer = issuer
        self.audience = audience
        self._application_keys = dict(application_keys)
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
            return SigningKey(kid, secret, secret, secret)
        from cryptography.hazmat.primitives import serialization

        pem = key.encode() if isinstance(key, str) else key
        if b"PRIVATE KEY" in pem:
            private = serialization.load_pem_private_key(pem, password=None)
            secret = private.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return SigningKey(kid, private, private.public_key(), secret)
        return SigningKey(kid, None, serialization.load_pem_public_key(pem), None)

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

    def issue(self, name: str, *, auth_time: int | None = None) -> dict[str, Any]:
        """A new access token for the application ``name``: OAuth's token answer. ``auth_time``
        is the time of the sign-in a refreshed token carries on (now, for a sign-in); the token
        lives ``lifetime`` seconds, and never past the session's end."""
        now = int(time.time())
        signed_in = now if auth_time is None else auth_time
        expires = min(now + self.lifetime, signed_in + self.session_lifetime)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": name,
            "iat": now,
            "exp": expires,
            "auth_time": signed_in,
            KEY_CLAIM: self._signer.key_claim(self._application_keys[name]),
            "jti": secrets.token_urlsafe(16),
        }
        token = self._jwt.encode(
            claims,
            self._signer.signing,
            algorithm=self.algorithm,
            headers={"kid": self._signer.kid},
        )
        return {"access_token": token, "token_type": "bearer", "expires_in": expires - now}

    def refresh(self, authorization: str | None) -> dict[str, Any]:
        """A new token for the one an ``Authorization: Bearer`` header carries, while it is
        still valid, its application key still exists unchanged, and its session (from the
        sign-in, ``auth_time``) has not ended."""
        scheme, _, credentials = (authorization or "").partition(" ")
        claims = self._claims(credentials.strip()) if scheme.lower() == "bearer" else None
        if claims is None or self.keys[claims["kid"]].secret is None:
            raise SignInRefused(
                401, "invalid_token", "The access token is expired or not valid: sign in again."
            )
        if time.time() >= claims["auth_time"] + self.session_lifetime:
            raise SignInRefused(
                401, "invalid_token", "The session has ended: sign in again with the key."
            )
        return self.issue(str(claims["sub"]), auth_time=claims["auth_time"])

    # -- checking -------------------------------------------------------------------------

    def name_of(self, token: str) -> str | None:
        """The application name (``sub``) of a valid access token of ours; None for any other
        token: expired, forged, unsigned, of another key, issuer or audience, or of an
        application key that no longer exists or was replaced. ``exp`` is checked on every call; the
        signature once per token (a bounded number of them are kept)."""
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
        """The claims of a valid token of ours, with the ``kid`` that signed it; else None."""
        jwt = self._jwt
        if token.count(".") != 2:
            return None
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
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti", "auth_time"]},
            )
        except jwt.PyJWTError:
            return None
        application_key = self._application_keys.get(claims["sub"])
        if application_key is None or isinstance(claims["auth_time"], bool):
            return None
        if not isinstance(claims["auth_time"], int) or not isinstance(claims.get(KEY_CLAIM), str):
            return None
        # a key that only verifies (a public key kept for rotation) cannot say which
        # application key its tokens were issued for: they live out their lifetime, unrenewed
        if key.secret is not None and not hmac.compare_digest(
            claims[KEY_CLAIM], key.key_claim(application_key)
        ):
            return None
        return {**claims, "kid": key.kid}
