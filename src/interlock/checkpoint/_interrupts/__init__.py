"""Room: the interrupt index — one row per request for a person, pending until decided
exactly once. `protocol`, `memory`, `sql`, `postgres`, `conformance`. Requests are inserted
by the checkpoints room's writes (in their transaction), through this room's helpers."""
