# The tutorial's "Typical HITL Architecture" backend functions, with only their imports
# changed, around the agent of the complete example. `python tutorial_backend.py` runs one
# request through both functions.
from interlock import load_dotenv
load_dotenv()
from interlock.types import interrupt, Command
from interlock.checkpoint.memory import InMemorySaver
from interlock import tool
from interlock import create_agent
from interlock import init_chat_model
from interlock.messages import HumanMessage


@tool
def delete_course(course_name: str) -> str:
    """Delete course (requires approval).
    Args:
        course_name: The name of the course to delete
    """
    approval = interrupt({
        "action": "delete_course",
        "course": course_name,
        "message": f"Confirm deletion of course \"{course_name}\"? This action cannot be undone.",
    })
    if approval.get("confirmed"):
        return f"Course \"{course_name}\" has been deleted"
    else:
        return f"Deletion operation cancelled: {approval.get('reason', 'User cancelled')}"


agent = create_agent(
    model=init_chat_model("deepseek:deepseek-v4-flash", temperature=0),
    tools=[delete_course],
    checkpointer=InMemorySaver(),
    system_prompt="You are the administrator assistant for Tutorial TUTORIAL.",
)


# Backend: Receive user message, process to interrupt point, return interrupt info
def handle_user_message(thread_id: str, message: str):
    config ={"configurable": {"thread_id": thread_id}}
    result = agent.invoke(
    {"messages": [HumanMessage(content=message)]},
    config=config,
    )
    state = agent.get_state(config)
    # Check if waiting for approval
    if state.tasks and state.tasks[0].interrupts:
        return{
        "status": "pending_approval",
        "interrupt": state.tasks[0].interrupts[0].value,
        "thread_id": thread_id,
        }
    return{
    "status": "completed",
    "reply": result["messages"][-1].content,
    }


# Backend: Handle user approval
def handle_approval(thread_id: str, approved: bool, reason: str=""):
    config ={"configurable": {"thread_id": thread_id}}
    result = agent.invoke(
    Command(resume={"confirmed": approved,"reason": reason}),
    config=config,
    )
    return{"status": "completed","reply": result["messages"][-1].content}


if __name__ == "__main__":
    print(handle_user_message("web-1", "Please delete the course \"Outdated Java Tutorial\""))
    print(handle_approval("web-1", approved=False, reason="still in use"))
