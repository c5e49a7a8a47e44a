"""Room: votes — N-of-M quorum on requests for a person, one conditional write per vote.
`protocol`, `memory`, `sql`, `conformance`. The vote that completes the quorum resolves the
request (the interrupt index's row) in its own transaction."""
