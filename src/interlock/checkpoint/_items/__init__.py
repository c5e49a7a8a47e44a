"""Room: long-term memory items — JSON values kept by (namespace, key) across threads, as
LangGraph's `BaseStore` keeps them. `protocol`, `codec`, `memory`, `sql`, `conformance`,
`migration`. The LangGraph-shaped public API over it is `interlock.store`."""
