"""Room: worker versions — which graph versions the processes running background workers
run right now (each advert under a lease), so a run decided under one version is handed to
a process still running it. `protocol`, `memory`, `sql`, `migration`, `conformance`."""
