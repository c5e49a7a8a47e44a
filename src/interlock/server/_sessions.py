"""The inbox's signed cookies: the session (who is signed in, until when, and how they
authenticated) and the short-lived note a sign-in leaves in the browser while the person is
at the identity provider (state, nonce, PKCE verifier, where to return).

A cookie is `base64url(JSON).HMAC-SHA256`; it is believed only if the signature matches and
its expiry is in the future. Sessions are SameSite=Lax: the provider's redirect back is a
cross-site navigation, and a Strict cookie would not be sent on it (forms are protected by
CSRF tokens and the same-origin check instead).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from interlock.server.auth import ApiKeys, Principal

__all__ = ["COOKIE", "SIGNIN_COOKIE", "Sessions"]

COOKIE = "interlock_session"
SIGNIN_COOKIE = "interlock_signin"


class Sessions:
    """Issues and reads the inbox's cookies with one secret `key`."""

    def __init__(
        self, key: bytes, *, seconds: int = 12 * 3600, clock: Callable[[], float] = time.time
    ) -> None:
        self.key, self.seconds, self.clock = key, seconds, clock

    def sign(self, text: str) -> str:
        """The HMAC of `text` (hex)."""
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def seal(self, payload: dict[str, Any], seconds: int) -> str:
        """`payload` as a signed cookie value that expires after `seconds`."""
        body = {**payload, "exp": int(self.clock()) + seconds}
        text = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode())
        encoded = text.decode().rstrip("=")
        return f"{encoded}.{self.sign(encoded)}"

    def open(self, raw: str | None) -> dict[str, Any] | None:
        """The payload of a cookie this server sealed and that has not expired, or None."""
        encoded, _, signature = (raw or "").rpartition(".")
        if not encoded or not hmac.compare_digest(signature, self.sign(encoded)):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        except ValueError:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("exp"), int):
            return None
        return body if body["exp"] >= self.clock() else None

    def issue(self, who: Principal) -> str:
        """A session cookie for `who`."""
        return self.seal(
            {
                "n": who.name,
                "d": who.display,
                "r": sorted(who.roles),
                "g": sorted(who.groups),
                "s": who.service,
                "c": who.credential,
                "at": who.auth_time,
                "amr": list(who.amr),
            },
            self.seconds,
        )

    def principal(self, raw: str | None, keys: ApiKeys | None) -> Principal | None:
        """Who a session cookie names (None: no valid session). A key's session takes the
        key's current roles from `keys`; a sign-in's carries what the provider said."""
        body = self.open(raw)
        if body is None or not isinstance(body.get("n"), str):
            return None
        if body.get("c") == "api_key":
            return keys.named(body["n"]) if keys is not None else None
        at = body.get("at")
        return Principal(
            body["n"],
            frozenset(map(str, body.get("r") or ())),
            frozenset(map(str, body.get("g") or ())),
            display=body.get("d") if isinstance(body.get("d"), str) else None,
            service=bool(body.get("s")),
            credential=str(body.get("c")),
            auth_time=at if isinstance(at, int) else None,
            amr=tuple(map(str, body.get("amr") or ())),
        )
