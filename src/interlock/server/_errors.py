"""HTTP errors: the JSON error shape, what each interlock error means over HTTP, and a
body-size limit that holds whatever a request's headers say."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from interlock.errors import (
    InputRejected,
    InterlockError,
    InvalidResumeValue,
    InvalidUpdate,
    ResumeConflict,
    ResumeError,
    SerializationError,
    StoreUnavailable,
    ThreadBusy,
)

__all__ = ["RETRY_AFTER", "STATUS", "ApiError", "BodyLimit", "install_error_handlers"]

_log = logging.getLogger("interlock.server")


class ApiError(Exception):
    """An error answered as `{"error": code, "message": message}` with `status`."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers
        """Extra response headers (e.g. `WWW-Authenticate` on a 401)."""


# ---- request bodies ---------------------------------------------------------------------------


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 before the app sees it,
    whatever its headers say (memory stays bounded by `limit`)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                response = JSONResponse(
                    {"error": "too_large", "message": f"bodies are limited to {self.limit} bytes"},
                    status_code=413,
                )
                await response(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


STATUS: list[tuple[type[Exception], int, str]] = [
    (ResumeConflict, 409, "already_decided"),
    (InvalidResumeValue, 422, "invalid_decision"),
    (ResumeError, 409, "cannot_resume"),
    (InputRejected, 409, "waiting_for_decision"),
    (ThreadBusy, 409, "thread_busy"),
    (SerializationError, 422, "not_serialisable"),
    (InvalidUpdate, 422, "invalid_input"),
    (StoreUnavailable, 503, "store_unavailable"),
]


RETRY_AFTER = {"Retry-After": "2"}
"""Sent with every 503: the store fails fast while it is down and is back within about a
second of the database, so a client may retry after two."""


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as `{"error": code, "message": text}` with its status."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {**(RETRY_AFTER if exc.status == 503 else {}), **(exc.headers or {})}
        return JSONResponse(
            {"error": exc.code, "message": exc.message},
            status_code=exc.status,
            headers=headers or None,
        )

    @app.exception_handler(InterlockError)
    async def interlock_error(request: Request, exc: InterlockError) -> JSONResponse:
        for kind, status, code in STATUS:
            if isinstance(exc, kind):
                return JSONResponse(
                    {"error": code, "message": str(exc)},
                    status_code=status,
                    headers=RETRY_AFTER if status == 503 else None,
                )
        return JSONResponse({"error": "failed", "message": str(exc)}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("request failed: %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": "internal", "message": f"{type(exc).__name__}: {exc}"}, status_code=500
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg")}
            for e in exc.errors()
        ]
        return JSONResponse(
            {"error": "invalid_request", "message": "the request is malformed", "details": details},
            status_code=422,
        )
