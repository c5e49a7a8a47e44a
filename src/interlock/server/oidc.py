"""People from the company's OpenID Connect provider (Okta, Entra ID, Google, Keycloak...).

`OidcConfig` says where the provider is and which claims mean what; `OidcConfig.connect()`
reads the provider's discovery document and key set — at start-up, so an unreachable or
misconfigured issuer fails at once with one line (`OidcUnavailable`) — and returns an
`OidcProvider`, which:

- turns a token's claims into a `Principal` (`principal_from`): the person's id from `sub` or
  `id_claim`, shown by `name`/`email`, roles from `roles_claim`, groups from `groups_claim`,
  and more roles and groups from a mapping file (claim value -> `role:x` / `group:y`);
- checks API bearer tokens (`bearer`, see `interlock.server._tokens`);
- runs the inbox's sign-in: the authorization request with PKCE (S256), a nonce and a state,
  and the code exchange, with Authlib (`authorization_url`, `exchange`).

Mapping file (JSON, or TOML when it ends in `.toml`): claim name -> claim value -> entries,
e.g. `{"groups": {"okta-finance": ["group:finance", "role:approver"]},
"email": {"ada@example.com": ["role:admin"]}}`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlock.server._tokens import (
    ASYMMETRIC,
    IssuerUnreachable,
    JwksCache,
    TokenRejected,
    TokenVerifier,
)
from interlock.server.auth import ROLES, Principal

__all__ = ["OidcConfig", "OidcProvider", "OidcUnavailable", "load_mapping"]


class OidcUnavailable(Exception):
    """The issuer cannot be used (unreachable, or its discovery document is wrong)."""


def load_mapping(path: str | Path) -> dict[str, dict[str, tuple[str, ...]]]:
    """A mapping file: `{claim: {value: ["role:x", "group:y", ...]}}`; ValueError saying
    what is wrong otherwise."""
    path = Path(path)
    try:
        text = path.read_text()
        if path.suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the claim mapping {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the mapping is {{claim: {{value: [entries]}}}}")
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for claim, values in data.items():
        if not isinstance(values, dict):
            raise ValueError(f"{path}: {claim!r} must map claim values to lists of entries")
        out[claim] = {}
        for value, entries in values.items():
            entries = [entries] if isinstance(entries, str) else entries
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise ValueError(f"{path}: {claim}={value!r} must list entries as text")
            for e in entries:
                kind, _, name = e.partition(":")
                if kind not in ("role", "group") or not name:
                    raise ValueError(f"{path}: {e!r} is neither role:<role> nor group:<group>")
                if kind == "role" and name not in ROLES:
                    raise ValueError(f"{path}: unknown role {name!r}; roles are {sorted(ROLES)}")
            out[claim][str(value)] = tuple(entries)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class OidcConfig:
    """Where the provider is and how its claims map to interlock's principals."""

    issuer: str
    """The issuer URL (its discovery document is at `<issuer>/.well-known/openid-configuration`)."""
    client_id: str
    """The inbox's client id at the provider."""
    client_secret: str | None = None
    """Its secret (None: a public client, relying on PKCE alone)."""
    audiences: tuple[str, ...] = ()
    """The `aud` API bearer tokens must carry (default: the client id)."""
    public_url: str | None = None
    """The URL people reach interlock at (behind a proxy); default: the request's own."""
    id_claim: str = "sub"
    """The claim that is the person's id (`approvers=["ada"]` matches it)."""
    roles_claim: str | None = None
    """A claim listing interlock roles (`requester`, `approver`, `admin`)."""
    groups_claim: str | None = "groups"
    """A claim listing the person's groups (`group:<g>` rules match them)."""
    mapping: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    """Claim name -> claim value -> `role:x` / `group:y` entries (see `load_mapping`)."""
    default_roles: tuple[str, ...] = ()
    """Roles every signed-in person has."""
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    leeway: float = 60.0
    """Seconds of clock skew allowed on token times."""
    timeout: float = 5.0
    """Seconds to wait for the provider."""
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        unknown = set(self.default_roles) - ROLES
        if unknown:
            raise ValueError(f"unknown default role(s) {sorted(unknown)}; use {sorted(ROLES)}")
        if not self.issuer.startswith(("https://", "http://")):
            raise ValueError(f"the OpenID issuer must be an http(s) URL, not {self.issuer!r}")

    def connect(self) -> OidcProvider:
        """Read the discovery document and the key set; `OidcUnavailable` (one line saying
        what failed) if the issuer cannot be used."""
        import httpx

        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = httpx.get(url, timeout=self.timeout)
            response.raise_for_status()
            meta = response.json()
        except httpx.HTTPError as exc:
            raise OidcUnavailable(
                f"cannot reach the OpenID issuer {self.issuer}: {type(exc).__name__}: {exc}"
            ) from None
        except ValueError:
            raise OidcUnavailable(f"{url} is not a JSON discovery document") from None
        if not isinstance(meta, dict):
            raise OidcUnavailable(f"{url} is not a JSON discovery document")
        if meta.get("issuer") != self.issuer:
            raise OidcUnavailable(
                f"the provider at {url} calls itself {meta.get('issuer')!r}, not "
                f"{self.issuer!r}: use its exact issuer URL"
            )
        missing = [
            k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if k not in meta
        ]
        if missing:
            raise OidcUnavailable(f"the discovery document at {url} lacks {missing}")
        jwks = JwksCache(meta["jwks_uri"], timeout=self.timeout, clock=self.clock)
        try:
            jwks.refresh()
        except IssuerUnreachable as exc:
            raise OidcUnavailable(str(exc)) from None
        return OidcProvider(self, meta, jwks)


class OidcProvider:
    """A connected provider (see the module docstring)."""

    def __init__(self, config: OidcConfig, metadata: Mapping[str, Any], jwks: JwksCache) -> None:
        self.config, self.metadata, self.jwks = config, dict(metadata), jwks
        advertised = metadata.get("id_token_signing_alg_values_supported") or ASYMMETRIC
        algorithms = [a for a in advertised if a in ASYMMETRIC] or list(ASYMMETRIC)
        common = {"issuer": config.issuer, "jwks": jwks, "leeway": config.leeway}
        self.api_tokens = TokenVerifier(
            audiences=config.audiences or (config.client_id,),
            algorithms=ASYMMETRIC,
            clock=config.clock,
            **common,  # type: ignore[arg-type]
        )
        self.id_tokens = TokenVerifier(
            audiences=(config.client_id,),
            algorithms=algorithms,
            clock=config.clock,
            **common,  # type: ignore[arg-type]
        )

    # ---- identities -------------------------------------------------------------------

    def principal_from(self, claims: Mapping[str, Any], credential: str) -> Principal:
        """The person `claims` describe; `TokenRejected` if the id claim is missing."""
        c = self.config
        person = claims.get(c.id_claim)
        if not isinstance(person, str) or not person:
            raise TokenRejected(
                f"the token has no {c.id_claim!r} claim to name the person by "
                "(--oidc-id-claim); ask the provider's admin to add it",
                code="missing_claim",
            )
        roles = set(c.default_roles)
        groups: set[str] = set()
        if c.roles_claim:
            roles |= {r for r in _values(claims.get(c.roles_claim)) if r in ROLES}
        if c.groups_claim:
            groups |= set(_values(claims.get(c.groups_claim)))
        for claim, table in c.mapping.items():
            for value in _values(claims.get(claim)):
                for entry in table.get(value, ()):
                    kind, _, name = entry.partition(":")
                    (roles if kind == "role" else groups).add(name)
        display = claims.get("name") or claims.get("email")
        auth_time = claims.get("auth_time")
        amr = claims.get("amr")
        return Principal(
            person,
            frozenset(roles),
            frozenset(groups),
            display=str(display) if display else None,
            credential=credential,
            auth_time=int(auth_time) if isinstance(auth_time, int | float) else None,
            amr=tuple(str(a) for a in amr) if isinstance(amr, list) else (),
        )

    def bearer(self, token: str) -> Principal:
        """The principal of an API bearer token; `ApiError` 401 saying what is wrong."""
        from interlock.server._errors import ApiError

        try:
            return self.principal_from(self.api_tokens.verify(token), "bearer")
        except TokenRejected as exc:
            if exc.code == "issuer_unreachable":
                raise ApiError(503, "issuer_unreachable", str(exc)) from None
            challenge = f'Bearer error="invalid_token", error_description="{_quoted(exc)}"'
            raise ApiError(
                401, "invalid_token", str(exc), headers={"WWW-Authenticate": challenge}
            ) from None

    # ---- sign-in (authorization code + PKCE) ------------------------------------------

    def _client(self, redirect_uri: str) -> Any:
        from authlib.integrations.httpx_client import OAuth2Client

        c = self.config
        return OAuth2Client(
            client_id=c.client_id,
            client_secret=c.client_secret,
            scope=" ".join(c.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if c.client_secret else "none",
            timeout=c.timeout,
        )

    def authorization_url(
        self,
        redirect_uri: str,
        *,
        state: str,
        nonce: str,
        code_verifier: str,
        max_age: int | None = None,
    ) -> str:
        """Where to send the browser to sign in; with `max_age`, the provider must
        authenticate the person again (`prompt=login`) — a step-up."""
        extra: dict[str, Any] = {"nonce": nonce}
        if max_age is not None:
            extra.update(max_age=str(max_age), prompt="login")
        with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                self.metadata["authorization_endpoint"],
                state=state,
                code_verifier=code_verifier,
                **extra,
            )
        return str(url)

    def exchange(
        self,
        redirect_uri: str,
        *,
        code: str,
        code_verifier: str,
        nonce: str,
        max_age: int | None = None,
    ) -> Principal:
        """Trade the authorization code for tokens, check the ID token (and with `max_age`
        that the person authenticated within it), and return the person. `TokenRejected`
        or `OidcUnavailable` saying what went wrong."""
        from authlib.common.errors import AuthlibBaseError
        from httpx import HTTPError

        with self._client(redirect_uri) as client:
            try:
                token = client.fetch_token(
                    self.metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
            except AuthlibBaseError as exc:
                raise TokenRejected(f"the provider refused the sign-in: {exc}") from None
            except HTTPError as exc:
                raise OidcUnavailable(
                    f"cannot reach the provider's token endpoint: {exc}"
                ) from None
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise TokenRejected("the provider sent no ID token (is `openid` a scope?)")
            claims = self.id_tokens.verify(id_token, nonce=nonce)
            if len(_values(claims.get("aud"))) > 1 and claims.get("azp") != self.config.client_id:
                raise TokenRejected("the ID token was issued to another client (azp)")
            if max_age is not None:
                at = claims.get("auth_time")
                if not isinstance(at, int | float):
                    raise TokenRejected("the provider did not say when you signed in (auth_time)")
                if self.config.clock() - at > max_age + self.config.leeway:
                    raise TokenRejected(
                        f"the provider did not sign you in again (you signed in "
                        f"{int(self.config.clock() - at)} s ago; {max_age} s needed)",
                        code="stale_authentication",
                    )
            wanted = [self.config.id_claim, self.config.groups_claim, self.config.roles_claim]
            userinfo = self.metadata.get("userinfo_endpoint")
            if userinfo and any(w and w not in claims for w in wanted):
                try:
                    extra = client.get(userinfo).json()
                except (HTTPError, ValueError):
                    extra = {}
                if isinstance(extra, dict) and extra.get("sub") == claims.get("sub"):
                    claims = {**extra, **claims}
        return self.principal_from(claims, "session")


def _quoted(text: object) -> str:
    """`text` fit for a quoted header parameter."""
    return str(text).replace("\\", "").replace('"', "'").encode("ascii", "replace").decode()


def _values(value: Any) -> list[str]:
    """A claim as a list of strings (a string, a list of strings, or nothing)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int)]
    return []
