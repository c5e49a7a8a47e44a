# Ported from LangGraph's "Validate human input" extended example
# (docs/docs/how-tos/human_in_the_loop/add-human-in-the-loop.md), with only the imports
# changed (langgraph -> interlock; MemorySaver from tests.func_guides.stores).
# DIFFERENCE: upstream shows this pattern with the graph API only; the validating function
# (`get_valid_age`, unchanged) runs here as a @task of an @entrypoint, and `report_age`
# is called by the entrypoint instead of being the graph's next node.
import uuid

from interlock.func import entrypoint, task
from interlock.types import interrupt, Command
from tests.func_guides.stores import MemorySaver


# Node that asks for human input and validates it
@task
def get_valid_age(state) -> dict:
    prompt = "Please enter your age (must be a non-negative integer)."

    while True:
        user_input = interrupt(prompt)

        # Validate the input
        try:
            age = int(user_input)
            if age < 0:
                raise ValueError("Age must be non-negative.")
            break  # Valid input received
        except (ValueError, TypeError):
            prompt = f"'{user_input}' is not valid. Please enter a non-negative integer for age."

    return {"age": age}

# Node that uses the valid input
def report_age(state: dict) -> dict:
    print(f"✅ Human is {state['age']} years old.")
    return state

# Create the graph with a memory checkpointer
checkpointer = MemorySaver()


@entrypoint(checkpointer=checkpointer)
def graph(state):
    return report_age(get_valid_age(state).result())

# Run the graph until the first interrupt
config = {"configurable": {"thread_id": uuid.uuid4()}}
result = graph.invoke({}, config=config)
print(result["__interrupt__"])  # First prompt: "Please enter your age..."

# Simulate an invalid input (e.g., string instead of integer)
result = graph.invoke(Command(resume="not a number"), config=config)
print(result["__interrupt__"])  # Follow-up prompt with validation message

# Simulate a second invalid input (e.g., negative number)
result = graph.invoke(Command(resume="-10"), config=config)
print(result["__interrupt__"])  # Another retry

# Provide valid input
final_result = graph.invoke(Command(resume="25"), config=config)
print(final_result)  # Should include the valid age
