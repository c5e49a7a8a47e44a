"""Who may do what over HTTP: API keys mapped to principals with roles.

Roles: `requester` (start threads, send messages, read threads), `approver` (read the
inbox, decide requests, read threads), `admin` (everything, and the audit log). A key is
sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Keys are kept only as SHA-256
digests and compared in constant time.

Configure with a spec string (`INTERLOCK_API_KEYS` or `interlock serve --keys`):
`"<key>=<name>:<role>[,<role>...];<key>=..."`, e.g.
`"k-ada=ada:approver;k-bob=bob:requester;k-root=root:admin"`. Entries `group:<name>` among
the roles put the caller in a group, which a request's approver rule may name
(`interrupt(approvers=["group:finance"])`): `"k-ada=ada:approver,group:finance"`. The entry
`service` declares the key a service (an agent, a script): it never counts as a person.

One person is one principal whatever the credential: a key named with a person's id (the
`sub`, or the claim `--oidc-id-claim` names) acts as the same person as their sign-in and
their bearer tokens (`interlock.server.oidc`). People who sign in carry the time they
authenticated (`auth_time`) and how (`amr`), which a request's `max_auth_age` checks.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from interlock._types import APPROVER_ROLES

__all__ = ["ROLES", "ApiKeys", "Authenticator", "Principal", "auth_age_problem", "may_decide"]

ROLES = frozenset(APPROVER_ROLES)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    name: str
    """The person's id (their `sub` or configured claim) or the key's name."""
    roles: frozenset[str]
    groups: frozenset[str] = frozenset()
    display: str | None = None
    """How to show them (the provider's `name` or `email`); None: `name`."""
    service: bool = False
    """A service (an agent, a script), never counted as a person."""
    credential: str = "api_key"
    """How they authenticated: `api_key`, `session` (inbox sign-in) or `bearer` (a token)."""
    auth_time: int | None = None
    """When the provider last authenticated them (seconds since the epoch), if known."""
    amr: tuple[str, ...] = ()
    """How the provider authenticated them (`pwd`, `mfa`, `otp`...), if it said."""

    def can(self, role: str) -> bool:
        """Whether this caller holds `role` (admins hold every role)."""
        return role in self.roles or "admin" in self.roles

    @property
    def is_person(self) -> bool:
        """Whether this caller is a person (not a service key)."""
        return not self.service

    @property
    def label(self) -> str:
        """The name shown for them."""
        return self.display or self.name


def auth_age_problem(who: Principal, max_auth_age: Any, now: float) -> str | None:
    """Why `who` may not decide a request that needs a sign-in within `max_auth_age`
    seconds (a message naming what is needed), or None when they may. The development
    principal (no authentication configured) always may."""
    if max_auth_age is None or who is ANONYMOUS:
        return None
    if not isinstance(max_auth_age, int | float) or isinstance(max_auth_age, bool):
        return "this request's max_auth_age is malformed; only a fresh sign-in can tell"
    limit = f"this request needs a sign-in within the last {int(max_auth_age)} s (max_auth_age)"
    if who.auth_time is None:
        return f"{limit}; {who.credential} credentials carry no sign-in time: sign in again"
    age = now - who.auth_time
    if age > max_auth_age:
        return f"{limit}; {who.label} signed in {int(age)} s ago: sign in again"
    return None


def may_decide(who: Principal, approvers: Sequence[str] | None) -> bool:
    """Whether `who` matches a request's approver rule (`interrupt(approvers=...)`): by
    name, `role:<role>` or `group:<group>`. No rule: any approver. Admins always may."""
    if "admin" in who.roles or approvers is None:
        return True
    if not isinstance(approvers, list | tuple) or not all(type(a) is str for a in approvers):
        return False  # a rule of an unexpected shape: fail closed (admins only)
    mine = {who.name, *(f"role:{r}" for r in who.roles), *(f"group:{g}" for g in who.groups)}
    return not mine.isdisjoint(approvers)


def eligible_principals(who: Principal) -> tuple[str, ...] | None:
    """The principals of approver rules that let `who` decide (for the store's `eligible`
    filter): their name, roles, groups, and `*` (requests without a rule). None for admins,
    who may decide every request."""
    if "admin" in who.roles:
        return None
    return (
        who.name,
        *(f"role:{r}" for r in sorted(who.roles)),
        *(f"group:{g}" for g in sorted(who.groups)),
        "*",
    )


ANONYMOUS = Principal("anonymous", ROLES)
"""The caller when no keys are configured (development only: everyone may do everything)."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    """A key table. `ApiKeys.parse("k1=ada:approver;k2=bob:requester")`."""

    def __init__(self, keys: Mapping[str, Principal]) -> None:
        if not keys:
            raise ValueError("an ApiKeys table needs at least one key")
        self._by_digest = {_digest(k): p for k, p in keys.items()}
        self._by_name: dict[str, Principal] = {}
        for p in keys.values():
            if self._by_name.setdefault(p.name, p) != p:  # a session names its principal
                raise ValueError(f"keys for {p.name!r} give different roles; use one name each")

    @classmethod
    def parse(cls, spec: str) -> ApiKeys:
        """Read `"<key>=<name>:<role>[,<role>];..."`; raises ValueError on a bad entry."""
        keys: dict[str, Principal] = {}
        for entry in filter(None, (e.strip() for e in spec.split(";"))):
            key, sep, who = entry.partition("=")
            name, sep2, roles_text = who.partition(":")
            entries = [r.strip() for r in roles_text.split(",") if r.strip()]
            groups = frozenset(e[len("group:") :] for e in entries if e.startswith("group:"))
            service = "service" in entries
            roles = frozenset(e for e in entries if not e.startswith("group:") and e != "service")
            if "" in groups:
                raise ValueError(f"bad API key entry {entry!r}: 'group:' names no group")
            if not (sep and sep2 and key.strip() and name.strip() and roles):
                raise ValueError(f"bad API key entry {entry!r}: use <key>=<name>:<role>[,<role>]")
            unknown = roles - ROLES
            if unknown:
                raise ValueError(
                    f"unknown role(s) {sorted(unknown)} for {name!r}; use {sorted(ROLES)}"
                )
            keys[key.strip()] = Principal(name.strip(), roles, groups, service=service)
        return cls(keys)

    @classmethod
    def from_env(cls, variable: str = "INTERLOCK_API_KEYS") -> ApiKeys | None:
        """The table in environment variable `variable`, or None if it is unset or empty."""
        spec = os.environ.get(variable, "").strip()
        return cls.parse(spec) if spec else None

    def authenticate(self, presented: str | None) -> Principal | None:
        """The principal for a presented key, or None."""
        if not presented:
            return None
        digest = _digest(presented)
        found = None
        for known, principal in self._by_digest.items():  # no early exit: constant time
            if hmac.compare_digest(known, digest):
                found = principal
        return found

    def named(self, name: str) -> Principal | None:
        """The principal called `name` (for a signed session that carries only the name)."""
        return self._by_name.get(name)


class Authenticator:
    """Who is calling, from the request's credentials: an API key (`X-API-Key` or
    `Authorization: Bearer <key>`) or, when `bearer` is given, a signed token from the
    identity provider (`Authorization: Bearer <JWT>`, checked by `bearer`, which returns
    the principal or raises). Neither configured: everyone is `ANONYMOUS` (development)."""

    def __init__(
        self,
        keys: ApiKeys | None = None,
        bearer: Callable[[str], Principal] | None = None,
    ) -> None:
        self.keys, self.bearer = keys, bearer

    @property
    def open(self) -> bool:
        """Whether no authentication is configured (every caller is `ANONYMOUS`)."""
        return self.keys is None and self.bearer is None

    def authenticate(self, authorization: str | None, x_api_key: str | None) -> Principal:
        """The caller's principal; `ApiError` 401 (JSON, with the reason) otherwise."""
        from interlock.server._errors import ApiError

        if self.open:
            return ANONYMOUS
        presented = x_api_key
        if authorization and authorization.lower().startswith("bearer "):
            presented = authorization[7:].strip()
        who = self.keys.authenticate(presented) if self.keys is not None else None
        if who is not None:
            return who
        if presented and self.bearer is not None and presented.count(".") == 2:
            return self.bearer(presented)  # raises ApiError 401 with the token's problem
        what = "a valid API key or identity token" if self.bearer else "a valid API key"
        raise ApiError(
            401,
            "unauthenticated",
            f"send {what} (Authorization: Bearer)",
            headers={"WWW-Authenticate": "Bearer"},
        )
