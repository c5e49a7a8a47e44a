"""Inbox forms are posted only by the inbox's own pages: a pure ASGI middleware (no task
group or body streams per request, unlike `@app.middleware("http")`), which looks at the
headers of POSTs under one path prefix and lets everything else through untouched."""

from __future__ import annotations

from typing import Any

from starlette.responses import HTMLResponse

__all__ = ["SameOriginPosts"]


class SameOriginPosts:
    """Refuse (403) a POST under `prefix` whose `Origin` is another origin or whose
    `Sec-Fetch-Site` says it came from another site (login CSRF included)."""

    def __init__(self, app: Any, prefix: str = "/inbox") -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith(self.prefix)
            and self._cross_site(scope)
        ):
            response = HTMLResponse("cross-site form posts are refused", status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _cross_site(scope: Any) -> bool:
        headers = {
            k: v for k, v in scope["headers"] if k in (b"origin", b"sec-fetch-site", b"host")
        }
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1")
        if site in ("cross-site", "same-site"):
            return True
        origin = headers.get(b"origin")
        if origin is None:
            return False
        scheme = scope.get("scheme", "http")
        host = headers.get(b"host", b"").decode("latin-1")
        if not host and scope.get("server"):  # as Starlette's `request.url` builds it
            name, port = scope["server"]
            default = {"http": 80, "https": 443}.get(scheme)
            host = name if port == default else f"{name}:{port}"
        return origin.decode("latin-1") != f"{scheme}://{host}"
