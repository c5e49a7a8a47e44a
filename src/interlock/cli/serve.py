"""`interlock serve`: the HTTP API for the agents of a module, on SQLite or PostgreSQL."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interlock.checkpoint.base import BaseSaver

__all__ = ["DEFAULT_DB", "app_options", "load_agents", "oidc_config", "open_store", "serve"]

DEFAULT_DB = "sqlite:///interlock.db"
"""The store of `interlock serve module:factory` unless `--db` names one."""


def open_store(url: str) -> BaseSaver:
    """A store from a URL: `sqlite:///path/to/file.db` or `postgresql://user@host/db`."""
    if url.startswith("sqlite:///"):
        from interlock.checkpoint.sqlite import SqliteSaver

        path = Path(url[len("sqlite:///") :]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteSaver(path)
    if url.startswith(("postgresql://", "postgres://")):
        from interlock.checkpoint.postgres import PostgresSaver

        return PostgresSaver(url)
    raise SystemExit(
        f"interlock serve: --db must be sqlite:///path or postgresql://..., not {url!r}"
    )


def load_agents(target: str, store: BaseSaver) -> Mapping[str, Any]:
    """The graphs `module:attr` names. `attr` is a factory called with the store (returning
    a compiled graph or a dict of them) — the way to let `--db` choose the store. A target
    ending in `.json` is a LangGraph project's `langgraph.json` (`_langgraph_json`)."""
    from interlock.cli._langgraph_json import is_langgraph_json, load_langgraph_json

    if is_langgraph_json(target):
        return load_langgraph_json(target, store)
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"interlock serve: give the agents as module:attribute, not {target!r}")
    sys.path.insert(0, os.getcwd())
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"interlock serve: cannot load {target!r}: {exc}") from exc
    if not callable(value) or hasattr(value, "invoke"):
        raise SystemExit(
            f"interlock serve: {target!r} must be a factory: def make(checkpointer) -> graph "
            "(or a dict of name -> graph), so that --db decides the store"
        )
    made = value(store)
    return made if isinstance(made, Mapping) else {attr: made}


def app_options(
    *,
    allow_self_approval: bool = False,
    expire_every: float | None = 30.0,
    webhooks: list[str] | None = None,
    workers: int = 1,
    run_lease: float = 60.0,
    shared_threads: bool = False,
    agent_inbox: list[str] | None = None,
    audit_key: str | None = None,
    audit_old_keys: list[str] | None = None,
    audit_seal_every: float = 60.0,
) -> dict[str, Any]:
    """The `create_app` keyword arguments that `interlock serve`'s flags (and the
    environment: `INTERLOCK_WEBHOOKS`, `INTERLOCK_SESSION_SECRET`, `INTERLOCK_AUDIT_KEY`)
    describe; the defaults are the flags' defaults. `agent_inbox`: the agents whose review
    requests the Agent Server API shows in Agent Inbox's shape (`--agent-inbox`)."""
    from interlock.server.webhooks import parse_hook

    specs = list(webhooks or []) + [
        spec for spec in os.environ.get("INTERLOCK_WEBHOOKS", "").split(";") if spec.strip()
    ]
    try:
        hooks = [parse_hook(spec.strip()) for spec in specs]
    except ValueError as exc:
        raise SystemExit(f"interlock serve: {exc}") from exc
    return {
        "allow_self_approval": allow_self_approval,
        "expire_every": expire_every or None,  # 0: no sweeping
        "webhooks": hooks,
        "session_secret": os.environ.get("INTERLOCK_SESSION_SECRET") or None,
        "workers": workers,
        "run_lease": run_lease,
        "shared_threads": shared_threads,
        "interrupt_formats": dict.fromkeys(agent_inbox or (), "agent_inbox"),
        "audit_key": audit_key or os.environ.get("INTERLOCK_AUDIT_KEY") or None,
        "audit_old_keys": list(audit_old_keys or []),
        "audit_seal_every": audit_seal_every,
    }


def oidc_config(
    *,
    issuer: str,
    client_id: str,
    audiences: list[str] | None = None,
    public_url: str | None = None,
    id_claim: str = "sub",
    roles_claim: str | None = None,
    groups_claim: str | None = "groups",
    claim_map: str | None = None,
    default_roles: list[str] | None = None,
) -> Any:
    """The `OidcConfig` that `interlock serve`'s `--oidc-*` flags describe (the client
    secret from `INTERLOCK_OIDC_CLIENT_SECRET`); SystemExit with one line if one is wrong."""
    from interlock.server.oidc import OidcConfig, load_mapping

    try:
        return OidcConfig(
            issuer=issuer,
            client_id=client_id,
            client_secret=os.environ.get("INTERLOCK_OIDC_CLIENT_SECRET") or None,
            audiences=tuple(audiences or ()),
            public_url=public_url,
            id_claim=id_claim,
            roles_claim=roles_claim,
            groups_claim=groups_claim or None,
            mapping=load_mapping(claim_map) if claim_map else {},
            default_roles=tuple(default_roles or ()),
        )
    except ValueError as exc:
        raise SystemExit(f"interlock serve: {exc}") from None


def serve(
    target: str,
    *,
    db: str = DEFAULT_DB,
    host: str,
    port: int,
    keys: str | None,
    allow_self_approval: bool,
    expire_every: float | None = 30.0,
    webhooks: list[str] | None = None,
    workers: int = 1,
    run_lease: float = 60.0,
    shared_threads: bool = False,
    agent_inbox: list[str] | None = None,
    oidc: Mapping[str, Any] | None = None,
    drain: list[str] | None = None,
    audit: Mapping[str, Any] | None = None,
) -> int:
    """Load the agents, open the store and run the API with uvicorn until interrupted.
    (`interlock serve` without a target runs `interlock.cli.demo_web.serve_demo`.)
    `oidc`: `oidc_config`'s arguments; the provider is contacted before anything else, so
    an unreachable issuer stops the command at once with one line. `drain`: agents that
    start no new runs here (`create_app(drain=...)`)."""
    from interlock.cli._uvicorn import listen, run_until_interrupted
    from interlock.server import ApiKeys, create_app
    from interlock.server.oidc import OidcUnavailable

    provider = None
    if oidc is not None:
        try:
            provider = oidc_config(**oidc).connect()
        except OidcUnavailable as exc:
            raise SystemExit(f"interlock serve: {exc}") from None

    options = app_options(
        allow_self_approval=allow_self_approval,
        expire_every=expire_every,
        webhooks=webhooks,
        workers=workers,
        run_lease=run_lease,
        shared_threads=shared_threads,
        agent_inbox=agent_inbox,
        **(audit or {}),
    )
    table = ApiKeys.parse(keys) if keys else ApiKeys.from_env()
    if table is None and provider is None:
        print(
            "interlock serve: no API keys (--keys or INTERLOCK_API_KEYS): every caller may do "
            "everything; use this only on your own machine",
            file=sys.stderr,
        )
    store = open_store(db)
    try:
        agents = load_agents(target, store)
        unknown = sorted(set(options["interrupt_formats"]) - set(agents))
        if unknown:
            raise SystemExit(
                f"interlock serve: --agent-inbox {', '.join(unknown)}: no such agent "
                f"(the agents are {', '.join(sorted(agents))})"
            )
        try:
            app = create_app(agents, keys=table, oidc=provider, drain=drain or (), **options)
        except ValueError as exc:
            raise SystemExit(f"interlock serve: {exc}") from None
        with listen(host, port, "interlock serve") as sock:
            run_until_interrupted(app, sock)
    finally:
        store.close()
    return 0
