"""The signed audit on the server: a background sealer that signs a manifest of every audit
chain's head every `every` seconds (when a head moved), and the routes that publish the
public keys (`GET /v1/audit/public-key`) and verify the log (`GET /v1/audit/verify`, admin).

Several server processes may share a store: one seals at a time (the store's `audit.seal`
cursor), the others skip that round.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Depends, FastAPI

from interlock.checkpoint._audit.manifest import seal_audit
from interlock.checkpoint._audit.signing import (
    AuditSigner,
    PublicKey,
    load_public_key,
    load_signer,
)
from interlock.checkpoint._audit.verify import verify_store
from interlock.checkpoint.base import BaseSaver
from interlock.server._errors import error_responses
from interlock.server.auth import Principal

__all__ = ["AuditSealer", "audit_keys", "mount_audit"]

log = logging.getLogger("interlock.audit")

KeySource = str | os.PathLike[str]


def audit_keys(
    key: KeySource | AuditSigner | None, old_keys: Sequence[KeySource | PublicKey] = ()
) -> tuple[AuditSigner | None, list[PublicKey]]:
    """The signer (from a private key file) and every public key that verifies: the
    signer's first, then the old ones (key rotation)."""
    signer = key if isinstance(key, AuditSigner) or key is None else load_signer(key)
    keys = [signer.public_key] if signer is not None else []
    for k in old_keys:
        public = k if isinstance(k, PublicKey) else load_public_key(k)
        if public.key_id not in {p.key_id for p in keys}:
            keys.append(public)
    return signer, keys


class AuditSealer:
    """Seals the audit log every `every` seconds in a daemon thread, and once at start
    (which anchors the entries written before the chain existed)."""

    def __init__(self, saver: BaseSaver, signer: AuditSigner, *, every: float) -> None:
        if not every > 0:
            raise ValueError(f"the audit seal interval must be positive, not {every}")
        self.saver, self.signer, self.every = saver, signer, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def seal_if_moved(self) -> bool:
        """Seal if a chain's head moved since the newest manifest; whether it sealed."""
        last = self.saver.last_audit_manifest()
        if last is not None and last.key_id == self.signer.key_id:
            signed = {c: tuple(v) for c, v in json.loads(last.body)["chains"].items()}
            if signed == self.saver.audit_heads():
                return False
        return seal_audit(self.saver, self.signer) is not None

    def seal_once(self) -> None:
        """`seal_if_moved`, logging a failure (the store may be down: next round)."""
        try:
            self.seal_if_moved()
        except Exception:
            log.exception("sealing the audit log failed")

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.seal_once()

    def start(self) -> None:
        """Seal now (the server starts once it has), then every `every` seconds in the
        background."""
        self.seal_once()
        self._thread = threading.Thread(target=self._loop, name="interlock-audit-seal")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop, waiting for a seal under way."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)


def mount_audit(
    app: FastAPI,
    *,
    saver: BaseSaver,
    keys: Sequence[PublicKey],
    principal: Callable[..., Principal],
    need: Callable[..., None],
) -> None:
    """Add `GET /v1/audit/public-key` and `GET /v1/audit/verify` to `app`."""

    @app.get("/v1/audit/public-key", tags=["audit"], responses=error_responses(401, 503))
    def public_key(who: Principal = Depends(principal)) -> dict[str, Any]:
        """The keys that verify the audit manifests: the signing key first, then old keys
        kept for verification after a rotation (PEM). Empty when the server does not sign."""
        return {"keys": [{"key_id": k.key_id, "pem": k.pem()} for k in keys]}

    @app.get("/v1/audit/verify", tags=["audit"], responses=error_responses(401, 403, 503))
    def verify(who: Principal = Depends(principal)) -> dict[str, Any]:
        """Check every audit chain, every manifest's signature and the manifests against
        the chains (admin; a maintenance call: it reads the whole log). `first_problem`
        names the first broken link."""
        need(who, "admin")
        bound = getattr(saver, "maintenance", contextlib.nullcontext)
        with bound():
            return verify_store(saver, keys).as_dict()
