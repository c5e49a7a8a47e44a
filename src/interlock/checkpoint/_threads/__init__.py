"""Room: threads — a thread's summary (status, head, times), the lease that keeps one run at
a time on it, and retention (delete a thread, prune old ones). `protocol`, `memory`, `sql`,
`postgres`, `conformance`."""
