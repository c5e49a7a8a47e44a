"""Room: assistants — named, versioned configurations of a registered graph (LangGraph's
Agent Server assistants): each change is a new version, and any version can be made the
current one again. `protocol`, `memory`, `sql`, `conformance`, `migration`."""
