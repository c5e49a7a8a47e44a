"""Room: the run queue — background runs queued in the store and claimed by workers under
leases. `protocol`, `memory`, `sql`, `postgres`, `conformance`."""
