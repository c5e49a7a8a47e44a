"""Room: standing grants — "agent A may call tool T with arguments matching P, K more times /
until X" — each use consumed exactly once and audited in its transaction.
`protocol`, `memory`, `sql`, `conformance`."""
