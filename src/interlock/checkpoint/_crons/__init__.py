"""Room: crons — runs queued on a schedule (LangGraph's `client.crons`), each due time fired
exactly once across the processes sharing the store. `protocol`, `memory`, `sql`,
`migration`, `conformance`. The schedule arithmetic and the firing are the service's
(`interlock.server.agent_server._cron_fire`)."""
