"""HTTP errors: the JSON error shape (and its OpenAPI description), what each interlock
error means over HTTP, strict JSON bodies, and a body-size limit that holds whatever a
request's headers say."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from interlock.errors import (
    AlreadyVoted,
    EmbeddingError,
    InputRejected,
    InterlockError,
    InvalidNamespaceError,
    InvalidResumeValue,
    InvalidUpdate,
    ResumeConflict,
    ResumeError,
    SerializationError,
    StoreFeatureUnsupported,
    StoreUnavailable,
    ThreadBusy,
    VersionChanged,
)

__all__ = [
    "RETRY_AFTER",
    "STATUS",
    "ApiError",
    "BodyLimit",
    "ErrorBody",
    "StrictJsonRoute",
    "error_responses",
    "install_error_handlers",
    "refuse_malformed_body",
]

_log = logging.getLogger("interlock.server")


class ApiError(Exception):
    """An error answered as `{"error": code, "message": message}` with `status`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers
        """Extra response headers (e.g. `WWW-Authenticate` on a 401)."""


class ErrorDetail(BaseModel):
    """One problem of a malformed request."""

    where: str = Field(description="Where: e.g. `query.limit`, `body.value`, `body`.")
    problem: str = Field(description="What is wrong there.")


class ErrorBody(BaseModel):
    """Every error answer: a stable `error` code and a `message` saying what to do."""

    error: str = Field(description="A stable code, e.g. `unauthenticated`, `already_decided`.")
    message: str = Field(description="What went wrong, for a person.")
    details: list[ErrorDetail] | None = Field(
        None, description="For `invalid_request`: each problem found."
    )


_MEANING = {
    400: "`invalid_cursor`: the cursor is not one this API handed out.",
    401: "`unauthenticated`: no API key, or an unknown one (checked before the body).",
    403: "`forbidden` (the role is missing), `self_approval`, `not_an_approver`, "
    "`not_a_person` (a service key voting on a quorum request).",
    404: "`unknown_thread`, `unknown_approval`, `unknown_agent`, `unknown_run`.",
    409: "`already_decided`, `already_voted`, `cannot_resume`, `thread_busy`, "
    "`waiting_for_decision`, `conflict`, `thread_exists`, `unknown_agent` (no agent here "
    "runs the thread's graph), `nothing_to_continue`.",
    413: "`too_large`: the body is over the server's limit (1 MB by default).",
    422: "`invalid_request` (malformed parameters or body — not JSON, invalid UTF-8, NaN, "
    "nested too deep, an integer over 4,300 digits — with `details`), `invalid_decision`, "
    "`invalid_input`, `not_serialisable`, `too_deep`, `agent_required`.",
    500: "`run_failed`: the run failed (for a decision, the message says it was recorded).",
    503: "`store_unavailable`: the store does not answer; retry after `Retry-After` seconds.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries for the error statuses an operation answers."""
    return {s: {"model": ErrorBody, "description": _MEANING[s]} for s in statuses}


# ---- request bodies ---------------------------------------------------------------------------


_MALFORMED = object()
"""What a strict request's `json()` returns for a body that is not acceptable JSON (a bare
object: no body model validates it); the reason is kept in the request's scope."""
_REASON = "interlock.malformed_body"


def refuse_malformed_body(request: Request) -> None:
    """Raise 422 `invalid_request` if the request's body was not acceptable JSON. Called
    by the API's authentication dependency once the caller is known: an unauthenticated
    request is refused 401 whatever its body."""
    reason = request.scope.get(_REASON)
    if reason is not None:
        problem = f"not acceptable JSON: {reason}"
        raise ApiError(
            422,
            "invalid_request",
            f"the body is {problem}",
            [{"where": "body", "problem": problem}],
        )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range for a JSON number")
    return number


def strict_json(raw: bytes) -> Any:
    """Parse a request body: UTF-8, finite numbers only (no `NaN`, `Infinity` or a number
    that overflows to infinity). Raises ValueError or RecursionError (nested too deep)."""
    return json.loads(
        raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float
    )


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = strict_json(await self.body())
            except RecursionError:
                self.scope[_REASON] = "it is nested too deep"
                self._json = _MALFORMED
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, 4,300 digits
                digits = "integer string conversion" in str(exc)
                self.scope[_REASON] = "an integer has over 4,300 digits" if digits else str(exc)
                self._json = _MALFORMED
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is parsed strictly, and whose parse failure is answered as
    422 `invalid_request` by `refuse_malformed_body` once the caller is authenticated
    (FastAPI alone answers 400, before authenticating)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJsonRequest(request.scope, request.receive))

        return strict


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
    (AlreadyVoted, 409, "already_voted"),
    (ResumeConflict, 409, "already_decided"),
    (InvalidResumeValue, 422, "invalid_decision"),
    (VersionChanged, 409, "version_changed"),
    (ResumeError, 409, "cannot_resume"),
    (InputRejected, 409, "waiting_for_decision"),
    (ThreadBusy, 409, "thread_busy"),
    (SerializationError, 422, "not_serialisable"),
    (InvalidUpdate, 422, "invalid_input"),
    (StoreUnavailable, 503, "store_unavailable"),
    (InvalidNamespaceError, 422, "invalid_namespace"),
    (StoreFeatureUnsupported, 422, "not_supported"),
    (EmbeddingError, 502, "embedding_failed"),
]


RETRY_AFTER = {"Retry-After": "2"}
"""Sent with every 503: the store fails fast while it is down and is back within about a
second of the database, so a client may retry after two."""


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as `{"error": code, "message": text}` with its status."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {**(RETRY_AFTER if exc.status == 503 else {}), **(exc.headers or {})}
        body: dict[str, Any] = {"error": exc.code, "message": exc.message}
        if exc.details is not None:
            body["details"] = exc.details
        return JSONResponse(
            body,
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
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method some route of this path allows
            headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=headers or None,
        )

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("request failed: %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": "internal", "message": f"{type(exc).__name__}: {exc}"}, status_code=500
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.scope.get(_REASON) is not None:  # a route without authentication
            try:
                refuse_malformed_body(request)
            except ApiError as refused:
                return await api_error(request, refused)
        details = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": str(e.get("msg"))}
            for e in exc.errors()
        ]
        return JSONResponse(
            {"error": "invalid_request", "message": "the request is malformed", "details": details},
            status_code=422,
        )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> set[str]:
    """The methods some route of the app answers on the request's path (asked of each
    route with the public `matches`, so included routers count too)."""
    routes = request.app.router.routes
    return {
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    }
