"""`interlock demo`: the tutorial's course-administration agent, paused for a person's decision
in the terminal, on the embedded SQLite store."""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

from interlock import Command, HumanMessage, SqliteSaver, create_agent, tool
from interlock.agent.messages import AIMessage, ToolCall, ToolMessage
from interlock.cli._prompt import ask, interactive_interrupts

__all__ = [
    "build_demo_agent",
    "choose_model",
    "course_admin_script",
    "default_db_path",
    "run_demo",
]

CATALOGUE = ["Outdated Java Tutorial", "Python Basics", "SQL for Analysts"]
PROVIDER_KEYS = (
    ("DEEPSEEK_API_KEY", "deepseek:deepseek-v4-flash"),
    ("OPENAI_API_KEY", "openai:gpt-4o-mini"),
    ("ANTHROPIC_API_KEY", "anthropic:claude-3-5-haiku-latest"),
)


@tool
def delete_course(course_name: str) -> str:
    """Delete a course from the catalogue (requires approval).

    Args:
        course_name: The exact name of the course to delete
    """
    if course_name not in CATALOGUE:
        return f'There is no course named "{course_name}" in the catalogue.'
    return f'Course "{course_name}" has been deleted.'


@tool
def list_courses() -> str:
    """List the courses in the catalogue."""
    return ", ".join(CATALOGUE)


def course_admin_script(messages: list[Any]) -> AIMessage:
    """The offline model: asks to delete the quoted course, then reports the tool's result."""
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return AIMessage(content=f"Done. {last.content}")
    text = last.content if isinstance(last.content, str) else str(last.content)
    match = re.search(r"[\"“]([^\"”]+)[\"”]", text)
    if not match:
        return AIMessage(content="Which course should I delete? Put its name in quotes.")
    call: ToolCall = {
        "name": "delete_course",
        "args": {"course_name": match.group(1)},
        "id": f"call_{uuid.uuid4().hex[:12]}",
        "type": "tool_call",
    }
    return AIMessage(content="", tool_calls=[call])


def choose_model(name: str | None) -> tuple[Any, str]:
    """The demo's chat model and a label for it: `name` (provider:model or 'scripted'), else
    the first provider whose API key is set, else the offline scripted model."""
    from interlock.agent.models import ScriptedChatModel, init_chat_model

    if name is None:
        name = next((m for key, m in PROVIDER_KEYS if os.environ.get(key)), "scripted")
    if name == "scripted":
        return ScriptedChatModel([course_admin_script] * 1000), "scripted (offline)"
    return init_chat_model(name, temperature=0), name


def build_demo_agent(model: Any, checkpointer: Any) -> Any:
    """The course-administration agent: deleting a course waits for a person."""
    return create_agent(
        model=model,
        tools=[delete_course, list_courses],
        checkpointer=checkpointer,
        system_prompt="You are the administrator assistant for Tutorial TUTORIAL.",
        interrupt_on={
            "delete_course": {
                "allowed_decisions": ["approve", "edit", "reject"],
                "description": lambda call: (
                    f'Confirm deletion of course "{call["args"].get("course_name")}"? '
                    "This action cannot be undone."
                ),
            }
        },
    )


def default_db_path() -> Path:
    """Where the demo keeps its store unless `--db` says otherwise: ~/.interlock/demo.db."""
    return Path.home() / ".interlock" / "demo.db"


def _db_path(db: str | None) -> Path:
    if db is None:
        path = default_db_path()
    elif db.startswith("sqlite:///"):
        path = Path(db[len("sqlite:///") :])
    else:
        raise SystemExit(f"interlock demo: --db must be sqlite:///path, not {db!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _ask(prompt: str) -> str:
    line = ask(prompt)  # Ctrl-C interrupts it at any moment (see interlock.cli._prompt)
    if line is None:
        raise EOFError
    return line.strip()


def _decide(request: dict[str, Any]) -> dict[str, Any]:
    decisions: list[dict[str, Any]] = []
    for action in request["action_requests"]:
        print("\n=== Approval needed ===")
        print(f"  {action['description']}")
        print(f"  tool: {action['name']}  arguments: {json.dumps(action['args'])}")
        while True:
            choice = _ask("Decision [a]pprove / [r]eject / [e]dit: ").lower()
            if choice in ("a", "approve"):
                decisions.append({"type": "approve"})
                break
            if choice in ("r", "reject"):
                reason = _ask("Reason: ") or "rejected by the operator"
                decisions.append({"type": "reject", "message": reason})
                break
            if choice in ("e", "edit"):
                new_args = dict(action["args"])
                for key, value in action["args"].items():
                    new = _ask(f"{key} [{value}]: ")
                    if new:
                        new_args[key] = new
                decisions.append(
                    {"type": "edit", "edited_action": {"name": action["name"], "args": new_args}}
                )
                break
            print("Please answer a, r or e.")
    return {"decisions": decisions}


def _final_reply(result: dict[str, Any]) -> str:
    messages = result.get("messages") or []
    return messages[-1].content if messages else ""


def run_demo(*, db: str | None, model: str | None, thread: str | None, message: str) -> int:
    """Run (or resume) the demo; returns the process exit code."""
    interactive_interrupts()  # Ctrl-C pauses the run, however this process was started
    path = _db_path(db)
    chat, label = choose_model(model)
    with SqliteSaver(path) as saver:
        agent = build_demo_agent(chat, saver)
        thread_id = thread or f"admin-{uuid.uuid4().hex[:8]}"
        config = {"configurable": {"thread_id": thread_id, "user_id": os.environ.get("USER")}}
        print(f"interlock demo — store: {path}  model: {label}  thread: {thread_id}")
        if thread is None:
            print(f"\nUser: {message}")
            result = agent.invoke({"messages": [HumanMessage(content=message)]}, config)
        else:
            state = agent.get_state(config)
            if not state.interrupts:
                print(
                    f"Thread {thread_id} is not waiting for a decision "
                    f"(next: {state.next or 'nothing'})."
                )
                return 1
            result = {"__interrupt__": list(state.interrupts)}
        try:
            while result.get("__interrupt__"):
                state = agent.get_state(config)
                print(f"Status: {state.next}")
                pending = result["__interrupt__"][0]
                answer = _decide(pending.value)
                result = agent.invoke(Command(resume={pending.id: answer}), config)
        except (KeyboardInterrupt, EOFError):
            print(
                f"\nPaused. The request is saved; resume it with:\n"
                f"  interlock demo --thread {thread_id}" + (f" --db {db}" if db else "")
            )
            return 130
        print(f"\nFinal response: {_final_reply(result)}")
        return 0
