"""HTTP for providers: one retry policy (429, 5xx, dropped connections; exponential backoff
with jitter, honouring Retry-After), timeouts, errors mapped to the `ModelError` family, and
server-sent events. httpx is imported on first use.

Synchronous calls share one connection pool per process (keep-alive: a model call does not
pay a new TCP and TLS handshake each time; a forked child starts its own pool). Async calls
open a client per call: a pool cannot outlive the event loop it was made on."""

from __future__ import annotations

import asyncio
import atexit
import email.utils
import functools
import json
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from interlock.agent.models.errors import (
    ModelAuthError,
    ModelError,
    ModelRateLimited,
    ModelResponseError,
    ModelTimeout,
    ModelUnavailable,
)

__all__ = ["HttpSettings", "apost_json", "astream_sse", "post_json", "stream_sse"]

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    """How to reach a provider."""

    url: str
    headers: Mapping[str, str]
    timeout: float = 60.0
    max_retries: int = 2
    backoff: float = 0.5
    """Base delay in seconds; doubles per retry (with jitter), capped at 8 s."""


@functools.cache
def _ssl_context() -> Any:
    """One TLS context for every client: building one costs ~20 ms, a client then ~1 ms."""
    import httpx

    return httpx.create_ssl_context()


def _client_options(settings: HttpSettings) -> dict[str, Any]:
    return {"timeout": settings.timeout, "verify": _ssl_context()}


_pool_lock = threading.Lock()
_pool: Any = None
"""The process's shared `httpx.Client` (made on first use)."""


def _forget_pool() -> None:
    global _pool
    _pool = None  # a child's copy of the parent's sockets is not its to use


def _close_pool() -> None:
    global _pool
    client, _pool = _pool, None
    if client is not None:
        client.close()


os.register_at_fork(after_in_child=_forget_pool)
atexit.register(_close_pool)


def shared_client() -> Any:
    """The process's pooled `httpx.Client`; each request passes its own timeout."""
    global _pool
    client = _pool
    if client is not None:
        return client
    import httpx

    with _pool_lock:
        if _pool is None:
            _pool = httpx.Client(
                verify=_ssl_context(),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            )
        return _pool


def _delay(settings: HttpSettings, attempt: int, retry_after: str | None) -> float:
    if retry_after:
        try:
            return max(0.0, min(float(retry_after), 30.0))
        except ValueError:
            try:  # the HTTP-date form
                when = email.utils.parsedate_to_datetime(retry_after)
                return max(0.0, min(when.timestamp() - time.time(), 30.0))
            except (TypeError, ValueError):
                pass
    base = min(settings.backoff * (2**attempt), 8.0)
    return base * (0.5 + random.random() / 2)


def _error_for(status: int, body: str) -> ModelError:
    detail = body[:500]
    try:
        parsed = json.loads(body)
        err = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(err, dict):
            detail = str(err.get("message") or err)
        elif err:
            detail = str(err)
    except ValueError:
        pass
    if status in (401, 403):
        return ModelAuthError(
            f"provider rejected the credentials ({status}): {detail}", status=status
        )
    if status == 429:
        return ModelRateLimited(f"rate limited (429) after retries: {detail}", status=status)
    if status >= 500:
        return ModelUnavailable(
            f"provider failed ({status}) after retries: {detail}", status=status
        )
    return ModelResponseError(f"provider refused the request ({status}): {detail}", status=status)


def _transport_error(exc: Exception) -> ModelError:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return ModelTimeout(f"no answer in time: {exc!r}")
    return ModelUnavailable(f"connection failed: {exc!r}")


def post_json(settings: HttpSettings, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST JSON, retrying transient failures; the parsed JSON answer."""
    import httpx

    for attempt in range(settings.max_retries + 1):
        last = attempt == settings.max_retries
        try:
            resp = shared_client().post(
                settings.url, json=body, headers=dict(settings.headers), timeout=settings.timeout
            )
        except httpx.TransportError as exc:
            if last:
                raise _transport_error(exc) from exc
            time.sleep(_delay(settings, attempt, None))
            continue
        if resp.status_code in RETRY_STATUS and not last:
            time.sleep(_delay(settings, attempt, resp.headers.get("retry-after")))
            continue
        if resp.status_code >= 400:
            raise _error_for(resp.status_code, resp.text)
        try:
            return dict(resp.json())
        except ValueError as exc:
            raise ModelResponseError(f"unreadable answer: {resp.text[:200]!r}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


async def apost_json(settings: HttpSettings, body: Mapping[str, Any]) -> dict[str, Any]:
    """Async twin of `post_json`."""
    import httpx

    for attempt in range(settings.max_retries + 1):
        last = attempt == settings.max_retries
        try:
            async with httpx.AsyncClient(**_client_options(settings)) as client:
                resp = await client.post(settings.url, json=body, headers=dict(settings.headers))
        except httpx.TransportError as exc:
            if last:
                raise _transport_error(exc) from exc
            await asyncio.sleep(_delay(settings, attempt, None))
            continue
        if resp.status_code in RETRY_STATUS and not last:
            await asyncio.sleep(_delay(settings, attempt, resp.headers.get("retry-after")))
            continue
        if resp.status_code >= 400:
            raise _error_for(resp.status_code, resp.text)
        try:
            return dict(resp.json())
        except ValueError as exc:
            raise ModelResponseError(f"unreadable answer: {resp.text[:200]!r}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


class _SseParser:
    """Incremental server-sent-events parser: feed lines, get `(event, data)` when complete."""

    def __init__(self) -> None:
        self.event = "message"
        self.data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        if not line:
            return self.flush()
        if line.startswith("event:"):
            self.event = line[6:].strip()
        elif line.startswith("data:"):
            self.data.append(line[5:].lstrip())
        return None

    def flush(self) -> tuple[str, str] | None:
        out = (self.event, "\n".join(self.data)) if self.data else None
        self.event, self.data = "message", []
        return out


def stream_sse(settings: HttpSettings, body: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """POST and yield `(event, data)` server-sent events; retries only before the first event."""
    import httpx

    for attempt in range(settings.max_retries + 1):
        last = attempt == settings.max_retries
        started = False
        try:
            with shared_client().stream(
                "POST",
                settings.url,
                json=body,
                headers=dict(settings.headers),
                timeout=settings.timeout,
            ) as resp:
                if resp.status_code in RETRY_STATUS and not last:
                    resp.read()
                    time.sleep(_delay(settings, attempt, resp.headers.get("retry-after")))
                    continue
                if resp.status_code >= 400:
                    raise _error_for(resp.status_code, resp.read().decode(errors="replace"))
                parser = _SseParser()
                for line in resp.iter_lines():
                    item = parser.feed(line)
                    if item is not None:
                        started = True
                        yield item
                tail = parser.flush()
                if tail is not None:
                    yield tail
                return
        except httpx.TransportError as exc:
            if last or started:
                raise _transport_error(exc) from exc
            time.sleep(_delay(settings, attempt, None))


async def astream_sse(
    settings: HttpSettings, body: Mapping[str, Any]
) -> AsyncIterator[tuple[str, str]]:
    """Async twin of `stream_sse`."""
    import httpx

    for attempt in range(settings.max_retries + 1):
        last = attempt == settings.max_retries
        started = False
        try:
            async with (
                httpx.AsyncClient(**_client_options(settings)) as client,
                client.stream(
                    "POST", settings.url, json=body, headers=dict(settings.headers)
                ) as resp,
            ):
                if resp.status_code in RETRY_STATUS and not last:
                    await resp.aread()
                    await asyncio.sleep(_delay(settings, attempt, resp.headers.get("retry-after")))
                    continue
                if resp.status_code >= 400:
                    raise _error_for(
                        resp.status_code, (await resp.aread()).decode(errors="replace")
                    )
                parser = _SseParser()
                async for line in resp.aiter_lines():
                    item = parser.feed(line)
                    if item is not None:
                        started = True
                        yield item
                tail = parser.flush()
                if tail is not None:
                    yield tail
                return
        except httpx.TransportError as exc:
            if last or started:
                raise _transport_error(exc) from exc
            await asyncio.sleep(_delay(settings, attempt, None))
