"""LangGraph's own public-API tests, ported to interlock (imports changed, assertions kept;
each intended difference is marked `DIFFERENCE:` with its reason)."""
