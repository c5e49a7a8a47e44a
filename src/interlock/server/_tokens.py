"""Signed tokens from an OpenID provider: its key set (JWKS), fetched, cached and refreshed
when a token names a key it does not hold (key rotation), and the checks every token passes
before interlock believes it: signature, issuer, audience, expiry and not-before (with a
small leeway for clock skew).

`TokenVerifier.verify(token)` returns the token's claims or raises `TokenRejected` whose
message says what is wrong (expired, another audience, unknown key...), which the API sends
back as a 401. Nothing here knows about HTTP requests or principals.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeGuard

__all__ = ["ASYMMETRIC", "JwksCache", "TokenRejected", "TokenVerifier", "looks_like_jwt"]

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
"""Signature algorithms accepted (public keys only: never `none` or a shared secret)."""


class TokenRejected(Exception):
    """A token that is not accepted; the message says why (it is shown to the caller)."""

    def __init__(self, message: str, *, code: str = "invalid_token") -> None:
        super().__init__(message)
        self.code = code


class IssuerUnreachable(Exception):
    """The provider's key set could not be fetched."""


def looks_like_jwt(text: str) -> bool:
    """Whether `text` has the shape of a signed JWT (three base64url parts, a JSON header)."""
    parts = text.split(".")
    return len(parts) == 3 and all(parts[:2]) and text.startswith("eyJ")


def _b64json(part: str) -> dict[str, Any]:
    raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


class JwksCache:
    """The provider's public keys from `url`, kept `ttl` seconds; a token signed with a key
    id not in the cache refreshes it at once, but such refreshes happen at most every
    `min_refresh` seconds (so tokens with made-up key ids cannot make interlock hammer the
    provider)."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 3600.0,
        min_refresh: float = 5.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url, self.ttl, self.min_refresh, self.timeout = url, ttl, min_refresh, timeout
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._anonymous: list[Any] = []  # keys without a `kid`
        self._fetched = float("-inf")
        self._missed = float("-inf")  # the last refresh for an unknown key id
        self._lock = threading.Lock()
        self.fetches = 0
        """How many times the key set was fetched (for tests and metrics)."""

    def refresh(self) -> None:
        """Fetch the key set now; `IssuerUnreachable` if it cannot be read."""
        import httpx
        from joserfc.jwk import import_key

        try:
            response = httpx.get(self.url, timeout=self.timeout, follow_redirects=False)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise IssuerUnreachable(f"cannot read the key set at {self.url}: {exc}") from exc
        keys: dict[str, Any] = {}
        anonymous: list[Any] = []
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = import_key(entry)
            except Exception:  # a key type or curve this version cannot read: skip it
                continue
            kid = entry.get("kid")
            if isinstance(kid, str):
                keys[kid] = key
            else:
                anonymous.append(key)
        self._keys, self._anonymous = keys, anonymous
        self._fetched = self._clock()
        self.fetches += 1

    def key_for(self, kid: str | None) -> list[Any]:
        """The candidate keys for a token's `kid` (refreshing as described above)."""
        with self._lock:
            now = self._clock()
            stale = now - self._fetched > self.ttl
            unknown = kid is not None and kid not in self._keys
            if unknown and not stale and now - self._missed >= self.min_refresh:
                self._missed = now
                stale = True
            if stale:
                self.refresh()
            if kid is None:
                return [*self._anonymous, *self._keys.values()]
            return [self._keys[kid]] if kid in self._keys else []


class TokenVerifier:
    """Checks signed tokens from one issuer for one of `audiences`.

    `leeway`: seconds of clock skew allowed on `exp`, `nbf` and `iat`. `clock`: the time in
    seconds (tests move it)."""

    def __init__(
        self,
        *,
        issuer: str,
        audiences: Collection[str],
        jwks: JwksCache,
        algorithms: Collection[str] = ASYMMETRIC,
        leeway: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not audiences:
            raise ValueError("a token verifier needs the audience tokens must be issued for")
        self.issuer, self.audiences, self.jwks = issuer, frozenset(audiences), jwks
        self.algorithms = [a for a in algorithms if a in ASYMMETRIC]
        self.leeway, self.clock = leeway, clock

    def verify(self, token: str, *, nonce: str | None = None) -> dict[str, Any]:
        """The token's claims, once its signature and claims check out; `TokenRejected`
        otherwise. `nonce`: the value an ID token must carry (sign-in only)."""
        from joserfc import jwt
        from joserfc.errors import JoseError

        if not looks_like_jwt(token):
            raise TokenRejected("the bearer token is not a signed JWT")
        try:
            header = _b64json(token.split(".")[0])
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokenRejected(f"the token's header is unreadable: {exc}") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms:
            raise TokenRejected(f"tokens signed with {alg!r} are not accepted")
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("the token's key id is not text")
        try:
            candidates = self.jwks.key_for(kid)
        except IssuerUnreachable as exc:
            raise TokenRejected(str(exc), code="issuer_unreachable") from None
        if not candidates:
            raise TokenRejected(
                f"the token is signed with key {kid!r}, which the issuer does not publish",
                code="unknown_key",
            )
        claims: Any = None
        for key in candidates:
            try:
                claims = jwt.decode(token, key, algorithms=self.algorithms).claims
                break
            except JoseError:
                continue
            except Exception:  # a malformed token (bad base64, a key of another kind)
                continue
        if claims is None:
            raise TokenRejected("the token's signature does not verify", code="bad_signature")
        if not isinstance(claims, dict):
            raise TokenRejected("the token's claims are not a JSON object")
        self.check_claims(claims, nonce=nonce)
        return claims

    def check_claims(self, claims: Mapping[str, Any], *, nonce: str | None = None) -> None:
        """The checks on issuer, audience, times and nonce (`TokenRejected` if one fails)."""
        if claims.get("iss") != self.issuer:
            raise TokenRejected(
                f"the token was issued by {claims.get('iss')!r}, not {self.issuer!r}",
                code="wrong_issuer",
            )
        aud = claims.get("aud")
        audiences = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        if self.audiences.isdisjoint(audiences):
            raise TokenRejected(
                f"the token is for audience {sorted(map(str, audiences))}, "
                f"not {sorted(self.audiences)}",
                code="wrong_audience",
            )
        now = self.clock()
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise TokenRejected("the token has no expiry (exp)")
        if now > exp + self.leeway:
            raise TokenRejected(f"the token expired {int(now - exp)} s ago", code="expired")
        if nbf is not None and not (_number(nbf) and now + self.leeway >= nbf):
            raise TokenRejected("the token is not valid yet (nbf)", code="not_yet_valid")
        if iat is not None and not (_number(iat) and now + self.leeway >= iat):
            raise TokenRejected("the token was issued in the future (iat)", code="not_yet_valid")
        auth_time = claims.get("auth_time")
        if auth_time is not None and not _number(auth_time):
            raise TokenRejected("the token's auth_time is not a number")
        if nonce is not None and claims.get("nonce") != nonce:
            raise TokenRejected("the sign-in's nonce does not match", code="bad_nonce")


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
