# The tutorial's "interrupt_before / interrupt_after" example, with only its imports changed,
# plus the few lines the tutorial leaves to the reader: run it, look at the pause, continue.
from interlock.checkpoint.memory import InMemorySaver
from interlock import create_agent, tool
from interlock.messages import HumanMessage


@tool
def delete_course(course_name: str) -> str:
    """Delete course.
    Args:
        course_name: The name of the course to delete
    """
    return f"Course \"{course_name}\" has been deleted"


checkpointer = InMemorySaver()
agent = create_agent(
model="deepseek:deepseek-v4-flash",
tools=[delete_course],
checkpointer=checkpointer,
# Pause before tools node (requires approval before each tool call)
interrupt_before=["tools"],
# Pause after model node (can inspect after each model response)
# interrupt_after=["model"],
)

config = {"configurable": {"thread_id": "admin-002"}}
result = agent.invoke(
    {"messages": [HumanMessage(content="Please delete the course \"Outdated Java Tutorial\"")]},
    config=config,
)
state = agent.get_state(config)
print(f"Status: {state.next}")
print(f"Paused: {'__interrupt__' in result}")
print(f"Pending tool call: {state.values['messages'][-1].tool_calls[0]['args']}")
result = agent.invoke(None, config=config)  # approve: continue into the tools node
print(f"Final Response: {result['messages'][-1].content}")
