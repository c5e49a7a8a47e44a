"""Model provider failures, as a small family.

```
ModelError
├── MissingAPIKey        no key configured (raised before any request)
├── ModelAuthError       401 / 403
├── ModelRateLimited     429 after all retries
├── ModelTimeout         no answer in time, after all retries
├── ModelUnavailable     5xx or a dropped connection, after all retries
└── ModelResponseError   the provider refused the request (4xx) or sent an unreadable body
```
"""

from __future__ import annotations

from interlock.errors import InterlockError

__all__ = [
    "MissingAPIKey",
    "ModelAuthError",
    "ModelError",
    "ModelRateLimited",
    "ModelResponseError",
    "ModelTimeout",
    "ModelUnavailable",
]


class ModelError(InterlockError):
    """A chat model call failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MissingAPIKey(ModelError):
    """No API key: set the named environment variable, pass `api_key=`, or use `.env`."""


class ModelAuthError(ModelError):
    """The provider rejected the credentials (401/403)."""


class ModelRateLimited(ModelError):
    """Too many requests (429), still after the retries."""


class ModelTimeout(ModelError):
    """No answer within the timeout, still after the retries."""


class ModelUnavailable(ModelError):
    """The provider failed (5xx) or the connection dropped, still after the retries."""


class ModelResponseError(ModelError):
    """The provider refused the request or answered with something unreadable."""
