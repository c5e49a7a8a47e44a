"""The tutorial's "Complete Example — Approval Workflow" with LangChain's own objects: a
`ChatOpenAI` model (DeepSeek speaks OpenAI's protocol) and a langchain-core `@tool`, run by
interlock's `create_agent` with a durable pause. Only interlock's names come from interlock.

Runs against DeepSeek when DEEPSEEK_API_KEY is set (DEEPSEEK_BASE_URL may point at any
OpenAI-compatible server); offline: `python examples/run_offline.py examples/langchain_approval.py`.
Needs `pip install 'interlock[langchain]' langchain-openai`.
"""

import os

from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from interlock import Command, InMemorySaver, create_agent, interrupt, load_dotenv

load_dotenv()


@tool
def delete_course(course_name: str) -> str:
    """Delete course (requires approval).

    Args:
        course_name: The name of the course to delete
    """
    # Pause and wait for approval
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


model = ChatOpenAI(
    model="deepseek-v4-flash",
    temperature=0,
    api_key=os.environ.get("DEEPSEEK_API_KEY"),
    base_url=os.environ.get("DEEPSEEK_BASE_URL", "https://api.deepseek.com"),
)
agent = create_agent(
    model=model,
    tools=[delete_course],
    checkpointer=InMemorySaver(),
    system_prompt="You are the administrator assistant for Tutorial TUTORIAL.",
)


def handle_user_message(thread_id: str, message: str) -> dict:
    """Backend: run the agent until it answers or waits for approval."""
    config = {"configurable": {"thread_id": thread_id}}
    result = agent.invoke({"messages": [HumanMessage(content=message)]}, config=config)
    state = agent.get_state(config)
    if state.tasks and state.tasks[0].interrupts:
        return {
            "status": "pending_approval",
            "interrupt": state.tasks[0].interrupts[0].value,
            "thread_id": thread_id,
        }
    return {"status": "completed", "reply": result["messages"][-1].content}


def handle_approval(thread_id: str, approved: bool, reason: str = "") -> dict:
    """Backend: give the person's decision to the waiting agent."""
    config = {"configurable": {"thread_id": thread_id}}
    result = agent.invoke(Command(resume={"confirmed": approved, "reason": reason}), config=config)
    return {"status": "completed", "reply": result["messages"][-1].content}


if __name__ == "__main__":
    config = {"configurable": {"thread_id": "admin-001"}}
    print("=== Start Execution ===")
    result = agent.invoke(
        {"messages": [HumanMessage(content='Please delete the course "Outdated Java Tutorial"')]},
        config=config,
    )
    state = agent.get_state(config)
    print(f"Status: {state.next}")  # ('tools',) means paused at tools node
    print(f"Interrupt Info: {state.tasks[0].interrupts}")

    print("\n=== Human Approval ===")
    result = agent.invoke(
        Command(resume={"confirmed": True, "operator": "Admin Zhang San"}), config=config
    )
    print(f"Final Response: {result['messages'][-1].content}")
