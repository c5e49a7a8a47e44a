"""Who may do what over HTTP: API keys mapped to principals with roles.

Roles: `requester` (start threads, send messages, read threads), `approver` (read the
inbox, decide requests, read threads), `admin` (everything, and the audit log). A key is
sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Keys are kept only as SHA-256
digests and compared in constant time.

Configure with a spec string (`INTERLOCK_API_KEYS` or `interlock serve --keys`):
`"<key>=<name>:<role>[,<role>...];<key>=..."`, e.g.
`"k-ada=ada:approver;k-bob=bob:requester;k-root=root:admin"`. Entries `group:<name>` among
the roles put the caller in a group, which a request's approver rule may name
(`interrupt(approvers=["group:finance"])`): `"k-ada=ada:approver,group:finance"`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from interlock._types import APPROVER_ROLES

__all__ = ["ROLES", "ApiKeys", "Principal", "may_decide"]

ROLES = frozenset(APPROVER_ROLES)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    name: str
    roles: frozenset[str]
    groups: frozenset[str] = frozenset()

    def can(self, role: str) -> bool:
        """Whether this caller holds `role` (admins hold every role)."""
        return role in self.roles or "admin" in self.roles


def may_decide(who: Principal, approvers: Sequence[str] | None) -> bool:
    """Whether `who` matches a request's approver rule (`interrupt(approvers=...)`): by
    name, `role:<role>` or `group:<group>`. No rule: any approver. Admins always may."""
    if "admin" in who.roles or approvers is None:
        return True
    if not isinstance(approvers, list | tuple) or not all(type(a) is str for a in approvers):
        return False  # a rule of an unexpected shape: fail closed (admins only)
    mine = {who.name, *(f"role:{r}" for r in who.roles), *(f"group:{g}" for g in who.groups)}
    return not mine.isdisjoint(approvers)


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
            roles = frozenset(e for e in entries if not e.startswith("group:"))
            if "" in groups:
                raise ValueError(f"bad API key entry {entry!r}: 'group:' names no group")
            if not (sep and sep2 and key.strip() and name.strip() and roles):
                raise ValueError(f"bad API key entry {entry!r}: use <key>=<name>:<role>[,<role>]")
            unknown = roles - ROLES
            if unknown:
                raise ValueError(
                    f"unknown role(s) {sorted(unknown)} for {name!r}; use {sorted(ROLES)}"
                )
            keys[key.strip()] = Principal(name.strip(), roles, groups)
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
