"""Ed25519 keys for audit manifests (the `cryptography` package, imported when used).

A private key is a PEM (PKCS #8) file, written by `interlock audit keygen`; its public key
is a PEM (SubjectPublicKeyInfo) file next to it (`.pub`). A key's id is the first 16 hex of
SHA-256 over the raw 32-byte public key.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "AuditSigner",
    "PublicKey",
    "generate_key",
    "load_public_key",
    "load_signer",
    "public_key_from_pem",
]


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise ValueError(
            "signed audit needs the cryptography package: pip install 'interlock[audit]'"
        ) from exc
    return serialization, ed25519


def _key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key that verifies manifests."""

    key_id: str
    raw: bytes
    """The 32-byte Ed25519 public key."""

    def pem(self) -> str:
        """SubjectPublicKeyInfo PEM text."""
        serialization, ed25519 = _crypto()
        key = ed25519.Ed25519PublicKey.from_public_bytes(self.raw)
        out: bytes = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return out.decode()

    def verify(self, signature_hex: str, data: bytes) -> bool:
        """Whether `signature_hex` is this key's signature of `data`."""
        from cryptography.exceptions import InvalidSignature

        _, ed25519 = _crypto()
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(self.raw).verify(
                bytes.fromhex(signature_hex), data
            )
        except (InvalidSignature, ValueError):
            return False
        return True


class AuditSigner:
    """Signs manifests with an Ed25519 private key."""

    def __init__(self, private_key: Any) -> None:
        serialization, _ = _crypto()
        self._key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key = PublicKey(_key_id(raw), raw)
        """The key that verifies this signer's signatures."""

    @property
    def key_id(self) -> str:
        """The signing key's id."""
        return self.public_key.key_id

    def sign(self, data: bytes) -> str:
        """The signature of `data`, hex."""
        signature: bytes = self._key.sign(data)
        return signature.hex()


def generate_key(path: str | os.PathLike[str]) -> AuditSigner:
    """Write a new private key to `path` (mode 0600; refuses to overwrite) and its public
    key to `path` + ".pub"; returns the signer."""
    serialization, ed25519 = _crypto()
    target = Path(path)
    if target.exists():
        raise ValueError(f"{target} exists: refusing to overwrite a key")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    signer = AuditSigner(key)
    Path(f"{target}.pub").write_text(signer.public_key.pem())
    return signer


def load_signer(path: str | os.PathLike[str]) -> AuditSigner:
    """The signer of the private key PEM at `path`."""
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"cannot read the audit key {path}: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return AuditSigner(key)


def public_key_from_pem(text: str) -> PublicKey:
    """A public key from its PEM text (or from a private key's PEM)."""
    serialization, ed25519 = _crypto()
    data = text.encode()
    if b"PRIVATE KEY" in data:
        raise ValueError("that is a private key: pass the public key (.pub)")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ValueError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PublicKey(_key_id(raw), raw)


def load_public_key(path: str | os.PathLike[str]) -> PublicKey:
    """The public key in the PEM file at `path`."""
    try:
        return public_key_from_pem(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"cannot read the public key {path}: {exc}") from exc
