"""The options every terminal command shares (where to act, as whom, `--json`), opening
the backend they name, and running a command so that failures are one line and an exit
code: 0 ok, 1 error, 2 usage, 3 conflict (already decided), 130 interrupted."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from typing import Any

from interlock.cli._backend import Backend, CliError, LocalBackend, RemoteBackend

__all__ = ["EXIT_CODES", "add_connection", "open_backend", "run_command"]

EXIT_CODES = """\
exit codes: 0 ok, 1 error (unknown id, unreachable server, refused key, ...), 2 usage,
3 conflict (the request was already decided), 130 interrupted (Ctrl-C)."""

WHERE = """\
where: a running server with --url (or $INTERLOCK_URL) and --key (or $INTERLOCK_API_KEY);
else the local store --db (default: the demo's ~/.interlock/demo.db and its agent, or
sqlite:///interlock.db with --app). Against a local store you act as --as NAME (default:
your login name), with the server's rules: approver rules, no self-approval, exactly once,
audited."""


def add_connection(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    """Add --url, --key, --db, --app, --as, --group, --allow-self-approval (and --json)."""
    where = parser.add_argument_group("where and as whom")
    where.add_argument(
        "--url", default=None, help="a running `interlock serve` (default: $INTERLOCK_URL)"
    )
    where.add_argument(
        "--key", default=None, help="API key for --url (default: $INTERLOCK_API_KEY)"
    )
    where.add_argument(
        "--db",
        default=None,
        help="a local store: sqlite:///path or postgresql://... (default: the demo's store)",
    )
    where.add_argument(
        "--app",
        default=None,
        metavar="MODULE:FACTORY",
        help="with a local store: the agents that resume its runs, as for `interlock serve`",
    )
    where.add_argument(
        "--as",
        dest="as_name",
        default=None,
        metavar="NAME",
        help="with a local store: the person acting (default: your login name)",
    )
    where.add_argument(
        "--group",
        action="append",
        default=[],
        help="with --as: a group NAME belongs to (approver rules may name group:G); repeatable",
    )
    where.add_argument(
        "--allow-self-approval",
        action="store_true",
        help="with a local store: let NAME decide requests of runs NAME started",
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def open_backend(args: argparse.Namespace, *, agents: Any = None) -> Backend:
    """The backend the options name. `agents`: for a local store, a function
    `(store) -> {name: graph}` overriding --app (the chat's built-in agent)."""
    url = args.url or (None if args.db else os.environ.get("INTERLOCK_URL"))
    if url:
        if args.as_name or args.group or args.app:
            raise UsageError(
                "--as, --group and --app are for a local store; with --url, "
                "the key says who you are and the server has the agents"
            )
        return RemoteBackend(url, args.key or os.environ.get("INTERLOCK_API_KEY") or None)
    from interlock.cli.serve import DEFAULT_DB, load_agents, open_store
    from interlock.server._operations import make_registry
    from interlock.server.auth import Principal

    demo = args.db is None and args.app is None
    db = args.db or (DEFAULT_DB if args.app else _demo_url())
    try:
        store = open_store(db)
    except SystemExit as exc:
        raise CliError(str(exc).replace("interlock serve: ", "")) from None
    except Exception as exc:
        raise CliError(f"cannot open the store {db}: {exc}") from None
    try:
        if agents is not None:
            made = agents(store)
        elif args.app:
            made = load_agents(args.app, store)
        elif demo:
            from interlock.cli.demo import build_demo_agent, choose_model

            made = {"demo": build_demo_agent(choose_model(None)[0], store)}
        else:
            made = {}
        registry = make_registry(made) if made else {}
    except SystemExit as exc:
        store.close()
        raise CliError(str(exc).replace("interlock serve: ", "")) from None
    except (TypeError, ValueError) as exc:
        store.close()
        raise CliError(f"cannot use the agents of {args.app}: {exc}") from None
    name = args.as_name or _login()
    who = Principal(name, frozenset({"requester", "approver"}), frozenset(args.group))
    backend = LocalBackend(store, registry, who, allow_self_approval=args.allow_self_approval)
    backend.where = db
    return backend


def _demo_url() -> str:
    from interlock.cli.demo import default_db_path

    return f"sqlite:///{default_db_path()}"


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "local"


class UsageError(CliError):
    """Wrong options (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 2)


def run_command(name: str, command: Callable[[], int]) -> int:
    """Run `command`, turning every failure into one line on stderr and an exit code."""
    from interlock.errors import InterlockError

    try:
        return command()
    except CliError as exc:
        print(f"interlock {name}: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"\ninterlock {name}: interrupted", file=sys.stderr)
        return 130
    except InterlockError as exc:
        print(f"interlock {name}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # one line, never a traceback
        print(f"interlock {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
