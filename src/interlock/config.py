"""LangGraph's `langgraph.config`, for porting: `get_config`, `get_store` and
`get_stream_writer`, called inside a running node (or a tool or task it calls).

```python
from interlock.config import get_config, get_store, get_stream_writer
```
"""

from __future__ import annotations

from interlock.graph._interrupt import get_config, get_stream_writer
from interlock.graph._runtime import get_store

__all__ = ["get_config", "get_store", "get_stream_writer"]
