"""Migration 10, the audit chain: chain columns on `audit_log`, every chain's head in
`audit_chains`, signed manifests in `audit_manifests`, and on PostgreSQL a trigger that
links each new entry to its chain in SQL (so every statement that inserts an entry, the
one-statement writes included, chains it in its own transaction).

The trigger computes `chain.entry_hash` exactly (see `chain.py` for the encoding). Entries
already in the log keep `seq` NULL: a signed manifest anchors them (`legacy`).
"""

from __future__ import annotations

__all__ = ["AUDIT_CHAIN_MIGRATION"]

_FIELD = """CREATE OR REPLACE FUNCTION interlock_audit_field(x text) RETURNS text
LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN x IS NULL THEN '-' ELSE length(x)::text || ':' || x END $$"""

_CHAIN = """CREATE OR REPLACE FUNCTION interlock_audit_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  c text := coalesce(NEW.thread_id, '');
BEGIN
  INSERT INTO audit_chains AS a (chain, seq, head) VALUES (c, 1, repeat('0', 64))
    ON CONFLICT (chain) DO UPDATE SET seq = a.seq + 1
    RETURNING a.seq, a.head INTO NEW.seq, NEW.prev;
  NEW.hash := encode(sha256(convert_to(
    interlock_audit_field('interlock-audit-v1') || interlock_audit_field(c)
    || interlock_audit_field(NEW.seq::text) || interlock_audit_field(NEW.prev)
    || interlock_audit_field(NEW.entry_id)
    || interlock_audit_field(((extract(epoch FROM NEW.at) * 1000000)::bigint)::text)
    || interlock_audit_field(NEW.actor) || interlock_audit_field(NEW.action)
    || interlock_audit_field(NEW.thread_id) || interlock_audit_field(NEW.interrupt_id)
    || interlock_audit_field(NEW.detail::text), 'UTF8')), 'hex');
  UPDATE audit_chains SET head = NEW.hash WHERE chain = c;
  RETURN NEW;
END $$"""

AUDIT_CHAIN_MIGRATION: list[str | tuple[str, str]] = [
    "ALTER TABLE audit_log ADD COLUMN seq INTEGER",
    "ALTER TABLE audit_log ADD COLUMN prev TEXT",
    "ALTER TABLE audit_log ADD COLUMN hash TEXT",
    "CREATE UNIQUE INDEX IF NOT EXISTS audit_chain ON audit_log (thread_id, seq)",
    """CREATE TABLE IF NOT EXISTS audit_chains (
        chain TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        head TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS audit_manifests (
        manifest_id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        key_id TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
    ("postgres", _FIELD),
    ("postgres", _CHAIN),
    (
        "postgres",
        "CREATE TRIGGER audit_chain BEFORE INSERT ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION interlock_audit_chain()",
    ),
]
"""The statements of migration 10 (`_migrations.MIGRATIONS`)."""
