"""The functional API, porting `langgraph.func`: `entrypoint` and `task`.

```python
from interlock.func import entrypoint, task
```

See the functional API page of the docs (`docs/functional-api.md`).
"""

from __future__ import annotations

from interlock.graph._func import EntrypointGraph, TaskFunction, entrypoint, task
from interlock.graph._func_scope import TaskFuture

__all__ = ["EntrypointGraph", "TaskFunction", "TaskFuture", "entrypoint", "task"]
