"""The PostgreSQL link: what bounds each store call, and how the store learns that the
database went away and came back. Part of `PostgresSaver`'s connection layer.

- `connection_settings`: TCP keepalives and `tcp_user_timeout` (the kernel gives up on a
  dead link within seconds instead of minutes), and `statement_timeout` (the server stops
  a statement that outlives the request bound). Settings the connection string already
  gives are kept.
- `Deadlines`: the client-side bound. A server timeout cannot answer through a silent link
  (a partition, a black hole), so one thread per store shuts the socket of a call that
  outlived its deadline; the call then fails at once, and the pool replaces the connection.
- `Link`: up or down. It goes down when a connection cannot be made or a call passes its
  deadline; while down, calls fail at once instead of queueing for the pool, and a prober
  opens a fresh connection every `probe_every` seconds (several may be in flight, so a
  probe stuck on a silent link does not delay the next). The first that succeeds, or any
  connection the pool makes, brings the link up, and `on_up` replaces the pool's
  connections (they predate the outage and may be silently dead).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from interlock.errors import StoreUnavailable

__all__ = ["Deadlines", "Link", "Watch", "connection_settings", "socket_has_news"]

KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 11_000,  # ms: unacknowledged data (or keepalives) for 11 s ends it
}
"""Kernel-level detection of a dead link: an idle connection is probed after 5 s and given up
after three unanswered probes 2 s apart; data unacknowledged for 11 s ends it too."""


def connection_settings(
    conninfo: str, *, connect_timeout: float, statement_timeout: float, schema: str | None
) -> dict[str, Any]:
    """Keyword arguments for `psycopg.connect` (they override the connection string, so a
    parameter the string gives is left out; `options` is extended, not replaced)."""
    from psycopg.conninfo import conninfo_to_dict

    given = conninfo_to_dict(conninfo)
    settings: dict[str, Any] = {"autocommit": True}
    defaults = {**KEEPALIVES, "connect_timeout": max(2, round(connect_timeout))}
    settings.update({k: v for k, v in defaults.items() if k not in given})
    options = [str(given.get("options") or "").strip()]
    if "statement_timeout" not in options[0]:
        options.append(f"-c statement_timeout={max(1, round(statement_timeout * 1000))}")
    if schema is not None:
        options.append(f"-c search_path={schema}")
    settings["options"] = " ".join(o for o in options if o)
    return settings


def socket_has_news(fd: int) -> bool:
    """Whether an idle connection's socket has something to read: on an idle PostgreSQL
    connection that is the server's goodbye (a terminated backend's error, or end of file)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - no poll() (Windows)
    return bool(readable)


def _shut(fd: int) -> None:
    """End the TCP connection under `fd` without closing the descriptor (libpq owns it):
    the thread waiting on it wakes up to an end of file."""
    with contextlib.suppress(OSError):
        dup = socket.socket(fileno=os.dup(fd))
        try:
            dup.shutdown(socket.SHUT_RDWR)
        finally:
            dup.close()


class Watch:
    """One watched call: its socket, its deadline, and whether the deadline struck."""

    __slots__ = ("deadline", "fd", "fired")

    def __init__(self, fd: int, deadline: float) -> None:
        self.fd, self.deadline, self.fired = fd, deadline, False


class Deadlines:
    """Shuts the socket of every watched call still running at its deadline (one thread,
    sleeping until the earliest deadline; a call costs a dict insert and a removal)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._calls: dict[int, Watch] = {}
        self._earliest = float("inf")
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, fd: int, seconds: float) -> Watch:
        """Watch a call on socket `fd` for `seconds` from now."""
        call = Watch(fd, time.monotonic() + seconds)
        with self._cond:
            self._calls[id(call)] = call
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            if call.deadline < self._earliest:
                self._earliest = call.deadline
                self._cond.notify()
        return call

    def release(self, call: Watch) -> bool:
        """Stop watching; True if the deadline struck (the socket was shut)."""
        with self._cond:
            self._calls.pop(id(call), None)
            return call.fired

    def close(self) -> None:
        """Stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                earliest = float("inf")
                for key, call in list(self._calls.items()):
                    if call.deadline <= now:
                        del self._calls[key]
                        call.fired = True  # before the shutdown: the caller reads it on waking
                        _shut(call.fd)
                    else:
                        earliest = min(earliest, call.deadline)
                self._earliest = earliest
                self._cond.wait(None if earliest == float("inf") else earliest - now)


class Link:
    """Whether the database is reachable, as far as this process knows (see the module
    docstring). `connect()` opens and closes a fresh connection (raising if it cannot);
    `on_up()` runs when the link comes back."""

    def __init__(
        self,
        connect: Callable[[], None],
        on_up: Callable[[], None],
        *,
        probe_every: float = 0.5,
        max_probes: int = 8,
    ) -> None:
        self._connect, self._on_up = connect, on_up
        self.probe_every, self.max_probes = probe_every, max_probes
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._up_at = float("-inf")
        """When the link last came back (monotonic)."""
        self._reason = ""
        self._wake = threading.Event()
        self._probes = 0
        self._closed = False

    @property
    def is_up(self) -> bool:
        """False while the database is known to be unreachable."""
        return self._down_since is None

    def check(self) -> None:
        """Raise `StoreUnavailable` at once while the link is down."""
        since = self._down_since
        if since is not None:
            raise StoreUnavailable(
                f"PostgreSQL is unreachable (for {time.monotonic() - since:.1f} s: "
                f"{self._reason}); nothing was changed, retry in a moment"
            )

    def down(self, reason: str, started: float) -> None:
        """The database could not be reached by an attempt (a connection, a call) that
        began at `started` (monotonic): fail calls fast and probe until it can. An attempt
        that began before the link last came back tells nothing new (it may have been stuck
        on the old, silent path) and is ignored."""
        with self._lock:
            if self._closed or self._down_since is not None or started < self._up_at:
                return
            self._down_since, self._reason = time.monotonic(), reason
            self._wake.clear()
        threading.Thread(
            target=self._probe_until_up, name="interlock-pg-probe", daemon=True
        ).start()

    def up(self) -> None:
        """A connection was made: calls go through again."""
        with self._lock:
            if self._down_since is None:
                return
            self._down_since = None
            self._up_at = time.monotonic()
            self._wake.set()
        self._on_up()

    def close(self) -> None:
        """Stop probing."""
        with self._lock:
            self._closed = True
            self._wake.set()

    def _probe_until_up(self) -> None:
        while True:
            with self._lock:
                if self._closed or self._down_since is None:
                    return
                start = self._probes < self.max_probes
                if start:
                    self._probes += 1
            if start:
                threading.Thread(target=self._probe, name="interlock-pg-probe", daemon=True).start()
            self._wake.wait(self.probe_every)

    def _probe(self) -> None:
        try:
            self._connect()
        except Exception:  # still down: the next probe tries again
            return
        else:
            if not self._closed:
                self.up()
        finally:
            with self._lock:
                self._probes -= 1
