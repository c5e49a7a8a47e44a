"""Child process for the functional API's crash test: its second task is killed with
SIGKILL after the first task's result was stored.

Usage: python -m tests._func_crash_child SPEC THREAD EFFECTS_FILE LEASE_TTL
Prints "second started" once the second task runs (the first one's result is stored then).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from interlock.func import entrypoint, task
from tests._race import open_saver


def build(saver: Any, effects: str, block: bool) -> Any:
    """Two tasks in a row; each appends its name to `effects` when it runs."""

    def record(name: str) -> None:
        with open(effects, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")

    @task
    def first(order: str) -> str:
        record("first")
        return f"{order}: reserved"

    @task
    def second(note: str) -> str:
        record("second")
        if block:
            print("second started", flush=True)
            threading.Event().wait()  # never set: the parent kills us here
        return f"{note}, charged"

    @entrypoint(checkpointer=saver)
    def order_flow(order: str) -> list[str]:
        reserved = first(order).result()
        return [reserved, second(reserved).result()]

    return order_flow


def main() -> None:
    spec, thread, effects, ttl = sys.argv[1:5]
    flow = build(open_saver(spec), effects, block=True)
    flow.lease_ttl = float(ttl)
    flow.invoke("o-7", {"configurable": {"thread_id": thread}})


if __name__ == "__main__":
    main()
