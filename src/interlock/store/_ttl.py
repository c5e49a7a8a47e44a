"""A store's expiry settings (`ttl=`, LangGraph's `TTLConfig`) and the thread that sweeps
expired items away.

Times are in minutes, as in LangGraph. An expired item is never returned, whether or not
the sweeper has deleted it yet; the sweeper only frees the space.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MAX_MINUTES", "Sweeper", "check_minutes", "check_ttl_config"]

log = logging.getLogger("interlock.store")

_KEYS = {"default_ttl", "refresh_on_read", "sweep_interval_minutes", "omit_expired"}


MAX_MINUTES = 525_960_000
"""The longest TTL (and sweep interval): 1,000 years. Longer ones would put an expiry past
the last date a `datetime` holds (year 9999); use None for "never"."""


def check_minutes(name: str, value: Any) -> float | None:
    """`value` as minutes (None stays None), or `ValueError` unless a number > 0 and at
    most `MAX_MINUTES`."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_MINUTES
    ):
        raise ValueError(
            f"{name} is a number of minutes > 0 and at most {MAX_MINUTES} (1,000 years), or "
            f"None, not {value!r}"
        )
    return float(value)


def check_ttl_config(ttl: Any) -> dict[str, Any]:
    """A checked copy of a `TTLConfig`."""
    if not isinstance(ttl, Mapping):
        raise TypeError(f"ttl is a dict (default_ttl, refresh_on_read, ...), not {ttl!r}")
    unknown = sorted(set(ttl) - _KEYS)
    if unknown:
        raise ValueError(f"ttl: unknown settings {unknown}; use {sorted(_KEYS)}")
    out = dict(ttl)
    check_minutes("default_ttl", out.get("default_ttl"))
    check_minutes("sweep_interval_minutes", out.get("sweep_interval_minutes"))
    for flag in ("refresh_on_read", "omit_expired"):
        if not isinstance(out.get(flag, True), bool):
            raise ValueError(f"ttl {flag} is True or False, not {out[flag]!r}")
    return out


class Sweeper:
    """A daemon thread calling `sweep()` every `minutes` until stopped (LangGraph's
    `start_ttl_sweeper` / `stop_ttl_sweeper`). A failed sweep is logged and retried at the
    next interval. `swept` counts the sweeps done (tests wait on `done`)."""

    def __init__(self, sweep: Callable[[], int], minutes: float) -> None:
        self._sweep = sweep
        self._interval = minutes * 60
        self._stop = threading.Event()
        self.done = threading.Condition()
        self.swept = 0
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.future.add_done_callback(lambda f: self._stop.set() if f.cancelled() else None)
        self._thread = threading.Thread(target=self._run, name="interlock-store-ttl", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._interval):
                try:
                    n = self._sweep()
                    if n:
                        log.info("store TTL sweep deleted %d expired items", n)
                except Exception:
                    log.exception("store TTL sweep failed; retrying at the next interval")
                with self.done:
                    self.swept += 1
                    self.done.notify_all()
        finally:
            if not self.future.done():
                self.future.set_result(None)

    def alive(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the thread to stop and wait up to `timeout` seconds; whether it stopped."""
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()
