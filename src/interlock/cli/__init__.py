"""The `interlock` command line. Subcommands live in their own modules.

interlock demo [--db sqlite:///path] [--model provider:model|scripted] [--thread ID]
interlock demo --web [--db URL] [--model ...] [--message TEXT] [--host H] [--port P]
interlock serve [module:factory | langgraph.json] [--db URL] [--host H] [--port P] [--keys SPEC]
                [--workers N]
                [--oidc-issuer URL --oidc-client-id ID] [--public-url URL] [--oidc-... claims]
interlock chat | approvals | threads | audit | db ...   (the terminal face: see `_terminal`)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from interlock.cli._terminal import add_terminal_commands, run_terminal_command

__all__ = ["main"]

DEFAULT_MESSAGE = 'Please delete the course "Outdated Java Tutorial"'
"""What the demo asks its agent unless `--message` says otherwise."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="interlock",
        description="Durable human-in-the-loop runtime for AI agents.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="run the course-administration agent: it asks before deleting a course "
        "(in the terminal, or with --web in the browser)",
        description=(
            "The tutorial's course-administration agent on the embedded SQLite store. It asks "
            "before it deletes a course; answer approve, reject (with a reason) or edit. "
            "Ctrl-C leaves the run paused; --thread ID resumes it later. With --web, the agent "
            "is served with the HTTP API and the web inbox instead: a request is started (unless "
            "one from an earlier start is still pending) and the inbox URL and a key to log in "
            "with are printed, so you decide it in the browser."
        ),
    )
    demo.add_argument(
        "--web",
        action="store_true",
        help="serve the agent and the web inbox (with a pending request) instead of asking "
        "in the terminal; prints the inbox URL, an admin key and the request's thread",
    )
    demo.add_argument(
        "--db",
        default=None,
        help="store URL: sqlite:///path/to/file.db, with --web also postgresql://... "
        "(default ~/.interlock/demo.db)",
    )
    demo.add_argument(
        "--model",
        default=None,
        help="provider:model (e.g. deepseek:deepseek-v4-flash) or 'scripted'; "
        "default: a provider whose API key is set, else scripted",
    )
    demo.add_argument("--thread", default=None, help="resume this paused thread (not with --web)")
    demo.add_argument("--message", default=DEFAULT_MESSAGE, help="what to ask the agent")
    demo.add_argument(
        "--host", default=None, help="with --web: address to listen on (default 127.0.0.1)"
    )
    demo.add_argument(
        "--port",
        type=_port,
        default=None,
        help="with --web: port to listen on (default 8000; 0: any free port, printed)",
    )
    srv = sub.add_parser(
        "serve",
        help="run the HTTP API for the agents a module makes",
        description=(
            "Serve the HTTP API (threads, runs, the approvals inbox, decisions, audit) for the "
            "graphs that module:factory returns; factory(checkpointer) -> graph or "
            "{name: graph}; or for the graphs a LangGraph project's langgraph.json names. "
            "Without a target, serve the demo agent as `interlock demo --web` "
            "does (store ~/.interlock/demo.db unless --db; new keys printed)."
        ),
    )
    srv.add_argument(
        "target",
        nargs="?",
        default=None,
        help="module:factory, e.g. myapp.agents:make, or path/to/langgraph.json (none: the "
        "demo agent, see demo --web)",
    )
    srv.add_argument(
        "--db",
        default=None,
        help="sqlite:///path or postgresql://user@host/db (default sqlite:///interlock.db; "
        "without a target ~/.interlock/demo.db)",
    )
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=_port, default=8000, help="default 8000; 0: any free port")
    srv.add_argument(
        "--keys",
        default=None,
        help="API keys: '<key>=<name>:<role>[,<role>];...' (default: $INTERLOCK_API_KEYS)",
    )
    srv.add_argument(
        "--expire-every",
        type=float,
        default=30.0,
        help="seconds between sweeps that expire requests past their deadline (default 30; "
        "0: no sweeping)",
    )
    srv.add_argument(
        "--webhook",
        action="append",
        default=None,
        metavar="URL|SECRET[|EVENTS]",
        help="POST approval events (approval.requested, approval.decided, approval.expired) "
        "to URL, signed with SECRET; repeatable; also $INTERLOCK_WEBHOOKS (';'-separated)",
    )
    srv.add_argument(
        "--workers",
        type=_non_negative_int,
        default=1,
        help="threads executing background runs queued in the store (default 1; 0: this "
        "process only queues them, other processes run them)",
    )
    srv.add_argument(
        "--run-lease",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="how long a process holds a run it executes (background, or in a request) "
        "without renewing before another process takes it over (default 60)",
    )
    srv.add_argument(
        "--allow-self-approval",
        action="store_true",
        help="let the person who started a run decide its requests",
    )
    srv.add_argument(
        "--agent-inbox",
        action="append",
        default=None,
        metavar="AGENT",
        help="show AGENT's review requests as Agent Inbox's HumanInterrupt list on the "
        "LangGraph Agent Server API (default: LangChain v1's HITLRequest); repeatable",
    )
    srv.add_argument(
        "--drain",
        action="append",
        default=None,
        metavar="AGENT",
        help="start no new runs of AGENT here while its paused runs are decided (new threads "
        "and input answer 503 agent_draining); repeatable; see docs/safe-deploys.md",
    )
    srv.add_argument(
        "--shared-threads",
        action="store_true",
        help="let every requester read and add to every thread (default: only their own)",
    )
    _oidc_flags(srv)
    _audit_flags(srv)
    add_terminal_commands(sub)
    return parser


def _audit_flags(srv: argparse.ArgumentParser) -> None:
    """`interlock serve`'s flags for the signed audit (see docs/audit.md)."""
    group = srv.add_argument_group(
        "signed audit",
        "Sign a manifest of every audit chain's head with an Ed25519 key "
        "(`interlock audit keygen`).",
    )
    group.add_argument(
        "--audit-key",
        metavar="PATH",
        help="the private key that signs audit manifests (default: $INTERLOCK_AUDIT_KEY)",
    )
    group.add_argument(
        "--audit-old-key",
        action="append",
        default=None,
        metavar="PATH",
        help="the public key of an earlier signing key, still used to verify (repeatable)",
    )
    group.add_argument(
        "--audit-seal-every",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="how often to sign a manifest when the log moved (default 60)",
    )


def _audit_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The signed-audit flags as `app_options` keywords."""
    return {
        "audit_key": args.audit_key,
        "audit_old_keys": args.audit_old_key,
        "audit_seal_every": args.audit_seal_every,
    }


def _oidc_flags(srv: argparse.ArgumentParser) -> None:
    """`interlock serve`'s flags for the company's OpenID provider (see docs/sign-in.md)."""
    group = srv.add_argument_group(
        "sign-in with an OpenID provider",
        "People sign in to the inbox through the provider and send its tokens to the API; "
        "the client secret, if any, is read from $INTERLOCK_OIDC_CLIENT_SECRET.",
    )
    group.add_argument("--oidc-issuer", metavar="URL", help="the provider's issuer URL")
    group.add_argument("--oidc-client-id", metavar="ID", help="the inbox's client id")
    group.add_argument(
        "--oidc-audience",
        action="append",
        default=None,
        metavar="AUD",
        help="the audience API bearer tokens must name (repeatable; default: the client id)",
    )
    group.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL people reach interlock at, for the redirect back (behind a proxy)",
    )
    group.add_argument(
        "--oidc-id-claim",
        default="sub",
        metavar="CLAIM",
        help="the claim that names the person (default sub; e.g. preferred_username, email)",
    )
    group.add_argument(
        "--oidc-roles-claim", metavar="CLAIM", help="a claim listing interlock roles"
    )
    group.add_argument(
        "--oidc-groups-claim",
        default="groups",
        metavar="CLAIM",
        help="a claim listing the person's groups (default groups)",
    )
    group.add_argument(
        "--oidc-claim-map",
        metavar="FILE",
        help="JSON or TOML: {claim: {value: ['role:approver', 'group:finance']}}",
    )
    group.add_argument(
        "--oidc-default-role",
        action="append",
        default=None,
        metavar="ROLE",
        help="a role every signed-in person has (repeatable)",
    )


def _oidc_settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict | None:
    """The OpenID flags as `interlock.cli.serve.oidc_config`'s arguments (None: no provider)."""
    if args.oidc_issuer is None and args.oidc_client_id is None:
        return None
    if not (args.oidc_issuer and args.oidc_client_id):
        parser.error("--oidc-issuer and --oidc-client-id go together")
    return {
        "issuer": args.oidc_issuer,
        "client_id": args.oidc_client_id,
        "audiences": args.oidc_audience or [],
        "public_url": args.public_url,
        "id_claim": args.oidc_id_claim,
        "roles_claim": args.oidc_roles_claim,
        "groups_claim": args.oidc_groups_claim,
        "claim_map": args.oidc_claim_map,
        "default_roles": args.oidc_default_role or [],
    }


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number, not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, not {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `interlock` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is not None:
        return run_terminal_command(args)
    if args.command == "demo" and args.web:
        if args.thread is not None:
            parser.error("--thread resumes a run in the terminal; with --web, the inbox lists it")
        from interlock.cli.demo_web import serve_demo

        return serve_demo(
            db=args.db,
            model=args.model,
            message=args.message,
            host=args.host or "127.0.0.1",
            port=8000 if args.port is None else args.port,
        )
    if args.command == "demo":
        if args.host is not None or args.port is not None:
            parser.error("--host and --port are for --web (the terminal demo serves nothing)")
        from interlock.cli.demo import run_demo

        return run_demo(db=args.db, model=args.model, thread=args.thread, message=args.message)
    if args.command == "serve":
        from interlock.cli.serve import DEFAULT_DB, app_options, serve

        if args.target is None:
            from interlock.cli.demo_web import serve_demo

            if args.drain:
                parser.error("--drain names agents of a target (module:factory)")

            options = app_options(
                allow_self_approval=args.allow_self_approval,
                expire_every=args.expire_every,
                webhooks=args.webhook,
                workers=args.workers,
                run_lease=args.run_lease,
                shared_threads=args.shared_threads,
                agent_inbox=args.agent_inbox,
                **_audit_settings(args),
            )
            return serve_demo(
                db=args.db,
                model=None,
                message=DEFAULT_MESSAGE,
                host=args.host,
                port=args.port,
                keys=args.keys,
                **options,
            )
        return serve(
            args.target,
            db=args.db or DEFAULT_DB,
            host=args.host,
            port=args.port,
            keys=args.keys,
            allow_self_approval=args.allow_self_approval,
            expire_every=args.expire_every,
            webhooks=args.webhook,
            workers=args.workers,
            run_lease=args.run_lease,
            shared_threads=args.shared_threads,
            agent_inbox=args.agent_inbox,
            oidc=_oidc_settings(parser, args),
            drain=args.drain,
            audit=_audit_settings(args),
        )
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
