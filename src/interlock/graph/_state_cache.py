"""The folded states of recently used threads, kept by each compiled graph."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

__all__ = ["StateCache"]


class StateCache:
    """Folded states of recently used threads: `(thread, ns) -> (checkpoint_id, values)`.

    A checkpoint's state never changes, so a cached state is valid for its checkpoint id
    forever; reads ask the store only for the writes after it (`get_checkpoint(after=...)`).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], tuple[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[str, str], checkpoint_id: str | None, values: dict) -> None:
        if checkpoint_id is None or self.size <= 0:
            return
        with self._lock:
            self._items[key] = (checkpoint_id, values)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
