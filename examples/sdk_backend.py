"""The tutorial's backend functions (`handle_user_message`, `handle_approval`) written over
`langgraph-sdk`, against `interlock serve examples.sdk_agents:make`: the code a team runs
against LangGraph's Agent Server, unchanged but for the URL and keys.

INTERLOCK_URL (default http://127.0.0.1:8000), INTERLOCK_REQUESTER_KEY and
INTERLOCK_APPROVER_KEY (unset for a local server without keys). The person who asked may
not approve their own request, so the two functions use two keys.
"""

import os

from langgraph_sdk import get_sync_client

URL = os.environ.get("INTERLOCK_URL", "http://127.0.0.1:8000")
requester = get_sync_client(url=URL, api_key=os.environ.get("INTERLOCK_REQUESTER_KEY"))
approver = get_sync_client(url=URL, api_key=os.environ.get("INTERLOCK_APPROVER_KEY"))


# Backend: Receive user message, process to interrupt point, return interrupt info
def handle_user_message(thread_id: str, message: str):
    requester.threads.create(thread_id=thread_id, if_exists="do_nothing")
    result = requester.runs.wait(
        thread_id, "admin", input={"messages": [{"role": "user", "content": message}]}
    )
    state = requester.threads.get_state(thread_id)
    # Check if waiting for approval
    if state["tasks"] and state["tasks"][0]["interrupts"]:
        return {
            "status": "pending_approval",
            "interrupt": state["tasks"][0]["interrupts"][0]["value"],
            "thread_id": thread_id,
        }
    return {"status": "completed", "reply": result["messages"][-1]["content"]}


# Backend: Handle user approval
def handle_approval(thread_id: str, approved: bool, reason: str = ""):
    result = approver.runs.wait(
        thread_id, "admin", command={"resume": {"confirmed": approved, "reason": reason}}
    )
    return {"status": "completed", "reply": result["messages"][-1]["content"]}


if __name__ == "__main__":
    print(handle_user_message("web-1", 'Please delete the course "Outdated Java Tutorial"'))
    print(handle_approval("web-1", approved=False, reason="still in use"))
