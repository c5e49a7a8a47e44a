"""The schema, as an ordered list of migrations written once for SQLite and PostgreSQL.

Placeholders: `{json}` (TEXT / JSONB), `{ts}` (TEXT ISO-8601 / TIMESTAMPTZ), `{real}`
(REAL / DOUBLE PRECISION). A store applies the migrations it has not recorded in
`interlock_migrations`, in order, each once. A statement given as `(dialect, sql)` runs only
on that dialect (the version is recorded everywhere); a function is a step in Python, called
with the store and the migration's connection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from interlock.checkpoint._assistants.migration import ASSISTANTS_MIGRATION
from interlock.checkpoint._audit.migration import AUDIT_CHAIN_MIGRATION
from interlock.checkpoint._crons.migration import CRONS_MIGRATION
from interlock.checkpoint._grants.migration import GRANTS_MIGRATION
from interlock.checkpoint._items.migration import ITEMS_MIGRATION, VECTORS_MIGRATION
from interlock.checkpoint._leaner_writes import LEANER_WRITES_MIGRATION
from interlock.checkpoint._runs.migration import RUN_FRONTS_MIGRATION
from interlock.checkpoint._threads.migration import THREAD_SEARCH_MIGRATION
from interlock.checkpoint._workers.migration import WORKERS_MIGRATION

__all__ = ["MIGRATIONS"]

Statement = str | tuple[str, str] | Callable[[Any, Any], None]

MIGRATIONS: list[tuple[int, str, Sequence[Statement]]] = [
    (
        1,
        "threads, heads, checkpoints, task writes, interrupts",
        [
            """CREATE TABLE IF NOT EXISTS threads (
                thread_id TEXT PRIMARY KEY,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL,
                head_id TEXT,
                lease_owner TEXT,
                lease_until {real},
                lease_ttl {real},
                metadata {json}
            )""",
            "CREATE INDEX IF NOT EXISTS threads_updated ON threads (updated_at)",
            """CREATE TABLE IF NOT EXISTS heads (
                thread_id TEXT NOT NULL,
                checkpoint_ns TEXT NOT NULL,
                head_id TEXT NOT NULL,
                PRIMARY KEY (thread_id, checkpoint_ns)
            )""",
            """CREATE TABLE IF NOT EXISTS checkpoints (
                thread_id TEXT NOT NULL,
                checkpoint_ns TEXT NOT NULL,
                checkpoint_id TEXT NOT NULL,
                parent_id TEXT,
                step INTEGER NOT NULL,
                source TEXT NOT NULL,
                created_at {ts} NOT NULL,
                writes {json} NOT NULL,
                snapshot {json},
                next {json} NOT NULL,
                sends {json} NOT NULL,
                barriers {json} NOT NULL,
                metadata {json} NOT NULL,
                base_id TEXT NOT NULL,
                bytes_since INTEGER NOT NULL,
                steps_since INTEGER NOT NULL,
                snapshot_bytes INTEGER NOT NULL,
                PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
            )""",
            """CREATE TABLE IF NOT EXISTS task_writes (
                thread_id TEXT NOT NULL,
                checkpoint_ns TEXT NOT NULL,
                checkpoint_id TEXT NOT NULL,
                task_id TEXT NOT NULL,
                task_name TEXT NOT NULL,
                writes {json} NOT NULL,
                PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id)
            )""",
            """CREATE TABLE IF NOT EXISTS interrupts (
                interrupt_id TEXT PRIMARY KEY,
                thread_id TEXT NOT NULL,
                checkpoint_ns TEXT NOT NULL,
                checkpoint_id TEXT NOT NULL,
                task_id TEXT NOT NULL,
                task_name TEXT NOT NULL,
                idx INTEGER NOT NULL,
                kind TEXT NOT NULL,
                status TEXT NOT NULL,
                value {json},
                resume {json},
                created_at {ts} NOT NULL,
                deadline {ts},
                decided_by TEXT,
                decided_at {ts},
                metadata {json}
            )""",
            "CREATE INDEX IF NOT EXISTS interrupts_inbox"
            " ON interrupts (status, created_at, interrupt_id)",
            "CREATE INDEX IF NOT EXISTS interrupts_thread"
            " ON interrupts (thread_id, checkpoint_ns, checkpoint_id)",
        ],
    ),
    (
        2,
        "PostgreSQL: LZ4 for large snapshots and writes (TOAST keeps any saving; pglz "
        "gives up under 25%)",
        [
            (
                "postgres",
                "DO $$ BEGIN "
                "ALTER TABLE checkpoints ALTER COLUMN snapshot SET COMPRESSION lz4, "
                "ALTER COLUMN writes SET COMPRESSION lz4; "
                # a server built without LZ4 (0A000), or older than 14 (42601)
                "EXCEPTION WHEN feature_not_supported OR syntax_error THEN NULL; "
                "END $$",
            )
        ],
    ),
    (
        3,
        "audit log",
        [
            """CREATE TABLE IF NOT EXISTS audit_log (
                entry_id TEXT PRIMARY KEY,
                at {ts} NOT NULL,
                actor TEXT,
                action TEXT NOT NULL,
                thread_id TEXT,
                interrupt_id TEXT,
                detail {json} NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS audit_thread ON audit_log (thread_id, entry_id)",
            "CREATE INDEX IF NOT EXISTS audit_interrupt ON audit_log (interrupt_id, entry_id)",
        ],
    ),
    (
        4,
        "deadlines: pending requests by deadline",
        ["CREATE INDEX IF NOT EXISTS interrupts_due ON interrupts (status, deadline)"],
    ),
    (
        5,
        "cursors: where log tailers (webhook delivery) are, and who runs them",
        [
            """CREATE TABLE IF NOT EXISTS cursors (
                name TEXT PRIMARY KEY,
                position TEXT NOT NULL,
                owner TEXT,
                lease_until {real}
            )""",
        ],
    ),
    (
        6,
        "runs: the queue of background runs, claimed by workers under leases",
        [
            """CREATE TABLE IF NOT EXISTS runs (
                run_id TEXT PRIMARY KEY,
                thread_id TEXT NOT NULL,
                agent TEXT NOT NULL,
                input {json} NOT NULL,
                status TEXT NOT NULL,
                created_by TEXT,
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL,
                owner TEXT,
                lease_until {real},
                attempts INTEGER NOT NULL DEFAULT 0,
                after_id TEXT,
                result {json},
                error TEXT
            )""",
            # claiming reads only open runs, oldest first (a partial index: finished runs
            # never slow it down), per thread for the "older open run first" rule
            "CREATE INDEX IF NOT EXISTS runs_open ON runs (created_at, run_id) "
            "WHERE status IN ('queued', 'running')",
            "CREATE INDEX IF NOT EXISTS runs_thread ON runs (thread_id, created_at, run_id)",
        ],
    ),
    (
        7,
        "run events: what each run streamed, numbered per thread, for replay from any process",
        [
            """CREATE TABLE IF NOT EXISTS run_events (
                thread_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                run_id TEXT NOT NULL,
                event TEXT NOT NULL,
                data {json} NOT NULL,
                at {ts} NOT NULL,
                PRIMARY KEY (thread_id, seq)
            )""",
            "CREATE INDEX IF NOT EXISTS run_events_run ON run_events (thread_id, run_id, seq)",
            # retention finds the runs whose stream ended, without reading their chunks
            "CREATE INDEX IF NOT EXISTS run_events_ended ON run_events (at) "
            "WHERE event IN ('end', 'error')",
        ],
    ),
    (
        8,
        "durable runs: every run the service starts is in the queue (its kind and how it "
        "logs); decisions by time, for the sweep that finds threads decided but not carried out",
        [
            "ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'input'",
            "ALTER TABLE runs ADD COLUMN options {json}",
            # the sweep reads only recent decisions (a partial index: pending requests,
            # the inbox's rows, are not in it)
            "CREATE INDEX IF NOT EXISTS interrupts_decided ON interrupts (status, decided_at) "
            "WHERE status IN ('resolved', 'expired')",
        ],
    ),
    (
        9,
        "votes: N-of-M quorum on requests, one row per vote",
        [
            """CREATE TABLE IF NOT EXISTS votes (
                interrupt_id TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                voter TEXT NOT NULL,
                vote TEXT NOT NULL,
                answer {json} NOT NULL,
                digest TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                proposal INTEGER NOT NULL,
                at {ts} NOT NULL,
                PRIMARY KEY (interrupt_id, seq),
                UNIQUE (interrupt_id, epoch, proposal, voter)
            )""",
            "CREATE INDEX IF NOT EXISTS votes_thread ON votes (thread_id)",
        ],
    ),
    (
        10,
        "audit chains: each entry hashed with the one before it in its thread's chain; "
        "signed manifests of every chain's head; standing grants and their uses",
        AUDIT_CHAIN_MIGRATION + GRANTS_MIGRATION,
    ),
    (
        11,
        "graph versions: the manifest each version of a graph was compiled with, once",
        [
            """CREATE TABLE IF NOT EXISTS graph_versions (
                graph TEXT NOT NULL,
                version_id TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                manifest {json} NOT NULL,
                explicit INTEGER NOT NULL,
                created_at {ts} NOT NULL,
                PRIMARY KEY (graph, version_id)
            )""",
        ],
    ),
    (
        13,
        "the inbox's filters as index ranges: who may decide each pending request "
        "(pending_approvers, one row per name, role:, group: or * for any approver), and "
        "the agent, requester and graph version of requests",
        [
            """CREATE TABLE IF NOT EXISTS pending_approvers (
                principal TEXT NOT NULL,
                created_at {ts} NOT NULL,
                interrupt_id TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                PRIMARY KEY (principal, created_at, interrupt_id)
            )""",
            "CREATE INDEX IF NOT EXISTS pending_approvers_interrupt"
            " ON pending_approvers (interrupt_id)",
            "CREATE INDEX IF NOT EXISTS pending_approvers_thread ON pending_approvers (thread_id)",
            (
                "sqlite",
                "INSERT OR IGNORE INTO pending_approvers "
                "SELECT CASE WHEN json_type(i.metadata, '$.approvers') IS NULL "
                "OR json_type(i.metadata, '$.approvers') = 'null' THEN '*' ELSE a.value END, "
                "i.created_at, i.interrupt_id, i.thread_id FROM interrupts i "
                "LEFT JOIN json_each(CASE WHEN json_type(i.metadata, '$.approvers') = 'array' "
                "THEN json_extract(i.metadata, '$.approvers') ELSE '[]' END) a "
                "WHERE i.status = 'pending' AND (a.type = 'text' "
                "OR json_type(i.metadata, '$.approvers') IS NULL "
                "OR json_type(i.metadata, '$.approvers') = 'null')",
            ),
            (
                "postgres",
                "INSERT INTO pending_approvers "
                "SELECT p.principal, i.created_at, i.interrupt_id, i.thread_id FROM interrupts i "
                "CROSS JOIN LATERAL (SELECT '*' AS principal "
                "WHERE jsonb_typeof(i.metadata->'approvers') IS NULL "
                "OR jsonb_typeof(i.metadata->'approvers') = 'null' "
                "UNION SELECT e.value #>> '{{}}' FROM jsonb_array_elements(CASE WHEN "
                "jsonb_typeof(i.metadata->'approvers') = 'array' THEN i.metadata->'approvers' "
                "ELSE '[]'::jsonb END) e WHERE jsonb_typeof(e.value) = 'string') p "
                "WHERE i.status = 'pending' ON CONFLICT DO NOTHING",
            ),
            (
                "sqlite",
                "CREATE INDEX IF NOT EXISTS interrupts_agent ON interrupts "
                "(status, json_extract(metadata, '$.graph'), created_at, interrupt_id)",
            ),
            (
                "sqlite",
                "CREATE INDEX IF NOT EXISTS interrupts_requester ON interrupts "
                "(status, json_extract(metadata, '$.requested_by'), created_at, interrupt_id)",
            ),
            (
                "postgres",
                "CREATE INDEX IF NOT EXISTS interrupts_agent ON interrupts "
                "(status, (metadata->>'graph'), created_at, interrupt_id)",
            ),
            (
                "postgres",
                "CREATE INDEX IF NOT EXISTS interrupts_requester ON interrupts "
                "(status, (metadata->>'requested_by'), created_at, interrupt_id)",
            ),
            (
                "sqlite",
                "CREATE INDEX IF NOT EXISTS interrupts_version ON interrupts "
                "(status, json_extract(metadata, '$.graph_version'), created_at, interrupt_id)",
            ),
            (
                "postgres",
                "CREATE INDEX IF NOT EXISTS interrupts_version ON interrupts "
                "(status, (metadata->>'graph_version'), created_at, interrupt_id)",
            ),
        ],
    ),
    (
        14,
        "threads.owner: who created each thread over the service (a requester's thread list "
        "as an index range, not an audit read per thread)",
        [
            "ALTER TABLE threads ADD COLUMN owner TEXT",
            "CREATE INDEX IF NOT EXISTS threads_owner ON threads (owner, updated_at)",
            # the owner was the actor of the thread's first audit entry, if that entry
            # was its creation over the service
            "UPDATE threads SET owner = (SELECT a.actor FROM audit_log a "
            "WHERE a.thread_id = threads.thread_id ORDER BY a.entry_id LIMIT 1) "
            "WHERE (SELECT a.action FROM audit_log a WHERE a.thread_id = threads.thread_id "
            "ORDER BY a.entry_id LIMIT 1) = 'thread.created'",
        ],
    ),
    (
        15,
        "worker versions: the graph versions live worker processes run (a lease per advert), "
        "and the version a run given back waits for (runs.for_graph, runs.for_version)",
        WORKERS_MIGRATION,
    ),
    (
        16,
        "thread search as index ranges: thread_meta (one row per top-level pair of a "
        "thread's metadata, which threads.metadata now holds), threads.waiting (pending "
        "requests, kept by triggers), threads by creation, the leased threads, the idle "
        "threads, the threads with a pending request; interrupts_due only for requests "
        "with a deadline",
        THREAD_SEARCH_MIGRATION,
    ),
    (
        17,
        "fewer pages per pause and decision: threads_owner and interrupts_requester hold "
        "only set keys, pending_approvers_thread dropped, and on SQLite pending_approvers, "
        "heads and audit_chains clustered on their primary key (WITHOUT ROWID)",
        LEANER_WRITES_MIGRATION,
    ),
    (
        18,
        "the run queue's fronts: run_fronts holds each thread's oldest open run (kept by "
        "triggers on runs), so that a claim walks the fronts, not every open run",
        RUN_FRONTS_MIGRATION,
    ),
    (
        19,
        "runs_running_thread: each thread's running runs, so that a claim can tell at one "
        "lookup that its thread already runs one",
        [
            "CREATE INDEX IF NOT EXISTS runs_running_thread ON runs (thread_id) "
            "WHERE status = 'running'"
        ],
    ),
    (
        20,
        "long-term memory items (LangGraph's BaseStore): store_items, one row per "
        "(namespace, key), the namespace as index text so that a prefix is a key range",
        ITEMS_MIGRATION,
    ),
    (
        21,
        "assistants (LangGraph's Agent Server assistants): assistants (each one's current "
        "version), assistant_versions (every version) and assistant_meta (one row per "
        "top-level metadata pair), indexed by graph, creation and update",
        ASSISTANTS_MIGRATION,
    ),
    (
        22,
        "crons: runs queued on a schedule (one row each, its run request as JSON), the "
        "enabled crons by due time for the scheduler, and by thread, agent and owner for "
        "searches",
        CRONS_MIGRATION,
    ),
    (
        23,
        "long-term memory search and expiry: store_vectors (an item's embedding vectors, "
        "keyed as its item so that a namespace prefix is a key range), store_items.expires_at "
        "and ttl_minutes, and the expiring items by time",
        VECTORS_MIGRATION,
    ),
]
