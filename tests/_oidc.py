"""OpenID providers for the sign-in tests, on loopback.

- `mock_provider()`: the real `oidc-provider-mock` package (discovery, JWKS, login form,
  configurable claims), served on `localhost` while interlock is served on `127.0.0.1`, so
  the redirect back is cross-site as with a real provider. `token_requests` records the
  form of every token request it receives (to check the PKCE verifier).
- `Issuer`: a loopback issuer whose tokens the test signs itself, for the cases the mock
  cannot produce (expired, another audience, an unknown key, key rotation, old auth_time).
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

# The mock is built on Authlib APIs that Authlib now deprecates; its own warnings are not
# interlock's (every other warning still fails the test).
MOCK_WARNINGS = [
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
    pytest.mark.filterwarnings("ignore:get_jwt_config"),
]


@dataclass
class MockProvider:
    url: str
    """http://localhost:<port> (the issuer)."""
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        """Give `sub` these claims (the mock's own user API)."""
        import httpx

        httpx.put(f"{self.url}/users/{sub}", json=claims).raise_for_status()


@contextmanager
def mock_provider() -> Iterator[MockProvider]:
    """oidc-provider-mock on a loopback port, reached as `localhost`."""
    import authlib.deprecate  # noqa: F401  (it files an "always" filter when first imported)
    import werkzeug.serving

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import oidc_provider_mock

        flask_app = oidc_provider_mock.app()
    inner = flask_app.wsgi_app
    server = werkzeug.serving.make_server("127.0.0.1", 0, flask_app, threaded=True)
    provider = MockProvider(url=f"http://localhost:{server.server_port}")

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/oauth2/token":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            provider.token_requests.append(parse_qs(body.decode()))
            import io

            environ["wsgi.input"] = io.BytesIO(body)
        return inner(environ, start_response)

    flask_app.wsgi_app = recording  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


class Issuer:
    """A loopback OpenID issuer: a discovery document and a JWKS endpoint publishing the
    keys in `published`; `mint` signs tokens with any key."""

    def __init__(self) -> None:
        from joserfc.jwk import RSAKey

        self.keys = {"k1": RSAKey.generate_key(2048, parameters={"kid": "k1"})}
        self.published = ["k1"]
        self.jwks_fetches = 0
        self.signs_in = "ada-0001"
        """Who `/authorize` signs in (at once: no login form)."""
        self.claims: dict[str, Any] = {}
        """Extra claims of the ID tokens `/token` issues."""
        self.codes: dict[str, dict[str, str]] = {}
        self.token_requests: list[tuple[dict[str, list[str]], str | None]] = []
        """Each token request's form and its `Authorization` header (None: none sent)."""
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                if self.path != "/token":
                    self.send_error(404)
                    return
                form = parse_qs(self.rfile.read(int(self.headers["content-length"])).decode())
                issuer.token_requests.append((form, self.headers.get("authorization")))
                self._json(*issuer.answer_token_request(form))

            def do_GET(self) -> None:
                if self.path.startswith("/authorize?"):
                    location = issuer.authorize(parse_qs(self.path.split("?", 1)[1]))
                    self.send_response(302)
                    self.send_header("location", location)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {
                        "issuer": issuer.url,
                        "authorization_endpoint": f"{issuer.url}/authorize",
                        "token_endpoint": f"{issuer.url}/token",
                        "jwks_uri": f"{issuer.url}/jwks",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif self.path == "/jwks":
                    issuer.jwks_fetches += 1
                    body = {
                        "keys": [issuer.keys[k].as_dict(private=False) for k in issuer.published]
                    }
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def authorize(self, query: dict[str, list[str]]) -> str:
        """Sign `signs_in` in at once and send the browser back with a code (remembering
        the PKCE challenge, the client, the redirect and the nonce it was asked with)."""
        import secrets
        from urllib.parse import urlencode

        one = {k: v[0] for k, v in query.items()}
        code = secrets.token_urlsafe(16)
        self.codes[code] = one
        return f"{one['redirect_uri']}?{urlencode({'code': code, 'state': one['state']})}"

    def answer_token_request(self, form: dict[str, list[str]]) -> tuple[int, Any]:
        """The token endpoint: the code once, for the client and redirect it was issued
        to, and only with the verifier of its PKCE challenge (S256)."""
        import base64
        import hashlib

        one = {k: v[0] for k, v in form.items()}
        asked = self.codes.pop(one.get("code", ""), None)
        if asked is None or one.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if one.get("client_id") != asked["client_id"]:
            return 400, {"error": "invalid_client"}
        if one.get("redirect_uri") != asked["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        digest = hashlib.sha256(one.get("code_verifier", "").encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if asked.get("code_challenge_method") != "S256" or challenge != asked["code_challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier"}
        id_token = self.mint(
            self.signs_in,
            aud=asked["client_id"],
            nonce=asked.get("nonce"),
            auth_time=int(time.time()),
            **self.claims,
        )
        return 200, {
            "access_token": "opaque",
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": id_token,
        }

    def add_key(self, kid: str, *, publish: bool) -> None:
        from joserfc.jwk import RSAKey

        self.keys[kid] = RSAKey.generate_key(2048, parameters={"kid": kid})
        if publish:
            self.published.append(kid)

    def mint(self, sub: str, *, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
        """A token for `sub`, valid for an hour unless `claims` say otherwise."""
        from joserfc import jwt

        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": "api://interlock",
            "sub": sub,
            "iat": now,
            "exp": now + 3600,
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode({"alg": alg, "kid": kid}, body, self.keys[kid], algorithms=[alg])
