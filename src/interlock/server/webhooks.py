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
from datetime import UTC, datetime, timedelta

from interlock.checkpoint.base import AuditEntry, BaseSaver
from interlock.server._plain import plain

__all__ = ["EVENTS", "Webhook", "WebhookDispatcher", "parse_hook", "sign", "verify_signature"]

_log = logging.getLogger("interlock.server")

EVENTS = frozenset({"approval.requested", "approval.decided", "approval.expired"})


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
    return age <= tolerance and hmac.compare_digest(given, sign(secret, timestamp, body))


@dataclass
class WebhookDispatcher:
    """Delivers the store's audit events to `hooks`; call `run_once()` or `start()`.

    `lag`: entries younger than this are left for the next pass, so that an entry committed
    a moment late by another process (ids are time-ordered by their writer's clock) is not
    skipped. `post` is the HTTP call (defaults to httpx); tests may pass their own.
    """

    saver: BaseSaver
    hooks: Sequence[Webhook]
    owner: str
    lag: float = 2.0
    lease_ttl: float = 60.0
    backoff: float = 0.5
    post: Callable[[str, bytes, dict[str, str]], int] | None = None
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def run_once(self, *, now: datetime | None = None) -> int:
        """One pass over every hook; returns the number of events delivered."""
        return sum(self._deliver(hook, now or datetime.now(UTC)) for hook in self.hooks)

    def start(self, every: float = 1.0) -> None:
        """Deliver in a background thread every `every` seconds until `stop()`."""

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.run_once()
                except Exception:  # the store is down, say: try again at the next tick
                    _log.exception("webhook delivery failed; retrying in %s s", every)

        self._thread = threading.Thread(target=loop, name="interlock-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (finishing the event in flight)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    # ---- one hook ------------------------------------------------------------------------

    def _deliver(self, hook: Webhook, now: datetime) -> int:
        position = self.saver.claim_cursor(hook.key, self.owner, ttl=self.lease_ttl)
        if position is None:
            return 0  # another process delivers this hook
        horizon = (now - timedelta(seconds=self.lag)).timestamp() * 1e9
        delivered = 0
        while not self._stop.is_set():
            page = self.saver.list_audit(after=position, limit=100)
            for entry in page.items:
                if int(entry.entry_id[:16], 16) > horizon:
                    return delivered  # too recent: the next pass takes it
                if entry.action in hook.events:
                    if self._send(hook, entry):
                        delivered += 1
                    else:
                        self._failed(hook, entry)
                position = entry.entry_id
                if not self.saver.advance_cursor(
                    hook.key, self.owner, position, ttl=self.lease_ttl
                ):
                    return delivered  # the lease was lost: another process carries on
            if page.next_cursor is None:
                return delivered
        return delivered

    def _send(self, hook: Webhook, entry: AuditEntry) -> bool:
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
                return True
            if 400 <= status < 500 and status != 429:
                return False  # the receiver refuses it: retrying will not help
            if attempt + 1 < hook.attempts and self._stop.wait(self.backoff * 2**attempt):
                return False  # stopping
        return False

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        if self.post is not None:
            return self.post(url, body, headers)
        import httpx

        try:
            return httpx.post(url, content=body, headers=headers, timeout=10.0).status_code
        except httpx.HTTPError:
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
    return Webhook(url=parts[0], secret=parts[1], events=events)
