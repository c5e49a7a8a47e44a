# The tutorial's "Complete Example — Approval Workflow", with only its imports changed.
# Runs against DeepSeek when DEEPSEEK_API_KEY is set (or any OpenAI-compatible server via
# DEEPSEEK_BASE_URL); the tests run it against a local server speaking that protocol.
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
    # Pause and wait for approval
    approval = interrupt({
        "action": "delete_course",
        "course": course_name,
        "message": f"Confirm deletion of course \"{course_name}\"? This action cannot be undone."
    })

    if approval.get("confirmed"):
        return f"Course \"{course_name}\" has been deleted"
    else:
        return f"Deletion operation cancelled"


checkpointer = InMemorySaver()
model = init_chat_model("deepseek:deepseek-v4-flash", temperature=0)

agent = create_agent(
    model=model,
    tools=[delete_course],
    checkpointer=checkpointer,
    system_prompt="You are the administrator assistant for Tutorial TUTORIAL.",
)

config = {"configurable": {"thread_id": "admin-001"}}

# Step 1: Initiate deletion request (will trigger interrupt)
print("=== Start Execution ===")
result = agent.invoke(
    {"messages": [HumanMessage(content="Please delete the course \"Outdated Java Tutorial\"")]},
    config=config,
)

# Check if agent has paused
state = agent.get_state(config)
print(f"Status: {state.next}")  # ('tools',) means paused at tools node
print(f"Interrupt Info: {state.tasks[0].interrupts}")

# Step 2: Human approval (simulate user clicking "Confirm")
print("\n=== Human Approval ===")
resume_value = {"confirmed": True, "operator": "Admin Zhang San"}
result = agent.invoke(
    Command(resume=resume_value),
    config=config,
)
print(f"Final Response: {result['messages'][-1].content}")
