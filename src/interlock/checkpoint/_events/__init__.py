"""Room: the run event log — what each run streamed, kept in order per thread so any process
can replay or follow it. `protocol`, `memory`, `sql`, `conformance`."""
