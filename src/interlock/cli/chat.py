"""`interlock chat`: a conversation with an agent in the terminal. Its tokens stream as they
come; when it pauses, the request is shown as a panel and the person approves, edits (in
$EDITOR, or inline), rejects with a reason, or responds. Ctrl-C leaves the thread paused;
`--thread ID` picks it up again, in this process or a later one."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import tempfile
from typing import Any

from interlock.cli import _render
from interlock.cli._backend import Backend, CliError
from interlock.cli._connect import EXIT_CODES, WHERE, UsageError, add_connection, open_backend
from interlock.cli._decisions import actions_of, decisions, schema_problems
from interlock.cli._prompt import ask, interactive_interrupts

__all__ = ["add_parser", "course_agent", "run"]

EXAMPLES = """\
examples:
  interlock chat                                 the built-in course agent (offline model)
  interlock chat --model deepseek:deepseek-v4-flash
  interlock chat myapp.agents:make --db sqlite:///app.db
  interlock chat --thread 3f2a9c1e...            pick up a paused conversation
  interlock chat billing --url http://127.0.0.1:8000 --key k-ada   a server's agent

at a request (only the decisions it allows are offered): a approve, e edit (in $EDITOR if
set, else argument by argument), r reject (you give the reason), s respond (your answer goes
to the model), q leave it paused.
"""

CHOICES = {"approve": "[a]pprove", "edit": "[e]dit", "reject": "[r]eject", "respond": "re[s]pond"}


def add_parser(sub: Any) -> None:
    """Register `interlock chat` on the top-level subparsers."""
    p = sub.add_parser(
        "chat",
        help="talk to an agent; decide its requests as they come",
        description=(
            "A conversation with an agent. TARGET is module:factory or a langgraph.json for a "
            "local store (as for `interlock serve`; default: the built-in course-administration "
            "agent, whose model --model chooses), or an agent's name on a server (--url). "
            "Ctrl-C or q leaves the thread paused; --thread ID resumes it. An empty line or "
            "Ctrl-D ends the chat."
        ),
        epilog=f"{EXAMPLES}\n{WHERE} In a local chat you decide the requests of your own "
        f"runs (as in `interlock demo`).\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "target",
        nargs="?",
        default=None,
        help="module:factory or langgraph.json (local), or agent name (--url)",
    )
    p.add_argument("--thread", default=None, help="continue this thread")
    p.add_argument(
        "--model",
        default=None,
        help="for the built-in agent: provider:model or 'scripted' (default: a provider "
        "whose API key is set, else scripted)",
    )
    p.add_argument("--message", default=None, help="send this first, then go on interactively")
    add_connection(p, json_flag=False)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Carry out `interlock chat`; returns the exit code."""
    interactive_interrupts()  # Ctrl-C pauses the thread, however this process was started
    remote = bool(args.url or (not args.db and os.environ.get("INTERLOCK_URL")))
    if remote and args.model:
        raise UsageError("--model chooses the built-in agent's model; a server has its agents")
    agents = None
    if not remote and args.target is not None:
        if ":" not in args.target and not args.target.endswith(".json"):
            raise UsageError(
                f"give the agents as module:factory or a langgraph.json, not {args.target!r}"
            )
        args.app = args.target
    elif not remote and args.app is None:
        agents = _builtin(args.model)
    args.allow_self_approval = True if not remote else args.allow_self_approval
    backend = open_backend(args, agents=agents)
    try:
        return Chat(backend, args).loop()
    finally:
        backend.close()


def _builtin(model: str | None) -> Any:
    def make(store: Any) -> dict[str, Any]:
        from interlock.cli.demo import build_demo_agent, choose_model

        try:
            chat, _ = choose_model(model)
        except Exception as exc:
            raise CliError(f"cannot use the model {model!r}: {exc}") from None
        return {"demo": build_demo_agent(chat, store)}

    return make


def course_agent(checkpointer: Any) -> dict[str, Any]:
    """The built-in course agent as a factory, for `--app interlock.cli.chat:course_agent`
    (deciding its requests in a store other than the demo's)."""
    return _builtin(None)(checkpointer)


class Chat:
    """One terminal conversation on one thread."""

    def __init__(self, backend: Backend, args: argparse.Namespace) -> None:
        self.backend, self.args = backend, args
        self.out = _render.console()
        self.thread = ""

    def loop(self) -> int:
        args = self.args
        if args.thread:
            view = self.backend.get_thread(args.thread)
            self.thread = args.thread
        else:
            agent = args.target if args.url or os.environ.get("INTERLOCK_URL") else None
            view = self.backend.create_thread(agent, None)
            self.thread = view["thread_id"]
        print(f"interlock chat — {self.backend.where}  thread: {self.thread}", flush=True)
        try:
            for message in view.get("values", {}).get("messages", []) if args.thread else []:
                print(_render.message_line(message))
            pending = list(view.get("pending") or [])
            first = args.message
            while True:
                if pending:
                    pending = self.decide(pending[0])
                    continue
                if first is not None:
                    text: str | None = first
                    print(f"You: {first}")
                    first = None
                else:
                    text = _ask("You: ")
                if text is None or not text.strip():
                    print("Bye.")
                    return 0
                pending = self.send(text)
        except (KeyboardInterrupt, _Quit):
            print(
                f"\nPaused. Thread {self.thread} is saved; continue it with:\n"
                f"  interlock chat {self._resume_args()}--thread {self.thread}",
                flush=True,
            )
            return 130

    def _resume_args(self) -> str:
        a = self.args
        parts = [a.target] if a.target else []
        for flag, value in (("--db", a.db), ("--url", a.url), ("--model", a.model)):
            if value:
                parts += [flag, value]
        return " ".join(shlex.quote(p) for p in parts) + (" " if parts else "")

    def send(self, text: str) -> list[dict[str, Any]]:
        """Run one user message, streaming tokens; returns the requests it left pending."""
        streamed = False
        run: dict[str, Any] = {}
        for mode, chunk in self.backend.stream(self.thread, text):
            if mode == "messages":
                token = _token(chunk)
                if token:
                    if not streamed:
                        print("Agent: ", end="")
                    print(token, end="", flush=True)
                    streamed = True
            elif mode == "end":
                run = chunk
        if streamed:
            print()
        else:
            self.say(run)
        return self.waiting(run)

    def say(self, run: dict[str, Any]) -> None:
        """Print the agent's last words, if the run ended with them."""
        messages = (run.get("values") or {}).get("messages") or []
        last = messages[-1] if messages else None
        if (
            isinstance(last, dict)
            and last.get("type") in ("ai", "assistant")
            and last.get("content")
            and not last.get("tool_calls")
        ):
            print(f"Agent: {last['content']}", flush=True)

    def waiting(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        """The requests the run left pending (as much as a requester may read of them)."""
        out = []
        for item in run.get("interrupts") or []:
            try:
                out.append(self.backend.get_approval(item["id"]))
            except CliError:  # a requester's key may not read the inbox: show what the run said
                out.append(
                    {
                        "id": item["id"],
                        "thread_id": self.thread,
                        "value": item.get("value"),
                        "status": "pending",
                    }
                )
        return out

    def decide(self, approval: dict[str, Any]) -> list[dict[str, Any]]:
        """Show a request, ask for a decision until it fits the request's schema, send it."""
        self.out.print(_render.approval_panel(approval))
        while True:
            value = self.choose(approval)
            problems = schema_problems(approval, value)
            if problems:
                print("Not sent — the answer does not fit the request:")
                for p in problems:
                    print(f"  {p}")
                continue
            break
        try:
            result = self.backend.decide(approval["id"], value)
        except CliError as exc:
            if exc.code == 3:
                raise
            raise CliError(
                f"{exc.message} — request {approval['id']} stays pending; someone who may "
                f"decide it can: interlock approvals decide {approval['id']} ..."
            ) from None
        run = result.get("run") or {}
        self.say(run)
        return self.waiting(run)

    def choose(self, approval: dict[str, Any]) -> Any:
        actions = actions_of(approval)
        if actions is None:  # not an agent's request: the answer is JSON
            text = _need(_ask("Answer (JSON): "))
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return text
        configs = (approval.get("value") or {}).get("review_configs") or []
        each: list[dict[str, Any]] = []
        for index, action in enumerate(actions):
            if len(actions) > 1:
                print(f"-- {action.get('name')}")
            config = configs[index] if index < len(configs) else {}
            allowed = [d for d in config.get("allowed_decisions") or CHOICES if d in CHOICES]
            each.append(self.choose_one(action, allowed))
        return decisions(approval, each)

    def choose_one(self, action: dict[str, Any], allowed: list[str]) -> dict[str, Any]:
        prompt = f"Decision {' / '.join(CHOICES[d] for d in allowed)} / [q]uit: "
        keys = {"a": "approve", "e": "edit", "r": "reject", "s": "respond", "q": "quit"}
        while True:
            text = _need(_ask(prompt)).strip().lower()
            choice = keys.get(text, text)
            if choice in CHOICES and choice not in allowed:
                print(f"This request allows: {', '.join(allowed)}.")
                continue
            if choice == "approve":
                return {"type": "approve"}
            if choice == "reject":
                reason = _need(_ask("Reason: ")).strip() or "rejected by the operator"
                return {"type": "reject", "message": reason}
            if choice == "respond":
                return {"type": "respond", "message": _need(_ask("Response: "))}
            if choice == "edit":
                args = edit_arguments(dict(action.get("args") or {}))
                if args is None:
                    continue
                return {"type": "edit", "edited_action": {"name": action["name"], "args": args}}
            if choice == "quit":
                raise _Quit
            print(f"Please answer {', '.join(d[0] for d in allowed)} or q.")


class _Quit(Exception):
    """The person leaves the request pending."""


def edit_arguments(args: dict[str, Any]) -> dict[str, Any] | None:
    """New arguments: in $VISUAL/$EDITOR as JSON if one is set, else one prompt per argument
    (Enter keeps a value; a value that parses as JSON is taken as JSON, else as text)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if editor:
        return _in_editor(editor, args)
    new = dict(args)
    for key, value in args.items():
        shown = value if isinstance(value, str) else json.dumps(value)
        text = _need(_ask(f"{key} [{shown}]: "))
        if text:
            if isinstance(value, str):
                new[key] = text
            else:
                try:
                    new[key] = json.loads(text)
                except json.JSONDecodeError:
                    new[key] = text
    return new


def _in_editor(editor: str, args: dict[str, Any]) -> dict[str, Any] | None:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(args, f, indent=2, ensure_ascii=False)
        path = f.name
    try:
        status = subprocess.call([*shlex.split(editor), path])
        with open(path, encoding="utf-8") as f:
            text = f.read()
    finally:
        os.unlink(path)
    if status != 0:
        print(f"The editor exited with status {status}; nothing changed.")
        return None
    try:
        new = json.loads(text)
    except json.JSONDecodeError as exc:
        print(f"Not JSON ({exc}); nothing changed.")
        return None
    if not isinstance(new, dict):
        print("The arguments must be a JSON object; nothing changed.")
        return None
    return new


def _token(chunk: Any) -> str:
    """The text of a `messages` stream event: `[message_chunk, metadata]`."""
    message = chunk[0] if isinstance(chunk, list | tuple) and chunk else chunk
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def _ask(prompt: str) -> str | None:
    return ask(prompt)  # Ctrl-C interrupts it at any moment (see interlock.cli._prompt)


def _need(text: str | None) -> str:
    if text is None:  # Ctrl-D at a decision: leave it pending
        raise _Quit
    return text
