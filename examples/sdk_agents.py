"""The tutorial's course administrator, served by `interlock serve` for LangGraph clients:

    interlock serve examples.sdk_agents:make --keys "k-req=rita:requester;k-app=abe:approver"

`examples/sdk_backend.py` then talks to it with `langgraph-sdk`, as a LangGraph backend
talks to its Agent Server.
"""

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
            "message": f'Confirm deletion of course "{course_name}"? This action cannot be undone.',
        }
    )
    if approval.get("confirmed"):
        return f'Course "{course_name}" has been deleted'
    return f"Deletion operation cancelled: {approval.get('reason', 'User cancelled')}"


def make(checkpointer):
    """The agents of this server: one, registered as `admin`."""
    agent = create_agent(
        model=init_chat_model("deepseek:deepseek-v4-flash", temperature=0),
        tools=[delete_course],
        checkpointer=checkpointer,
        system_prompt="You are the administrator assistant for Tutorial TUTORIAL.",
        name="admin",
    )
    return {"admin": agent}
