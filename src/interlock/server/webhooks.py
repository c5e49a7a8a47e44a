"""Signed webhooks for approval events, delivered from the audit log at least once.

Every approval event is already an audit entry in the store. A dispatcher tails the log with
a cursor kept in the store under a lease, so one process delivers each hook at a time, a
restarted or replaced process carries on where the last one stopped, and nothing is lost.
Delivery is at least once: a receiver deduplicates by the `X-Interlock-Delivery` id.

Each POST carries `X-Interlock-Event`, `X-Interlock-Delivery` (the audit entry id),
`X-Interlock-Timestamp` and `X-Interlock-Signature: sha256=<hex>`: the HMAC-SHA256, keyed
by the hook's secret, of `"<timestamp>.<body>"`. `verify_signature` checks one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from interlock.checkpoint.base import AuditEntry, BaseSaver
from interlock.server._plain import plain

__all__ = ["EVENTS", "Webhook", "WebhookDispatcher", "parse_hook", "sign", "verify_signature"]

_log = logging.getLogger("interlock.server")

EVENTS = frozenset(
    {
        "approval.requested",
        "approval.decided",
        "approval.expired",
        "approval.escalated",
        "approval.cancelled",
        "approval.reopened",
    }
)
"""What a hook hears by default: every change of a request's status (a request cancelled
because its thread went on without it, or given back to pending, too)."""


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where to send which events. `name` keys the hook's cursor in the store (default: the
    URL), so keep it stable across restarts."""

    url: str
    secret: str
    events: frozenset[str] = EVENTS
    name: str = ""
    attempts: int = 5
    """Tries per event (network errors, 429 and 5xx are retried with backoff; other 4xx
    answers are final). An event that still fails is recorded as `webhook.failed` in the
    audit log and delivery goes on with the next one."""

    @property
    def key(self) -> str:
        """The store cursor's name."""
        return f"webhook:{self.name or self.url}"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Interlock-Signature` value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """Whether a received webhook is authentic and fresh (for receivers)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-interlock-timestamp", "")
    given = lowered.get("x-interlock-signature", "")
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    expected = sign(secret, timestamp, body).encode()
    return age <= tolerance and hmac.compare_digest(given.encode("utf-8", "replace"), expected)


_DELIVERED, _FAILED, _STOPPED = "delivered", "failed", "stopped"


@dataclass
class WebhookDispatcher:
    """Delivers the store's audit events to `hooks`; call `run_once()` or `start()`.

    A new hook starts at the end of the log (history is not replayed). Entry ids are ordered
    by their writer's clock, so an entry may commit after later ids were delivered: each
    pass looks back `window` seconds behind the cursor and sends what it has not sent (the
    ids sent in that window are kept with the cursor), and leaves entries younger than `lag`
    for the next pass. An entry committed more than `window` after its id was taken (a
    writer's clock that far behind) is not delivered. `post` is the HTTP call (default:
    httpx with a 5 s timeout); tests may pass their own.
    """

    saver: BaseSaver
    hooks: Sequence[Webhook]
    owner: str
    lag: float = 2.0
    window: float = 30.0
    lease_ttl: float = 60.0
    backoff: float = 0.5
    post: Callable[[str, bytes, dict[str, str]], int] | None = None
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def run_once(self, *, now: datetime | None = None) -> int:
        """One pass over every hook; returns the number of events delivered. A hook that
        fails (its store cursor, say) is logged and does not hold the others up."""
        delivered = 0
        for hook in self.hooks:
            if self._stop.is_set():
                break
            try:
                delivered += self._deliver(hook, now or datetime.now(UTC))
            except Exception:
                _log.exception("webhook %s: delivery pass failed", hook.name or hook.url)
        return delivered

    def start(self, every: float = 1.0) -> None:
        """Deliver in a background thread every `every` seconds until `stop()`. New hooks'
        cursors are placed at the end of the log first, so every event after `start()`
        returns is delivered."""
        for hook in self.hooks:
            try:
                self._claim(hook)
            except Exception:
                _log.exception("webhook %s: cannot place its cursor", hook.name or hook.url)

        def loop() -> None:
            while not self._stop.wait(every):
                self.run_once()

        self._thread = threading.Thread(target=loop, name="interlock-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the background thread. The event in flight is not marked failed: the next
        process to hold the hook's cursor sends it again."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    # ---- one hook ------------------------------------------------------------------------

    def _claim(self, hook: Webhook) -> _Cursor | None:
        """Take the hook's cursor (None: another process holds it); a new hook starts at
        the end of the log."""
        raw = self.saver.claim_cursor(hook.key, self.owner, ttl=self.lease_ttl)
        if raw is None:
            return None
        state = _Cursor.parse(raw)
        if state.position == "":
            newest = self.saver.list_audit(limit=1).items
            state.position = newest[0].entry_id if newest else _id_at(0)
            floor = _id_at(max(0, _time_of(state.position) - int(self.window * 1e9)))
            while True:  # what the look-back window holds is history too
                page = self.saver.list_audit(after=floor, limit=500)
                state.sent.update(e.entry_id for e in page.items if e.entry_id <= state.position)
                if page.next_cursor is None:
                    break
                floor = page.next_cursor
            self._save(hook, state)
        return state

    def _deliver(self, hook: Webhook, now: datetime) -> int:
        state = self._claim(hook)
        if state is None:
            return 0  # another process delivers this hook
        horizon = _ns(now) - int(self.lag * 1e9)
        after = _id_at(max(0, _time_of(state.position) - int(self.window * 1e9)))
        delivered = 0
        while True:
            page = self.saver.list_audit(after=after, limit=200)
            for entry in page.items:
                if self._stop.is_set():
                    return delivered
                if _time_of(entry.entry_id) > horizon:
                    self._save(hook, state)
                    return delivered  # too recent: the next pass takes it
                after = entry.entry_id
                if entry.entry_id in state.sent or (
                    entry.entry_id <= state.position and entry.action not in hook.events
                ):
                    continue
                if entry.action in hook.events:
                    outcome = self._send(hook, entry, state)
                    if outcome == _STOPPED:
                        return delivered  # not recorded: sent again by whoever goes on
                    if outcome == _DELIVERED:
                        delivered += 1
                    else:
                        self._failed(hook, entry)
                    state.sent.add(entry.entry_id)
                state.position = max(state.position, entry.entry_id)
                if not self._save(hook, state):
                    return delivered  # the lease was lost: another process carries on
            if page.next_cursor is None:
                return delivered

    def _save(self, hook: Webhook, state: _Cursor) -> bool:
        floor = _id_at(max(0, _time_of(state.position) - int(self.window * 1e9)))
        state.sent = {i for i in state.sent if i >= floor}
        return self.saver.advance_cursor(hook.key, self.owner, state.dump(), ttl=self.lease_ttl)

    def _send(self, hook: Webhook, entry: AuditEntry, state: _Cursor) -> str:
        body = json.dumps(
            {
                "id": entry.entry_id,
                "event": entry.action,
                "at": entry.at.isoformat(),
                "actor": entry.actor,
                "thread_id": entry.thread_id,
                "interrupt_id": entry.interrupt_id,
                "detail": plain(entry.detail),
            },
            separators=(",", ":"),
        ).encode()
        for attempt in range(max(1, hook.attempts)):
            if self._stop.is_set():
                return _STOPPED
            if attempt and not self._save(hook, state):  # renew the lease between tries
                return _STOPPED
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Interlock-Event": entry.action,
                "X-Interlock-Delivery": entry.entry_id,
                "X-Interlock-Timestamp": timestamp,
                "X-Interlock-Signature": sign(hook.secret, timestamp, body),
            }
            status = self._post(hook.url, body, headers)
            if 200 <= status < 300:
                return _DELIVERED
            if 400 <= status < 500 and status not in (408, 429):
                return _FAILED  # the receiver refuses it: retrying will not help
            if attempt + 1 < hook.attempts and self._stop.wait(self.backoff * 2**attempt):
                return _STOPPED
        return _FAILED

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        if self.post is not None:
            return self.post(url, body, headers)
        import httpx

        try:
            timeout = httpx.Timeout(5.0, connect=3.0)
            return httpx.post(url, content=body, headers=headers, timeout=timeout).status_code
        except (httpx.HTTPError, httpx.InvalidURL, ValueError):
            return 599  # no answer: retried like a server error

    def _failed(self, hook: Webhook, entry: AuditEntry) -> None:
        self.saver.append_audit(
            [
                AuditEntry(
                    at=datetime.now(UTC),
                    actor=None,
                    action="webhook.failed",
                    thread_id=entry.thread_id,
                    interrupt_id=entry.interrupt_id,
                    detail={"hook": hook.name or hook.url, "event_id": entry.entry_id},
                )
            ]
        )


@dataclass
class _Cursor:
    """A hook's place in the log: the newest entry handled, and the ids sent within the
    look-back window (stored as JSON in the store's cursor)."""

    position: str
    sent: set[str]

    @classmethod
    def parse(cls, raw: str) -> _Cursor:
        if raw.startswith("{"):
            data = json.loads(raw)
            return cls(position=str(data.get("position", "")), sent=set(data.get("sent", [])))
        return cls(position=raw, sent=set())

    def dump(self) -> str:
        return json.dumps({"position": self.position, "sent": sorted(self.sent)})


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1e9)


def _time_of(entry_id: str) -> int:
    """The writer's clock (ns) in an entry id; ids not made by interlock count as old."""
    try:
        return int(entry_id[:16], 16)
    except ValueError:
        return 0


def _id_at(ns: int) -> str:
    """The smallest id at or after `ns`, as an `after=` bound."""
    return f"{ns:016x}" + "0" * 16


def parse_hook(spec: str) -> Webhook:
    """`"<url>|<secret>[|event,event]"` (for `--webhook` and `INTERLOCK_WEBHOOKS`)."""
    parts = spec.split("|")
    if len(parts) not in (2, 3) or not parts[0].startswith(("http://", "https://")) or not parts[1]:
        raise ValueError(f"bad webhook {spec!r}: use <url>|<secret>[|event,event]")
    events = EVENTS
    if len(parts) == 3:
        events = frozenset(e.strip() for e in parts[2].split(",") if e.strip())
        unknown = events - EVENTS
        if unknown or not events:
            raise ValueError(f"unknown webhook events {sorted(unknown)}; use {sorted(EVENTS)}")
    import httpx

    try:
        httpx.URL(parts[0])
    except (httpx.InvalidURL, ValueError) as exc:
        raise ValueError(f"bad webhook URL {parts[0]!r}: {exc}") from exc
    return Webhook(url=parts[0], secret=parts[1], events=events)
