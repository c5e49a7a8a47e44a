"""The HTTP service: an API over the store for people who decide, and for the apps that ask.

Install with `pip install 'interlock[server]'`; run with `interlock serve module:attr`, or
build the app yourself: `create_app({"assistant": graph}, keys=ApiKeys.parse(...))`.
"""

from interlock.server.app import ApiError, create_app
from interlock.server.auth import ApiKeys, Principal
from interlock.server.runs import RunWorkers
from interlock.server.webhooks import Webhook, verify_signature

__all__ = [
    "ApiError",
    "ApiKeys",
    "Principal",
    "RunWorkers",
    "Webhook",
    "create_app",
    "verify_signature",
]
