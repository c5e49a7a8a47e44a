"""LangGraph's functional-API human-in-the-loop guides, ported by changing only imports."""
