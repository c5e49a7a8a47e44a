"""The tutorial's `delete_course` agent for bench/service.py, served by `interlock serve
bench._http_agent:make` against the fake model (`OPENAI_BASE_URL`)."""

from __future__ import annotations

from typing import Any

from interlock import create_agent, init_chat_model, interrupt, tool


@tool
def delete_course(course_name: str) -> str:
    """Delete course (requires approval).
    Args:
        course_name: The name of the course to delete
    """
    approval = interrupt(
        {
            "action": "delete_course",
            "course": course_name,
            "message": f'Confirm deletion of course "{course_name}"?',
        }
    )
    if approval.get("confirmed"):
        return f'Course "{course_name}" has been deleted'
    return f"Deletion operation cancelled: {approval.get('reason', 'User cancelled')}"


def make(checkpointer: Any) -> Any:
    """The agent over the store `interlock serve --db` chose."""
    return create_agent(
        model=init_chat_model("openai:bench", temperature=0),
        tools=[delete_course],
        checkpointer=checkpointer,
        system_prompt="You are the administrator assistant for Tutorial TUTORIAL.",
    )
