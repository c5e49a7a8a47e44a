"""Room: the audit log (append-only, who did what when) and the named cursors that tail it.
`protocol`, `memory`, `sql`, `postgres`, `conformance`. Other rooms write their entries
(a request asked, decided, escalated) in their own transaction through this room's helpers."""
